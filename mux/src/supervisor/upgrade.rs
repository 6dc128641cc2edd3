//! Live upgrade (SPEC 7): the supervisor notices when the crew binary it runs is replaced on
//! disk (an installer writes a new file and renames it into place) and re-executes itself
//! from it, in place: same pid (so a service manager sees the same main process), the
//! listening socket and the lock handed over open, so clients never find it missing and no
//! second supervisor can start in between. Hosts keep running their old binary; the new
//! supervisor finds them again as any new supervisor does, and speaks to them through the
//! protocol's version negotiation.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Supervisor;
use crate::store::Home;

/// How often the binary on disk is looked at: one `stat`, cheap enough to do forever.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A replacement must look the same this much later before it is run, so a binary still
/// being written is never executed.
const SETTLE: Duration = Duration::from_secs(1);

/// Longest wait for requests in flight (a dispatch running `.crew/setup`, a stop) before
/// re-executing anyway.
const PATIENCE: Duration = Duration::from_secs(30);

/// The environment variable that carries the handed-over descriptors across the exec:
/// `<listening socket>,<lock file>`.
const HANDOVER: &str = "CREW_SUPERVISOR_HANDOVER";

/// What identifies one file on disk: device, inode, size and modification time.
type FileKey = (u64, u64, u64, i64, i64);

fn file_key(meta: &std::fs::Metadata) -> FileKey {
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

/// The supervisor's watch on its own binary.
pub(super) struct Binary {
    /// Where the running binary was started from; `None` when that cannot be known.
    path: Option<PathBuf>,
    next_check: Instant,
    /// A replacement seen at the last check, and when.
    seen: Option<(FileKey, Instant)>,
    /// A replacement that settled: re-execute from it once nothing is in flight.
    ready: Option<(FileKey, Instant)>,
    /// A replacement that could not be executed; tried again only once it changes.
    failed: Option<FileKey>,
}

impl Binary {
    pub(super) fn new() -> Binary {
        Binary {
            path: running_binary(),
            next_check: Instant::now() + CHECK_EVERY,
            seen: None,
            ready: None,
            failed: None,
        }
    }

    /// The binary hosts are started from: the file at the path this supervisor was started
    /// from, which is the newest crew even before the supervisor re-executes.
    pub(super) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(super) fn next_check(&self) -> Instant {
        self.next_check
    }

    /// Looks at the binary on disk if it is time; true once a replacement is ready to run.
    fn check(&mut self, now: Instant) -> bool {
        if self.ready.is_some() {
            return true;
        }
        if now < self.next_check {
            return false;
        }
        self.next_check = now + CHECK_EVERY;
        let Some(path) = &self.path else {
            return false;
        };
        let (Ok(on_disk), Ok(running)) =
            (std::fs::metadata(path), std::fs::metadata("/proc/self/exe"))
        else {
            // Removed (uninstalled, or mid-replacement): keep running what we have.
            self.seen = None;
            return false;
        };
        let replaced = (on_disk.dev(), on_disk.ino()) != (running.dev(), running.ino());
        let key = file_key(&on_disk);
        if !replaced || on_disk.mode() & 0o111 == 0 || self.failed == Some(key) {
            self.seen = None;
            return false;
        }
        match self.seen {
            Some((seen, at)) if seen == key && now >= at + SETTLE => {
                self.ready = Some((key, now));
                true
            }
            Some((seen, _)) if seen == key => false,
            _ => {
                self.seen = Some((key, now));
                self.next_check = now + SETTLE;
                false
            }
        }
    }
}

/// The path of the running binary. Once that file is replaced the kernel reports the old
/// one as `<path> (deleted)`; the path is what matters here.
fn running_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let text = exe.to_str()?;
    Some(PathBuf::from(
        text.strip_suffix(" (deleted)").unwrap_or(text),
    ))
}

impl Supervisor {
    /// Once a loop turn: watch the binary, and re-execute from a replacement when no client
    /// waits on an answer (or it has waited long enough).
    pub(super) fn upgrade_when_ready(&mut self) {
        let now = Instant::now();
        if self.quit || !self.binary.check(now) {
            return;
        }
        let Some((key, since)) = self.binary.ready else {
            return;
        };
        if !self.nothing_in_flight() && now < since + PATIENCE {
            return;
        }
        if let Err(e) = self.reexec() {
            log::error!("cannot run the new crew binary ({e}); carrying on with this one");
            self.binary.ready = None;
            self.binary.seen = None;
            self.binary.failed = Some(key);
        }
    }

