//! `crew-bench`: measures crew against tmux (and dtach, when installed) doing the same work on
//! the same machine in one run, and prints medians and the crew/tmux ratio:
//!
//! 1. dispatch: from spawning the dispatch command until the session's command runs;
//! 2. listing: `crew ls --json` against `tmux ls` with 200 sessions;
//! 3. memory: unique resident memory (USS) of every crew process against the tmux server, with
//!    1, 50 and 200 idle sessions that have each printed 10,000 lines.
//!
//! Run by hand: `cargo run --release --bin crew-bench -- [--quick] [--only SECTION] [--crew PATH]`.
//! Everything it starts lives in private places (a fresh `CREW_HOME` per section, tmux on its
//! own socket `-L crew-bench`, scratch files under `/tmp/cb-<pid>-*`) and is stopped on exit, on
//! error and on Ctrl-C.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

type Res<T> = Result<T, String>;

const USAGE: &str = "usage: crew-bench [--quick] [--only dispatch|list|memory] [--crew PATH]

Measures crew against tmux (private socket -L crew-bench) and dtach when installed:
dispatch latency, listing many sessions, and memory of idle sessions.
  --quick        fewer runs and sessions (a rough number in about a minute)
  --only NAME    run one section: dispatch, list or memory
  --crew PATH    the crew binary (default: `crew` next to this program)";

const TMUX_SOCKET: &str = "crew-bench";
/// Untimed runs before the timed ones, so caches, the crew supervisor and its spare host are warm.
const WARMUP: usize = 3;
/// How long a dispatched command may take to start before the run counts as failed.
const READY_DEADLINE: Duration = Duration::from_secs(10);
/// How long sessions may take to print their output and go idle.
const IDLE_DEADLINE: Duration = Duration::from_secs(120);
/// Any single untimed command; only a hung program gets near it.
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);
/// Pause after each timed dispatch, so background work one system starts after a dispatch (crew
/// pre-starts its next host) is not charged to the next system's run.
const SETTLE: Duration = Duration::from_millis(100);
const IDLE_CMD: &str = "sleep 100000";
const OUTPUT_CMD: &str = "seq -f 'line %g of some typical agent output text' 1 10000; sleep 100000";
const LAST_LINE: &str = "line 10000 of some typical agent output text";
/// `crew logs -n LOG_LINES` must give this many lines of a session that printed 10,000.
const LOG_LINES: usize = 2000;

fn main() {
    install_signal_handlers();
    match real_main() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("crew-bench: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the chosen sections; a section that fails is reported and the others still run.
/// Returns whether every section succeeded.
fn real_main() -> Res<bool> {
    let opts = parse_args()?;
    // Declared before `tmux` so it is dropped after it: tmux panes run commands in it.
    let scratch = Scratch::create()?;
    let tmux = Tmux::start()?;
    print_header(&opts, &scratch);

    type SectionFn = fn(&Opts, &Scratch, &Tmux) -> Res<Vec<Row>>;
    let sections: [(Section, SectionFn); 3] = [
        (Section::Dispatch, bench_dispatch),
        (Section::List, bench_list),
        (Section::Memory, bench_memory),
    ];
    let mut rows = Vec::new();
    let mut all_ok = true;
    for (section, run) in sections {
        if !opts.wants(section) {
            continue;
        }
        match run(&opts, &scratch, &tmux) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                check_interrupt()?;
                eprintln!("crew-bench: {}: {e}", section.name());
                all_ok = false;
            }
        }
    }
    print_summary(&rows);
    Ok(all_ok)
}

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Dispatch,
    List,
    Memory,
}

impl Section {
    fn parse(s: &str) -> Res<Section> {
        match s {
            "dispatch" => Ok(Section::Dispatch),
            "list" => Ok(Section::List),
            "memory" => Ok(Section::Memory),
            _ => Err(format!("--only takes dispatch, list or memory, not {s:?}")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::Dispatch => "dispatch",
            Section::List => "list",
            Section::Memory => "memory",
        }
    }
}

struct Opts {
    quick: bool,
    only: Option<Section>,
    crew: PathBuf,
}

impl Opts {
    fn runs(&self) -> usize {
        if self.quick {
            10
        } else {
            30
        }
    }

    fn list_sessions(&self) -> usize {
        if self.quick {
            50
        } else {
            200
        }
    }

    fn memory_stages(&self) -> &'static [usize] {
        if self.quick {
            &[1, 50]
        } else {
            &[1, 50, 200]
        }
    }

