//! One session's host: a detached process that owns the agent's PTY, its screen, its
//! transcript and `state.json`, and serves `host.sock`. It outlives any supervisor.
//!
//! A single-threaded mio loop; the disk writer is the only helper thread.

mod agent;
mod attach;
mod backlog;
mod disk;
mod idle_reap;
mod requests;
mod rules;
mod setup;
mod state;
mod typing;

use std::collections::{HashMap, VecDeque};

use backlog::Backlog;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use mio::net::UnixListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::conn::Conn;
use crate::protocol::{Reply, Session};
use crate::screen::Screen;
use crate::store::{self, Home};

pub use agent::signal_name;
use agent::Agent;
use attach::{Event, Terminal, Typed, STALL_LIMIT};
use disk::Disk;

const PTY: Token = Token(0);
const LISTENER: Token = Token(1);
const SIGNALS: Token = Token(2);
const FIRST_CLIENT: usize = 16;

/// One read from the PTY (a PTY rarely holds more than a few KiB at once).
const READ_CHUNK: usize = 64 * 1024;

/// Most PTY output handled in one loop turn, so one flood cannot starve the sockets.
const READ_BUDGET: usize = 1 << 20;

/// Output is parsed once the PTY has been quiet this long (a poll that waited this long saw
/// nothing), so a flood is forwarded at the speed of the PTY and parsed after it (the parser
/// is the slowest part).
const QUIET: Duration = Duration::from_millis(1);

/// Output parsed per quiet loop turn while catching up, so the loop stays responsive.
const PARSE_SLICE: usize = 128 * 1024;

/// How often a busy session's screen is read for its summary and PR URLs.
const SCAN_EVERY: Duration = Duration::from_secs(2);

/// Output handed to the disk thread at once, unless the PTY goes quiet first.
const TRANSCRIPT_BATCH: usize = 64 * 1024;

/// Unparsed output kept at most; past it the parser keeps pace with the PTY.
const BACKLOG_MAX: usize = 64 << 20;

/// Unparsed output a request for the screen waits for; past it the answer is the screen as
/// parsed so far (during a flood).
const SETTLE_MAX: usize = 64 * 1024;

/// How long each stop signal gets before the next, stronger one.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// What a connected client is to the host.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `crew attach`: a terminal that gets every byte of output.
    Attached(Terminal),
    /// Asks and gets answers.
    Plain,
    /// The supervisor: gets every state change.
    Watcher,
    /// `logs -f`: gets finished lines from `next` on.
    Follower { next: u64 },
}

struct Client {
    conn: Conn,
    role: Role,
    /// Waiting for the agent to be stopped.
    awaiting_stop: bool,
}

/// A stop in progress: the signal sent last and when to escalate.
struct Stopping {
    next_signal: i32,
    at: Instant,
}

pub struct Host {
    home: Home,
    session: Session,
    poll: Poll,
    listener: UnixListener,
    signals: Signals,
    clients: HashMap<Token, Client>,
    next_token: usize,
    agent: Option<Agent>,
    screen: Screen,
    disk: Disk,
    idle_after: Duration,
    /// `idle_reap` from config.toml: a finished session nobody touched for this long has its
    /// host exit (zero: never).
    idle_reap: Duration,
    /// When the session last changed state or a user attached, peeked or typed.
    untouched_since: Instant,
    /// The agent is being stopped because it sat finished for `idle_reap`: its exit keeps
    /// the session's state.
    reaping: bool,
    last_output: Instant,
    /// The user typed something since the last strong (reported) state.
    input_since_report: bool,
    stopping: Option<Stopping>,
    /// PTY output left unread because the turn's budget ran out.
    pty_pending: bool,
    /// Output read but not yet parsed (see `QUIET`) or not yet replayed to a client.
    backlog: Backlog,
    /// Output read this loop turn.
    read_this_turn: usize,
    /// The PTY read buffer, allocated once.
    read_buf: Vec<u8>,
    /// The last poll waited and nothing happened: time to parse.
    quiet: bool,
    /// Output for the transcript, handed to the disk thread once a turn.
    transcript: Vec<u8>,
    attached_count: usize,
    active_counter: u64,
    /// The line being typed by attached users, and whether it began at an empty prompt.
    typed: Typed,
    line_at_prompt: bool,
    /// The session's agent profile: prompt delivery, prompt marker, title and screen rules.
    profile: crate::profile::Profile,
    prompt_pattern: Option<regex_lite::Regex>,
    /// Output arrived since the screen rules last looked.
    screen_due: bool,
    /// The prompt waiting to be typed (`prompt = "type"`).
    typing: Option<typing::Typing>,
    /// Why the agent is being stopped when it is not the user's doing: its exit is a failure
    /// with this reason.
    failure: Option<String>,
    /// For the recap: state changes, the last detach, and when this host started.
    changes: VecDeque<Event>,
    last_detach: Option<SystemTime>,
    started_at: SystemTime,
    /// `state.json` needs writing and watchers need telling.
    dirty: bool,
    /// The environment the agent was started with, for a loop's next run.
    env: Vec<(String, String)>,
    /// A loop session between runs: when the next run starts.
    next_run: Option<Instant>,
    /// When the screen was last read for the row's summary and PR URLs.
    scanned_at: Instant,
    /// History lines before this one were already searched for PR URLs.
    scanned_line: u64,
    /// Output arrived since the last scan.
    unscanned: bool,
    /// The supervisor writes this session's summary (a model or `summary_command`), so the
    /// local extract no longer replaces it.
    summary_from_supervisor: bool,
    quit: bool,
}

