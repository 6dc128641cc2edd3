//! Supervisor control (SPEC 3 `daemon`, SPEC 7): status never starts anything, stop with and
//! without `--keep-workers`, `--any` for a supervisor that does not answer, `start
//! --foreground`, and a `CREW_HOME` too long for a socket path.

mod support;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Instant;

use serde_json::Value;
use support::*;

fn pid_of(s: &Value, key: &str) -> i64 {
    s[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not a pid: {s}"))
}

fn running(s: &Value) -> bool {
    (s["state"] == "working" || s["state"] == "idle") && s["process"] == "alive"
}

#[test]
fn status_with_nothing_running_fails_and_starts_nothing() {
    let crew = Crew::new();
    let err = crew.fails(&["daemon", "status"]);
    assert!(err.contains("not running"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(
        !crew.home.join("daemon/supervisor.sock").exists(),
        "daemon status created a socket"
    );
    assert!(
        !crew.home.join("daemon/supervisor.pid").exists(),
        "daemon status started a supervisor"
    );
    assert_eq!(crew.supervisor_pid(), None);
    // Asking twice changes nothing either.
    crew.fails(&["daemon", "status"]);
    assert!(!crew.home.join("daemon/supervisor.pid").exists());
}

#[test]
fn stop_keep_workers_stops_only_the_supervisor() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["sleep 60"]);
    let before = crew.session(&id);
    let (host, agent) = (pid_of(&before, "host_pid"), pid_of(&before, "pid"));
    let sup = crew.supervisor_pid().expect("supervisor pid");

    crew.ok(&["daemon", "stop", "--keep-workers"]);
    wait_for("the old supervisor to exit", || !alive(sup.into()));
    assert!(alive(host), "the host {host} died with the supervisor");
    assert!(alive(agent), "the agent {agent} died with the supervisor");
    assert!(crew.fails(&["daemon", "status"]).contains("not running"));

    // The next command starts a new supervisor, which finds the session again.
    let after = crew.session(&id);
    let new_sup = crew.supervisor_pid().expect("a new supervisor");
    assert_ne!(new_sup, sup);
    assert_eq!(after["pid"], before["pid"], "{after}");
    assert_eq!(after["host_pid"], before["host_pid"], "{after}");
    assert!(running(&after), "{after}");
    let status = crew.ok(&["daemon", "status"]);
    assert!(status.contains("1 hosts connected"), "{status}");
    assert!(status.contains(&format!("pid {new_sup}")), "{status}");
}

#[test]
fn stop_stops_every_session_and_respawn_all_brings_them_back() {
    let crew = Crew::new();
    let (a, _) = crew.bg(&["sleep 60"]);
    let (b, _) = crew.bg(&["sleep 61"]);
    let sup = crew.supervisor_pid().expect("supervisor pid");
    let before: Vec<Value> = [&a, &b].iter().map(|id| crew.session(id)).collect();

    crew.ok(&["daemon", "stop"]);
    wait_for("the supervisor to exit", || !alive(sup.into()));
    assert!(
        !crew.home.join("daemon/supervisor.sock").exists(),
        "the socket outlived the supervisor"
    );
    // Straight from the files: no new supervisor is needed to see the sessions stopped.
    for (id, old) in [&a, &b].into_iter().zip(&before) {
        let s = crew.state_file(id);
        assert_eq!(s["state"], "stopped", "{s}");
        assert_ne!(s["process"], "alive", "{s}");
        assert_eq!(s["pid"], Value::Null, "{s}");
        assert_eq!(s["host_pid"], Value::Null, "{s}");
        for key in ["pid", "host_pid"] {
            let pid = pid_of(old, key);
            wait_for(&format!("{id}'s {key} {pid} to be gone"), || !alive(pid));
        }
    }
    assert!(crew.fails(&["daemon", "status"]).contains("not running"));

    let out = crew.ok(&["respawn", "--all"]);
    for (id, old) in [&a, &b].into_iter().zip(&before) {
        assert!(
            out.contains(id.as_str()),
            "respawn --all did not name {id}: {out}"
        );
        let s = crew.session(id);
        assert!(running(&s), "{s}");
        let pid = pid_of(&s, "pid");
        assert_ne!(pid, pid_of(old, "pid"), "{s}");
        assert!(alive(pid), "{s}");
        assert!(alive(pid_of(&s, "host_pid")), "{s}");
    }
}

#[test]
fn stop_any_kills_a_supervisor_that_does_not_answer() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["sleep 60"]);
    let before = crew.session(&id);
    let (host, agent) = (pid_of(&before, "host_pid"), pid_of(&before, "pid"));
    let sup = crew.supervisor_pid().expect("supervisor pid");

    unsafe { libc::kill(sup, libc::SIGSTOP) };
    wait_for("the supervisor to be stopped", || {
        std::fs::read_to_string(format!("/proc/{sup}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                == Some("T")
        })
    });
    let started = Instant::now();
    let out = crew.run(&["daemon", "stop", "--any", "--keep-workers"]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "daemon stop --any failed after {took:?} ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // A stopped process ignores SIGTERM until it is continued: only SIGKILL (or SIGCONT
    // after TERM) ends it. The harness SIGKILLs it at the end if this fails.
    wait_for(
        "the stopped supervisor to be gone after daemon stop --any",
        || !alive(sup.into()),
    );
    assert!(alive(host), "the host died");
    assert!(alive(agent), "the agent died");

    // A new supervisor takes over the session.
    let after = crew.session(&id);
    assert_ne!(crew.supervisor_pid(), Some(sup));
    assert_eq!(after["pid"], before["pid"], "{after}");
    assert!(running(&after), "{after}");
}

