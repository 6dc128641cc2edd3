//! `crew-bench`: measures crew against tmux (and dtach, when installed) doing the same work on
//! the same machine in one run, and prints medians and the crew/tmux ratio:
//!
//! 1. dispatch: from spawning the dispatch command until the session's command runs;
//! 2. listing: `crew ls --json` against `tmux ls` with 200 sessions;
//! 3. memory: unique resident memory (USS) of every crew process against the tmux server, with
//!    1, 50 and 200 idle sessions that have each printed 10,000 lines;
//! 4. attach: a client attached in a PTY the harness drains, for crew, tmux, dtach and the bare
//!    PTY: throughput of a 50 MB flood, keystroke round trip, and whether crew's screen after
//!    the flood is exact;
//! 5. view: the agent view (`crew agents`) with 200 sessions, 50 of them printing: drawing and
//!    diffing a frame in process, then the real view in a PTY (its CPU with nothing working and
//!    with 50 working, and how long ↓ takes to show) against tmux's session list
//!    (`choose-tree -s`) on as many tmux sessions;
//! 6. report: `crew report working` (and `needs_input` with a hook's JSON on stdin) from spawn
//!    to exit, as an agent's hook runs it, against `tmux display-message` (a client's round trip
//!    to its server) and `/bin/true`; and that no report ever starts the supervisor.
//!
//! Run by hand: `cargo run --release --bin crew-bench -- [--quick] [--only SECTION] [--crew PATH]`.
//! Everything it starts lives in private places (a fresh `CREW_HOME` per section, tmux on its
//! own socket `-L crew-bench`, scratch files under `/tmp/cb-<pid>-*`) and is stopped on exit, on
//! error and on Ctrl-C.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use term::groups::Item;
use term::view::{draw_all, Frame, Model, Settings};

type Res<T> = Result<T, String>;

const USAGE: &str =
    "usage: crew-bench [--quick] [--only dispatch|list|memory|attach|view|report] [--crew PATH]

Measures crew against tmux (private socket -L crew-bench) and dtach when installed:
dispatch latency, listing many sessions, memory of idle sessions, attached clients, the
agent view against tmux's choose-tree, and `crew report` against a tmux client round trip.
  --quick        fewer runs and sessions, shorter windows (a rough number in a few minutes)
  --only NAME    run one section: dispatch, list, memory, attach, view or report
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
    let sections: [(Section, SectionFn); 6] = [
        (Section::Dispatch, bench_dispatch),
        (Section::List, bench_list),
        (Section::Memory, bench_memory),
        (Section::Attach, bench_attach),
        (Section::View, bench_view),
        (Section::Report, bench_report),
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
    Attach,
    View,
    Report,
}

