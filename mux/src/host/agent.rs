//! The agent child in its PTY: spawning, non-blocking reads and writes, signals, reaping.

use std::io;
use std::os::fd::RawFd;
use std::path::Path;

use portable_pty::{CommandBuilder, MasterPty, PtySize};

pub struct Agent {
    pub pid: u32,
    /// Kept open for the agent's whole life; dropping it closes the PTY.
    master: Box<dyn MasterPty + Send>,
    pub fd: RawFd,
    /// Input not yet taken by the PTY (it holds only a few KiB when the agent is not reading).
    pub input: Vec<u8>,
    /// The PTY reported end of file (the agent and everything holding the slave are gone).
    pub pty_closed: bool,
}

/// How the agent ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

pub struct Launch<'a> {
    pub argv: &'a [String],
    pub cwd: &'a str,
    pub env: &'a [(String, String)],
    /// The profile's own variables, over the user's.
    pub profile_env: &'a [(String, String)],
    pub session_id: &'a str,
    pub home: &'a Path,
    pub rows: u16,
    pub cols: u16,
}

impl Agent {
    pub fn spawn(l: &Launch<'_>) -> Result<Agent, String> {
        let Some(program) = l.argv.first() else {
            return Err("empty command".into());
        };
        // portable-pty silently replaces a missing cwd with $HOME; refuse instead.
        if !Path::new(l.cwd).is_dir() {
            return Err(format!("directory {} does not exist", l.cwd));
        }
        let pair = portable_pty::native_pty_system()
            .openpty(PtySize {
                rows: l.rows,
                cols: l.cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
        let mut cmd = CommandBuilder::new(program);
        cmd.args(&l.argv[1..]);
        cmd.cwd(l.cwd);
        if !l.env.is_empty() {
            cmd.env_clear();
            for (k, v) in l.env {
                cmd.env(k, v);
            }
        }
        for (k, v) in l.profile_env {
            cmd.env(k, v);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("CREW_SESSION_ID", l.session_id);
        cmd.env("CREW_HOME", l.home);
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| format!("cannot start {program}: {}", root_cause(&e)))?;
        // With the slave open here the master would never see end of file.
        drop(pair.slave);
        let pid = child.process_id().ok_or("the agent has no pid")?;
        // We reap with waitpid ourselves; std's Child does not kill on drop.
        drop(child);
        let fd = pair
            .master
            .as_raw_fd()
            .ok_or("the pseudo-terminal has no descriptor")?;
        crate::process::set_nonblocking(fd)
            .map_err(|e| format!("cannot configure the pseudo-terminal: {e}"))?;
        Ok(Agent {
            pid,
            master: pair.master,
            fd,
            input: Vec::new(),
            pty_closed: false,
        })
    }

    /// Reads what the PTY has, into `buf`. `Ok(0)` means nothing now; `pty_closed` is set at
    /// end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        loop {
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                return n as usize;
            }
            if n == 0 {
                self.pty_closed = true;
                return 0;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return 0,
                // EIO: the slave side is closed (the agent exited).
                _ => {
                    self.pty_closed = true;
                    return 0;
                }
            }
        }
    }

    /// Queues input and writes as much as the PTY takes now. Returns whether some remains.
    pub fn write(&mut self, bytes: &[u8]) -> bool {
        self.input.extend_from_slice(bytes);
        self.flush_input()
    }

    pub fn flush_input(&mut self) -> bool {
        while !self.input.is_empty() && !self.pty_closed {
            let n = unsafe { libc::write(self.fd, self.input.as_ptr().cast(), self.input.len()) };
            if n > 0 {
                self.input.drain(..n as usize);
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => break,
                _ => {
                    self.input.clear();
                    break;
                }
            }
        }
        !self.input.is_empty()
    }

    /// Sets the PTY size; the kernel sends the agent SIGWINCH.
    pub fn resize(&self, rows: u16, cols: u16) {
        let size = portable_pty::PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        };
        if let Err(e) = self.master.resize(size) {
            log::warn!("cannot resize the terminal: {e}");
        }
    }

    /// One row more and back: a SIGWINCH that makes full-screen programs repaint, when the
    /// size itself does not change.
    pub fn nudge_size(&self) {
        if let Ok(size) = self.master.get_size() {
            self.resize(size.rows + 1, size.cols);
            self.resize(size.rows, size.cols);
        }
    }

    /// Sends `sig` to the agent's process group (it leads its own session) and to the agent.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(-(self.pid as i32), sig);
            libc::kill(self.pid as i32, sig);
        }
    }

    /// The agent's exit, if it has exited; never blocks.
    pub fn try_reap(&self) -> Option<Exit> {
        let mut status = 0;
        let rc = unsafe { libc::waitpid(self.pid as i32, &mut status, libc::WNOHANG) };
        if rc == self.pid as i32 {
            if libc::WIFSIGNALED(status) {
                return Some(Exit::Signal(libc::WTERMSIG(status)));
            }
            return Some(Exit::Code(libc::WEXITSTATUS(status)));
        }
        if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            // Already reaped elsewhere; the status is lost.
            return Some(Exit::Code(-1));
        }
        None
    }
}

fn root_cause(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    if s.contains("No such file") || s.contains("not found") {
        "no such program".into()
    } else {
        s
    }
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
}