    fn wants(&self, section: Section) -> bool {
        self.only.is_none() || self.only == Some(section)
    }
}

fn parse_args() -> Res<Opts> {
    let mut quick = false;
    let mut only = None;
    let mut crew = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let value = args.next().ok_or("--only needs dispatch, list or memory")?;
                only = Some(Section::parse(&value)?);
            }
            "--crew" => crew = Some(PathBuf::from(args.next().ok_or("--crew needs a path")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let crew = match crew {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find my own executable: {e}"))?
            .with_file_name("crew"),
    };
    // Canonical, so it compares equal to /proc/PID/exe when finding crew's processes.
    let crew = fs::canonicalize(&crew).map_err(|e| {
        format!(
            "crew binary {}: {e} (build it or pass --crew PATH)",
            crew.display()
        )
    })?;
    if !is_executable(&crew) {
        return Err(format!("{} is not an executable file", crew.display()));
    }
    Ok(Opts { quick, only, crew })
}

// ---------------------------------------------------------------------------------------------
// Signals: Ctrl-C must still stop everything that was started, so it only sets a flag that the
// loops check; the guards' Drop then cleans up.

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // A second Ctrl-C means "stop now", even when a hung child keeps the cleanup from running.
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        unsafe { libc::_exit(130) };
    }
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only touches an atomic and calls _exit, both async-signal-safe.
        unsafe { libc::signal(sig, handler) };
    }
}

fn check_interrupt() -> Res<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".to_string())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Running child processes

/// A command in its own process group, so Ctrl-C in the terminal reaches only crew-bench, which
/// then cleans up in order, and never a half-finished child.
fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.process_group(0).stdin(Stdio::null());
    cmd
}

/// The command line, for error messages.
fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let line = words.join(" ");
    if line.len() > 120 {
        format!("{}…", line.chars().take(120).collect::<String>())
    } else {
        line
    }
}

fn spawn(cmd: &mut Command) -> Res<Child> {
    cmd.spawn()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)))
}