impl Section {
    fn parse(s: &str) -> Res<Section> {
        match s {
            "dispatch" => Ok(Section::Dispatch),
            "list" => Ok(Section::List),
            "memory" => Ok(Section::Memory),
            "attach" => Ok(Section::Attach),
            "view" => Ok(Section::View),
            "report" => Ok(Section::Report),
            _ => Err(format!(
                "--only takes dispatch, list, memory, attach, view or report, not {s:?}"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::Dispatch => "dispatch",
            Section::List => "list",
            Section::Memory => "memory",
            Section::Attach => "attach",
            Section::View => "view",
            Section::Report => "report",
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

    /// Floods per system in the attach section.
    fn attach_runs(&self) -> usize {
        if self.quick {
            2
        } else {
            5
        }
    }

    /// Frames drawn for each in-process view timing.
    fn view_frames(&self) -> usize {
        if self.quick {
            300
        } else {
            2000
        }
    }

    /// How long the real view's CPU use is measured in each state.
    fn view_window(&self) -> Duration {
        if self.quick {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(30)
        }
    }

    /// Timed ↓ presses in each state.
    fn view_keys(&self) -> usize {
        if self.quick {
            100
        } else {
            500
        }
    }

    /// Timed `crew report` runs of each kind (and of tmux and /bin/true).
    fn report_runs(&self) -> usize {
        if self.quick {
            50
        } else {
            200
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
                let value = args
                    .next()
                    .ok_or("--only needs dispatch, list, memory, attach, view or report")?;
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
        terminate(&dtach_pids(&self.dir));
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

/// dtach masters have no other handle: they are found by a socket path (or its directory) in
/// their arguments.
fn dtach_pids(path: &Path) -> Vec<u32> {
    let needle = path.as_os_str().as_bytes();
    all_pids()
        .into_iter()
        .filter(|pid| {
            comm(*pid).as_deref() == Some("dtach")
                && cmdline(*pid).windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

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
        self.configure(&mut cmd);
        cmd
    }

    fn configure(&self, cmd: &mut Command) {
        // The home is not in a git repository, so no session gets a worktree.
        cmd.env("CREW_HOME", &self.dir).current_dir(&self.dir);
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

    /// The pid of the host the supervisor keeps pre-started, once there is one.
    fn wait_standby(&self, scratch: &Scratch) -> Res<u32> {
        let start = Instant::now();
        loop {
            let status = scratch.run(self.cmd().args(["daemon", "status"]))?;
            let pid = status
                .split("pre-started host pid ")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
                .and_then(|p| p.parse().ok());
            if let Some(pid) = pid {
                return Ok(pid);
            }
            if start.elapsed() > READY_DEADLINE {
                return Err(format!("no pre-started host after 10 s: {status}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The host process of session `id`.
    fn host_pid(&self, scratch: &Scratch, id: &str) -> Res<u32> {
        let sessions = self.list(scratch)?;
        sessions
            .iter()
            .find(|s| field(s, "id") == id)
            .and_then(|s| s.get("host_pid")?.as_u64())
            .map(|p| p as u32)
            .ok_or_else(|| format!("session {id} is not listed with a host"))
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
        Tmux::configure(&mut cmd);
        cmd
    }

    fn configure(cmd: &mut Command) {
        // `-f /dev/null`: the user's ~/.tmux.conf must not change what is measured (e.g. the
        // history limit stays at its default of 2000 lines).
        cmd.args(["-L", TMUX_SOCKET, "-f", "/dev/null"])
            .env_remove("TMUX");
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
        "  {label:<34} median {:>8.2} ms   p95 {:>8.2} ms   min {:>8.2} ms",
        s.median(),
        s.percentile(95.0),
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
        Some(path) => println!("  dtach:   {} (dispatch and attach)", path.display()),
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
    let mut fresh = Samples::default();
    let (mut tm, mut tm_ret) = (Samples::default(), Samples::default());
    let mut dt = Samples::default();
    let mut served = 0;
    // Interleaved, so a drift in machine load over the run hits every system alike.
    for i in 0..WARMUP + runs {
        // With the pre-started host ready (untimed wait), and checking that it served.
        let standby = if i > 0 {
            Some(home.wait_standby(scratch)?)
        } else {
            None
        };
        let c = dispatch_crew(scratch, &home, &format!("c{i}"))?;
        let host = home.host_pid(scratch, &parse_bg_line(&c.stdout)?)?;
        std::thread::sleep(SETTLE);
        // Without one: the waiting host is killed first, so a host is started for it.
        let spare = home.wait_standby(scratch)?;
        terminate(&[spare]);
        let f = dispatch_crew(scratch, &home, &format!("f{i}"))?;
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
        if standby == Some(host) {
            served += 1;
        }
        crew.0.push(c.ready_ms);
        crew_ret.0.push(c.returned_ms);
        fresh.0.push(f.ready_ms);
        tm.0.push(t.ready_ms);
        tm_ret.0.push(t.returned_ms);
        if let Some(d) = d {
            dt.0.push(d.ready_ms);
        }
    }
    print_timing_line("crew --bg: command running", &crew);
    print_timing_line("  the same, no pre-started host", &fresh);
    print_timing_line("tmux new-session -d: running", &tm);
    if dtach.is_some() {
        print_timing_line("dtach -n: command running", &dt);
    } else {
        println!("  dtach: not installed");
    }
    print_timing_line("crew --bg: returned", &crew_ret);
    print_timing_line("tmux new-session -d: returned", &tm_ret);
    println!(
        "  served by the pre-started host: {served} of {runs} (its pid became the session's host)"
    );
    let ratio = crew.median() / tm.median();
    println!("  crew/tmux (median): {ratio:.2}   target: crew <= tmux and under 3 ms");
    let mut row = timing_row("dispatch (median)", crew.median(), tm.median());
    row.met = Some(crew.median() <= tm.median() && crew.median() < 3.0);
    if dtach.is_some() {
        row.name = format!("dispatch (median; dtach {:.2} ms)", dt.median());
    }
    let mut p95 = timing_row("dispatch (p95)", crew.percentile(95.0), tm.percentile(95.0));
    p95.met = None;
    Ok(vec![row, p95])
}

fn dispatch_crew(scratch: &Scratch, home: &CrewHome, name: &str) -> Res<Dispatch> {
    let (marker, shell_cmd) = scratch.marker_cmd(name);
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

// ---------------------------------------------------------------------------------------------
// 4. Attached clients
//
// Each system's attach client runs in a PTY the harness owns, as a terminal emulator would
// run it, and the harness reads the master side. The bare PTY (the workload itself on it) is
// the ceiling every multiplexer is held to.

const ATTACH_ROWS: u16 = 50;
const ATTACH_COLS: u16 = 120;
/// The flood file stops at the first line past this many bytes.
const FLOOD_BYTES: usize = 50_000_000;
/// Reads of the master are this big, as a fast terminal emulator's are.
const READ_SIZE: usize = 64 * 1024;
/// Printed by the workload once it runs and the client's both ways work. The workloads print it
/// as `READ` + `Y`, so no echo of a command line can be mistaken for it.
const READY: &[u8] = b"READY";
const PRINT_READY: &str = "printf 'READ%s\\n' Y";
/// The line after the flood; the flood file has no capitals, so it cannot contain it.
const END_MARK: &[u8] = b"END-OF-DATA";
const PRINT_END: &str = "printf 'END-OF-%s\\n' DATA";
/// What a workload waits for before printing READY: the harness types Enter until READY shows,
/// which proves the client forwards input and shows output, whatever the client repaints or
/// drops (dtach shows nothing printed before it attached).
const POKE: &[u8] = b"\r";
const POKE_EVERY: Duration = Duration::from_millis(250);
const KEYS: usize = 2000;
const KEY_WARMUP: usize = 50;
/// How long a client may take to attach and show READY.
const ATTACH_DEADLINE: Duration = Duration::from_secs(15);
/// How long a flood may take (tmux needs a few seconds).
const FLOOD_DEADLINE: Duration = Duration::from_secs(300);
/// How long one key's echo may take.
const KEY_DEADLINE: Duration = Duration::from_secs(5);
/// How long crew's host may take to show the flood's end after the client did.
const SCREEN_DEADLINE: Duration = Duration::from_secs(30);
/// The longest a wait for output blocks before checking for Ctrl-C and deadlines.
const POLL_SLICE: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Direct,
    Crew,
    Tmux,
    Dtach,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Direct => "direct PTY",
            System::Crew => "crew",
            System::Tmux => "tmux",
            System::Dtach => "dtach",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            System::Direct => "p",
            System::Crew => "c",
            System::Tmux => "t",
            System::Dtach => "d",
        }
    }
}

/// What the attach section works with.
struct AttachEnv<'a> {
    scratch: &'a Scratch,
    tmux: &'a Tmux,
    home: CrewHome,
    dtach: Option<PathBuf>,
    flood: PathBuf,
}

/// One system's results; a system that fails once is reported and not run again.
struct Outcome {
    system: System,
    samples: Samples,
    /// Floods only: the MB the client wrote to its terminal, which is less than the flood when
    /// it skipped output (a multiplexer may send a repaint instead of a backlog).
    received: Samples,
    error: Option<String>,
}

impl Outcome {
    fn new(system: System) -> Outcome {
        Outcome {
            system,
            samples: Samples::default(),
            received: Samples::default(),
            error: None,
        }
    }

    fn ok(&self) -> bool {
        self.error.is_none() && !self.samples.0.is_empty()
    }

    /// Keeps a result, or the first error (the later runs are then skipped).
    fn record(&mut self, result: Res<f64>) -> Res<()> {
        match result {
            Ok(v) => self.samples.0.push(v),
            Err(e) => {
                check_interrupt()?;
                self.error = Some(e);
            }
        }
        Ok(())
    }
}

/// Whether crew's host showed exactly what a terminal shows after each flood.
#[derive(Default)]
struct ScreenCheck {
    reference: Option<Vec<String>>,
    runs: usize,
    exact: usize,
    /// The longest time from the client showing the end of the flood to the host's screen
    /// matching.
    catch_up_ms: f64,
    mismatch: Option<String>,
}

fn bench_attach(opts: &Opts, scratch: &Scratch, tmux: &Tmux) -> Res<Vec<Row>> {
    let runs = opts.attach_runs();
    println!("\n== attach: a client attached in a {ATTACH_ROWS}x{ATTACH_COLS} PTY that the harness drains ==");
    tmux.reset();
    let flood = scratch.path("flood.txt");
    let size = write_flood_file(&flood)?;
    let env = AttachEnv {
        scratch,
        tmux,
        home: CrewHome::create(&opts.crew)?,
        dtach: which("dtach"),
        flood,
    };
    let mut systems = vec![System::Direct];
    match crew_attach_missing(&env) {
        None => systems.push(System::Crew),
        Some(why) => println!("  crew: skipped: {why}"),
    }
    systems.push(System::Tmux);
    match env.dtach {
        Some(_) => systems.push(System::Dtach),
        None => println!("  dtach: not installed (skipped)"),
    }

    println!(
        "  flood: {:.1} MB of coloured text lines, drained in {} KiB reads ({runs} runs each, a fresh session each)",
        size as f64 / 1e6,
        READ_SIZE / 1024
    );
    let mut check = ScreenCheck::default();
    if systems.contains(&System::Crew) {
        // Before the floods, so the time the host takes to catch up after one is measured
        // from when the client showed its end, not from after a parse of 50 MB here.
        let bytes = fs::read(&env.flood)
            .map_err(|e| format!("cannot read {}: {e}", env.flood.display()))?;
        let (reference, rate) = reference_screen(&bytes);
        check.reference = Some(reference);
        println!("  (vt100 0.18, which crew's host parses every byte with, takes this flood in at {rate:.1} MB/s here)");
    }
    let floods = run_floods(&env, &systems, runs, size, &mut check)?;
    print_floods(&floods);
    print_screen_check(&check, systems.contains(&System::Crew));

    println!("  keystroke round trip: {KEYS} keys one at a time after {KEY_WARMUP} warm-up, each until its echo shows");
    let mut keys = Vec::new();
    for &system in &systems {
        let mut outcome = Outcome::new(system);
        match keystrokes(&env, system) {
            Ok(samples) => outcome.samples = samples,
            Err(e) => outcome.record(Err(e))?,
        }
        print_keys_line(&outcome);
        keys.push(outcome);
    }
    print_keys_target(&keys);
    Ok(attach_rows(&floods, &keys, &check))
}

/// Why crew cannot be measured here, if it cannot.
fn crew_attach_missing(env: &AttachEnv) -> Option<String> {
    // A crew without the command takes `attach` for a prompt and prints its general help.
    match env.scratch.run(env.home.cmd().args(["attach", "--help"])) {
        Ok(help) if help.contains("crew attach") => None,
        Ok(_) => Some("this crew has no `attach` command".to_string()),
        Err(e) => Some(e),
    }
}

/// Interleaved, so a drift in machine load over the section hits every system alike.
fn run_floods(
    env: &AttachEnv,
    systems: &[System],
    runs: usize,
    size: usize,
    check: &mut ScreenCheck,
) -> Res<Vec<Outcome>> {
    let mut outcomes: Vec<Outcome> = systems.iter().map(|s| Outcome::new(*s)).collect();
    for run in 0..runs {
        for outcome in outcomes.iter_mut().filter(|o| o.error.is_none()) {
            let result = flood(env, outcome.system, run, check).map(|(secs, received)| {
                outcome.received.0.push(received as f64 / 1e6);
                size as f64 / 1e6 / secs
            });
            outcome.record(result)?;
        }
    }
    Ok(outcomes)
}

/// One flood through a fresh session; returns the seconds from releasing the workload until the
/// client showed the end marker, and the bytes the client wrote meanwhile.
fn flood(env: &AttachEnv, system: System, run: usize, check: &mut ScreenCheck) -> Res<(f64, u64)> {
    check_interrupt()?;
    let name = format!("a{run}{}", system.tag());
    let go = env.scratch.path(&format!("{name}.go"));
    make_fifo(&go)?;
    // `: < fifo` blocks until the harness opens the fifo, so the timing covers the flood only.
    let workload = format!(
        "read line; {PRINT_READY}; : < {}; cat {}; {PRINT_END}; exec sleep 100000",
        go.display(),
        env.flood.display()
    );
    let mut attached = launch(env, system, &name, &workload)?;
    attached.pty.wait_ready()?;
    let start = release(&go)?;
    let received = attached.pty.drain_until(END_MARK, FLOOD_DEADLINE)?;
    let secs = start.elapsed().as_secs_f64();
    if let Session::Crew { id, .. } = &attached.session {
        check_screen(env, id, check)?;
    }
    Ok((secs, received))
}

/// The keystroke round trips of one session, in µs.
fn keystrokes(env: &AttachEnv, system: System) -> Res<Samples> {
    let name = format!("k{}", system.tag());
    let workload = format!("read line; stty raw -echo; {PRINT_READY}; exec cat");
    let mut attached = launch(env, system, &name, &workload)?;
    attached.pty.wait_ready()?;
    let mut samples = Samples::default();
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let mut text = TextFilter::default();
    for i in 0..KEY_WARMUP + KEYS {
        let us = attached
            .pty
            .round_trip(letters[i % letters.len()], &mut text)?;
        if i >= KEY_WARMUP {
            samples.0.push(us);
        }
    }
    Ok(samples)
}

// Sessions and clients

/// A session running a workload, with its system's client attached in a fresh PTY. Dropped in
/// field order: the client is killed, then the session.
struct Attached<'a> {
    pty: Pty,
    session: Session<'a>,
}

/// A session to stop when dropped.
enum Session<'a> {
    /// The workload runs on the PTY itself and goes with the client.
    Direct,
    Crew {
        home: &'a CrewHome,
        id: String,
    },
    Tmux {
        tmux: &'a Tmux,
        name: String,
    },
    Dtach {
        socket: PathBuf,
    },
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let result = match self {
            Session::Direct => return,
            Session::Crew { home, id } => {
                run_quietly(home.cmd().args(["rm", id.as_str()]), COMMAND_DEADLINE)
            }
            Session::Tmux { tmux, name } => run_quietly(
                tmux.cmd().args(["kill-session", "-t", name.as_str()]),
                COMMAND_DEADLINE,
            ),
            Session::Dtach { socket } => {
                terminate(&dtach_pids(socket));
                return;
            }
        };
        if let Err(e) = result {
            eprintln!("crew-bench: note: {e}");
        }
    }
}

/// Starts `workload` in a new session of `system` and its attach client in a fresh PTY.
fn launch<'a>(env: &'a AttachEnv, system: System, name: &str, workload: &str) -> Res<Attached<'a>> {
    check_interrupt()?;
    let (session, client) = match system {
        System::Direct => {
            let mut cmd = pty_command("sh");
            cmd.args(["-c", workload]).current_dir(&env.scratch.dir);
            (Session::Direct, cmd)
        }
        System::Crew => {
            let id = env.home.dispatch(env.scratch, workload)?;
            let mut cmd = pty_command(&env.home.bin);
            env.home.configure(&mut cmd);
            cmd.args(["attach", &id]);
            (
                Session::Crew {
                    home: &env.home,
                    id,
                },
                cmd,
            )
        }
        System::Tmux => {
            let mut new = env.tmux.cmd();
            new.args(["new-session", "-d", "-x", "120", "-y", "50", "-s", name]);
            env.scratch.run(new.arg(workload))?;
            let mut cmd = pty_command("tmux");
            Tmux::configure(&mut cmd);
            cmd.args(["attach", "-t", name]);
            let session = Session::Tmux {
                tmux: env.tmux,
                name: name.to_string(),
            };
            (session, cmd)
        }
        System::Dtach => {
            let bin = env.dtach.as_deref().ok_or("dtach is not installed")?;
            let socket = env.scratch.path(&format!("{name}.sock"));
            let mut new = command(bin);
            // Through `sh -c`, as tmux and crew's shell profile run a command.
            new.arg("-n").arg(&socket).args(["sh", "-c", workload]);
            env.scratch.run(&mut new)?;
            let session = Session::Dtach {
                socket: socket.clone(),
            };
            let mut cmd = pty_command(bin);
            // No detach key, no suspend key, no redraw: raw bytes both ways.
            cmd.arg("-a").arg(&socket).args(["-E", "-z", "-r", "none"]);
            (session, cmd)
        }
    };
    // Should the client not start, `session` is dropped here and stops the session.
    let pty = Pty::spawn(client)?;
    Ok(Attached { pty, session })
}

/// A command for a PTY's client. Not through `command`: the client gets a session of its own
/// (setsid), which a process-group leader cannot; Ctrl-C still reaches only crew-bench.
fn pty_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    // The same terminal type and UTF-8 locale for every client, whatever this one runs under.
    cmd.env("TERM", "xterm-256color")
        .env("LC_ALL", "C.UTF-8")
        .env_remove("TMUX");
    cmd
}

/// Opens the fifo a flood's workload waits on, which releases it; returns when that happened.
fn release(fifo: &Path) -> Res<Instant> {
    let start = Instant::now();
    loop {
        let now = Instant::now();
        // Non-blocking: it fails with ENXIO until the workload has it open for reading.
        match fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(_) => return Ok(now),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => return Err(format!("cannot open {}: {e}", fifo.display())),
        }
        if start.elapsed() > ATTACH_DEADLINE {
            return Err(format!(
                "the workload did not open {} within {} s of printing READY",
                fifo.display(),
                ATTACH_DEADLINE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn make_fifo(path: &Path) -> Res<()> {
    let _ = fs::remove_file(path);
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} has a NUL byte", path.display()))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "cannot make fifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

// The PTY

/// A client running on a fresh PTY whose master the harness reads. Dropping it kills the
/// client's whole session (the direct workload's children too).
struct Pty {
    master: OwnedFd,
    child: Child,
    /// The last output, for error messages (e.g. what a client printed before it exited).
    tail: Vec<u8>,
}

impl Pty {
    fn spawn(mut cmd: Command) -> Res<Pty> {
        let (master, slave) = open_pty()?;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map(Stdio::from)
                .map_err(|e| format!("cannot dup the PTY: {e}"))
        };
        cmd.stdin(dup(&slave)?)
            .stdout(dup(&slave)?)
            .stderr(dup(&slave)?);
        // SAFETY: setsid and ioctl are async-signal-safe; stdin is the slave by now.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = spawn(&mut cmd)?;
        // Only the client holds the slave now, so reads fail once it is gone.
        drop(slave);
        Ok(Pty {
            master,
            child,
            tail: Vec::new(),
        })
    }

    /// Waits up to `timeout` for output and reads it into `buf`; Ok(0) if none came.
    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Res<usize> {
        let fd = self.master.as_raw_fd();
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            // A timeout, or EINTR from Ctrl-C, which the caller checks for.
            return Ok(0);
        }
        // SAFETY: reads into `buf`, which is valid for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EIO: no process has the slave open any more.
            return Err(self.gone());
        }
        let n = n as usize;
        let keep = n.min(512);
        self.tail.extend_from_slice(&buf[n - keep..n]);
        let excess = self.tail.len().saturating_sub(512);
        self.tail.drain(..excess);
        Ok(n)
    }

    fn gone(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => "still running".to_string(),
        };
        format!(
            "the client closed the terminal ({status}); its last output: {:?}",
            String::from_utf8_lossy(&self.tail).trim()
        )
    }

    fn write_all(&mut self, bytes: &[u8]) -> Res<()> {
        let n = unsafe {
            // SAFETY: writes from a valid slice.
            libc::write(self.master.as_raw_fd(), bytes.as_ptr().cast(), bytes.len())
        };
        if n != bytes.len() as isize {
            return Err(format!(
                "cannot write to the PTY: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Types Enter until READY shows: the client is attached and works both ways.
    fn wait_ready(&mut self) -> Res<()> {
        let start = Instant::now();
        let mut poked: Option<Instant> = None;
        let mut found = false;
        let mut scan = Scan::new(READY);
        let mut buf = vec![0; READ_SIZE];
        while !found {
            check_interrupt()?;
            if poked.is_none_or(|t| t.elapsed() >= POKE_EVERY) {
                self.write_all(POKE)?;
                poked = Some(Instant::now());
            }
            if start.elapsed() > ATTACH_DEADLINE {
                return Err(format!(
                    "READY did not show within {} s; the screen's last output: {:?}",
                    ATTACH_DEADLINE.as_secs(),
                    String::from_utf8_lossy(&self.tail)
                ));
            }
            let n = self.read_some(&mut buf, Duration::from_millis(20))?;
            found = scan.feed(&buf[..n]);
        }
        Ok(())
    }

    /// Reads as fast as it can until `marker` has gone by; returns the bytes read.
    fn drain_until(&mut self, marker: &[u8], deadline: Duration) -> Res<u64> {
        let start = Instant::now();
        let mut scan = Scan::new(marker);
        let mut buf = vec![0; READ_SIZE];
        let mut total = 0;
        loop {
            let n = self.read_some(&mut buf, POLL_SLICE)?;
            total += n as u64;
            if scan.feed(&buf[..n]) {
                return Ok(total);
            }
            if n == 0 {
                check_interrupt()?;
                if start.elapsed() > deadline {
                    return Err(format!(
                        "{} did not show within {} s",
                        String::from_utf8_lossy(marker),
                        deadline.as_secs()
                    ));
                }
            }
        }
    }

    /// Types `key` once output has gone quiet and waits until the key shows as text; returns
    /// the µs that took. `text` carries the escape-sequence state from one key to the next.
    fn round_trip(&mut self, key: u8, text: &mut TextFilter) -> Res<f64> {
        let mut buf = vec![0; READ_SIZE];
        // What the client still draws for the key before does not count for this one.
        loop {
            let n = self.read_some(&mut buf, Duration::ZERO)?;
            if n == 0 {
                break;
            }
            text.feed(&buf[..n], 0);
        }
        let start = Instant::now();
        self.write_all(&[key])?;
        loop {
            let left = KEY_DEADLINE.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(format!(
                    "the key {:?} did not come back within {} s",
                    key as char,
                    KEY_DEADLINE.as_secs()
                ));
            }
            let n = self.read_some(&mut buf, left.min(POLL_SLICE))?;
            if text.feed(&buf[..n], key) {
                return Ok(start.elapsed().as_secs_f64() * 1e6);
            }
            if n == 0 {
                check_interrupt()?;
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // The client called setsid, so its pid is its process group's id.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) of the process group of a child we have not reaped yet.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

/// A fresh PTY the size of the attach terminal, both ends close-on-exec so no client keeps
/// another's master open.
fn open_pty() -> Res<(OwnedFd, OwnedFd)> {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: ATTACH_ROWS,
        ws_col: ATTACH_COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: out-pointers to two ints; no name buffer; default termios (onlcr on).
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot open a PTY: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: openpty returned two fresh descriptors that nothing else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok((master, slave))
}

/// Finds a marker in a stream read in pieces: the end of each piece is kept for the next.
struct Scan {
    marker: Vec<u8>,
    carry: Vec<u8>,
}

impl Scan {
    fn new(marker: &[u8]) -> Scan {
        Scan {
            marker: marker.to_vec(),
            carry: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return false;
        }
        // A marker across the boundary starts in the carry and ends in the first `keep` bytes;
        // the piece itself is searched in place, since the flood's timing includes this.
        let keep = self.marker.len() - 1;
        self.carry
            .extend_from_slice(&bytes[..bytes.len().min(keep)]);
        if contains(&self.carry, &self.marker) || contains(bytes, &self.marker) {
            return true;
        }
        if bytes.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&bytes[bytes.len() - keep..]);
        } else {
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
        false
    }
}

/// glibc's memmem, which is much faster than a naive search over a 50 MB flood.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    // SAFETY: both pointers are valid for their lengths; memmem only reads them.
    let hit = unsafe {
        libc::memmem(
            haystack.as_ptr().cast(),
            haystack.len(),
            needle.as_ptr().cast(),
            needle.len(),
        )
    };
    !hit.is_null()
}

/// Tells the text a terminal shows from escape sequences, across reads: a key counts as echoed
/// only when it shows as text, since sequences such as `ESC [ 0 m` end in letters too.
#[derive(Default)]
struct TextFilter {
    state: Esc,
}

#[derive(Default, Clone, Copy)]
enum Esc {
    #[default]
    Text,
    /// After ESC.
    Start,
    /// ESC and intermediate bytes, as in `ESC ( B`.
    Intermediate,
    /// `ESC [` until a final byte.
    Csi,
    /// OSC, DCS and the like, until BEL or `ESC \`.
    String,
    /// The ESC of a string's `ESC \` end.
    StringEnd,
}

impl TextFilter {
    /// Whether `key` shows as text in `bytes`.
    fn feed(&mut self, bytes: &[u8], key: u8) -> bool {
        let mut found = false;
        for &b in bytes {
            self.state = match (self.state, b) {
                (_, 0x1b) if !matches!(self.state, Esc::String) => Esc::Start,
                (Esc::Text, _) => {
                    found |= b == key;
                    Esc::Text
                }
                (Esc::Start, b'[') => Esc::Csi,
                (Esc::Start, b']' | b'P' | b'_' | b'^' | b'X') => Esc::String,
                (Esc::Start | Esc::Intermediate, 0x20..=0x2f) => Esc::Intermediate,
                (Esc::Start | Esc::Intermediate, _) => Esc::Text,
                (Esc::Csi, 0x40..=0x7e) => Esc::Text,
                (Esc::Csi, _) => Esc::Csi,
                (Esc::String, 0x07) => Esc::Text,
                (Esc::String, 0x1b) => Esc::StringEnd,
                (Esc::String, _) => Esc::String,
                (Esc::StringEnd, _) => Esc::Text,
            };
        }
        found
    }
}

// The flood

/// Writes the flood: lines of 80 to 120 columns of words, some coloured, as a coding agent's
/// output looks. Deterministic, so every run and system gets the same bytes. Returns its size.
fn write_flood_file(path: &Path) -> Res<usize> {
    const WORDS: &[&str] = &[
        "the",
        "build",
        "cargo",
        "warning:",
        "error[E0382]:",
        "compiling",
        "src/main.rs:42:7",
        "fn",
        "let",
        "mut",
        "test",
        "passed",
        "ok",
        "->",
        "{",
        "}",
        "=>",
        "0x7ffd",
        "result",
        "value",
        "borrowed",
        "here",
        "after",
        "move",
        "running",
        "12",
        "tests",
        "finished",
        "release",
        "target",
        "in",
        "0.84s",
        "✓",
        "→",
        "—",
        "checking",
        "diff",
        "--git",
        "a/lib.rs",
        "b/lib.rs",
        "@@",
        "-1,7",
        "+1,9",
        "use",
        "std::io;",
        "impl",
        "for",
        "struct",
        "self",
        "return",
        "none",
        "some(x)",
        "match",
        "applying",
        "patch",
        "to",
        "file",
        "reading",
        "writing",
        "tool",
        "call",
        "bash",
        "grep",
        "-rn",
        "\"todo\"",
        "found",
        "3",
        "matches",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(FLOOD_BYTES + 256);
    while out.len() < FLOOD_BYTES {
        flood_line(&mut rng, WORDS, &mut out);
    }
    fs::write(path, &out).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(out.len())
}

/// One line: words up to a width of 80..=120 columns (every word is one column a character), a
/// fifth of them in one of the SGR colours 31..=37.
fn flood_line(rng: &mut Rng, words: &[&str], out: &mut Vec<u8>) {
    let width = 80 + rng.below(41);
    let mut used = 0;
    loop {
        let word: String = words[rng.below(words.len())]
            .chars()
            .take(width - used)
            .collect();
        used += word.chars().count();
        if rng.below(5) == 0 {
            out.extend_from_slice(format!("\x1b[3{}m{word}\x1b[0m", 1 + rng.below(7)).as_bytes());
        } else {
            out.extend_from_slice(word.as_bytes());
        }
        // Room for a space and at least one more character.
        if used + 2 > width {
            break;
        }
        out.push(b' ');
        used += 1;
    }
    out.push(b'\n');
}

/// xorshift64*: deterministic and good enough to vary words.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

// Screen exactness

/// Compares crew's screen (`crew peek`) after a flood with what a terminal shows after the same
/// bytes, polling while the host may still be parsing the flood's end.
fn check_screen(env: &AttachEnv, id: &str, check: &mut ScreenCheck) -> Res<()> {
    let reference = check.reference.as_deref().unwrap_or_default();
    check.runs += 1;
    let start = Instant::now();
    loop {
        let peek = env.scratch.run(env.home.cmd().args(["peek", id]))?;
        let lines: Vec<&str> = peek.lines().collect();
        let Some(row) = first_difference(&lines, reference) else {
            check.exact += 1;
            check.catch_up_ms = check.catch_up_ms.max(ms_since(start));
            return Ok(());
        };
        if start.elapsed() > SCREEN_DEADLINE {
            check.mismatch.get_or_insert_with(|| {
                format!(
                    "row {}: crew shows {:?}, a terminal {:?} ({} rows against {})",
                    row + 1,
                    lines.get(row).copied().unwrap_or("<none>"),
                    reference.get(row).map(String::as_str).unwrap_or("<none>"),
                    lines.len(),
                    reference.len()
                )
            });
            return Ok(());
        }
        check_interrupt()?;
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn first_difference(lines: &[&str], reference: &[String]) -> Option<usize> {
    (0..lines.len().max(reference.len()))
        .find(|&i| lines.get(i).copied() != reference.get(i).map(String::as_str))
}

/// The flood's end on a fresh terminal of the attach size, as `crew peek` prints a screen:
/// trailing spaces trimmed, wrapped rows joined, trailing blank lines dropped.
/// Also returns how fast the parser took the flood in, in MB/s of the file: every byte crew shows
/// goes through the same parser in its host, so this bounds what crew can keep exact.
fn reference_screen(flood: &[u8]) -> (Vec<String>, f64) {
    let rows = std::num::NonZeroU16::new(ATTACH_ROWS).expect("rows > 0");
    let cols = std::num::NonZeroU16::new(ATTACH_COLS).expect("cols > 0");
    let mut parser = vt100::Parser::new(rows, cols, 0);
    // "\n" becomes "\r\n", as the session PTY's onlcr makes it.
    let mut bytes = Vec::with_capacity(flood.len() + flood.len() / 64);
    for &b in flood {
        if b == b'\n' {
            bytes.push(b'\r');
        }
        bytes.push(b);
    }
    bytes.extend_from_slice(END_MARK);
    bytes.extend_from_slice(b"\r\n");
    let start = Instant::now();
    // In pieces the size of a PTY read, as a host gets them.
    for piece in bytes.chunks(4096) {
        parser.process(piece);
    }
    let rate = flood.len() as f64 / 1e6 / start.elapsed().as_secs_f64();
    let screen = parser.screen();
    let mut lines = Vec::new();
    let mut line = String::new();
    for (i, row) in screen.rows(0, ATTACH_COLS).enumerate() {
        line.push_str(row.trim_end());
        if !screen.row_wrapped(i as u16) {
            lines.push(std::mem::take(&mut line));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let lines = lines.iter().map(|l| l.trim_end().to_string()).collect();
    (lines, rate)
}

// Reporting

fn print_floods(floods: &[Outcome]) {
    for o in floods {
        if !o.samples.0.is_empty() {
            let runs: Vec<String> = o.samples.0.iter().map(|v| format!("{v:.1}")).collect();
            println!(
                "    {:<11} median {:>6.1} MB/s   runs: {:<29}  received {:.1} MB",
                o.system.name(),
                o.samples.median(),
                runs.join(" "),
                o.received.median()
            );
        }
        if let Some(e) = &o.error {
            println!("    {:<11} failed: {e}", o.system.name());
        }
    }
    let median = |s: System| find(floods, s).map(|o| o.samples.median());
    if let Some(crew) = median(System::Crew) {
        let ratio = |s: System| {
            median(s)
                .map(|v| format!("{:.2}", crew / v))
                .unwrap_or_else(|| "-".to_string())
        };
        println!(
            "    crew/tmux {}   crew/dtach {}   crew/direct {}   target: crew >= 60 MB/s and >= 4x tmux",
            ratio(System::Tmux),
            ratio(System::Dtach),
            ratio(System::Direct)
        );
    }
}

/// A system's outcome if it has numbers.
fn find(outcomes: &[Outcome], system: System) -> Option<&Outcome> {
    outcomes
        .iter()
        .find(|o| o.system == system && !o.samples.0.is_empty())
}

fn print_screen_check(check: &ScreenCheck, crew_ran: bool) {
    if check.runs == 0 {
        if crew_ran {
            println!("  screen exact: - (no crew flood finished)");
        }
        return;
    }
    match &check.mismatch {
        None => println!(
            "  screen exact: yes ({} of {} crew floods; the host's screen matched {:.0} ms after the client showed the end, at most)",
            check.exact, check.runs, check.catch_up_ms
        ),
        Some(m) => println!(
            "  screen exact: no ({} of {} crew floods exact; after {} s, first differing {m})",
            check.exact,
            check.runs,
            SCREEN_DEADLINE.as_secs()
        ),
    }
}

fn print_keys_line(o: &Outcome) {
    if o.ok() {
        println!(
            "    {:<11} p50 {:>6.0} µs   p99 {:>6.0} µs   max {:>7.0} µs",
            o.system.name(),
            o.samples.percentile(50.0),
            o.samples.percentile(99.0),
            o.samples.sorted().last().copied().unwrap_or(f64::NAN)
        );
    } else {
        println!(
            "    {:<11} failed: {}",
            o.system.name(),
            o.error.as_deref().unwrap_or("no samples")
        );
    }
}

fn print_keys_target(keys: &[Outcome]) {
    if let (Some(crew), Some(dtach)) = (find(keys, System::Crew), find(keys, System::Dtach)) {
        let (c50, c99) = (crew.samples.percentile(50.0), crew.samples.percentile(99.0));
        let (d50, d99) = (
            dtach.samples.percentile(50.0),
            dtach.samples.percentile(99.0),
        );
        println!(
            "    crew/dtach p50 {:.2}, p99 {:.2}   target: crew <= dtach",
            c50 / d50,
            c99 / d99
        );
    }
}

/// The summary's rows: crew against tmux, the targets as the section states them.
fn attach_rows(floods: &[Outcome], keys: &[Outcome], check: &ScreenCheck) -> Vec<Row> {
    let value = |outcomes: &[Outcome], s: System, f: &dyn Fn(&Samples) -> f64| {
        find(outcomes, s).map(|o| f(&o.samples))
    };
    let shown = |v: Option<f64>, unit: &str, digits: usize| {
        v.map(|v| format!("{v:.digits$} {unit}"))
            .unwrap_or_else(|| "failed".to_string())
    };
    let mut rows = Vec::new();
    let median = |s: &Samples| s.median();
    let (crew, tmux) = (
        value(floods, System::Crew, &median),
        value(floods, System::Tmux, &median),
    );
    rows.push(Row {
        name: "attach flood (median)".to_string(),
        crew: shown(crew, "MB/s", 1),
        tmux: shown(tmux, "MB/s", 1),
        ratio: crew.zip(tmux).map(|(c, t)| c / t),
        met: Some(
            crew.zip(tmux)
                .is_some_and(|(c, t)| c >= 60.0 && c >= 4.0 * t),
        ),
    });
    for p in [50.0, 99.0] {
        let pct = move |s: &Samples| s.percentile(p);
        let (crew, tmux, dtach) = (
            value(keys, System::Crew, &pct),
            value(keys, System::Tmux, &pct),
            value(keys, System::Dtach, &pct),
        );
        rows.push(Row {
            name: format!("keystroke p{p:.0} (vs dtach {})", shown(dtach, "µs", 0)),
            crew: shown(crew, "µs", 0),
            tmux: shown(tmux, "µs", 0),
            ratio: crew.zip(tmux).map(|(c, t)| c / t),
            met: dtach.map(|d| crew.is_some_and(|c| c <= d)),
        });
    }
    if check.runs > 0 {
        rows.push(Row {
            name: "screen exact after flood".to_string(),
            crew: format!("{} of {}", check.exact, check.runs),
            tmux: "-".to_string(),
            ratio: None,
            met: Some(check.exact == check.runs),
        });
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// 5. The agent view
//
// First in process, the view's own code on a model of VIEW_SESSIONS sessions: drawing a frame
// (`term::view::draw_all`) and turning it into terminal bytes (`Frame::render`, a diff against
// the frame before). Then the real `crew agents` in a PTY the harness drains, over as many real
// sessions, against tmux's session list (`choose-tree -s` in an attached client) over as many
// tmux sessions: the CPU both use with nothing working and with VIEW_BUSY sessions printing, and
// how long ↓ takes to move the selection on the screen. Each system runs alone: crew's sessions
// are stopped before tmux's start.

const VIEW_SESSIONS: usize = 200;
const VIEW_BUSY: usize = 50;
/// The in-process terminal; the real clients run in the attach PTY (ATTACH_ROWS x ATTACH_COLS).
const VIEW_COLS: usize = 160;
const VIEW_ROWS: usize = 60;
const DOWN: &[u8] = b"\x1b[B";
const UP: &[u8] = b"\x1b[A";
const VIEW_KEY_WARMUP: usize = 20;
/// How long crew may take to list the busy sessions as working once they print.
const BUSY_DEADLINE: Duration = Duration::from_secs(30);
/// Output read after a change of selection, so a frame that arrived in two reads is whole.
const SETTLE_READS: Duration = Duration::from_millis(300);
const FULL_FRAME_TARGET_MS: f64 = 2.0;
const ROW_CHANGE_TARGET_MS: f64 = 0.5;
/// A one-row change is a few hundred bytes; more means a repaint.
const ROW_CHANGE_TARGET_BYTES: f64 = 1024.0;
/// % of one core.
const IDLE_CPU_TARGET: f64 = 0.5;
const BUSY_CPU_TARGET: f64 = 5.0;
const KEY_P99_TARGET_MS: f64 = 5.0;

fn bench_view(opts: &Opts, scratch: &Scratch, tmux: &Tmux) -> Res<Vec<Row>> {
    println!("\n== view: the agent view with {VIEW_SESSIONS} sessions, {VIEW_BUSY} of them working; tmux choose-tree -s on as many ==");
    let mut rows = view_in_process(opts)?;

    let window = opts.view_window();
    let keys = opts.view_keys();
    println!(
        "  real processes: {VIEW_SESSIONS} sessions each ({} print a line and wait, {VIEW_BUSY} print a line every 0.2 s once released),",
        VIEW_SESSIONS - VIEW_BUSY
    );
    println!("  the list client in a {ATTACH_ROWS}x{ATTACH_COLS} PTY that the harness drains; CPU over {} s in each state,", window.as_secs());
    println!("  ↓ until the selection shows on the next row ({keys} presses after {VIEW_KEY_WARMUP} warm-up, each undone by an untimed ↑)");
    let crew = view_crew(opts, scratch);
    check_interrupt()?;
    tmux.reset();
    let tm = view_tmux(opts, scratch, tmux);
    tmux.reset();
    check_interrupt()?;
    print_view_numbers(&crew, &tm);
    rows.extend(view_rows(&crew, &tm));
    Ok(rows)
}

// In process

/// Sets `TERM` while alive (the view reads the terminal's capabilities from it when a `Frame`
/// is made), so the bytes are those an xterm gets, as in the PTY runs; puts it back on drop.
struct TermVar(Option<std::ffi::OsString>);

impl TermVar {
    fn set(value: &str) -> TermVar {
        let old = std::env::var_os("TERM");
        // crew-bench has no other threads that could read the environment meanwhile.
        std::env::set_var("TERM", value);
        TermVar(old)
    }
}

impl Drop for TermVar {
    fn drop(&mut self) {
        match self.0.take() {
            Some(v) => std::env::set_var("TERM", v),
            None => std::env::remove_var("TERM"),
        }
    }
}

fn view_in_process(opts: &Opts) -> Res<Vec<Row>> {
    let frames = opts.view_frames();
    println!("  in process: draw_all + Frame::render at {VIEW_ROWS}x{VIEW_COLS}, {frames} frames each after {WARMUP} warm-up");
    let _term = TermVar::set("xterm-256color");
    // One instant for every frame, so only what a timing changes on purpose differs.
    let now = SystemTime::now();
    let items = view_items(now);
    let mut model = Model::new("/home/user/project".to_string(), None, Settings::default());
    model.connected = true;
    model.set_items(items.clone());
    let mut out = Vec::new();

    // A full frame: a fresh `Frame` (made untimed: it reads terminfo) repaints everything.
    let mut full = Samples::default();
    let mut full_bytes = 0;
    for i in 0..WARMUP + frames {
        let mut frame = Frame::new(VIEW_COLS, VIEW_ROWS);
        out.clear();
        let start = Instant::now();
        draw_and_render(&mut model, &mut frame, now, 0, &mut out);
        if i >= WARMUP {
            full.0.push(ms_since(start));
        }
        full_bytes = out.len();
    }
    // The same repaint from a `Frame` that has drawn before, as after a resize or an attach.
    let mut repaint = Samples::default();
    let mut repaint_bytes = 0;
    let mut frame = Frame::new(VIEW_COLS, VIEW_ROWS);
    for i in 0..WARMUP + frames {
        frame.invalidate(VIEW_COLS, VIEW_ROWS);
        out.clear();
        let start = Instant::now();
        draw_and_render(&mut model, &mut frame, now, 0, &mut out);
        if i >= WARMUP {
            repaint.0.push(ms_since(start));
        }
        repaint_bytes = out.len();
    }

    // One row: the first working session, on screen, says something else.
    // A terminal that takes in every byte, to check that the diffs add up to the frame.
    let mut terminal = vt100::Parser::new(
        std::num::NonZeroU16::new(VIEW_ROWS as u16).expect("rows > 0"),
        std::num::NonZeroU16::new(VIEW_COLS as u16).expect("cols > 0"),
        0,
    );
    let mut frame = Frame::new(VIEW_COLS, VIEW_ROWS);
    out.clear();
    draw_and_render(&mut model, &mut frame, now, 0, &mut out);
    terminal.process(&out);
    let changed = items
        .iter()
        .filter(|i| i.state == "working")
        .min_by(|a, b| a.created_at.cmp(&b.created_at))
        .ok_or("no working session in the model")?
        .clone();
    let mut row = Samples::default();
    let mut row_bytes = Samples::default();
    // upsert (with its relayout), draw_all, Frame::render.
    let mut row_parts: [Samples; 3] = Default::default();
    for i in 0..WARMUP + frames {
        let mut item = changed.clone();
        item.summary = Some(row_summary(i));
        out.clear();
        // As draw_and_render, with the time of each step kept apart.
        let start = Instant::now();
        model.upsert(item);
        let upserted = Instant::now();
        let cursor = draw_all(&mut model, &mut frame, now, 0);
        let drawn = Instant::now();
        frame.render(cursor, &mut out);
        let done = Instant::now();
        if i >= WARMUP {
            row.0.push(ms_since(start));
            row_bytes.0.push(out.len() as f64);
            for (part, (from, to)) in
                row_parts
                    .iter_mut()
                    .zip([(start, upserted), (upserted, drawn), (drawn, done)])
            {
                part.0.push((to - from).as_secs_f64() * 1000.0);
            }
        }
        terminal.process(&out);
    }
    let last = row_summary(WARMUP + frames - 1);
    if !terminal.screen().contents().contains(&last) {
        return Err(format!(
            "after the one-row diffs the terminal does not show {last:?}; it shows:\n{}",
            terminal.screen().contents()
        ));
    }

    // What the view draws 10 times a second while sessions work: the next animation frame.
    let mut tick = Samples::default();
    let mut tick_bytes = Samples::default();
    for i in 0..WARMUP + frames {
        out.clear();
        let start = Instant::now();
        draw_and_render(&mut model, &mut frame, now, i + 1, &mut out);
        if i >= WARMUP {
            tick.0.push(ms_since(start));
            tick_bytes.0.push(out.len() as f64);
        }
    }

    let line = |label: &str, s: &Samples, bytes: f64, target: &str| {
        println!(
            "    {label:<34} median {:>6.3} ms   p99 {:>6.3} ms   {bytes:>6.0} bytes   {target}",
            s.median(),
            s.percentile(99.0)
        );
    };
    line(
        "full frame (fresh Frame)",
        &full,
        full_bytes as f64,
        &format!("target: < {FULL_FRAME_TARGET_MS} ms"),
    );
    line(
        "full repaint (Frame::invalidate)",
        &repaint,
        repaint_bytes as f64,
        "",
    );
    line(
        "one row changed (upsert+draw+diff)",
        &row,
        row_bytes.median(),
        &format!(
            "target: < {ROW_CHANGE_TARGET_MS} ms and < {ROW_CHANGE_TARGET_BYTES:.0} bytes ({:.1}% of a full frame)",
            100.0 * row_bytes.median() / full_bytes as f64
        ),
    );
    println!(
        "      of which upsert+relayout {:.3} ms, draw_all {:.3} ms, Frame::render {:.3} ms (medians)",
        row_parts[0].median(),
        row_parts[1].median(),
        row_parts[2].median()
    );
    line(
        &format!("animation tick ({VIEW_BUSY} working icons)"),
        &tick,
        tick_bytes.median(),
        "",
    );
    let row_ms = |name: &str, s: &Samples, target: f64| Row {
        name: format!("{name} (median; p99 {:.2} ms)", s.percentile(99.0)),
        crew: format!("{:.3} ms", s.median()),
        tmux: "-".to_string(),
        ratio: None,
        met: Some(s.median() < target),
    };
    Ok(vec![
        row_ms(
            &format!("view full frame {VIEW_SESSIONS} sessions"),
            &full,
            FULL_FRAME_TARGET_MS,
        ),
        row_ms("view one-row change", &row, ROW_CHANGE_TARGET_MS),
        Row {
            name: format!("view one-row change bytes (full frame {full_bytes})"),
            crew: format!("{:.0} B", row_bytes.median()),
            tmux: "-".to_string(),
            ratio: None,
            met: Some(row_bytes.median() < ROW_CHANGE_TARGET_BYTES),
        },
    ])
}

/// The changed row's summary in the `i`th frame: other words than the frame before's.
fn row_summary(i: usize) -> String {
    format!("{} · step {i}", VIEW_SUMMARIES[i % VIEW_SUMMARIES.len()])
}

/// One frame as the view makes it: draw what changed on the frame's canvas, then the bytes
/// that turn what the terminal shows into it.
fn draw_and_render(
    model: &mut Model,
    frame: &mut Frame,
    now: SystemTime,
    anim: usize,
    out: &mut Vec<u8>,
) {
    let cursor = draw_all(model, frame, now, anim);
    frame.render(cursor, out);
}

/// What sessions say they are doing, of a coding agent's length.
const VIEW_SUMMARIES: &[&str] = &[
    "Running cargo test -p mux -- --test-threads=1",
    "Reading src/attach.rs and term/src/view/table.rs",
    "Editing mux/src/host.rs: retry the socket connect with backoff",
    "Waiting for the build (cargo build --release)",
    "Opened PR #412: make crew ls --json stream",
    "Done: all 214 tests pass",
    "Searching for callers of Conn::register",
];

/// VIEW_SESSIONS sessions as the supervisor describes them: every fourth one working, the rest
/// idle, with names and summaries of a coding agent's length.
fn view_items(now: SystemTime) -> Vec<Item> {
    const NAMES: &[&str] = &[
        "fix-flaky-retry-test",
        "json-logs",
        "attach-resize",
        "docs-spec-4",
        "bump-deps",
        "perf-ls",
        "refactor-host-io",
        "pr-review-412",
    ];
    let ago = |secs: u64| mux::store::rfc3339(now - Duration::from_secs(secs));
    (0..VIEW_SESSIONS)
        .map(|i| {
            let n = i as u64;
            let working = i % 4 == 3;
            Item {
                id: format!("{:08x}", 0x5e55_0000 + n),
                name: format!("{}-{i}", NAMES[i % NAMES.len()]),
                agent: "claude".to_string(),
                state: if working { "working" } else { "idle" }.to_string(),
                process: "alive".to_string(),
                summary: Some(VIEW_SUMMARIES[i % VIEW_SUMMARIES.len()].to_string()),
                prompt: Some(format!("task {i}: {}", NAMES[i % NAMES.len()])),
                cwd: "/home/user/project".to_string(),
                created_at: ago(4 * 3600 - n * 60),
                changed_at: ago(if working { n % 50 } else { 600 + n * 97 }),
                ..Item::default()
            }
        })
        .collect()
}

// Real processes

/// Which list: crew's view or tmux's choose-tree.
#[derive(Clone, Copy)]
enum Lister {
    Crew,
    Tmux,
}

impl Lister {
    fn name(self) -> &'static str {
        match self {
            Lister::Crew => "crew agents",
            Lister::Tmux => "tmux choose-tree -s",
        }
    }

    /// Keys that put the selection on the list's second row, from where ↓ moves it without
    /// scrolling: crew keeps the selection on the same session as the groups change.
    fn to_top(self) -> &'static [&'static [u8]] {
        match self {
            // Home selects the first group's header; ↓ its first session.
            Lister::Crew => &[b"\x1b[H", DOWN],
            // choose-tree selects the attached session, the first.
            Lister::Tmux => &[],
        }
    }

    /// Text that is on the screen once the list shows the sessions.
    fn ready_text(self) -> &'static str {
        match self {
            Lister::Crew => "Completed",
            Lister::Tmux => "v001",
        }
    }
}

/// A system's numbers in the two states: [nothing working, VIEW_BUSY working].
#[derive(Default)]
struct ListNumbers {
    /// % of one core: the list's client (`crew agents`, the tmux client).
    client_cpu: [f64; 2],
    /// % of one core: the rest of the system (crew's supervisor and hosts, the tmux server).
    rest_cpu: [f64; 2],
    /// KB/s the client wrote to its terminal.
    out_kbs: [f64; 2],
    /// ↓ to screen, in ms.
    keys: [Samples; 2],
    /// Seconds to start the sessions one after another.
    start_secs: f64,
    /// How many processes `rest_cpu` covers, with 50 working.
    rest_procs: usize,
}

/// The session commands: (idle, busy). A busy one blocks on `fifo` until the harness opens it,
/// then prints a line every 0.2 s; no process polls meanwhile.
fn view_workloads(fifo: &Path, i: usize) -> (String, String) {
    let idle = format!("echo 'session {i} ready'; exec sleep 100000");
    let busy = format!(
        "echo 'session {i} ready'; : < {}; n=0; while :; do echo \"session {i} printing line $n of its work\"; n=$((n+1)); sleep 0.2; done",
        fifo.display()
    );
    (idle, busy)
}

fn view_is_busy(i: usize) -> bool {
    // Spread over the list, and neither of the two rows ↓ and ↑ move between in tmux.
    i % 4 == 3
}

/// Opens the busy sessions' fifo for reading and writing, which never blocks and lets every
/// reader through, those waiting now and any that comes later while it stays open.
fn open_release(fifo: &Path) -> Res<File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo)
        .map_err(|e| format!("cannot open {}: {e}", fifo.display()))
}

fn view_crew(opts: &Opts, scratch: &Scratch) -> Res<ListNumbers> {
    let home = CrewHome::create(&opts.crew)?;
    let fifo = scratch.path("view-c.go");
    make_fifo(&fifo)?;
    let start = Instant::now();
    for i in 0..VIEW_SESSIONS {
        let (idle, busy) = view_workloads(&fifo, i);
        home.dispatch(scratch, if view_is_busy(i) { &busy } else { &idle })?;
    }
    let start_secs = start.elapsed().as_secs_f64();
    wait_crew_idle(scratch, &home, VIEW_SESSIONS)?;
    let mut cmd = pty_command(&home.bin);
    home.configure(&mut cmd);
    cmd.arg("agents");
    let mut client = ListClient::spawn(Lister::Crew, cmd)?;
    let view = client.pid();
    let rest = || {
        let mut pids = home.processes();
        pids.retain(|p| *p != view);
        Ok(pids)
    };
    let wait_busy = || wait_crew_working(scratch, &home);
    let mut numbers = measure_list(opts, &mut client, &rest, &fifo, &wait_busy)?;
    numbers.start_secs = start_secs;
    Ok(numbers)
}

/// Polls `crew ls --json` until VIEW_BUSY sessions are working.
fn wait_crew_working(scratch: &Scratch, home: &CrewHome) -> Res<()> {
    let start = Instant::now();
    loop {
        check_interrupt()?;
        let sessions = home.list(scratch)?;
        let working = sessions
            .iter()
            .filter(|s| field(s, "state") == "working")
            .count();
        if working == VIEW_BUSY {
            return Ok(());
        }
        if start.elapsed() > BUSY_DEADLINE {
            return Err(format!(
                "after {} s crew lists {working} of {VIEW_BUSY} printing sessions as working: {}",
                BUSY_DEADLINE.as_secs(),
                tally_states(&sessions)
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn view_tmux(opts: &Opts, scratch: &Scratch, tmux: &Tmux) -> Res<ListNumbers> {
    let fifo = scratch.path("view-t.go");
    make_fifo(&fifo)?;
    let start = Instant::now();
    let names: Vec<String> = (0..VIEW_SESSIONS).map(|i| format!("v{i:03}")).collect();
    for (i, name) in names.iter().enumerate() {
        let (idle, busy) = view_workloads(&fifo, i);
        let mut cmd = tmux.cmd();
        cmd.args(["new-session", "-d", "-x", "120", "-y", "50", "-s", name]);
        scratch.run(cmd.arg(if view_is_busy(i) { &busy } else { &idle }))?;
    }
    let start_secs = start.elapsed().as_secs_f64();
    wait_tmux_text(scratch, tmux, &names, "ready")?;
    let server = tmux.server_pid(scratch)?;
    let mut cmd = pty_command("tmux");
    Tmux::configure(&mut cmd);
    cmd.args(["attach", "-t", &names[0], ";", "choose-tree", "-s"]);
    let mut client = ListClient::spawn(Lister::Tmux, cmd)?;
    let busy: Vec<String> = (0..VIEW_SESSIONS)
        .filter(|i| view_is_busy(*i))
        .map(|i| names[i].clone())
        .collect();
    let rest = || Ok(vec![server]);
    let wait_busy = || wait_tmux_text(scratch, tmux, &busy, "printing line");
    let mut numbers = measure_list(opts, &mut client, &rest, &fifo, &wait_busy)?;
    numbers.start_secs = start_secs;
    Ok(numbers)
}

/// Polls tmux until the screen of each named session shows its text.
fn wait_tmux_text(scratch: &Scratch, tmux: &Tmux, names: &[String], text: &str) -> Res<()> {
    let start = Instant::now();
    let mut left: Vec<&String> = names.iter().collect();
    loop {
        let mut still = Vec::new();
        for name in left {
            if !tmux.pane_text(scratch, name)?.contains(text) {
                still.push(name);
            }
        }
        left = still;
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() > BUSY_DEADLINE {
            return Err(format!(
                "after {} s {} of {} tmux sessions do not show {:?} (e.g. {})",
                BUSY_DEADLINE.as_secs(),
                left.len(),
                names.len(),
                text,
                left[0]
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The two states in turn: nothing working, then the busy sessions released.
fn measure_list(
    opts: &Opts,
    client: &mut ListClient,
    rest: &dyn Fn() -> Res<Vec<u32>>,
    fifo: &Path,
    wait_busy: &dyn Fn() -> Res<()>,
) -> Res<ListNumbers> {
    let mut n = ListNumbers::default();
    client.wait_ready()?;
    // Held open until the end: the busy sessions print while it is.
    let mut release = None;
    for state in 0..2 {
        if state == 1 {
            release = Some(open_release(fifo)?);
            wait_busy()?;
            // The client catches up with the change before the window starts.
            client.read_for(Duration::from_secs(1))?;
        }
        let pids = rest()?;
        n.rest_procs = pids.len();
        let (client_cpu, rest_cpu, kbs) = client.cpu_window(&pids, opts.view_window())?;
        n.client_cpu[state] = client_cpu;
        n.rest_cpu[state] = rest_cpu;
        n.out_kbs[state] = kbs;
        n.keys[state] = client.key_latency(opts.view_keys())?;
    }
    drop(release);
    Ok(n)
}

/// A list client on a PTY, with what its terminal shows.
struct ListClient {
    lister: Lister,
    pty: Pty,
    screen: vt100::Parser,
    buf: Vec<u8>,
}

impl ListClient {
    fn spawn(lister: Lister, cmd: Command) -> Res<ListClient> {
        check_interrupt()?;
        let rows = std::num::NonZeroU16::new(ATTACH_ROWS).expect("rows > 0");
        let cols = std::num::NonZeroU16::new(ATTACH_COLS).expect("cols > 0");
        Ok(ListClient {
            lister,
            pty: Pty::spawn(cmd)?,
            screen: vt100::Parser::new(rows, cols, 0),
            buf: vec![0; READ_SIZE],
        })
    }

    fn pid(&self) -> u32 {
        self.pty.child.id()
    }

    /// One read of what arrives within `timeout`, onto the screen; returns the bytes.
    fn read(&mut self, timeout: Duration) -> Res<usize> {
        let n = self.pty.read_some(&mut self.buf, timeout)?;
        self.screen.process(&self.buf[..n]);
        Ok(n)
    }

    /// Reads for `time`; returns the bytes.
    fn read_for(&mut self, time: Duration) -> Res<u64> {
        let start = Instant::now();
        let mut total = 0;
        loop {
            check_interrupt()?;
            let left = time.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(total);
            }
            total += self.read(left.min(POLL_SLICE))? as u64;
        }
    }

    /// The rows drawn highlighted (inverse or on a colour), told by their second column: the
    /// selection, and lines that stay put such as tmux's status line.
    fn highlighted(&self) -> Vec<u16> {
        let screen = self.screen.screen();
        (0..ATTACH_ROWS)
            .filter(|&r| {
                screen
                    .cell(r, 1)
                    .is_some_and(|c| c.inverse() || c.bgcolor() != vt100::Color::Default)
            })
            .collect()
    }

    /// Reads until `done` holds for the highlighted rows.
    fn wait_highlight(&mut self, what: &str, done: impl Fn(&[u16]) -> bool) -> Res<()> {
        let start = Instant::now();
        while !done(&self.highlighted()) {
            check_interrupt()?;
            let left = KEY_DEADLINE.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(format!(
                    "{}: {what} did not show within {} s; highlighted rows {:?}, screen:\n{}",
                    self.lister.name(),
                    KEY_DEADLINE.as_secs(),
                    self.highlighted(),
                    self.screen.screen().contents()
                ));
            }
            self.read(left.min(POLL_SLICE))?;
        }
        Ok(())
    }

    /// Waits until the list shows the sessions with a row selected.
    fn wait_ready(&mut self) -> Res<()> {
        let start = Instant::now();
        let text = self.lister.ready_text();
        loop {
            check_interrupt()?;
            if self.screen.screen().contents().contains(text) && !self.highlighted().is_empty() {
                return self.read_for(SETTLE_READS).map(drop);
            }
            if start.elapsed() > ATTACH_DEADLINE {
                return Err(format!(
                    "{} did not show its list within {} s; screen:\n{}",
                    self.lister.name(),
                    ATTACH_DEADLINE.as_secs(),
                    self.screen.screen().contents()
                ));
            }
            self.read(POLL_SLICE)?;
        }
    }

    /// CPU of the client and of `rest` over `window` while the client's output is drained, in
    /// % of one core, and the KB/s it wrote.
    fn cpu_window(&mut self, rest: &[u32], window: Duration) -> Res<(f64, f64, f64)> {
        let client = [self.pid()];
        let (c0, r0) = (cpu_ticks(&client)?, cpu_ticks(rest)?);
        let start = Instant::now();
        let bytes = self.read_for(window)?;
        let secs = start.elapsed().as_secs_f64();
        let (c1, r1) = (cpu_ticks(&client)?, cpu_ticks(rest)?);
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let percent = |ticks: u64| ticks as f64 / hz / secs * 100.0;
        Ok((
            percent(c1.saturating_sub(c0)),
            percent(r1.saturating_sub(r0)),
            bytes as f64 / 1e3 / secs,
        ))
    }

    /// Times ↓ from the write until the selection shows one row down; an untimed ↑ puts it
    /// back before the next. Returns ms.
    fn key_latency(&mut self, keys: usize) -> Res<Samples> {
        for key in self.lister.to_top() {
            self.pty.write_all(key)?;
            self.read_for(SETTLE_READS)?;
        }
        // Learn the highlighted rows before and after one ↓.
        let before = self.highlighted();
        self.pty.write_all(DOWN)?;
        self.wait_highlight("↓", |h| h != before)?;
        self.read_for(SETTLE_READS)?;
        let after = self.highlighted();
        self.pty.write_all(UP)?;
        self.wait_highlight("↑", |h| h == before)?;
        let mut samples = Samples::default();
        for i in 0..VIEW_KEY_WARMUP + keys {
            // What is on its way now is not the key's.
            while self.read(Duration::ZERO)? > 0 {}
            let start = Instant::now();
            self.pty.write_all(DOWN)?;
            self.wait_highlight("↓", |h| h == after)?;
            if i >= VIEW_KEY_WARMUP {
                samples.0.push(ms_since(start));
            }
            self.pty.write_all(UP)?;
            self.wait_highlight("↑", |h| h == before)?;
        }
        Ok(samples)
    }
}

/// utime + stime of the processes, in clock ticks.
fn cpu_ticks(pids: &[u32]) -> Res<u64> {
    let mut total = 0;
    for pid in pids {
        let path = format!("/proc/{pid}/stat");
        let stat = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        // The fields after the command name, which may hold spaces, start with the state
        // (field 3); utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        for f in [11, 12] {
            total += fields
                .get(f)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{path}: no CPU times in {stat:?}"))?;
        }
    }
    Ok(total)
}

// Reporting

fn print_view_numbers(crew: &Res<ListNumbers>, tmux: &Res<ListNumbers>) {
    for (name, r) in [("crew", crew), ("tmux", tmux)] {
        match r {
            Ok(n) => println!(
                "    {name}: started {VIEW_SESSIONS} sessions one after another in {:.1} s",
                n.start_secs
            ),
            Err(e) => println!("    {name}: failed: {e}"),
        }
    }
    if crew.is_err() && tmux.is_err() {
        return;
    }
    println!(
        "    {:<40} {:>16} {:>16}",
        "CPU, % of one core",
        "nothing working",
        format!("{VIEW_BUSY} working")
    );
    let cpu = |label: &str, r: &Res<ListNumbers>, f: &dyn Fn(&ListNumbers, usize) -> f64| {
        if let Ok(n) = r {
            println!("    {label:<40} {:>16.2} {:>16.2}", f(n, 0), f(n, 1));
        }
    };
    cpu("crew agents", crew, &|n, s| n.client_cpu[s]);
    let rest = match crew {
        Ok(n) => format!(
            "crew supervisor + {} host processes",
            n.rest_procs.saturating_sub(1)
        ),
        Err(_) => String::new(),
    };
    cpu(&rest, crew, &|n, s| n.rest_cpu[s]);
    cpu("crew all", crew, &|n, s| n.client_cpu[s] + n.rest_cpu[s]);
    cpu("tmux client (choose-tree -s)", tmux, &|n, s| {
        n.client_cpu[s]
    });
    cpu("tmux server", tmux, &|n, s| n.rest_cpu[s]);
    cpu("tmux all", tmux, &|n, s| n.client_cpu[s] + n.rest_cpu[s]);
    cpu(
        "crew agents: KB/s written to the terminal",
        crew,
        &|n, s| n.out_kbs[s],
    );
    cpu(
        "tmux client: KB/s written to the terminal",
        tmux,
        &|n, s| n.out_kbs[s],
    );
    println!(
        "    target: crew agents ~0% with nothing working (< {IDLE_CPU_TARGET}%), < {BUSY_CPU_TARGET}% with {VIEW_BUSY} working"
    );
    println!(
        "    {:<40} {:>16} {:>16}",
        "↓ to screen, p50 / p99 ms",
        "nothing working",
        format!("{VIEW_BUSY} working")
    );
    for (label, r) in [("crew agents", crew), ("tmux choose-tree -s", tmux)] {
        if let Ok(n) = r {
            let pair =
                |s: &Samples| format!("{:.2} / {:.2}", s.percentile(50.0), s.percentile(99.0));
            println!(
                "    {label:<40} {:>16} {:>16}",
                pair(&n.keys[0]),
                pair(&n.keys[1])
            );
        }
    }
    if let (Ok(c), Ok(t)) = (crew, tmux) {
        let ratio = |f: &dyn Fn(&ListNumbers) -> f64| {
            let (c, t) = (f(c), f(t));
            if t > 0.0 {
                format!("{:.2}", c / t)
            } else {
                "-".to_string()
            }
        };
        println!(
            "    crew/tmux: CPU (all) {} / {}, ↓ p50 {} / {}, p99 {} / {}   target: ↓ p99 < {KEY_P99_TARGET_MS} ms",
            ratio(&|n| n.client_cpu[0] + n.rest_cpu[0]),
            ratio(&|n| n.client_cpu[1] + n.rest_cpu[1]),
            ratio(&|n| n.keys[0].percentile(50.0)),
            ratio(&|n| n.keys[1].percentile(50.0)),
            ratio(&|n| n.keys[0].percentile(99.0)),
            ratio(&|n| n.keys[1].percentile(99.0)),
        );
    }
}

fn view_rows(crew: &Res<ListNumbers>, tmux: &Res<ListNumbers>) -> Vec<Row> {
    let crew = crew.as_ref().ok();
    let tmux = tmux.as_ref().ok();
    let shown = |v: Option<f64>, unit: &str, digits: usize| {
        v.map(|v| format!("{v:.digits$} {unit}"))
            .unwrap_or_else(|| "failed".to_string())
    };
    let ratio =
        |c: Option<f64>, t: Option<f64>| c.zip(t).filter(|(_, t)| *t > 0.0).map(|(c, t)| c / t);
    let mut rows = Vec::new();
    for (state, label, target) in [
        (0, "nothing working".to_string(), IDLE_CPU_TARGET),
        (1, format!("{VIEW_BUSY} working"), BUSY_CPU_TARGET),
    ] {
        let c = crew.map(|n| n.client_cpu[state]);
        rows.push(Row {
            name: format!("view CPU, {label}: crew agents"),
            crew: shown(c, "%", 2),
            tmux: "-".to_string(),
            ratio: None,
            met: Some(c.is_some_and(|c| c < target)),
        });
        let all = |n: &ListNumbers| n.client_cpu[state] + n.rest_cpu[state];
        let (c, t) = (crew.map(all), tmux.map(all));
        rows.push(Row {
            name: format!("view CPU, {label}: all processes"),
            crew: shown(c, "%", 2),
            tmux: shown(t, "%", 2),
            ratio: ratio(c, t),
            met: None,
        });
    }
    for p in [50.0, 99.0] {
        let pct = |n: &ListNumbers| n.keys[1].percentile(p);
        let (c, t) = (crew.map(pct), tmux.map(pct));
        rows.push(Row {
            name: format!("view ↓ to screen p{p:.0}, {VIEW_BUSY} working"),
            crew: shown(c, "ms", 2),
            tmux: shown(t, "ms", 2),
            ratio: ratio(c, t),
            met: (p == 99.0).then(|| c.is_some_and(|c| c < KEY_P99_TARGET_MS)),
        });
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// 6. crew report
//
// What an agent's hook pays on every tool call: `crew report <state>` run as a fresh process
// inside a session, from spawn to exit. It talks to its session's host directly and must never
// start the supervisor. Against it, the nearest thing tmux does (a client's round trip to its
// server, `display-message -p`) and the floor of starting any program (`/bin/true`), all
// spawned the same way (stdin from /dev/null or a filled pipe, output to files, a blocking
// wait) and interleaved. Each report flips the session between working and needs_input, so
// every run is a real state change.

const REPORT_TARGET_MS: f64 = 5.0;
/// What Claude Code's Notification hook writes on stdin when it asks for a permission.
const HOOK_JSON: &str = r#"{"hook_event_name":"Notification","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt"}"#;
const HOOK_MESSAGE: &str = "Claude needs your permission to use Bash";
/// Pause after each timed run, so what the host does after answering a report (saving the
/// state, telling the supervisor) is not charged to the next run.
const REPORT_PAUSE: Duration = Duration::from_millis(10);

/// Runs `crew report` in one session as its hooks would.
struct Reporter<'a> {
    scratch: &'a Scratch,
    home: &'a CrewHome,
    id: &'a str,
}

impl Reporter<'_> {
    fn cmd(&self, state: &str) -> Command {
        let mut cmd = self.home.cmd();
        cmd.args(["report", state]).env("CREW_SESSION_ID", self.id);
        cmd
    }

    /// `crew report working`, stdin from /dev/null; its time in ms.
    fn working(&self) -> Res<f64> {
        let (ms, _) = self.scratch.timed(&mut self.cmd("working"))?;
        std::thread::sleep(REPORT_PAUSE);
        Ok(ms)
    }

    /// `crew report needs_input` with the hook's JSON in a pipe on stdin; its time in ms. The
    /// pipe is filled and its writing end closed before the spawn, as a hook runner that writes
    /// the event at once.
    fn needs_input(&self) -> Res<f64> {
        let mut cmd = self.cmd("needs_input");
        cmd.stdin(hook_stdin()?);
        let (ms, _) = self.scratch.timed(&mut cmd)?;
        std::thread::sleep(REPORT_PAUSE);
        Ok(ms)
    }
}

/// A pipe holding `HOOK_JSON`, its writing end closed.
fn hook_stdin() -> Res<Stdio> {
    use std::io::Write;
    let mut fds = [-1; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot make a pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Far below the pipe's buffer, so this never blocks.
    File::from(write)
        .write_all(HOOK_JSON.as_bytes())
        .map_err(|e| format!("cannot write the hook JSON into a pipe: {e}"))?;
    Ok(Stdio::from(read))
}

/// The supervisors of this home that run now: processes of its crew binary and `CREW_HOME`
/// started as `crew __supervisor`.
fn supervisors(home: &CrewHome) -> Vec<u32> {
    home.processes()
        .into_iter()
        .filter(|p| cmdline(*p).split(|b| *b == 0).nth(1) == Some(b"__supervisor".as_slice()))
        .collect()
}

/// Whether the supervisor was ever started by a report.
struct SupervisorCheck {
    /// The supervisor `crew --bg` started, before and after the timed runs.
    before: Vec<u32>,
    after: Vec<u32>,
    /// Reports run while no supervisor ran, and the supervisors running after them.
    alone_runs: usize,
    started: Vec<u32>,
    pid_file: bool,
}

impl SupervisorCheck {
    fn verdict(&self) -> &'static str {
        if !self.started.is_empty() || self.pid_file {
            "A REPORT STARTED ONE"
        } else if self.before.len() != 1 {
            "NOT ONE SUPERVISOR BEFORE"
        } else if self.after != self.before {
            "SUPERVISOR CHANGED DURING THE RUNS"
        } else {
            "ok"
        }
    }

    fn ok(&self) -> bool {
        self.before.len() == 1
            && self.after == self.before
            && self.started.is_empty()
            && !self.pid_file
    }
}

fn bench_report(opts: &Opts, scratch: &Scratch, tmux: &Tmux) -> Res<Vec<Row>> {
    let runs = opts.report_runs();
    println!("\n== report: `crew report` from spawn to exit as a hook runs it, vs tmux display-message ({runs} runs after {WARMUP} warm-up) ==");
    tmux.reset();
    // The tmux server runs, as the session's host does.
    tmux.new_session(scratch, "keep", IDLE_CMD)?;
    let home = CrewHome::create(&opts.crew)?;
    let id = home.dispatch(scratch, IDLE_CMD)?;
    let reporter = Reporter {
        scratch,
        home: &home,
        id: &id,
    };
    println!("  one idle shell session {id}; each report flips it between working and needs_input");

    let before = supervisors(&home);
    let (mut truth, mut working, mut needs, mut tm) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    // Interleaved, so a drift in machine load over the run hits every program alike.
    for i in 0..WARMUP + runs {
        let (t, _) = scratch.timed(&mut command("/bin/true"))?;
        std::thread::sleep(REPORT_PAUSE);
        let w = reporter.working()?;
        let n = reporter.needs_input()?;
        let (x, out) = scratch.timed(tmux.cmd().args(["display-message", "-p", "x"]))?;
        std::thread::sleep(REPORT_PAUSE);
        if out.trim() != "x" {
            return Err(format!("tmux display-message -p x printed {out:?}"));
        }
        if i >= WARMUP {
            truth.0.push(t);
            working.0.push(w);
            needs.0.push(n);
            tm.0.push(x);
        }
    }
    let after = supervisors(&home);
    let applied = check_reported(scratch, &home, &id)?;
    let (alone_working, alone_needs, mut check) = reports_alone(opts, scratch, &home, &reporter)?;
    check.before = before;
    check.after = after;
    tmux.reset();

    print_report_line("/bin/true (spawn floor)", &truth);
    print_report_line("crew report working", &working);
    print_report_line("crew report needs_input + hook JSON", &needs);
    print_report_line("tmux display-message -p x", &tm);
    print_report_line("crew report working, no supervisor", &alone_working);
    print_report_line("crew report needs_input, no supervisor", &alone_needs);
    println!(
        "  crew/tmux (median): working {:.2}, needs_input {:.2}; over /bin/true: +{:.2} ms, +{:.2} ms   target: crew report < {REPORT_TARGET_MS} ms",
        working.median() / tm.median(),
        needs.median() / tm.median(),
        working.median() - truth.median(),
        needs.median() - truth.median(),
    );
    println!(
        "  hook JSON applied: session {} -> {}",
        applied.0,
        if applied.1 { "ok" } else { "NOT APPLIED" }
    );
    print_supervisor_check(&check);

    let mut rows = Vec::new();
    for (name, s) in [
        (
            format!(
                "report working (median; /bin/true {:.2} ms)",
                truth.median()
            ),
            &working,
        ),
        ("report needs_input + JSON (median)".to_string(), &needs),
    ] {
        let mut row = timing_row(&name, s.median(), tm.median());
        row.met = Some(s.median() < REPORT_TARGET_MS);
        rows.push(row);
    }
    let mut p99 = timing_row(
        "report working p99",
        working.percentile(99.0),
        tm.percentile(99.0),
    );
    p99.met = None;
    rows.push(p99);
    rows.push(Row {
        name: "report hook JSON applied".to_string(),
        crew: if applied.1 { "yes" } else { "no" }.to_string(),
        tmux: "-".to_string(),
        ratio: None,
        met: Some(applied.1),
    });
    rows.push(Row {
        name: "report never starts the supervisor".to_string(),
        crew: format!("{} started", check.started.len()),
        tmux: "-".to_string(),
        ratio: None,
        met: Some(check.ok()),
    });
    Ok(rows)
}

fn print_report_line(label: &str, s: &Samples) {
    println!(
        "  {label:<40} median {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   min {:>7.2} ms",
        s.median(),
        s.percentile(90.0),
        s.percentile(99.0),
        s.min()
    );
}

/// The last report was `needs_input` with the hook's JSON: the session must show it, with the
/// notification's message as its question. Returns what it shows and whether that is right.
fn check_reported(scratch: &Scratch, home: &CrewHome, id: &str) -> Res<(String, bool)> {
    // The supervisor learns the host's new state shortly after the report returned.
    let start = Instant::now();
    loop {
        let sessions = home.list(scratch)?;
        let session = sessions
            .iter()
            .find(|s| field(s, "id") == id)
            .ok_or_else(|| format!("crew ls --json does not list session {id}"))?;
        let (state, question) = (field(session, "state"), field(session, "question"));
        let shown = format!("{state}, question {question:?}");
        if state == "needs_input" && question == HOOK_MESSAGE {
            return Ok((shown, true));
        }
        if start.elapsed() > Duration::from_secs(5) {
            return Ok((shown, false));
        }
        check_interrupt()?;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the supervisor alone (`crew daemon stop --keep-workers`), then times reports that
/// have no supervisor to reach, and sees whether any of them started one.
fn reports_alone(
    opts: &Opts,
    scratch: &Scratch,
    home: &CrewHome,
    reporter: &Reporter,
) -> Res<(Samples, Samples, SupervisorCheck)> {
    scratch.run(home.cmd().args(["daemon", "stop", "--keep-workers"]))?;
    let start = Instant::now();
    while !supervisors(home).is_empty() {
        if start.elapsed() > Duration::from_secs(5) {
            return Err(
                "the supervisor still ran 5 s after `crew daemon stop --keep-workers`".to_string(),
            );
        }
        check_interrupt()?;
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing else (the host, its spare) may bring it back, or a report would be blamed.
    std::thread::sleep(Duration::from_millis(500));
    if !supervisors(home).is_empty() {
        return Err("a supervisor started again after `crew daemon stop --keep-workers` before any report ran".to_string());
    }
    let runs = (opts.report_runs() / 4).max(1);
    let (mut working, mut needs) = (Samples::default(), Samples::default());
    for _ in 0..runs {
        working.0.push(reporter.working()?);
        needs.0.push(reporter.needs_input()?);
    }
    // A supervisor a report started would be up by the time that report returned; a little
    // more time lets a detached one that is still starting show up.
    std::thread::sleep(Duration::from_millis(200));
    let check = SupervisorCheck {
        before: Vec::new(),
        after: Vec::new(),
        alone_runs: 2 * runs,
        started: supervisors(home),
        pid_file: home.dir.join("daemon/supervisor.pid").exists(),
    };
    Ok((working, needs, check))
}

fn print_supervisor_check(c: &SupervisorCheck) {
    let pids = |v: &[u32]| match v {
        [] => "none".to_string(),
        v => v.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
    };
    println!(
        "  supervisor: pid {} before the timed runs, {} after; stopped alone (daemon stop --keep-workers), then {} reports: {} supervisor(s) started, pid file {} -> {}",
        pids(&c.before),
        pids(&c.after),
        c.alone_runs,
        c.started.len(),
        if c.pid_file { "present" } else { "absent" },
        c.verdict()
    );
}
