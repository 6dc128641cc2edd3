//! The `CREW_HOME` layout and every file in it: paths, atomic writes, state and roster files.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::protocol::{Session, STATE_VERSION};

/// Longest socket path Linux accepts (`sun_path` is 108 bytes with the NUL).
const SOCKET_PATH_MAX: usize = 107;

/// Raw output kept per session, both transcript files together.
pub const TRANSCRIPT_LIMIT: u64 = 8 << 20;

#[derive(Clone, Debug)]
pub struct Home {
    pub root: PathBuf,
}

impl Home {
    /// `CREW_HOME`, else `~/.crew`. Made absolute so every process computes the same paths.
    pub fn from_env() -> Home {
        let root = match std::env::var_os("CREW_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/"));
                PathBuf::from(home).join(".crew")
            }
        };
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .unwrap_or_else(|_| PathBuf::from("/"))
                .join(root)
        };
        Home { root }
    }

    pub fn daemon_dir(&self) -> PathBuf {
        self.root.join("daemon")
    }
    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.jobs_dir().join(id)
    }
    pub fn state_path(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("state.json")
    }
    pub fn transcript_path(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("transcript")
    }
    /// The older half of the transcript, kept when the current file reached its share of the
    /// limit (renaming is cheap and keeps `logs -f --raw` exact).
    pub fn transcript_old_path(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("transcript.1")
    }
    pub fn screen_path(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("screen.txt")
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn roster_path(&self) -> PathBuf {
        self.daemon_dir().join("roster.json")
    }
    pub fn pid_path(&self) -> PathBuf {
        self.daemon_dir().join("supervisor.pid")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.daemon_dir().join("supervisor.lock")
    }
    pub fn log_path(&self) -> PathBuf {
        self.daemon_dir().join("supervisor.log")
    }

    pub fn supervisor_sock(&self) -> PathBuf {
        let path = self.daemon_dir().join("supervisor.sock");
        if fits_socket(&path) {
            path
        } else {
            self.short_socket_dir().join("supervisor.sock")
        }
    }

    pub fn host_sock(&self, id: &str) -> PathBuf {
        let path = self.job_dir(id).join("host.sock");
        if fits_socket(&path) {
            path
        } else {
            self.short_socket_dir().join(format!("{id}.sock"))
        }
    }

    /// Where sockets go when `CREW_HOME` is too deep for a socket path: derived only from
    /// `CREW_HOME` and the uid, so every client finds the same place.
    pub fn short_socket_dir(&self) -> PathBuf {
        let uid = unsafe { libc::getuid() };
        let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from("/tmp"),
        };
        base.join(format!("crew-{uid}"))
            .join(format!("{:016x}", fnv1a(self.root.as_os_str().as_bytes())))
    }

    /// Every session id with a directory under `jobs/`, sorted.
    pub fn job_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = match fs::read_dir(self.jobs_dir()) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| is_valid_id(name))
                .collect(),
            Err(_) => Vec::new(),
        };
        ids.sort();
        ids
    }
}

fn fits_socket(path: &Path) -> bool {
    path.as_os_str().len() <= SOCKET_PATH_MAX
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const ID_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new random session id: 8 characters of lowercase RFC 4648 base32.
pub fn new_id() -> String {
    let mut bytes = [0u8; 8];
    // getrandom(2) never fails for 8 bytes once the pool is initialised; fall back to the
    // clock and pid so an id is still produced (uniqueness is checked by the caller).
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        bytes = t.to_le_bytes();
    }
    bytes
        .iter()
        .map(|b| ID_ALPHABET[(b & 31) as usize] as char)
        .collect()
}

pub fn is_valid_id(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| ID_ALPHABET.contains(&b))
}

/// Creates `dir` (and parents) and makes sure it is ours and private: mode 0700, owned by
/// this uid, not a symlink. An existing directory that is not ours is an error.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) => return Err(with_path(e, "cannot create directory", dir)),
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| with_path(e, "cannot read", dir))?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if meta.uid() != unsafe { libc::getuid() } {
        return Err(io::Error::other(format!(
            "{} belongs to uid {}, not to us; refusing to use it",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| with_path(e, "cannot make private", dir))?;
    }
    Ok(())
}

pub fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Writes a file so that readers see either the old or the new contents, never a mix:
/// temporary file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replacing(path, bytes, true)
}

