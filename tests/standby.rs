//! The pre-started host (SPEC 7): a dispatch is served by the host the supervisor keeps
//! waiting, a new one takes its place, and a dead one never fails a dispatch.

mod support;

use support::*;

fn standby_pid(crew: &Crew) -> Option<i64> {
    let status = crew.ok(&["daemon", "status"]);
    let pid = status.split("pre-started host pid ").nth(1)?;
    pid.trim().parse().ok()
}

fn wait_standby(crew: &Crew, not: Option<i64>) -> i64 {
    let mut pid = None;
    wait_for("a pre-started host", || {
        pid = standby_pid(crew).filter(|p| Some(*p) != not);
        pid.is_some()
    });
    pid.unwrap()
}

#[test]
fn a_dispatch_is_served_by_the_pre_started_host() {
    let crew = Crew::new();
    crew.ok(&["daemon", "start"]);
    let standby = wait_standby(&crew, None);
    assert!(crew.ls().is_empty(), "the waiting host is not a session");
    let (id, _) = crew.bg(&["echo served; sleep 30"]);
    let s = crew.session(&id);
    assert_eq!(s["host_pid"].as_i64(), Some(standby));
    wait_for("output", || crew.ok(&["logs", &id]).contains("served"));
    // The next standby serves the next dispatch, and its agent runs with the dispatching
    // client's environment, not the supervisor's.
    let next = wait_standby(&crew, Some(standby));
    let out = crew
        .command(&["--bg", "echo \"marker=$CREW_TEST_MARKER\""])
        .env("CREW_TEST_MARKER", "from-client")
        .output()
        .unwrap();
    assert!(out.status.success());
    let id2 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let s = crew.wait_state(&id2, "completed");
    assert_eq!(s["host_pid"].as_i64(), Some(next));
    assert!(crew.ok(&["logs", &id2]).contains("marker=from-client"));
}

#[test]
fn a_dead_pre_started_host_never_fails_a_dispatch() {
    let crew = Crew::new();
    crew.ok(&["daemon", "start"]);
    let standby = wait_standby(&crew, None);
    unsafe { libc::kill(standby as i32, libc::SIGKILL) };
    wait_for("the standby to die", || !alive(standby));
    let (id, _) = crew.bg(&["echo fresh; sleep 30"]);
    let s = crew.session(&id);
    assert_ne!(s["host_pid"].as_i64(), Some(standby));
    wait_for("output", || crew.ok(&["logs", &id]).contains("fresh"));
    wait_standby(&crew, Some(standby));
}

#[test]
fn the_pre_started_host_leaves_with_the_supervisor() {
    let crew = Crew::new();
    crew.ok(&["daemon", "start"]);
    let standby = wait_standby(&crew, None);
    crew.ok(&["daemon", "stop"]);
    wait_for("the standby to exit", || !alive(standby));
}
