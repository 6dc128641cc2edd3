//! The supervisor: the control plane. It keeps the roster, starts hosts, holds a watching
//! connection to every live host, and answers clients. It never carries terminal bytes, and
//! it may crash or be replaced at any time: hosts keep running and a new supervisor finds
//! them again from `CREW_HOME`.
//!
//! One file per message kind; this file holds the loop, host links and bookkeeping.

mod annotate;
mod dispatch;
mod links;
mod list;
mod pr_status;
mod remove;
mod respawn;
mod shutdown;
mod spawn;
mod status;
mod stop;
mod summaries;
mod update;
mod upgrade;
mod watch;

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use mio::net::UnixListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::conn::Conn;
use crate::protocol::{Reply, Session, SupervisorRequest};
use crate::store::{self, Home};

use links::Link;
use spawn::Spawning;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// The summary and PR status threads wake the loop when they found something.
const WAKER: Token = Token(2);
const FIRST_DYNAMIC: usize = 16;

/// One session as last read from its `state.json` (or pushed by its host), with the file
/// identity it came from and, once listed, its public JSON (so a listing of hundreds of
/// sessions serialises only what changed).
struct Cached {
    key: (u64, i64, i64, u64),
    session: Result<Session, String>,
    listed: Option<Box<serde_json::value::RawValue>>,
    /// Watchers have been sent this version.
    sent: bool,
    /// The summary and PR status threads have been sent this version.
    fed: bool,
}

impl Cached {
    fn new(key: (u64, i64, i64, u64), session: Result<Session, String>) -> Cached {
        Cached {
            key,
            session,
            listed: None,
            sent: false,
            fed: false,
        }
    }

    fn set(&mut self, session: Session) {
        self.session = Ok(session);
        self.listed = None;
        self.sent = false;
        self.fed = false;
    }

    /// The session object `ls --json` prints (SPEC 2), or the broken form.
    fn listed(&mut self, id: &str) -> &serde_json::value::RawValue {
        let session = &self.session;
        self.listed.get_or_insert_with(|| {
            let value = match session {
                Ok(s) => s.public_json(),
                Err(reason) => serde_json::json!({ "id": id, "state": "broken", "reason": reason }),
            };
            serde_json::value::to_raw_value(&value).expect("json")
        })
    }
}

/// A client waiting for one or more sessions to finish something (start, stop, respawn).
struct Batch {
    client: Token,
    kind: BatchKind,
    remaining: usize,
    ids: Vec<String>,
    errors: Vec<String>,
}

#[derive(Clone)]
enum BatchKind {
    Dispatch {
        id: String,
        name: String,
        note: Option<String>,
    },
    Done,
    /// `daemon stop`: exit once every session is stopped.
    Shutdown,
}

/// What to do to a session once its pending operation completes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    Nothing,
    Remove,
}

/// A pending operation on one session, answered by its host or its spawn.
#[derive(Clone)]
struct Op {
    batch: u64,
    id: String,
    then: Then,
}

pub struct Supervisor {
    home: Home,
    poll: Poll,
    listener: UnixListener,
    signals: Signals,
    clients: HashMap<Token, Conn>,
    links: HashMap<Token, Link>,
    link_of: HashMap<String, Token>,
    spawning: HashMap<Token, Spawning>,
    /// Intermediate processes of host spawns, reaped on SIGCHLD.
    children: Vec<std::process::Child>,
    cache: HashMap<String, Cached>,
    /// Clients subscribed with `Watch`.
    watchers: Vec<Token>,
    /// Sessions the watchers were told about, so removals can be pushed.
    watched: std::collections::HashSet<String>,
    /// Some session changed since the last push to watchers.
    changed: bool,
    batches: HashMap<u64, Batch>,
    next_batch: u64,
    next_token: usize,
    started: Instant,
    /// The summary and PR status threads, once started.
    helpers: Option<annotate::Helpers>,
    /// roster.json needs writing; done at the end of a loop turn, off any reply's path.
    roster_dirty: bool,
    quit: bool,
    /// When to start the next pre-started host (deferred after a dispatch).
    standby_due: Option<Instant>,
    /// The crew binary this supervisor runs, watched for replacement (live upgrade).
    binary: upgrade::Binary,
    /// Held for the supervisor's life: one supervisor per CREW_HOME.
    _lock: std::fs::File,
}

