//! Starting host processes, and waiting, without blocking, for a host to say its agent is
//! running (`ready <session json>`) or why it could not start (`error <why>`).
//!
//! The supervisor keeps one host pre-started (`standby <pid>`), waiting on its stdin for an
//! assignment, so a dispatch hands it the session instead of paying for an exec and a fork.
//! A missing or broken standby just means the dispatch starts a fresh host.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::{Op, Supervisor};
use crate::protocol::{Assignment, Session};

/// How long after a dispatch the next pre-started host is started.
const STANDBY_DELAY: Duration = Duration::from_millis(20);

/// A host process the supervisor has started and is listening to.
pub(super) struct Spawning {
    /// The session, or empty for a standby that has none yet.
    id: String,
    stdout: ChildStdout,
    /// A standby's end of the assignment pipe.
    stdin: Option<ChildStdin>,
    line: Vec<u8>,
    /// The request waiting on this host; `None` for an unassigned standby.
    op: Option<Op>,
    /// A new dispatch: on failure its job directory goes away again.
    fresh: bool,
    /// A standby's pid, once it announced itself.
    standby_pid: Option<u32>,
}

/// What the host process is started for.
enum Purpose<'a> {
    Session { id: &'a str, respawn: bool },
    Standby,
}

impl Spawning {
    /// A pre-started host, assigned no session yet.
    pub(super) fn is_standby(&self) -> bool {
        self.op.is_none()
    }
}

impl Supervisor {
    /// Starts the host of session `id`: the standby when one is ready, else a new process.
    pub(super) fn spawn_host(
        &mut self,
        id: &str,
        env: &[(String, String)],
        respawn: bool,
        op: Op,
        fresh: bool,
    ) {
        if !respawn && self.assign_standby(id, env, &op, fresh) {
            return;
        }
        let purpose = Purpose::Session { id, respawn };
        match self.start_host_process(&purpose, env) {
            Ok(sp) => {
                let sp = Spawning {
                    id: id.to_string(),
                    op: Some(op.clone()),
                    fresh,
                    ..sp
                };
                if let Err(e) = self.watch_spawn(sp) {
                    self.start_failed(id, &op, fresh, format!("cannot watch the new host: {e}"));
                }
            }
            Err(why) => self.start_failed(id, &op, fresh, why),
        }
        // No standby served this dispatch: have one ready for the next.
        self.ensure_standby_soon();
    }

    /// Starts the next pre-started host shortly, not now: a new host is a process start, and
    /// the agent that was just dispatched should have the CPU first.
    pub(super) fn ensure_standby_soon(&mut self) {
        if self.standby_due.is_none() {
            self.standby_due = Some(Instant::now() + STANDBY_DELAY);
        }
    }

    /// Runs once a loop turn: starts the deferred pre-started host when it is due.
    pub(super) fn standby_when_due(&mut self) {
        if self.standby_due.is_some_and(|t| Instant::now() >= t) {
            self.standby_due = None;
            self.ensure_standby();
        }
    }

    /// Keeps one pre-started host waiting, if none is.
    pub(super) fn ensure_standby(&mut self) {
        if self.spawning.values().any(|sp| sp.op.is_none()) {
            return;
        }
        match self.start_host_process(&Purpose::Standby, &[]) {
            Ok(sp) => {
                if let Err(e) = self.watch_spawn(sp) {
                    log::warn!("cannot watch the pre-started host: {e}");
                }
            }
            Err(why) => log::warn!("cannot pre-start a host: {why}"),
        }
    }

    pub(super) fn standby_pid(&self) -> Option<u32> {
        self.spawning
            .values()
            .find(|sp| sp.op.is_none())
            .and_then(|sp| sp.standby_pid)
    }

    /// Hands session `id` to the waiting standby. False when there is none that can take it.
    fn assign_standby(&mut self, id: &str, env: &[(String, String)], op: &Op, fresh: bool) -> bool {
        let Some((&token, _)) = self
            .spawning
            .iter()
            .find(|(_, sp)| sp.op.is_none() && sp.standby_pid.is_some())
        else {
            return false;
        };
        let mut line = serde_json::to_vec(&Assignment {
            id: id.to_string(),
            env: env.to_vec(),
        })
        .expect("assignment");
        line.push(b'\n');
        let sp = self.spawning.get_mut(&token).expect("standby");
        // The pipe is empty and was sized for this; a failed or short write means the
        // standby is unusable (gone, or the environment is enormous).
        let written = sp.stdin.take().map(|mut stdin| stdin.write(&line));
        if !matches!(written, Some(Ok(n)) if n == line.len()) {
            log::warn!("the pre-started host could not take a session; starting a new one");
            self.forget_spawn(token);
            return false;
        }
        sp.id = id.to_string();
        sp.op = Some(op.clone());
        sp.fresh = fresh;
        true
    }

