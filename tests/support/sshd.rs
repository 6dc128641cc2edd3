//! A private `sshd` on 127.0.0.1 for the test's user, with throwaway host and user keys,
//! so attach can be tested through `ssh -t` as users run it. Killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{within, DEADLINE};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub port: u16,
    /// The user's private key, accepted by this sshd only.
    pub key: PathBuf,
    dir: PathBuf,
    child: Child,
}

fn keygen(path: &Path) -> Result<(), String> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "crew-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn found(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).exists()))
}

impl Sshd {
    /// Starts sshd, or says why it cannot (the caller skips its test).
    pub fn start(dir: &Path) -> Result<Sshd, String> {
        for program in [SSHD, "ssh", "ssh-keygen"] {
            if !found(program) {
                return Err(format!("{program} is not installed"));
            }
        }
        let dir = dir.join("sshd");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let host_key = dir.join("host_key");
        let key = dir.join("user_key");
        keygen(&host_key)?;
        keygen(&key)?;
        let public = std::fs::read(dir.join("user_key.pub")).map_err(|e| e.to_string())?;
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, public).map_err(|e| e.to_string())?;

        // sshd (privilege separation) wants this directory when run by root; the system's
        // service would create it.
        if unsafe { libc::geteuid() } == 0 && !Path::new("/run/sshd").exists() {
            let _ = std::fs::create_dir_all("/run/sshd");
        }

        // A free port: bind to port 0, then let sshd have it.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {}\n\
                 AuthorizedKeysFile {}\n\
                 PidFile none\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PermitRootLogin prohibit-password\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PrintMotd no\n\
                 PrintLastLog no\n\
                 LogLevel ERROR\n",
                host_key.display(),
                authorized.display()
            ),
        )
        .map_err(|e| e.to_string())?;

        let log = std::fs::File::create(dir.join("sshd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{SSHD}: {e}"))?;
        let mut sshd = Sshd {
            port,
            key,
            dir,
            child,
        };
        let up = within(DEADLINE, || {
            if let Ok(Some(_)) = sshd.child.try_wait() {
                return true;
            }
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
                .is_ok()
        });
        if let Ok(Some(status)) = sshd.child.try_wait() {
            return Err(format!("sshd exited ({status}): {}", sshd.log()));
        }
        if !up {
            return Err(format!("sshd never listened on {port}: {}", sshd.log()));
        }
        Ok(sshd)
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// `ssh -t` to this sshd running `remote` (words passed to the remote shell).
    pub fn ssh(&self, remote: &[&str]) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-t")
            .args(["-F", "/dev/null"])
            .args(["-p", &self.port.to_string()])
            .arg("-i")
            .arg(&self.key)
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "127.0.0.1",
            ])
            .args(remote);
        c
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if !within(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