/// Entry point of the supervisor process (`crew daemon start --foreground`, or the detached
/// process any command starts on demand).
pub fn run(home: Home) -> Result<(), String> {
    Supervisor::start(home)?.run();
    Ok(())
}

impl Supervisor {
    /// Takes the lock, binds the socket and finds every host; then `run` serves.
    pub fn start(home: Home) -> Result<Supervisor, String> {
        store::private_dir(&home.daemon_dir()).map_err(|e| e.to_string())?;
        store::private_dir(&home.jobs_dir()).map_err(|e| e.to_string())?;
        // A supervisor re-executed from a new binary keeps its lock and socket open.
        let (lock, mut listener) = match upgrade::handed_over(&home)? {
            Some((lock, listener)) => (lock, UnixListener::from_std(listener)),
            None => {
                let lock = take_lock(&home)?;
                let sock = home.supervisor_sock();
                if let Some(dir) = sock.parent() {
                    store::private_dir(dir).map_err(|e| e.to_string())?;
                }
                let listener = crate::security::bind_private(&sock).map_err(|e| e.to_string())?;
                (lock, listener)
            }
        };
        let pid = std::process::id();
        let start = crate::process::start_time(pid).unwrap_or(0);
        store::write_atomic(&home.pid_path(), format!("{pid}\n{start}\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let poll = Poll::new().map_err(|e| e.to_string())?;
        let mut signals = Signals::new([SIGCHLD, SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| e.to_string())?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| e.to_string())?;
        let mut sup = Supervisor {
            home,
            poll,
            listener,
            signals,
            clients: HashMap::new(),
            links: HashMap::new(),
            link_of: HashMap::new(),
            spawning: HashMap::new(),
            children: Vec::new(),
            cache: HashMap::new(),
            watchers: Vec::new(),
            watched: Default::default(),
            changed: true,
            batches: HashMap::new(),
            next_batch: 1,
            next_token: FIRST_DYNAMIC,
            started: Instant::now(),
            helpers: None,
            roster_dirty: false,
            quit: false,
            standby_due: None,
            binary: upgrade::Binary::new(),
            _lock: lock,
        };
        sup.find_hosts();
        sup.ensure_standby();
        sup.start_helpers();
        Ok(sup)
    }

    /// Reconnects to every host the roster or `jobs/` knows, marking lost the ones that died.
    fn find_hosts(&mut self) {
        let mut ids = store::read_roster(&self.home).sessions;
        ids.extend(self.home.job_ids());
        ids.sort();
        ids.dedup();
        ids.retain(|id| self.home.job_dir(id).is_dir());
        for id in &ids {
            self.refresh(id);
            self.ensure_link(id);
        }
        self.save_roster();
    }

    pub fn run(&mut self) {
        log::info!(
            "supervisor {} started (pid {})",
            crate::version(),
            std::process::id()
        );
        self.serve();
        self.finish();
    }

    fn serve(&mut self) {
        let mut events = Events::with_capacity(128);
        while !self.quit {
            let wake = match self.standby_due {
                Some(t) => t.min(self.binary.next_check()),
                None => self.binary.next_check(),
            };
            let timeout = wake.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("poll failed: {e}");
                break;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    SIGNALS => self.on_signals(),
                    WAKER => self.on_findings(),
                    t if self.links.contains_key(&t) => self.on_link(t),
                    t if self.spawning.contains_key(&t) => self.on_spawn_output(t),
                    t => self.on_client(t),
                }
            }
            // Helpers hear of what changed in this turn; a quiet turn costs them nothing.
            let changed = self.changed;
            self.push_changes();
            if changed {
                self.feed_helpers();
            }
            self.flush_all();
            if self.roster_dirty {
                self.write_roster();
            }
            self.standby_when_due();
            self.upgrade_when_ready();
        }
    }