/// Waits for `child`, killing it after `deadline`.
fn wait_deadline(child: &mut Child, deadline: Duration, cmd: &Command) -> Res<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for {}: {e}", describe(cmd)))?
        {
            return Ok(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not finish within {} s",
                describe(cmd),
                deadline.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs a cleanup command with its output discarded, ignoring Ctrl-C (cleanup runs after it).
fn run_quietly(cmd: &mut Command, deadline: Duration) -> Res<ExitStatus> {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = spawn(cmd)?;
    wait_deadline(&mut child, deadline, cmd)
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// One dispatch: when the session's command was running (its marker file existed) and when the
/// dispatching command returned, both in ms from spawn.
struct Dispatch {
    ready_ms: f64,
    returned_ms: f64,
    stdout: String,
}

/// The scratch directory (`/tmp/cb-<pid>-s`): marker files, dtach sockets, and the files child
/// output goes to. Dropping it kills the dtach sessions and removes it.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create() -> Res<Scratch> {
        let dir = PathBuf::from(format!("/tmp/cb-{}-s", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Scratch { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A fresh file for a child's output. Unlinked first: a daemon that inherited the previous
    /// one (crew's supervisor is started by a client) keeps writing into that one, not this.
    fn fresh_file(&self, name: &str) -> Res<File> {
        let path = self.path(name);
        let _ = fs::remove_file(&path);
        File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))
    }

    /// Points the child's stdout and stderr at files rather than pipes: a daemon that inherits
    /// them can never block a read, and no reader thread runs while something is being timed.
    fn redirect(&self, cmd: &mut Command) -> Res<()> {
        cmd.stdout(self.fresh_file("out")?)
            .stderr(self.fresh_file("err")?);
        Ok(())
    }

    fn read(&self, name: &str) -> String {
        fs::read(self.path(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn failure(&self, cmd: &Command, status: ExitStatus) -> String {
        format!(
            "{} failed ({status}): {}",
            describe(cmd),
            self.read("err").trim()
        )
    }

    /// The child's stdout if it succeeded, else an error with its stderr.
    fn finish(&self, cmd: &Command, status: ExitStatus) -> Res<String> {
        if status.success() {
            Ok(self.read("out"))
        } else {
            Err(self.failure(cmd, status))
        }
    }

    /// Runs an untimed command with a deadline; returns its stdout.
    fn run(&self, cmd: &mut Command) -> Res<String> {
        check_interrupt()?;
        self.redirect(cmd)?;
        let mut child = spawn(cmd)?;
        let status = wait_deadline(&mut child, COMMAND_DEADLINE, cmd)?;
        self.finish(cmd, status)
    }

    /// Runs a command and times it from spawn to exit; returns the time in ms and its stdout.
    fn timed(&self, cmd: &mut Command) -> Res<(f64, String)> {
        check_interrupt()?;
        self.redirect(cmd)?;
        let start = Instant::now();
        let mut child = spawn(cmd)?;
        // A blocking wait: polling would take a CPU from the command being timed.
        let status = child
            .wait()
            .map_err(|e| format!("waiting for {}: {e}", describe(cmd)))?;
        let ms = ms_since(start);
        Ok((ms, self.finish(cmd, status)?))
    }

    /// Spawns a dispatching command and times it until `marker` exists, i.e. the session's
    /// command runs, and until the dispatching command returned.
    fn dispatch(&self, cmd: &mut Command, marker: &Path) -> Res<Dispatch> {
        check_interrupt()?;
        self.redirect(cmd)?;
        let start = Instant::now();
        let mut child = spawn(cmd)?;
        let (mut ready, mut returned) = (None, None);
        // Spin rather than sleep: what is measured is a few milliseconds.
        while ready.is_none() || returned.is_none() {
            if ready.is_none() && marker.exists() {
                ready = Some(ms_since(start));
            }
            if returned.is_none() {
                let status = child
                    .try_wait()
                    .map_err(|e| format!("waiting for {}: {e}", describe(cmd)))?;
                if let Some(status) = status {
                    returned = Some(ms_since(start));
                    if !status.success() {
                        return Err(self.failure(cmd, status));
                    }
                }
            }
            if start.elapsed() > READY_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{}: the session's command did not start within 10 s",
                    describe(cmd)
                ));
            }
            std::thread::yield_now();
        }
        Ok(Dispatch {
            ready_ms: ready.unwrap_or_default(),
            returned_ms: returned.unwrap_or_default(),
            stdout: self.read("out"),
        })
    }

    /// A session command for a dispatch run: it makes its marker file, then waits.
    fn marker_cmd(&self, name: &str) -> (PathBuf, String) {
        let marker = self.path(name);
        let cmd = format!("touch {}; sleep 1000", marker.display());
        (marker, cmd)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // dtach masters have no other handle: find them by the socket path in their arguments.
        let dir = self.dir.as_os_str().as_bytes().to_vec();
        let dtach: Vec<u32> = all_pids()
            .into_iter()
            .filter(|pid| {
                comm(*pid).as_deref() == Some("dtach")
                    && cmdline(*pid).windows(dir.len()).any(|w| w == dir)
            })
            .collect();
        terminate(&dtach);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn cmdline(pid: u32) -> Vec<u8> {
    fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

fn runs_binary(pid: u32, bin: &Path) -> bool {
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else {
        return false;
    };
    // A binary rebuilt while its process runs shows as "PATH (deleted)".
    let bytes = exe.as_os_str().as_bytes();
    let bytes = bytes.strip_suffix(b" (deleted)").unwrap_or(bytes);
    Path::new(OsStr::from_bytes(bytes)) == bin
}

fn has_env(pid: u32, entry: &[u8]) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|b| *b == 0).any(|v| v == entry))
        .unwrap_or(false)
}

/// SIGTERM, then SIGKILL to what is still there after 2 s.
fn terminate(pids: &[u32]) {
    signal_all(pids, libc::SIGTERM);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) && pids.iter().any(|p| alive(*p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_all(pids, libc::SIGKILL);
}

fn signal_all(pids: &[u32], sig: libc::c_int) {
    for &pid in pids {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) with a pid we found running our own program.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

/// Alive and not a zombie waiting for its parent.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .map(|rest| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Unique resident memory of a process in kB: the pages no other process shares.
fn uss_kb(pid: u32) -> Res<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut total = 0;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some(key), Some(value)) = (words.next(), words.next()) {
            if matches!(
                key,
                "Private_Clean:" | "Private_Dirty:" | "Private_Hugetlb:"
            ) {
                total += value
                    .parse::<u64>()
                    .map_err(|e| format!("{path}: {line:?}: {e}"))?;
            }
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// crew

static HOMES: AtomicU32 = AtomicU32::new(0);

/// A fresh `CREW_HOME` with everything crew runs in it. Dropping it stops every session and the
/// supervisor and removes the directory.
struct CrewHome {
    bin: PathBuf,
    dir: PathBuf,
}

impl CrewHome {
    fn create(bin: &Path) -> Res<CrewHome> {
        let n = HOMES.fetch_add(1, Ordering::SeqCst);
        // Short on purpose: socket paths under it must stay below 108 bytes.
        let dir = PathBuf::from(format!("/tmp/cb-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(CrewHome {
            bin: bin.to_path_buf(),
            dir,
        })
    }

    fn cmd(&self) -> Command {
        let mut cmd = command(&self.bin);
        // The home is not in a git repository, so no session gets a worktree.
        cmd.env("CREW_HOME", &self.dir).current_dir(&self.dir);
        cmd
    }

    /// `crew --bg` for a shell command. The `shell` profile is named because the default agent
    /// is whichever coding agent is installed.
    fn bg(&self, shell_cmd: &str) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["--bg", "--agent", "shell", shell_cmd]);
        cmd
    }

    /// Dispatches a session (untimed); returns its id.
    fn dispatch(&self, scratch: &Scratch, shell_cmd: &str) -> Res<String> {
        let out = scratch.run(&mut self.bg(shell_cmd))?;
        parse_bg_line(&out)
    }

    fn list(&self, scratch: &Scratch) -> Res<Vec<Value>> {
        let out = scratch.run(self.cmd().args(["ls", "--json"]))?;
        parse_list(&out)
    }

    fn supervisor_pid(&self) -> Res<u32> {
        let path = self.dir.join("daemon/supervisor.pid");
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let first = text.lines().next().unwrap_or("").trim();
        first
            .parse()
            .map_err(|_| format!("{}: not a pid: {first:?}", path.display()))
    }

    /// Every live process of this crew binary with this `CREW_HOME`: the supervisor, the
    /// hosts, and the spare host the supervisor keeps ready, which `ls` does not list.
    fn processes(&self) -> Vec<u32> {
        let entry = [b"CREW_HOME=".as_slice(), self.dir.as_os_str().as_bytes()].concat();
        all_pids()
            .into_iter()
            .filter(|p| runs_binary(*p, &self.bin) && has_env(*p, &entry))
            .collect()
    }
}

impl Drop for CrewHome {
    fn drop(&mut self) {
        let mut stop = self.cmd();
        stop.args(["daemon", "stop"]);
        match run_quietly(&mut stop, COMMAND_DEADLINE) {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("crew-bench: note: `crew daemon stop` failed ({status})"),
            Err(e) => eprintln!("crew-bench: note: {e}"),
        }
        // Hosts may take a moment to exit after their session is stopped.
        let start = Instant::now();
        let mut left = self.processes();
        while !left.is_empty() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
            left = self.processes();
        }
        if !left.is_empty() {
            eprintln!(
                "crew-bench: note: {} crew process(es) still ran 5 s after `crew daemon stop`; killing them",
                left.len()
            );
            terminate(&left);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `crew --bg` prints `<id> <name>`.
fn parse_bg_line(out: &str) -> Res<String> {
    match out.split_whitespace().next() {
        Some(id) => Ok(id.to_string()),
        None => Err(format!("crew --bg printed no `<id> <name>` line: {out:?}")),
    }
}

fn parse_list(out: &str) -> Res<Vec<Value>> {
    match serde_json::from_str(out) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err("crew ls --json did not print an array".to_string()),
        Err(e) => Err(format!("crew ls --json printed bad JSON: {e}")),
    }
}

fn field<'a>(session: &'a Value, key: &str) -> &'a str {
    session.get(key).and_then(Value::as_str).unwrap_or("?")
}

// ---------------------------------------------------------------------------------------------
// tmux

/// The private tmux server. Killed when made, on `reset`, and when dropped.
struct Tmux;

impl Tmux {
    fn start() -> Res<Tmux> {
        if which("tmux").is_none() {
            return Err("tmux is not on PATH; it is what crew is measured against".to_string());
        }
        let tmux = Tmux;
        tmux.reset();
        Ok(tmux)
    }

    fn cmd(&self) -> Command {
        let mut cmd = command("tmux");
        // `-f /dev/null`: the user's ~/.tmux.conf must not change what is measured (e.g. the
        // history limit stays at its default of 2000 lines).
        cmd.args(["-L", TMUX_SOCKET, "-f", "/dev/null"])
            .env_remove("TMUX");
        cmd
    }

    /// Kills the server and waits until it is gone: `kill-server` returns while the server
    /// still shuts down, and a client that connects then fails with "server exited unexpectedly".
    fn reset(&self) {
        let pid = self
            .cmd()
            .args(["display-message", "-p", "#{pid}"])
            .stderr(Stdio::null())
            .output();
        let pid = pid.ok().and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .ok()
        });
        let _ = run_quietly(self.cmd().arg("kill-server"), COMMAND_DEADLINE);
        let start = Instant::now();
        while pid.is_some_and(alive) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn new_session_cmd(&self, name: &str, shell_cmd: &str) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["new-session", "-d", "-s", name, shell_cmd]);
        cmd
    }

    fn new_session(&self, scratch: &Scratch, name: &str, shell_cmd: &str) -> Res<()> {
        scratch
            .run(&mut self.new_session_cmd(name, shell_cmd))
            .map(drop)
    }

    /// A session the size of crew's default terminal, so both render the same screen.
    fn new_session_80x24(&self, scratch: &Scratch, name: &str, shell_cmd: &str) -> Res<()> {
        let mut cmd = self.cmd();
        cmd.args([
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            name,
            shell_cmd,
        ]);
        scratch.run(&mut cmd).map(drop)
    }

    fn server_pid(&self, scratch: &Scratch) -> Res<u32> {
        let out = scratch.run(self.cmd().args(["display-message", "-p", "#{pid}"]))?;
        out.trim()
            .parse()
            .map_err(|_| format!("tmux printed no server pid: {out:?}"))
    }

    fn pane_text(&self, scratch: &Scratch, name: &str) -> Res<String> {
        scratch.run(self.cmd().args(["capture-pane", "-p", "-t", name]))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.reset();
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and reporting

/// Timings in ms, kept only after the warm-up.
#[derive(Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// Nearest-rank percentile.
    fn percentile(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
}

/// One line of the summary table.
struct Row {
    name: String,
    crew: String,
    tmux: String,
    ratio: Option<f64>,
    /// None when this row has no target.
    met: Option<bool>,
}

fn timing_row(name: &str, crew: f64, tmux: f64) -> Row {
    Row {
        name: name.to_string(),
        crew: format!("{crew:.2} ms"),
        tmux: format!("{tmux:.2} ms"),
        ratio: Some(crew / tmux),
        met: Some(crew <= tmux),
    }
}

fn print_timing_line(label: &str, s: &Samples) {
    println!(
        "  {label:<34} median {:>8.2} ms   p90 {:>8.2} ms   min {:>8.2} ms",
        s.median(),
        s.percentile(90.0),
        s.min()
    );
}

fn print_header(opts: &Opts, scratch: &Scratch) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "?".to_string());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let tmux_version = scratch.run(command("tmux").arg("-V")).unwrap_or_default();
    // A private CREW_HOME even here, in case this crew starts something on any command.
    let crew_version = scratch
        .run(
            command(&opts.crew)
                .arg("--version")
                .env("CREW_HOME", &scratch.dir),
        )
        .unwrap_or_default();
    println!("crew-bench{}", if opts.quick { " (--quick)" } else { "" });
    println!("  machine: {cpus} CPUs ({cpu}), Linux {}", kernel.trim());
    println!("  crew:    {} {}", opts.crew.display(), crew_version.trim());
    println!(
        "  tmux:    {} (socket -L {TMUX_SOCKET}, no config file)",
        tmux_version.trim()
    );
    match which("dtach") {
        Some(path) => println!("  dtach:   {} (dispatch only)", path.display()),
        None => println!("  dtach:   not installed (skipped)"),
    }
}