/// Writes `path` by renaming a complete temporary file into place, `synced` or not.
fn write_replacing(path: &Path, bytes: &[u8], synced: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if synced {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if synced {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| with_path(e, "cannot write", path))
}

/// Reads one session's `state.json`. The error says, in words, why the file is unusable
/// (without the path: callers know which session it is).
pub fn read_state(path: &Path) -> Result<Session, String> {
    match fs::read(path) {
        Ok(bytes) => parse_state(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err("state.json is missing".into()),
        Err(e) => Err(format!("cannot read state.json: {e}")),
    }
}

pub fn parse_state(bytes: &[u8]) -> Result<Session, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("state.json is empty".into());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            format!("state.json is truncated ({e})")
        } else {
            format!("state.json is not valid JSON ({e})")
        }
    })?;
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    if version != STATE_VERSION && version + 1 != STATE_VERSION {
        return Err(format!(
            "state.json has unsupported version {version} (this crew reads {STATE_VERSION})"
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("state.json is not a crew session ({e})"))
}

pub fn write_state(home: &Home, session: &Session) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(session).expect("session serializes");
    bytes.push(b'\n');
    write_atomic(&home.state_path(&session.id), &bytes)
}

/// A new session's first `state.json`, for its host to start from: renamed into place
/// whole, but not synced. The host writes it again, synced, as soon as its agent runs, and a
/// dispatch should not wait for the disk (an fsync here cost 1 to 8 ms of every dispatch).
pub fn write_first_state(home: &Home, session: &Session) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(session).expect("session serializes");
    bytes.push(b'\n');
    write_replacing(&home.state_path(&session.id), &bytes, false)
}

/// `daemon/roster.json`: the sessions the supervisor knows, for finding hosts again.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Roster {
    pub version: u32,
    pub sessions: Vec<String>,
}

pub fn read_roster(home: &Home) -> Roster {
    fs::read(home.roster_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub fn write_roster(home: &Home, ids: &[String]) -> io::Result<()> {
    let roster = Roster {
        version: 1,
        sessions: ids.to_vec(),
    };
    write_atomic(
        &home.roster_path(),
        &serde_json::to_vec_pretty(&roster).expect("roster"),
    )
}

/// The whole transcript, older file first.
pub fn read_transcript(home: &Home, id: &str) -> io::Result<Vec<u8>> {
    let mut bytes = match fs::read(home.transcript_old_path(id)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    match fs::read(home.transcript_path(id)) {
        Ok(b) => bytes.extend_from_slice(&b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(bytes)
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

pub fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(std::time::SystemTime::from)
}

/// A random RFC 4122 version 4 UUID, for agents that take a conversation id.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 16 {
        let seed = new_id();
        b[..8].copy_from_slice(seed.as_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_base32_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert!(is_valid_id(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_valid_id("ABCDEFGH"));
        assert!(!is_valid_id("abcdefg1"));
    }

    #[test]
    fn long_home_falls_back_to_a_short_socket_dir() {
        let home = Home {
            root: PathBuf::from(format!("/tmp/{}", "x".repeat(120))),
        };
        let sock = home.host_sock("abcdefgh");
        assert!(
            sock.as_os_str().len() <= SOCKET_PATH_MAX,
            "{}",
            sock.display()
        );
        assert_eq!(sock.parent(), home.supervisor_sock().parent());
        let short = Home {
            root: PathBuf::from("/tmp/c"),
        };
        assert_eq!(
            short.host_sock("abcdefgh"),
            PathBuf::from("/tmp/c/jobs/abcdefgh/host.sock")
        );
    }

    #[test]
    fn times_round_trip() {
        let s = now_rfc3339();
        assert!(s.ends_with('Z'), "{s}");
        assert!(parse_rfc3339(&s).is_some(), "{s}");
    }

    #[test]
    fn broken_state_files_say_why() {
        assert!(parse_state(b"").unwrap_err().contains("empty"));
        assert!(parse_state(b"{\"version\": 1, \"id\"")
            .unwrap_err()
            .contains("truncated"));
        assert!(parse_state(b"\x00\xffgarbage")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_state(b"{\"version\": 1}")
            .unwrap_err()
            .contains("not a crew session"));
    }
}