/// How a host learns which session it runs.
pub enum Start {
    /// `crew __host <id> [--respawn]`: started for this session.
    Session { id: String, respawn: bool },
    /// `crew __host --standby`: pre-started by the supervisor; announces `standby <pid>`,
    /// then waits on stdin for one `Assignment` line, so a dispatch skips the exec.
    Standby,
}

/// Entry point of `crew __host`. Prints `ready <session json>` or `error <why>` on stdout
/// for the supervisor, then serves until the session is stopped.
pub fn run(home: Home, start: Start) -> i32 {
    // Fork once more so the host is not a session leader (the supervisor made it one with
    // setsid) and can never acquire a controlling terminal.
    match unsafe { libc::fork() } {
        -1 => {
            println!("error cannot fork: {}", io::Error::last_os_error());
            return 1;
        }
        0 => {}
        _ => unsafe { libc::_exit(0) },
    }
    // One malloc arena for both threads: a host is small and there are many of them.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let (id, respawn, env) = match start {
        Start::Session { id, respawn } => (id, respawn, Vec::new()),
        Start::Standby => match wait_for_assignment(&home) {
            Some(a) => (a.id, false, a.env),
            // The supervisor went away without a session for us.
            None => return 0,
        },
    };
    let mut host = match Host::start(home, &id, respawn, &env) {
        Ok(h) => h,
        Err(why) => {
            log::error!("session {id}: {why}");
            // One line for the supervisor: a failing setup's output has several.
            println!(
                "error {}",
                serde_json::to_string(&why).expect("a string serializes")
            );
            return 1;
        }
    };
    // The session rides on the ready line so the supervisor can list it at once; the disk
    // thread writes state.json (with its fsyncs) off the dispatch's critical path.
    println!(
        "ready {}",
        serde_json::to_string(&host.session).expect("session serializes")
    );
    crate::process::detach_stdout();
    host.serve();
    0
}

/// A standby host's wait: announce our pid, read one assignment, and log to its session.
fn wait_for_assignment(home: &Home) -> Option<crate::protocol::Assignment> {
    use std::io::{BufRead, Write};
    use std::os::unix::fs::OpenOptionsExt;
    println!("standby {}", std::process::id());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    let assignment: crate::protocol::Assignment = serde_json::from_str(&line).ok()?;
    if !store::is_valid_id(&assignment.id) {
        return None;
    }
    let log = home.job_dir(&assignment.id).join("host.log");
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
    {
        use std::os::fd::AsRawFd;
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
    }
    Some(assignment)
}