/// A child process that is killed if the test ends early.
struct Foreground(Child);

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn start_foreground_serves_until_sigterm_and_leaves_sessions_running() {
    let crew = Crew::new();
    let log = std::fs::File::create(crew.home.join("foreground.log")).unwrap();
    let mut cmd = crew.command(&["daemon", "start", "--foreground"]);
    cmd.stdout(Stdio::null()).stderr(log);
    let mut fg = Foreground(cmd.spawn().expect("crew daemon start --foreground"));
    let pid = fg.0.id() as i32;
    let log_text = || std::fs::read_to_string(crew.home.join("foreground.log")).unwrap_or_default();

    wait_for("the foreground supervisor to answer", || {
        assert!(
            fg.0.try_wait().unwrap().is_none(),
            "the foreground supervisor exited early: {}",
            log_text()
        );
        crew.run(&["daemon", "status"]).status.success()
    });
    let status = crew.ok(&["daemon", "status"]);
    assert!(
        status.contains(&format!("pid {pid},")),
        "status names another process: {status}"
    );
    assert_eq!(crew.supervisor_pid(), Some(pid));

    // A session dispatched through it.
    let (id, _) = crew.bg(&["sleep 60"]);
    let before = crew.session(&id);
    assert!(running(&before), "{before}");
    assert_eq!(
        crew.supervisor_pid(),
        Some(pid),
        "the dispatch started another supervisor"
    );

    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut exit = None;
    wait_for("the foreground supervisor to exit on SIGTERM", || {
        exit = fg.0.try_wait().unwrap();
        exit.is_some()
    });
    let exit = exit.unwrap();
    assert_eq!(
        exit.code(),
        Some(0),
        "exit status {exit}; log:\n{}",
        log_text()
    );
    assert!(
        alive(pid_of(&before, "host_pid")),
        "the host died with the supervisor"
    );
    assert!(
        alive(pid_of(&before, "pid")),
        "the agent died with the supervisor"
    );
    assert!(
        !crew.home.join("daemon/supervisor.sock").exists(),
        "the socket outlived the supervisor"
    );

    let after = crew.session(&id);
    assert_eq!(after["pid"], before["pid"], "{after}");
    assert!(running(&after), "{after}");
}

/// Removes a directory when dropped (declared before the `Crew`, so it goes after it).
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_home_too_long_for_socket_paths_uses_the_short_fallback_directory() {
    let prefix = format!("/tmp/cl{}-", std::process::id());
    let home = PathBuf::from(format!("{prefix}{}", "x".repeat(125 - prefix.len())));
    assert_eq!(home.as_os_str().len(), 125);
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    // Where SPEC 1 puts the sockets: a directory derived only from CREW_HOME.
    let short = mux::store::Home { root: home.clone() }.short_socket_dir();
    let _cleanup = RemoveDir(short.clone());
    let crew = Crew::with_home(home);

    let (id, _) = crew.bg(&["echo ready; sleep 60"]);
    wait_for("the session to print ready", || {
        crew.ok(&["logs", &id]).contains("ready")
    });
    let s = crew.session(&id);
    assert!(running(&s), "{s}");
    assert!(crew.ok(&["daemon", "status"]).contains("1 hosts connected"));

    assert!(!crew.home.join("daemon/supervisor.sock").exists());
    assert!(!crew.job(&id).join("host.sock").exists());
    assert!(
        short.join("supervisor.sock").exists(),
        "no supervisor.sock in {}",
        short.display()
    );
    assert!(
        short.join(format!("{id}.sock")).exists(),
        "no {id}.sock in {}",
        short.display()
    );
    assert_eq!(mode(&short), 0o700, "{}", short.display());
    assert_eq!(mode(&short.join("supervisor.sock")), 0o600);
    assert_eq!(mode(&short.join(format!("{id}.sock"))), 0o600);

    // Everything else stays in CREW_HOME.
    assert!(crew.job(&id).join("state.json").exists());
    assert!(crew.home.join("daemon/supervisor.pid").exists());
}