    /// No client waits for an answer: none is connected but the views that watch (they
    /// reconnect), and no request waits on a host.
    fn nothing_in_flight(&self) -> bool {
        self.batches.is_empty()
            && self.spawning.values().all(|sp| sp.is_standby())
            && self.clients.keys().all(|t| self.watchers.contains(t))
    }

    /// Replaces this process with the new binary's supervisor. Returns only on failure.
    fn reexec(&mut self) -> std::io::Result<()> {
        let path = self
            .binary
            .path()
            .expect("a ready binary has a path")
            .to_path_buf();
        self.flush_all();
        if self.roster_dirty {
            self.write_roster();
        }
        let listener = self.listener.as_raw_fd();
        let lock = self._lock.as_raw_fd();
        set_cloexec(listener, false)?;
        set_cloexec(lock, false)?;
        log::info!(
            "{} was replaced: re-executing (crew {} until now; sessions keep running)",
            path.display(),
            crate::version()
        );
        let err = exec(
            &path,
            &[
                ("CREW_HOME", self.home.root.as_os_str()),
                (HANDOVER, format!("{listener},{lock}").as_ref()),
            ],
        );
        let _ = set_cloexec(listener, true);
        let _ = set_cloexec(lock, true);
        Err(err)
    }
}

/// Runs `<path> daemon start --foreground` in this process with `vars` set. `execve`
/// itself, not `execvp`: that one runs a file the kernel refuses as a shell script.
fn exec(path: &Path, vars: &[(&str, &OsStr)]) -> std::io::Error {
    let cstr = |b: &[u8]| CString::new(b).map_err(|_| std::io::ErrorKind::InvalidInput);
    let prepare = || -> Result<(Vec<CString>, Vec<CString>), std::io::ErrorKind> {
        let mut argv = vec![cstr(path.as_os_str().as_bytes())?];
        for arg in ["daemon", "start", "--foreground"] {
            argv.push(cstr(arg.as_bytes())?);
        }
        let mut envp = Vec::new();
        for (k, v) in std::env::vars_os() {
            if !vars.iter().any(|(name, _)| k == *name) {
                envp.push(cstr(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
            }
        }
        for (k, v) in vars {
            envp.push(cstr(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
        }
        Ok((argv, envp))
    };
    let (argv, envp) = match prepare() {
        Ok(both) => both,
        Err(kind) => return kind.into(),
    };
    let pointers = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv_p, envp_p) = (pointers(&argv), pointers(&envp));
    unsafe { libc::execve(argv[0].as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    std::io::Error::last_os_error()
}

/// The listening socket and lock a previous supervisor of this process handed over through
/// its exec, if it did. The descriptors are checked: the lock must be held and the socket
/// must listen on this home's supervisor socket.
pub(super) fn handed_over(
    home: &Home,
) -> Result<Option<(std::fs::File, std::os::unix::net::UnixListener)>, String> {
    let Some(value) = std::env::var_os(HANDOVER) else {
        return Ok(None);
    };
    // Not for the hosts this supervisor starts.
    std::env::remove_var(HANDOVER);
    let bad = || format!("{HANDOVER} is not '<socket fd>,<lock fd>': {value:?}");
    let text = value.to_str().ok_or_else(bad)?;
    let (listener, lock) = text.split_once(',').ok_or_else(bad)?;
    let listener: RawFd = listener.parse().map_err(|_| bad())?;
    let lock: RawFd = lock.parse().map_err(|_| bad())?;
    if listener == lock || listener < 3 || lock < 3 {
        return Err(bad());
    }
    for fd in [listener, lock] {
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(format!("the handed-over descriptor {fd} is not open"));
        }
    }
    // Ours from here on: closed on drop, and on the next exec unless handed over again.
    let lock = unsafe { std::fs::File::from_raw_fd(lock) };
    let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(listener) };
    for fd in [listener.as_raw_fd(), lock.as_raw_fd()] {
        set_cloexec(fd, true).map_err(|e| e.to_string())?;
    }
    // The same open file holds the lock, so taking it again succeeds only if it is held.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err("the handed-over lock is not held".into());
    }
    let sock = home.supervisor_sock();
    let bound = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf));
    if bound.as_deref() != Some(sock.as_path()) {
        return Err(format!(
            "the handed-over socket is not {} ({bound:?})",
            sock.display()
        ));
    }
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    reap_orphans();
    Ok(Some((lock, listener)))
}

/// Children the previous binary started and had not reaped yet are ours now.
fn reap_orphans() {
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

fn set_cloexec(fd: RawFd, on: bool) -> std::io::Result<()> {
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        let flags = if on {
            flags | libc::FD_CLOEXEC
        } else {
            flags & !libc::FD_CLOEXEC
        };
        if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
