//! The end-to-end harness: a private, short `CREW_HOME` per test, the real `crew` binary,
//! fake agents from `fixtures/`, and waiting on conditions with deadlines (never sleeps).

#![allow(dead_code)]

pub mod http;
pub mod sshd;
pub mod terminal;
pub mod view;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crew"))
}

pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// One test's crew: its own CREW_HOME, stopped and removed when dropped.
pub struct Crew {
    pub home: PathBuf,
    /// Extra environment for every command (and so for the supervisor they start).
    pub env: Vec<(String, String)>,
    /// The crew binary this crew runs (the one cargo built, unless a test copies it).
    pub bin: PathBuf,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Crew {
    pub fn new() -> Crew {
        // Short, so socket paths stay far below the 108-byte limit.
        let home = PathBuf::from(format!(
            "/tmp/ct{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        Crew::with_home(home)
    }

    /// A crew in an existing directory.
    pub fn with_home(home: PathBuf) -> Crew {
        Crew {
            home,
            bin: bin(),
            env: Vec::new(),
        }
    }

    /// Sets a variable for every command from now on; the supervisor sees it when a command
    /// with it starts the supervisor.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("CREW_HOME", &self.home)
            .env("PATH", path_with(&self.bin))
            .env_remove("CREW_SESSION_ID")
            // A developer's keys must never reach a real API from a test.
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("ANTHROPIC_BASE_URL")
            .env_remove("GITHUB_TOKEN")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        // Never the project's own checkout: a dispatch there would make a git worktree in it.
        c.current_dir(&self.home).stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("crew runs")
    }

    /// Runs crew and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    /// Runs crew and expects exit code 1 with a `crew: ` message; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "crew {args:?} should fail with 1, got {} ({err})",
            out.status
        );
        assert!(
            err.starts_with("crew: "),
            "error should start with 'crew: ': {err}"
        );
        err
    }

    /// Dispatches `--bg` and returns (id, name).
    pub fn bg(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["--bg"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        let mut parts = out.split_whitespace();
        let id = parts.next().expect("id").to_string();
        let name = parts.next().expect("name").to_string();
        assert!(
            parts.next().is_none(),
            "--bg prints one line `<id> <name>`: {out:?}"
        );
        (id, name)
    }

    pub fn ls(&self) -> Vec<Value> {
        let out = self.ok(&["ls", "--json"]);
        serde_json::from_str::<Vec<Value>>(&out).unwrap_or_else(|e| panic!("ls --json: {e}: {out}"))
    }

    pub fn session(&self, id: &str) -> Value {
        self.ls()
            .into_iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not listed"))
    }

    /// Waits until `id` is listed in `state`; returns the session.
    pub fn wait_state(&self, id: &str, state: &str) -> Value {
        let mut last = Value::Null;
        wait_for(&format!("{id} to be {state}"), || {
            last = self.session(id);
            last["state"] == state
        });
        last
    }

    pub fn supervisor_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home.join("daemon/supervisor.pid"))
            .ok()?
            .lines()
            .next()?
            .parse()
            .ok()
    }

    pub fn job(&self, id: &str) -> PathBuf {
        self.home.join("jobs").join(id)
    }

    /// A session's `state.json` as written (without asking the supervisor).
    pub fn state_file(&self, id: &str) -> Value {
        let path = self.job(id).join("state.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
    }

    /// The transcript as the agent wrote it (older file first).
    pub fn transcript(&self, id: &str) -> Vec<u8> {
        let mut bytes = std::fs::read(self.job(id).join("transcript.1")).unwrap_or_default();
        bytes.extend(std::fs::read(self.job(id).join("transcript")).unwrap_or_default());
        bytes
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        // Stop every session and the supervisor; then make sure no host of this home is left.
        let _ = self
            .command(&["daemon", "stop", "--any"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Ok(entries) = std::fs::read_dir(self.home.join("jobs")) {
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path().join("state.json")) {
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        for key in ["host_pid", "pid"] {
                            if let Some(pid) = v[key].as_i64() {
                                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                            }
                        }
                    }
                }
            }
        }
        if let Some(pid) = self.supervisor_pid() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// The stdout of `crew ARGS` that must have succeeded; else the test fails showing both
/// streams.
pub fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "crew {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// PATH with the crew binary's directory first, so fixtures can call `crew report`.
pub fn path_with_crew() -> String {
    path_with(&bin())
}

/// PATH with the directory of the crew binary `bin` first.
pub fn path_with(bin: &Path) -> String {
    let dir = bin.parent().unwrap().to_string_lossy().into_owned();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// Polls `cond` until it holds, failing the test with `what` after the deadline.
pub fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    assert!(within(DEADLINE, cond), "timed out waiting for {what}");
}

/// Whether `cond` comes to hold within `limit`, polling with a growing pause.
pub fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    while !cond() {
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    true
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}
