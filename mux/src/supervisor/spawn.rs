//! Starting a host process for a session and waiting, without blocking, for it to say the
//! agent is running (`ready <pid>`) or why it could not start (`error <why>`).

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdout, Command, Stdio};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::{Op, Supervisor};
use crate::protocol::Session;

pub(super) struct Spawning {
    id: String,
    stdout: ChildStdout,
    line: Vec<u8>,
    op: Op,
    /// A new dispatch: on failure its job directory goes away again.
    fresh: bool,
}

impl Supervisor {
    pub(super) fn spawn_host(
        &mut self,
        id: &str,
        env: &[(String, String)],
        respawn: bool,
        op: Op,
        fresh: bool,
    ) {
        match self.start_host_process(id, env, respawn) {
            Ok((child, stdout)) => {
                let token = self.token();
                let fd = stdout.as_raw_fd();
                if let Err(e) = crate::host::set_nonblocking(fd).and_then(|()| {
                    self.poll
                        .registry()
                        .register(&mut SourceFd(&fd), token, Interest::READABLE)
                }) {
                    self.start_failed(id, &op, fresh, format!("cannot watch the new host: {e}"));
                    return;
                }
                self.children.push(child);
                self.spawning.insert(
                    token,
                    Spawning {
                        id: id.to_string(),
                        stdout,
                        line: Vec::new(),
                        op,
                        fresh,
                    },
                );
            }
            Err(why) => self.start_failed(id, &op, fresh, why),
        }
    }

    fn start_host_process(
        &self,
        id: &str,
        env: &[(String, String)],
        respawn: bool,
    ) -> Result<(std::process::Child, ChildStdout), String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find the crew binary: {e}"))?;
        let log_path = self.home.job_dir(id).join("host.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let mut cmd = Command::new(exe);
        cmd.arg("__host").arg(id);
        if respawn {
            cmd.arg("--respawn");
        }
        if !env.is_empty() {
            cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.env("CREW_HOME", &self.home.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // Its own session, so nothing aimed at the supervisor's process group reaches it.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start a host: {e}"))?;
        let stdout = child.stdout.take().ok_or("the host has no stdout")?;
        Ok((child, stdout))
    }

    pub(super) fn on_spawn_output(&mut self, token: Token) {
        let Some(sp) = self.spawning.get_mut(&token) else {
            return;
        };
        let mut buf = [0u8; 512];
        let mut eof = false;
        loop {
            match sp.stdout.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => sp.line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        let line_end = sp.line.iter().position(|&b| b == b'\n');
        if line_end.is_none() && !eof {
            return;
        }
        let sp = self.spawning.remove(&token).expect("spawning");
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&sp.stdout.as_raw_fd()));
        let line =
            String::from_utf8_lossy(&sp.line[..line_end.unwrap_or(sp.line.len())]).into_owned();
        if let Some(json) = line.strip_prefix("ready ") {
            self.host_ready(&sp.id, json);
            self.ensure_link(&sp.id);
            self.complete(&sp.op, Ok(()));
        } else {
            let why = match line.strip_prefix("error ") {
                Some(why) => why.to_string(),
                None => format!(
                    "the host exited before starting the agent (see {})",
                    self.home.job_dir(&sp.id).join("host.log").display()
                ),
            };
            self.start_failed(&sp.id, &sp.op, sp.fresh, why);
        }
    }

    /// Takes the session the new host announced, unless its own state file already landed
    /// (which is then newer).
    fn host_ready(&mut self, id: &str, json: &str) {
        let before = self.cache.get(id).map(|c| c.key);
        self.refresh(id);
        let unchanged = self.cache.get(id).map(|c| c.key) == before;
        if let (true, Ok(session)) = (unchanged, serde_json::from_str::<Session>(json)) {
            if let Some(c) = self.cache.get_mut(id) {
                c.session = Ok(session);
            }
        }
    }

    fn start_failed(&mut self, id: &str, op: &Op, fresh: bool, why: String) {
        if fresh {
            self.remove_files(id);
        } else {
            self.refresh(id);
        }
        self.complete(op, Err(why));
    }
}