fn print_summary(rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    println!("\n== summary ==");
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4);
    println!(
        "  {:<width$}  {:>12}  {:>12}  {:>10}  target met",
        "", "crew", "tmux", "crew/tmux"
    );
    for row in rows {
        let ratio = row
            .ratio
            .map(|r| format!("{r:.2}"))
            .unwrap_or_else(|| "-".to_string());
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "  {:<width$}  {:>12}  {:>12}  {:>10}  {met}",
            row.name, row.crew, row.tmux, ratio
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Dispatch

fn bench_dispatch(opts: &Opts, scratch: &Scratch, tmux: &Tmux) -> Res<Vec<Row>> {
    let runs = opts.runs();
    println!("\n== dispatch: from spawn until the session's command runs ({runs} runs after {WARMUP} warm-up) ==");
    tmux.reset();
    // tmux's server is up before the timing starts, as crew's supervisor is after the warm-up.
    tmux.new_session(scratch, "keep", IDLE_CMD)?;
    let home = CrewHome::create(&opts.crew)?;
    let dtach = which("dtach");
    let (mut crew, mut crew_ret) = (Samples::default(), Samples::default());
    let (mut tm, mut tm_ret) = (Samples::default(), Samples::default());
    let mut dt = Samples::default();
    // Interleaved, so a drift in machine load over the run hits every system alike.
    for i in 0..WARMUP + runs {
        let c = dispatch_crew(scratch, &home, i)?;
        std::thread::sleep(SETTLE);
        let t = dispatch_tmux(scratch, tmux, i)?;
        std::thread::sleep(SETTLE);
        let d = match &dtach {
            Some(bin) => {
                let d = dispatch_dtach(scratch, bin, i)?;
                std::thread::sleep(SETTLE);
                Some(d)
            }
            None => None,
        };
        if i < WARMUP {
            continue;
        }
        crew.0.push(c.ready_ms);
        crew_ret.0.push(c.returned_ms);
        tm.0.push(t.ready_ms);
        tm_ret.0.push(t.returned_ms);
        if let Some(d) = d {
            dt.0.push(d.ready_ms);
        }
    }
    print_timing_line("crew --bg: command running", &crew);
    print_timing_line("tmux new-session -d: running", &tm);
    if dtach.is_some() {
        print_timing_line("dtach -n: command running", &dt);
    } else {
        println!("  dtach: not installed");
    }
    print_timing_line("crew --bg: returned", &crew_ret);
    print_timing_line("tmux new-session -d: returned", &tm_ret);
    let ratio = crew.median() / tm.median();
    println!("  crew/tmux (median): {ratio:.2}   target: crew <= tmux");
    let mut row = timing_row("dispatch (median)", crew.median(), tm.median());
    if dtach.is_some() {
        row.name = format!("dispatch (median; dtach {:.2} ms)", dt.median());
    }
    Ok(vec![row])
}

fn dispatch_crew(scratch: &Scratch, home: &CrewHome, i: usize) -> Res<Dispatch> {
    let (marker, shell_cmd) = scratch.marker_cmd(&format!("c{i}"));
    let d = scratch.dispatch(&mut home.bg(&shell_cmd), &marker)?;
    parse_bg_line(&d.stdout)?;
    Ok(d)
}

fn dispatch_tmux(scratch: &Scratch, tmux: &Tmux, i: usize) -> Res<Dispatch> {
    let (marker, shell_cmd) = scratch.marker_cmd(&format!("t{i}"));
    scratch.dispatch(
        &mut tmux.new_session_cmd(&format!("d{i}"), &shell_cmd),
        &marker,
    )
}

fn dispatch_dtach(scratch: &Scratch, bin: &Path, i: usize) -> Res<Dispatch> {
    let (marker, shell_cmd) = scratch.marker_cmd(&format!("d{i}"));
    let socket = scratch.path(&format!("d{i}.sock"));
    let mut cmd = command(bin);
    // Through `sh -c`, as tmux and crew's shell profile run a command.
    cmd.arg("-n").arg(&socket).args(["sh", "-c", &shell_cmd]);
    scratch.dispatch(&mut cmd, &marker)
}

// ---------------------------------------------------------------------------------------------
// 2. Listing

fn bench_list(opts: &Opts, scratch: &Scratch, tmux: &Tmux) -> Res<Vec<Row>> {
    let count = opts.list_sessions();
    let runs = opts.runs();
    println!("\n== listing {count} sessions: crew ls --json vs tmux ls ({runs} runs after {WARMUP} warm-up) ==");
    tmux.reset();
    let home = CrewHome::create(&opts.crew)?;
    start_idle_sessions(scratch, &home, tmux, count)?;
    check_list_lengths(scratch, &home, tmux, count)?;

    let mut crew = Samples::default();
    let mut tm = Samples::default();
    for i in 0..WARMUP + runs {
        let (c, _) = scratch.timed(home.cmd().args(["ls", "--json"]))?;
        let (t, _) = scratch.timed(tmux.cmd().arg("ls"))?;
        if i >= WARMUP {
            crew.0.push(c);
            tm.0.push(t);
        }
    }
    print_timing_line("crew ls --json", &crew);
    print_timing_line("tmux ls", &tm);
    println!(
        "  crew/tmux (median): {:.2}   target: crew <= tmux",
        crew.median() / tm.median()
    );
    Ok(vec![timing_row(
        &format!("list {count} sessions (median)"),
        crew.median(),
        tm.median(),
    )])
}

/// Starts `count` idle sessions in each, and says how long that took (a bulk dispatch number).
fn start_idle_sessions(scratch: &Scratch, home: &CrewHome, tmux: &Tmux, count: usize) -> Res<()> {
    let start = Instant::now();
    for _ in 0..count {
        home.dispatch(scratch, IDLE_CMD)?;
    }
    let crew_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..count {
        tmux.new_session(scratch, &format!("l{i}"), IDLE_CMD)?;
    }
    let tmux_s = start.elapsed().as_secs_f64();
    println!(
        "  started {count} sessions one after another: crew {crew_s:.2} s, tmux {tmux_s:.2} s"
    );
    Ok(())
}

fn check_list_lengths(scratch: &Scratch, home: &CrewHome, tmux: &Tmux, count: usize) -> Res<()> {
    let crew_len = home.list(scratch)?.len();
    let tmux_len = scratch.run(tmux.cmd().arg("ls"))?.lines().count();
    if crew_len != count {
        return Err(format!(
            "crew ls --json listed {crew_len} sessions, expected {count}"
        ));
    }
    if tmux_len != count {
        return Err(format!(
            "tmux ls listed {tmux_len} sessions, expected {count}"
        ));
    }
    println!("  both list {count} sessions");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. Memory

/// Memory of one stage, in kB.
struct Memory {
    crew_kb: u64,
    supervisor_kb: u64,
    hosts: usize,
    tmux_kb: u64,
}

fn bench_memory(opts: &Opts, scratch: &Scratch, tmux: &Tmux) -> Res<Vec<Row>> {
    let stages = opts.memory_stages();
    println!("\n== memory: USS of crew (supervisor + hosts) vs the tmux server; sessions printed 10,000 lines each ==");
    println!(
        "  {:>8}  {:>10}  {:>13}  {:>10}  {:>13}  {:>9}  crew detail",
        "sessions", "crew MiB", "crew KiB/sess", "tmux MiB", "tmux KiB/sess", "crew/tmux"
    );
    tmux.reset();
    let home = CrewHome::create(&opts.crew)?;
    let mut rows = Vec::new();
    let mut started = 0;
    let mut sessions = Vec::new();
    // Stages reuse the sessions of the one before: 1, then up to 50, then up to 200.
    for (stage, &count) in stages.iter().enumerate() {
        while started < count {
            home.dispatch(scratch, OUTPUT_CMD)?;
            tmux.new_session_80x24(scratch, &format!("m{started}"), OUTPUT_CMD)?;
            started += 1;
        }
        sessions = wait_crew_idle(scratch, &home, count)?;
        wait_tmux_output(scratch, tmux, count)?;
        let m = measure_memory(scratch, &home, tmux, &sessions)?;
        print_memory_line(count, &m);
        let last = stage + 1 == stages.len();
        rows.push(memory_row(count, &m, last));
    }
    rows.push(check_logs(scratch, &home, &sessions)?);
    Ok(rows)
}

/// Polls `crew ls --json` until `count` sessions are listed and every one is idle (they go idle
/// 2 s after their last output), so the memory is measured with all output taken in.
fn wait_crew_idle(scratch: &Scratch, home: &CrewHome, count: usize) -> Res<Vec<Value>> {
    let start = Instant::now();
    loop {
        let sessions = home.list(scratch)?;
        if sessions.len() == count && sessions.iter().all(|s| field(s, "state") == "idle") {
            return Ok(sessions);
        }
        if let Some(s) = sessions.iter().find(|s| {
            matches!(
                field(s, "state"),
                "failed" | "completed" | "stopped" | "broken"
            )
        }) {
            let reason = s
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            return Err(format!(
                "crew session {} is {} ({reason})",
                field(s, "id"),
                field(s, "state")
            ));
        }
        if start.elapsed() > IDLE_DEADLINE {
            return Err(format!(
                "after {} s crew lists {} of {count} sessions, not all idle: {}",
                IDLE_DEADLINE.as_secs(),
                sessions.len(),
                tally_states(&sessions)
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// "idle 40, working 10"
fn tally_states(sessions: &[Value]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in sessions {
        let state = field(s, "state");
        match counts.iter_mut().find(|(name, _)| *name == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls tmux until the visible screen of every session ends its output with the last line.
fn wait_tmux_output(scratch: &Scratch, tmux: &Tmux, count: usize) -> Res<()> {
    let start = Instant::now();
    let mut done = vec![false; count];
    loop {
        for (i, ok) in done.iter_mut().enumerate().filter(|(_, ok)| !**ok) {
            *ok = tmux
                .pane_text(scratch, &format!("m{i}"))?
                .contains(LAST_LINE);
        }
        let finished = done.iter().filter(|ok| **ok).count();
        if finished == count {
            return Ok(());
        }
        if start.elapsed() > IDLE_DEADLINE {
            return Err(format!(
                "after {} s only {finished} of {count} tmux sessions printed their output",
                IDLE_DEADLINE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn measure_memory(
    scratch: &Scratch,
    home: &CrewHome,
    tmux: &Tmux,
    sessions: &[Value],
) -> Res<Memory> {
    let supervisor = home.supervisor_pid()?;
    let hosts: Vec<u32> = sessions
        .iter()
        .map(|s| {
            s.get("host_pid")
                .and_then(Value::as_u64)
                .and_then(|p| u32::try_from(p).ok())
                .ok_or_else(|| format!("crew session {} has no host_pid", field(s, "id")))
        })
        .collect::<Res<_>>()?;
    // The listed processes plus any other process of this crew (the spare host): all of it is
    // memory crew needs for these sessions.
    let mut others = home.processes();
    others.extend(&hosts);
    others.sort_unstable();
    others.dedup();
    others.retain(|pid| *pid != supervisor);
    let supervisor_kb = uss_kb(supervisor)?;
    let mut crew_kb = supervisor_kb;
    for pid in &others {
        crew_kb += uss_kb(*pid)?;
    }
    Ok(Memory {
        crew_kb,
        supervisor_kb,
        hosts: others.len(),
        tmux_kb: uss_kb(tmux.server_pid(scratch)?)?,
    })
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn print_memory_line(count: usize, m: &Memory) {
    let per = |kb: u64| kb as f64 / count as f64;
    let host_avg = if m.hosts == 0 {
        0.0
    } else {
        (m.crew_kb - m.supervisor_kb) as f64 / m.hosts as f64
    };
    println!(
        "  {count:>8}  {:>10.1}  {:>13.0}  {:>10.1}  {:>13.0}  {:>9.2}  supervisor {:.1} MiB, {} host process(es) avg {host_avg:.0} KiB",
        mib(m.crew_kb),
        per(m.crew_kb),
        mib(m.tmux_kb),
        per(m.tmux_kb),
        m.crew_kb as f64 / m.tmux_kb as f64,
        mib(m.supervisor_kb),
        m.hosts,
    );
}

/// The target (crew below tmux) applies to the largest stage only.
fn memory_row(count: usize, m: &Memory, last: bool) -> Row {
    Row {
        name: format!(
            "memory {count} session{}",
            if count == 1 { "" } else { "s" }
        ),
        crew: format!("{:.1} MiB", mib(m.crew_kb)),
        tmux: format!("{:.1} MiB", mib(m.tmux_kb)),
        ratio: Some(m.crew_kb as f64 / m.tmux_kb as f64),
        met: last.then_some(m.crew_kb < m.tmux_kb),
    }
}

/// crew must keep at least as much history as tmux's default: `logs -n 2000` of a session that
/// printed 10,000 lines gives 2000 lines.
fn check_logs(scratch: &Scratch, home: &CrewHome, sessions: &[Value]) -> Res<Row> {
    let id = sessions
        .first()
        .map(|s| field(s, "id"))
        .ok_or("no crew session to read logs from")?;
    let out = scratch.run(home.cmd().args(["logs", "-n", &LOG_LINES.to_string(), id]))?;
    let lines = out.lines().count();
    let ok = lines >= LOG_LINES;
    println!(
        "  crew logs -n {LOG_LINES} {id}: {lines} lines, last {:?} -> {}",
        out.lines().last().unwrap_or(""),
        if ok { "ok" } else { "TOO FEW" }
    );
    Ok(Row {
        name: format!("logs -n {LOG_LINES} lines"),
        crew: lines.to_string(),
        tmux: "-".to_string(),
        ratio: None,
        met: Some(ok),
    })
}