impl Host {
    fn start(
        home: Home,
        id: &str,
        respawn: bool,
        env: &[(String, String)],
    ) -> Result<Host, String> {
        let session = store::read_state(&home.state_path(id))?;
        let config = crate::profile::Config::load(&home.config_path()).unwrap_or_else(|e| {
            log::warn!("{e}; using the default settings");
            crate::profile::Config::default()
        });
        let sock = home.host_sock(id);
        if let Some(dir) = sock.parent() {
            store::private_dir(dir).map_err(|e| e.to_string())?;
        }
        let mut listener = crate::security::bind_private(&sock).map_err(|e| e.to_string())?;
        let poll = Poll::new().map_err(|e| e.to_string())?;
        let mut signals =
            Signals::new([SIGCHLD, SIGTERM, SIGINT, SIGHUP]).map_err(|e| e.to_string())?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| e.to_string())?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| e.to_string())?;

        // A respawned session continues below what it showed before.
        let mut screen = Screen::new(session.rows, session.cols);
        if let Ok(old) = store::read_transcript(&home, id) {
            let tail = &old[old.len().saturating_sub(256 * 1024)..];
            screen.process(tail);
            screen.take_signals();
            if !tail.is_empty() {
                screen.process(b"\r\n");
            }
        }
        let disk = Disk::start(&home, id);
        let profile = config
            .profile(&session.agent)
            .cloned()
            .unwrap_or_else(|| crate::profile::Profile::plain(&session.agent));
        let prompt_pattern = profile
            .prompt_pattern
            .as_deref()
            .and_then(|p| regex_lite::Regex::new(p).ok());
        let mut host = Host {
            home,
            session,
            poll,
            listener,
            signals,
            clients: HashMap::new(),
            next_token: FIRST_CLIENT,
            agent: None,
            screen,
            disk,
            idle_after: config.idle_after,
            idle_reap: config.idle_reap,
            untouched_since: Instant::now(),
            reaping: false,
            last_output: Instant::now(),
            input_since_report: false,
            stopping: None,
            pty_pending: false,
            backlog: Backlog::default(),
            read_this_turn: 0,
            read_buf: vec![0; READ_CHUNK],
            quiet: false,
            transcript: Vec::new(),
            attached_count: 0,
            active_counter: 0,
            typed: Typed::Text(String::new()),
            line_at_prompt: false,
            profile,
            prompt_pattern,
            screen_due: false,
            typing: None,
            failure: None,
            changes: VecDeque::new(),
            last_detach: None,
            started_at: SystemTime::now(),
            dirty: false,
            env: Vec::new(),
            next_run: None,
            scanned_at: Instant::now(),
            scanned_line: 0,
            unscanned: false,
            summary_from_supervisor: false,
            quit: false,
        };
        let new_worktree = match host.prepare_worktree(env) {
            Ok(created) => created,
            Err(why) => {
                let _ = std::fs::remove_file(&sock);
                return Err(why);
            }
        };
        let argv = match (&host.session.resume, respawn) {
            (Some(resume), true) => resume.clone(),
            _ => host.session.command.clone(),
        };
        if let Err(why) = host.start_agent(&argv, env) {
            if new_worktree {
                host.discard_new_worktree();
            }
            let _ = std::fs::remove_file(&sock);
            return Err(why);
        }
        Ok(host)
    }

    /// Spawns the agent in a fresh PTY and marks the session working.
    fn start_agent(&mut self, argv: &[String], env: &[(String, String)]) -> Result<(), String> {
        self.env = env.to_vec();
        self.next_run = None;
        if let Some(l) = &mut self.session.loop_ {
            l.next_at = None;
        }
        let (rows, cols) = self.screen.size();
        let mut agent = agent::Agent::spawn(&agent::Launch {
            argv,
            cwd: &self.session.cwd,
            env,
            profile_env: &self.session.env,
            session_id: &self.session.id,
            home: &self.home.root,
            rows,
            cols,
        })?;
        self.poll
            .registry()
            .register(&mut SourceFd(&agent.fd), PTY, Interest::READABLE)
            .map_err(|e| e.to_string())?;
        agent.input.clear();
        let s = &mut self.session;
        s.pid = Some(agent.pid);
        s.host_pid = Some(std::process::id());
        s.host_start = crate::process::start_time(std::process::id());
        s.process = crate::protocol::Process::Alive;
        s.exit_code = None;
        s.signal = None;
        s.reason = None;
        s.question = None;
        self.agent = Some(agent);
        self.last_output = Instant::now();
        self.plan_typing(argv);
        self.set_state(
            crate::protocol::State::Working,
            crate::protocol::Source::Activity,
        );
        Ok(())
    }

    fn serve(&mut self) {
        let mut events = Events::with_capacity(64);
        while !self.quit {
            let timeout = self.next_timeout();
            self.read_this_turn = 0;
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("poll failed: {e}");
                break;
            }
            for event in events.iter() {
                match event.token() {
                    PTY => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_pty();
                        }
                        if event.is_writable() {
                            self.flush_input();
                        }
                    }
                    LISTENER => self.accept(),
                    SIGNALS => self.on_signals(),
                    token => {
                        if event.is_writable() {
                            if let Some(c) = self.clients.get_mut(&token) {
                                c.conn.blocked = false;
                            }
                        }
                        self.on_client(token);
                    }
                }
            }
            if self.pty_pending {
                self.read_pty();
            }
            // Only a poll that timed out means the PTY was quiet: a gap in reading can be
            // this process not being scheduled while the agent still writes.
            self.quiet = events.is_empty() && self.read_this_turn == 0;
            self.parse_some();
            self.on_timers();
            self.after_turn();
        }
        self.shut_down();
    }

    fn next_timeout(&self) -> Option<Duration> {
        if self.pty_pending {
            return Some(Duration::ZERO);
        }
        if self.backlog.unparsed() > 0 {
            // Wait a moment for more output before parsing; keep parsing once quiet.
            return Some(if self.quiet { Duration::ZERO } else { QUIET });
        }
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if self.idle_pending() {
            consider(self.last_output + self.idle_after);
        }
        if let Some(s) = &self.stopping {
            consider(s.at);
        }
        if let Some(t) = self.next_stall() {
            consider(t);
        }
        if let Some(t) = self.next_run {
            consider(t);
        }
        if let Some(t) = self.typing_at() {
            consider(t);
        }
        if let Some(t) = self.idle_reap_at() {
            consider(t);
        }
        if let Some(t) = self.screen_check_at() {
            consider(t);
        }
        if self.unscanned {
            consider(self.scanned_at + SCAN_EVERY);
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    fn read_pty(&mut self) {
        self.pty_pending = false;
        let mut buf = std::mem::take(&mut self.read_buf);
        let mut total = 0;
        let mut closed = false;
        while let Some(agent) = self.agent.as_mut() {
            let n = agent.read(&mut buf);
            if n == 0 {
                closed = agent.pty_closed;
                break;
            }
            self.on_output(&buf[..n]);
            self.unscanned = true;
            total += n;
            if total >= READ_BUDGET {
                self.pty_pending = true;
                break;
            }
        }
        self.read_buf = buf;
        if closed {
            self.reap();
        }
    }

    /// Raw output from the agent: to attached terminals first, then the transcript; the
    /// parser gets it once the PTY is quiet (`parse_some`).
    fn on_output(&mut self, bytes: &[u8]) {
        if self.attached_count > 0 {
            self.forward(bytes, self.backlog.end());
        }
        self.transcript.extend_from_slice(bytes);
        self.backlog.push(bytes);
        self.read_this_turn += bytes.len();
        self.last_output = Instant::now();
        self.screen_due = self.agent.is_some() && !self.profile.screen.is_empty();
        self.on_activity();
    }

    /// Parses some of the pending output: a slice once the PTY has been quiet for `QUIET`,
    /// as much as keeps the backlog bounded, and more while a client waits for a snapshot.
    fn parse_some(&mut self) {
        let unparsed = self.backlog.unparsed();
        if unparsed == 0 {
            return;
        }
        let limit = if self.quiet { PARSE_SLICE } else { 0 };
        self.parse_pending(limit.max(unparsed.saturating_sub(BACKLOG_MAX)));
    }

    /// Parses everything read so far.
    fn catch_up(&mut self) {
        self.parse_pending(usize::MAX);
    }

    /// Catches up before answering about the screen, unless a flood left too much to parse.
    fn settle(&mut self) {
        if self.backlog.unparsed() <= SETTLE_MAX {
            self.catch_up();
        }
    }

    fn parse_pending(&mut self, limit: usize) {
        let mut left = limit.min(self.backlog.unparsed());
        while left > 0 {
            let chunk = self
                .backlog
                .slice_from(self.backlog.parsed, left.min(READ_CHUNK));
            self.screen.process(chunk);
            let n = chunk.len();
            self.backlog.parsed += n as u64;
            left -= n;
            for signal in self.screen.take_signals() {
                self.on_signal_from_output(signal);
            }
        }
        self.trim_backlog();
    }

    fn flush_input(&mut self) {
        let Some(agent) = self.agent.as_mut() else {
            return;
        };
        let more = agent.flush_input();
        let interest = if more {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let fd = agent.fd;
        let _ = self
            .poll
            .registry()
            .reregister(&mut SourceFd(&fd), PTY, interest);
    }

    /// Types bytes into the agent, without ever waiting for it to read them.
    fn write_input(&mut self, bytes: &[u8]) {
        let Some(agent) = self.agent.as_mut() else {
            return;
        };
        if agent.write(bytes) {
            let fd = agent.fd;
            let _ = self.poll.registry().reregister(
                &mut SourceFd(&fd),
                PTY,
                Interest::READABLE | Interest::WRITABLE,
            );
        }
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGCHLD => self.reap(),
                // The host has no terminal; a HUP is someone's attempt to end it, as is TERM.
                _ => self.begin_stop(),
            }
        }
    }

    /// Collects the agent's exit, after draining what it printed last.
    fn reap(&mut self) {
        let Some(exit) = self.agent.as_ref().and_then(|a| a.try_reap()) else {
            return;
        };
        let mut buf = [0u8; READ_CHUNK];
        while let Some(agent) = self.agent.as_mut() {
            let n = agent.read(&mut buf);
            if n == 0 {
                break;
            }
            self.on_output(&buf[..n]);
        }
        if let Some(agent) = self.agent.take() {
            let _ = self.poll.registry().deregister(&mut SourceFd(&agent.fd));
        }
        self.pty_pending = false;
        self.catch_up();
        // Whoever learns of the exit may read the transcript at once (`crew logs -f --raw`
        // stops there): it must be on disk first. The agent is gone, so waiting costs no one.
        if !self.transcript.is_empty() {
            self.disk.append(std::mem::take(&mut self.transcript));
        }
        self.disk.sync();
        self.on_exit(exit);
    }

    fn accept(&mut self) {
        for stream in crate::security::accept_allowed(&self.listener, "host.sock") {
            let token = Token(self.next_token);
            self.next_token += 1;
            if let Ok(conn) = Conn::register(stream, self.poll.registry(), token) {
                let client = Client {
                    conn,
                    role: Role::Plain,
                    awaiting_stop: false,
                };
                self.clients.insert(token, client);
            }
        }
    }

    fn on_client(&mut self, token: Token) {
        let Some(client) = self.clients.get_mut(&token) else {
            return;
        };
        if let Err(e) = client.conn.fill() {
            log::debug!("client {}: {e}", token.0);
            self.drop_client(token);
            return;
        }
        loop {
            let Some(client) = self.clients.get_mut(&token) else {
                return;
            };
            match client.conn.next_message() {
                Ok(None) => break,
                Ok(Some(Ok(request))) => self.on_request(token, request),
                Ok(Some(Err(data))) => self.on_data(token, &data),
                Err(e) => {
                    log::warn!("closing a connection that sent {e}");
                    self.drop_client(token);
                    return;
                }
            }
        }
        if self.clients.get(&token).is_some_and(|c| c.conn.eof) {
            self.drop_client(token);
        }
    }

    fn drop_client(&mut self, token: Token) {
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.conn.stream);
            if matches!(c.role, Role::Attached(_)) {
                self.detached();
            }
        }
    }

    /// Answers a client. A pending state change is published first, so whoever reads the
    /// answer (the supervisor, then its clients) never sees an older state after it.
    fn reply(&mut self, token: Token, reply: &Reply) {
        if self.dirty {
            self.publish();
        }
        if let Some(c) = self.clients.get_mut(&token) {
            c.conn.send(reply);
        }
    }

    /// Answers a client with an error.
    fn fail(&mut self, token: Token, message: impl Into<String>) {
        let message = message.into();
        self.reply(token, &Reply::Error { message });
    }

    /// Whether the agent runs; if not, the client is told so.
    fn agent_running(&mut self, token: Token) -> bool {
        if self.agent.is_none() {
            self.fail(token, "the session's agent has exited");
        }
        self.agent.is_some()
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        for token in self.check_stalls(now) {
            log::info!("dropping an attached client that took nothing for {STALL_LIMIT:?}");
            self.drop_client(token);
        }
        if self.idle_pending() && now >= self.last_output + self.idle_after {
            self.on_quiet();
        }
        if self.next_run.is_some_and(|t| now >= t) {
            self.run_loop_again();
        }
        if self.screen_check_at().is_some_and(|t| now >= t) && self.backlog.unparsed() == 0 {
            self.check_screen();
        }
        self.on_typing_timer(now);
        if self.idle_reap_at().is_some_and(|t| now >= t) {
            self.reap_idle_session();
        }
        if let Some(s) = &self.stopping {
            if now >= s.at {
                let sig = s.next_signal;
                if let Some(agent) = &self.agent {
                    agent.signal(sig);
                }
                self.stopping = Some(Stopping {
                    next_signal: libc::SIGKILL,
                    at: now + STOP_GRACE,
                });
            }
        }
    }

    /// End of a loop turn: hand output to the disk, persist and announce state changes,
    /// feed followers, flush.
    fn after_turn(&mut self) {
        let scan_due = self.unscanned && self.scanned_at.elapsed() >= SCAN_EVERY;
        if scan_due && self.quiet && self.backlog.unparsed() == 0 {
            self.scan_screen();
        }
        // The disk thread is woken once output pauses or a good amount waits, not for every
        // echoed key: waking it costs the echo's round trip a context switch.
        if self.transcript.len() >= TRANSCRIPT_BATCH
            || (!self.transcript.is_empty() && (self.quiet || self.backlog.unparsed() == 0))
        {
            self.disk.append(std::mem::take(&mut self.transcript));
        }
        if self.dirty {
            self.publish();
        }
        self.feed_followers();
        self.resync_clients();
        let now = Instant::now();
        let mut broken = Vec::new();
        for (token, c) in self.clients.iter_mut() {
            match c.conn.flush() {
                Err(_) => broken.push(*token),
                Ok(true) => {
                    if let Role::Attached(t) = &mut c.role {
                        t.progress_at = now;
                    }
                }
                Ok(false) => {}
            }
        }
        for token in broken {
            self.drop_client(token);
        }
    }

    /// Persists the session (on the disk thread) and pushes it to the watchers.
    fn publish(&mut self) {
        self.dirty = false;
        let mut bytes = serde_json::to_vec_pretty(&self.session).expect("session serializes");
        bytes.push(b'\n');
        self.disk.write_state(bytes);
        let msg = Reply::State {
            session: Box::new(self.session.clone()),
        };
        for c in self
            .clients
            .values_mut()
            .filter(|c| c.role == Role::Watcher)
        {
            c.conn.send(&msg);
        }
    }

    fn feed_followers(&mut self) {
        if !self
            .clients
            .values()
            .any(|c| matches!(c.role, Role::Follower { .. }))
        {
            return;
        }
        let ended = self.agent.is_none();
        let end = if ended {
            self.screen.content_end()
        } else {
            self.screen.finished_end()
        };
        for c in self.clients.values_mut() {
            if let Role::Follower { next } = c.role {
                if next >= end && !ended {
                    continue;
                }
                let (lines, new_next) = self.screen.lines_between(next, end);
                if lines.is_empty() && !ended {
                    continue;
                }
                c.role = Role::Follower { next: new_next };
                c.conn.send(&Reply::Lines {
                    lines,
                    next: new_next,
                    ended,
                });
                if ended {
                    c.role = Role::Plain;
                }
            }
        }
    }

    fn shut_down(&mut self) {
        self.catch_up();
        if !self.transcript.is_empty() {
            self.disk.append(std::mem::take(&mut self.transcript));
        }
        self.session.host_pid = None;
        self.session.host_start = None;
        self.session.attached = 0;
        self.disk.write_screen(self.screen.full_text());
        let mut bytes = serde_json::to_vec_pretty(&self.session).expect("session serializes");
        bytes.push(b'\n');
        self.disk.write_state(bytes);
        self.disk.finish();
        let _ = std::fs::remove_file(self.home.host_sock(&self.session.id));
        let msg = Reply::State {
            session: Box::new(self.session.clone()),
        };
        for c in self.clients.values_mut() {
            if c.role == Role::Watcher {
                c.conn.send(&msg);
            }
            if c.awaiting_stop {
                c.conn.send(&Reply::Ok);
            }
            let _ = c.conn.flush();
        }
    }
}

/// Gives memory freed after a burst of output back to the system (a quiet host should cost
/// little: there may be hundreds).
pub fn release_memory() {
    unsafe { libc::malloc_trim(0) };
}