#[test]
fn stop_any_never_signals_an_unrelated_process_that_reused_the_pid() {
    let crew = Crew::new();
    let mut unrelated = Foreground(
        std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap(),
    );
    let pid = unrelated.0.id();
    let start = mux::process::start_time(pid).expect("the process's start time");
    let daemon = crew.home.join("daemon");
    std::fs::create_dir_all(&daemon).unwrap();
    std::fs::set_permissions(&daemon, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let pid_file = daemon.join("supervisor.pid");
    let still_running = |unrelated: &mut Foreground| {
        assert!(
            unrelated.0.try_wait().unwrap().is_none(),
            "daemon stop --any signalled an unrelated process"
        );
    };

    // A supervisor that died long ago left its pid file; the pid now belongs to a process
    // that started at another time.
    std::fs::write(&pid_file, format!("{pid}\n{}\n", start + 1)).unwrap();
    crew.ok(&["daemon", "stop", "--any", "--keep-workers"]);
    still_running(&mut unrelated);
    crew.ok(&["daemon", "stop", "--any"]);
    still_running(&mut unrelated);

    // Without a start time nothing can be told apart: nothing is signalled, and it says so.
    std::fs::write(&pid_file, format!("{pid}\n")).unwrap();
    let err = crew.fails(&["daemon", "stop", "--any", "--keep-workers"]);
    assert!(err.contains("no start time"), "{err}");
    still_running(&mut unrelated);
    // The harness kills the pid file's process when it cleans up.
    std::fs::remove_file(&pid_file).unwrap();
}

/// A process's process group and session ids (fields 5 and 6 of /proc/PID/stat).
fn group_and_session(pid: i64) -> (i64, i64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let mut fields = stat[stat.rfind(')').unwrap() + 2..].split_whitespace();
    let pgrp = fields.nth(2).unwrap().parse().unwrap();
    let session = fields.next().unwrap().parse().unwrap();
    (pgrp, session)
}

/// `crew daemon start --foreground` as a service manager runs it: a session and process
/// group of its own.
fn start_service(crew: &Crew) -> Foreground {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(crew.home.join("service.log"))
        .unwrap();
    let mut cmd = crew.command(&["daemon", "start", "--foreground"]);
    cmd.stdout(Stdio::null()).stderr(log);
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let service = Foreground(cmd.spawn().unwrap());
    wait_for("the service to answer", || {
        crew.run(&["daemon", "status"]).status.success()
    });
    service
}

#[test]
fn a_service_stop_that_signals_the_supervisors_whole_process_group_leaves_every_session() {
    let crew = Crew::new();
    let mut service = start_service(&crew);
    let pid = service.0.id() as i64;
    let (a, _) = crew.bg(&["sleep 600"]);
    let (b, _) = crew.bg(&["echo b; sleep 600"]);
    let before: Vec<Value> = [&a, &b].iter().map(|id| crew.session(id)).collect();
    // Hosts and agents are in neither the supervisor's process group nor its session.
    let (group, session) = group_and_session(pid);
    for s in &before {
        for key in ["host_pid", "pid"] {
            let (g, sid) = group_and_session(pid_of(s, key));
            assert!(
                g != group && sid != session,
                "{key} shares the service's: {s}"
            );
        }
    }

    // What a stop or restart does with KillMode=process, and more: TERM, then KILL, to the
    // whole process group the service manager started.
    unsafe { libc::kill(-(group as i32), libc::SIGTERM) };
    wait_for("the supervisor to exit", || {
        service.0.try_wait().unwrap().is_some()
    });
    unsafe { libc::kill(-(group as i32), libc::SIGKILL) };
    for s in &before {
        for key in ["host_pid", "pid"] {
            assert!(alive(pid_of(s, key)), "{key} died with the service: {s}");
        }
    }

    // The restarted service finds every session as it was.
    let _service = start_service(&crew);
    for old in &before {
        let s = crew.session(old["id"].as_str().unwrap());
        assert!(running(&s), "{s}");
        assert_eq!(s["host_pid"], old["host_pid"], "{s}");
        assert_eq!(s["pid"], old["pid"], "{s}");
    }
    assert!(crew.ok(&["logs", &b]).contains('b'));
    let status = crew.ok(&["daemon", "status"]);
    assert!(
        status.contains("2 sessions, 2 hosts connected, no hosts of older versions"),
        "{status}"
    );
}