    fn start_host_process(
        &mut self,
        purpose: &Purpose<'_>,
        env: &[(String, String)],
    ) -> Result<Spawning, String> {
        let exe = self
            .binary
            .path()
            .ok_or("cannot find the crew binary")?
            .to_path_buf();
        let log_path = match purpose {
            Purpose::Session { id, .. } => self.home.job_dir(id).join("host.log"),
            Purpose::Standby => self.home.log_path(),
        };
        let mut cmd = Command::new(exe);
        cmd.arg("__host");
        match purpose {
            Purpose::Session { id, respawn } => {
                cmd.arg(id).stdin(Stdio::null());
                if *respawn {
                    cmd.arg("--respawn");
                }
            }
            Purpose::Standby => {
                cmd.arg("--standby").stdin(Stdio::piped());
            }
        }
        if !env.is_empty() {
            cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.env("CREW_HOME", &self.home.root).stdout(Stdio::piped());
        crate::process::detached(&mut cmd, &log_path)?;
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start a host: {e}"))?;
        let stdout = child.stdout.take().ok_or("the host has no stdout")?;
        let stdin = child.stdin.take();
        if let Some(pipe) = &stdin {
            // Room for a large environment in one write.
            unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
        }
        // Hosts fork once more at start; the first process exits at once and is reaped on
        // SIGCHLD.
        self.children.push(child);
        Ok(Spawning {
            id: String::new(),
            stdout,
            stdin,
            line: Vec::new(),
            op: None,
            fresh: false,
            standby_pid: None,
        })
    }

    fn watch_spawn(&mut self, sp: Spawning) -> std::io::Result<()> {
        let token = self.token();
        let fd = sp.stdout.as_raw_fd();
        crate::process::set_nonblocking(fd)?;
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)?;
        self.spawning.insert(token, sp);
        Ok(())
    }

    fn forget_spawn(&mut self, token: Token) -> Option<Spawning> {
        let sp = self.spawning.remove(&token)?;
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&sp.stdout.as_raw_fd()));
        Some(sp)
    }

    pub(super) fn on_spawn_output(&mut self, token: Token) {
        let Some(sp) = self.spawning.get_mut(&token) else {
            return;
        };
        let mut buf = [0u8; 4096];
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
        // A standby announces itself first; that line is not the answer.
        while let Some(end) = sp.line.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&sp.line[..end]).into_owned();
            if let Some(pid) = line.strip_prefix("standby ") {
                sp.standby_pid = pid.trim().parse().ok();
                sp.line.drain(..=end);
                continue;
            }
            if sp.op.is_some() {
                let sp = self.forget_spawn(token).expect("spawning");
                self.host_answered(sp, Some(line));
            }
            return;
        }
        if eof {
            let sp = self.forget_spawn(token).expect("spawning");
            if sp.op.is_some() {
                self.host_answered(sp, None);
            } else {
                log::warn!("the pre-started host exited");
            }
        }
    }

    fn host_answered(&mut self, sp: Spawning, line: Option<String>) {
        let op = sp.op.expect("an assigned host");
        match line.as_deref().and_then(|l| l.strip_prefix("ready ")) {
            Some(json) => {
                self.host_ready(&sp.id, json);
                self.ensure_link(&sp.id);
                self.complete(&op, Ok(()));
                // A standby was used up (or a fresh host served): prepare the next one once
                // this dispatch's agent is under way.
                self.ensure_standby_soon();
            }
            None => {
                let why = match line.as_deref().and_then(|l| l.strip_prefix("error ")) {
                    Some(why) => {
                        serde_json::from_str::<String>(why).unwrap_or_else(|_| why.to_string())
                    }
                    None => format!(
                        "the host exited before starting the agent (see {})",
                        self.home.job_dir(&sp.id).join("host.log").display()
                    ),
                };
                self.start_failed(&sp.id, &op, sp.fresh, why);
            }
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
                c.set(session);
                self.changed = true;
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