    fn finish(&mut self) {
        self.flush_all();
        if self.roster_dirty {
            self.write_roster();
        }
        let _ = std::fs::remove_file(self.home.supervisor_sock());
        let _ = std::fs::remove_file(self.home.pid_path());
        log::info!("supervisor stopped");
    }

    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    fn accept(&mut self) {
        for stream in crate::security::accept_allowed(&self.listener, "supervisor.sock") {
            let token = self.token();
            if let Ok(conn) = Conn::register(stream, self.poll.registry(), token) {
                self.clients.insert(token, conn);
            }
        }
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            if sig == SIGCHLD {
                // Hosts fork once more at start; their first process exits at once.
                self.children
                    .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
            } else {
                // TERM/INT stop only the supervisor: hosts keep running.
                log::info!("signal {sig}: stopping the supervisor, sessions keep running");
                self.quit = true;
            }
        }
    }

    fn on_client(&mut self, token: Token) {
        let Some(conn) = self.clients.get_mut(&token) else {
            return;
        };
        if let Err(e) = conn.fill() {
            log::debug!("client: {e}");
            self.drop_client(token);
            return;
        }
        loop {
            let Some(conn) = self.clients.get_mut(&token) else {
                return;
            };
            match conn.next_message::<SupervisorRequest>() {
                Ok(None) => break,
                Ok(Some(Ok(request))) => self.on_request(token, request),
                Ok(Some(Err(_))) => {
                    log::warn!("closing a client that sent raw data to the supervisor");
                    self.drop_client(token);
                    return;
                }
                Err(e) => {
                    log::warn!("closing a client that sent {e}");
                    self.drop_client(token);
                    return;
                }
            }
        }
        if self.clients.get(&token).is_some_and(|c| c.eof) {
            self.drop_client(token);
        }
    }

    fn on_request(&mut self, token: Token, request: SupervisorRequest) {
        match request {
            SupervisorRequest::Dispatch(d) => self.dispatch(token, d),
            SupervisorRequest::List => self.list(token),
            SupervisorRequest::Stop { id } => self.stop(token, &id),
            SupervisorRequest::Respawn { ids, env } => self.respawn(token, ids, env),
            SupervisorRequest::Remove { id, force } => self.remove(token, &id, force),
            SupervisorRequest::Rename { id, name } => self.rename(token, &id, name),
            SupervisorRequest::Pin { id, pinned } => self.pin(token, &id, pinned),
            SupervisorRequest::Shutdown { keep_workers } => self.shutdown(token, keep_workers),
            SupervisorRequest::Status => self.status(token),
            SupervisorRequest::Watch => self.watch(token),
            SupervisorRequest::Reorder { id, order } => self.reorder(token, &id, order),
        }
    }

    fn drop_client(&mut self, token: Token) {
        self.watchers.retain(|t| *t != token);
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    fn reply(&mut self, token: Token, reply: &Reply) {
        if let Some(c) = self.clients.get_mut(&token) {
            c.send(reply);
        }
    }

    fn flush_all(&mut self) {
        let mut broken = Vec::new();
        for (t, c) in self.clients.iter_mut() {
            if c.flush().is_err() {
                broken.push(*t);
            }
        }
        for t in broken {
            self.drop_client(t);
        }
        let mut broken = Vec::new();
        for (t, l) in self.links.iter_mut() {
            if l.conn.flush().is_err() {
                broken.push(*t);
            }
        }
        for t in broken {
            self.link_closed(t);
        }
    }

    /// Re-reads a session's `state.json` if the file changed since it was last read.
    fn refresh(&mut self, id: &str) {
        let path = self.home.state_path(id);
        let key = file_key(&path);
        if self
            .cache
            .get(id)
            .is_some_and(|c| c.key == key && key.0 != 0)
        {
            return;
        }
        let session = store::read_state(&path).and_then(|s| {
            if s.id == id {
                Ok(s)
            } else {
                Err(format!("state.json names session '{}'", s.id))
            }
        });
        // A live host pushes every state before its disk thread writes it, so its file can
        // only be older than what the cache holds: reading it would step the session back.
        // A broken file still shows.
        let live = self.link_of.contains_key(id);
        if let (true, Ok(_), Some(c)) = (live, &session, self.cache.get_mut(id)) {
            if c.session.is_ok() {
                c.key = key;
                return;
            }
        }
        self.cache.insert(id.to_string(), Cached::new(key, session));
        self.changed = true;
    }

    fn session(&self, id: &str) -> Option<&Session> {
        self.cache.get(id).and_then(|c| c.session.as_ref().ok())
    }

    /// Resolves a user's id, prefix or name against the sessions on disk.
    fn resolve(&mut self, query: &str) -> Result<String, String> {
        self.refresh_all();
        crate::lookup::resolve(
            query,
            self.cache.iter().map(|(id, c)| {
                (
                    id.as_str(),
                    c.session.as_ref().ok().map(|s| s.name.as_str()),
                )
            }),
        )
    }

    /// Resolves for a client's request; an unknown or ambiguous id is answered right here.
    fn resolve_for(&mut self, token: Token, query: &str) -> Option<String> {
        match self.resolve(query) {
            Ok(id) => Some(id),
            Err(message) => {
                self.reply(token, &Reply::Error { message });
                None
            }
        }
    }

    /// Brings the cache in line with `jobs/`: new sessions read, removed ones forgotten.
    fn refresh_all(&mut self) {
        let ids = self.home.job_ids();
        let before = self.cache.len();
        self.cache.retain(|id, _| ids.binary_search(id).is_ok());
        self.changed |= self.cache.len() != before;
        for id in &ids {
            self.refresh(id);
        }
    }

    /// Writes the supervisor's copy of a session (a new one, or one whose host is gone) and
    /// caches it without reading it back.
    fn write_session(&mut self, session: &Session) -> Result<(), String> {
        store::write_state(&self.home, session).map_err(|e| e.to_string())?;
        let key = file_key(&self.home.state_path(&session.id));
        self.cache
            .insert(session.id.clone(), Cached::new(key, Ok(session.clone())));
        self.changed = true;
        Ok(())
    }

    fn save_roster(&mut self) {
        self.roster_dirty = true;
    }

    fn write_roster(&mut self) {
        self.roster_dirty = false;
        let mut ids: Vec<String> = self.cache.keys().cloned().collect();
        ids.sort();
        if let Err(e) = store::write_roster(&self.home, &ids) {
            log::error!("{e}");
        }
    }

    fn new_batch(&mut self, client: Token, kind: BatchKind, ops: usize) -> u64 {
        let id = self.next_batch;
        self.next_batch += 1;
        self.batches.insert(
            id,
            Batch {
                client,
                kind,
                remaining: ops,
                ids: Vec::new(),
                errors: Vec::new(),
            },
        );
        if ops == 0 {
            self.finish_batch(id);
        }
        id
    }

    /// One operation of a batch is over; answer the client when it was the last.
    fn complete(&mut self, op: &Op, result: Result<(), String>) {
        if let Ok(()) = &result {
            if op.then == Then::Remove {
                self.remove_files(&op.id);
            }
        }
        let Some(batch) = self.batches.get_mut(&op.batch) else {
            return;
        };
        match result {
            Ok(()) => batch.ids.push(op.id.clone()),
            Err(e) => batch.errors.push(e),
        }
        batch.remaining = batch.remaining.saturating_sub(1);
        if batch.remaining == 0 {
            self.finish_batch(op.batch);
        }
    }

    fn finish_batch(&mut self, batch_id: u64) {
        let Some(batch) = self.batches.remove(&batch_id) else {
            return;
        };
        let reply = match &batch.kind {
            BatchKind::Dispatch { id, name, note } => match batch.errors.first() {
                None => Reply::Dispatched {
                    id: id.clone(),
                    name: name.clone(),
                    note: note.clone(),
                },
                Some(e) => Reply::Error { message: e.clone() },
            },
            BatchKind::Done | BatchKind::Shutdown => Reply::Done {
                ids: batch.ids,
                errors: batch.errors,
            },
        };
        self.reply(batch.client, &reply);
        if matches!(batch.kind, BatchKind::Shutdown) {
            self.quit = true;
        }
    }
}

/// What identifies one version of a file: inode, mtime and size (an atomic write renames a
/// new inode into place).
fn file_key(path: &std::path::Path) -> (u64, i64, i64, u64) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => (m.ino(), m.mtime(), m.mtime_nsec(), m.size()),
        Err(_) => (0, 0, 0, 0),
    }
}

/// One supervisor per CREW_HOME: an exclusive lock held for the process's life.
fn take_lock(home: &Home) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.lock_path();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err("another supervisor is already running for this CREW_HOME".into());
    }
    Ok(file)
}
