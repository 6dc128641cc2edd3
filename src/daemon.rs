//! `crew daemon start|stop|status`: the supervisor's control.

use std::time::{Duration, Instant};

use mux::client::Client;
use mux::protocol::{DaemonStatus, Reply, SupervisorRequest};
use mux::store::Home;

use crate::connect;

#[derive(clap::Subcommand)]
pub enum DaemonCommand {
    /// Start the supervisor (in the background unless --foreground).
    Start {
        #[arg(long)]
        foreground: bool,
    },
    /// Stop every session and the supervisor.
    Stop {
        /// Stop a supervisor even if its socket does not answer (by its pid file).
        #[arg(long)]
        any: bool,
        /// Stop only the supervisor; every session keeps running.
        #[arg(long)]
        keep_workers: bool,
    },
    /// Show whether the supervisor runs (never starts it).
    Status,
}

pub fn run(home: &Home, command: DaemonCommand) -> Result<(), String> {
    match command {
        DaemonCommand::Start { foreground: true } => {
            crate::init_log("info");
            mux::supervisor::run(home.clone())
        }
        DaemonCommand::Start { foreground: false } => {
            connect::supervisor(home)?;
            status(home)
        }
        DaemonCommand::Stop { any, keep_workers } => stop(home, any, keep_workers),
        DaemonCommand::Status => status(home),
    }
}

/// The hidden `__supervisor` process that commands start on demand: it forks once more so
/// the starter can reap it at once, reports `ready` or `error <why>` on stdout, and serves.
pub fn serve_detached(home: &Home) -> Result<(), String> {
    match unsafe { libc::fork() } {
        -1 => return Err(format!("cannot fork: {}", std::io::Error::last_os_error())),
        0 => {}
        _ => unsafe { libc::_exit(0) },
    }
    crate::init_log("info");
    // A supervisor that is already serving is as good as a new one.
    if Client::connect(&home.supervisor_sock()).is_ok() {
        println!("ready");
        return Ok(());
    }
    match mux::supervisor::Supervisor::start(home.clone()) {
        Ok(mut sup) => {
            println!("ready");
            mux::process::detach_stdout();
            sup.run();
            Ok(())
        }
        Err(why) => {
            println!("error {why}");
            Err(why)
        }
    }
}

fn status(home: &Home) -> Result<(), String> {
    let mut c = Client::connect(&home.supervisor_sock())
        .map_err(|_| "the supervisor is not running".to_string())?;
    c.set_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    match c.request(&SupervisorRequest::Status) {
        Ok(Reply::Status(s)) => {
            print!("{}", status_text(&s));
            Ok(())
        }
        Ok(other) => Err(format!("unexpected answer from the supervisor: {other:?}")),
        Err(e) => Err(format!("the supervisor did not answer: {e}")),
    }
}

/// What `daemon status` prints: the supervisor, then its sessions and hosts, then the
/// pre-started host.
fn status_text(s: &DaemonStatus) -> String {
    let standby = match s.standby_pid {
        Some(pid) => format!("pre-started host pid {pid}"),
        None => "no pre-started host".into(),
    };
    let older = match s.older_hosts.len() {
        0 => "no hosts of older versions".to_string(),
        n => {
            let mut versions: Vec<(&str, usize)> = Vec::new();
            for v in &s.older_hosts {
                match versions.iter_mut().find(|(seen, _)| seen == v) {
                    Some((_, count)) => *count += 1,
                    None => versions.push((v, 1)),
                }
            }
            let list: Vec<String> = versions
                .iter()
                .map(|(v, count)| format!("crew {v} ×{count}"))
                .collect();
            format!("{n} hosts of older versions ({})", list.join(", "))
        }
    };
    format!(
        "supervisor running: pid {}, crew {}, protocol {}, up {}\n\
         {} sessions, {} hosts connected, {older}\n\
         {standby}\n",
        s.pid,
        s.version,
        s.protocol,
        term::text::age(s.uptime_s),
        s.sessions,
        s.hosts
    )
}

fn stop(home: &Home, any: bool, keep_workers: bool) -> Result<(), String> {
    let answering = Client::connect(&home.supervisor_sock())
        .ok()
        .and_then(|mut c| {
            c.set_timeout(Some(Duration::from_secs(2))).ok()?;
            match c.request(&SupervisorRequest::Status) {
                Ok(Reply::Status(_)) => Some(()),
                _ => None,
            }
        });
    if answering.is_none() {
        if any {
            kill_by_pid_file(home)?;
        }
        if keep_workers {
            return Ok(());
        }
    }
    // Without --keep-workers the sessions must stop even if no supervisor ran: one is
    // started, finds every host, and stops them all.
    let reply = connect::request(home, &SupervisorRequest::Shutdown { keep_workers })?;
    connect::done(reply)?;
    wait_gone(home);
    Ok(())
}

/// Waits briefly for the supervisor's socket to go away, so a following command starts a
/// fresh one instead of reaching the one that is exiting.
fn wait_gone(home: &Home) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && Client::connect(&home.supervisor_sock()).is_ok() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops a supervisor that does not answer, by its pid file; the start time recorded next to
/// the pid makes sure an unrelated process that reused the pid is never signalled.
fn kill_by_pid_file(home: &Home) -> Result<(), String> {
    let text = match std::fs::read_to_string(home.pid_path()) {
        Ok(t) => t,
        Err(_) => return Ok(()),
    };
    let mut lines = text.lines();
    let pid: u32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("the supervisor's pid file is unreadable")?;
    // Without the start time the process cannot be told from one that reused the pid.
    let start: u64 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("the supervisor's pid file has no start time; not signalling anything")?;
    let start = Some(start);
    if !mux::process::process_is(pid, start) {
        return Ok(());
    }
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if !mux::process::process_is(pid, start) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    Ok(())
}
