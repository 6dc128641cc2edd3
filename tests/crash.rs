//! Crashes lose nothing (SPEC 1, 11): a killed supervisor leaves every session running with
//! its output intact; a killed host leaves a failed session whose last screen is readable.

mod support;

use support::*;

#[test]
fn killing_the_supervisor_mid_flood_loses_no_output_and_no_session() {
    let crew = Crew::new();
    let gate = crew.home.join("go");
    let cmd = format!(
        "seq -f 'flood line %g' 1 30000; while [ ! -e {} ]; do sleep 0.01; done; seq -f 'flood line %g' 30001 60000; echo flood done; sleep 60",
        gate.display()
    );
    let (id, _) = crew.bg(&[&cmd]);
    let (other, _) = crew.bg(&["-n", "bystander", "echo bystander; sleep 60"]);
    let before = crew.session(&id);
    wait_for("the first half", || {
        crew.ok(&["logs", "-n", "1", &id])
            .contains("flood line 30000")
    });

    let sup = crew.supervisor_pid().expect("supervisor pid");
    unsafe { libc::kill(sup, libc::SIGKILL) };
    wait_for("the supervisor to die", || !alive(sup.into()));
    // The second half is printed while no supervisor exists.
    std::fs::write(&gate, "").unwrap();
    wait_for("the flood to end", || {
        crew.ok(&["logs", "-n", "1", &id]).contains("flood done")
    });

    // The next command starts a new supervisor, which finds both sessions again.
    let after = crew.session(&id);
    assert_ne!(crew.supervisor_pid(), Some(sup));
    assert_eq!(after["pid"], before["pid"]);
    assert_eq!(after["host_pid"], before["host_pid"]);
    assert!(
        after["state"] == "working" || after["state"] == "idle",
        "{after}"
    );
    let bystander = crew.session(&other);
    assert_eq!(bystander["process"], "alive");
    assert!(crew.ok(&["daemon", "status"]).contains("2 hosts connected"));

    // The host appends to the transcript on its disk thread, a moment after the screen.
    wait_for("the transcript to catch up", || {
        String::from_utf8_lossy(&crew.transcript(&id)).contains("flood done")
    });
    let transcript = String::from_utf8(crew.transcript(&id)).unwrap();
    let lines: Vec<&str> = transcript
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    let expected: Vec<String> = (1..=60000)
        .map(|i| format!("flood line {i}"))
        .chain(["flood done".into()])
        .collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "transcript has a gap or repeats"
    );
    assert!(
        lines.iter().zip(&expected).all(|(a, b)| a == b),
        "transcript differs from what the agent wrote"
    );
}

#[test]
fn killing_a_host_fails_the_session_and_keeps_its_last_screen() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["printf 'last words\\n'; sleep 60"]);
    // The host shows output before its disk thread has written it; a SIGKILL loses only
    // what was not yet on disk, so wait for the transcript itself.
    wait_for("output on disk", || {
        crew.ok(&["logs", "--raw", &id]).contains("last words")
    });
    let s = crew.session(&id);
    let host = s["host_pid"].as_i64().unwrap();
    unsafe { libc::kill(host as i32, libc::SIGKILL) };
    let s = crew.wait_state(&id, "failed");
    assert_eq!(s["reason"], "host lost");
    assert_eq!(s["process"], "exited");
    assert_eq!(s["host_pid"], serde_json::Value::Null);
    assert_eq!(crew.ok(&["logs", &id]), "last words\n");
    assert!(crew.ok(&["peek", &id]).contains("last words"));
    // A lost session can be brought back with its transcript.
    crew.ok(&["respawn", &id]);
    wait_for("the respawned output", || {
        crew.ok(&["logs", &id]).matches("last words").count() == 2
    });
}

#[test]
fn a_host_lost_while_no_supervisor_runs_is_found_by_the_next_one() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["echo hello; sleep 60"]);
    wait_for("output", || crew.ok(&["logs", &id]).contains("hello"));
    let host = crew.session(&id)["host_pid"].as_i64().unwrap();
    crew.ok(&["daemon", "stop", "--keep-workers"]);
    unsafe { libc::kill(host as i32, libc::SIGKILL) };
    wait_for("the host to die", || !alive(host));
    let s = crew.wait_state(&id, "failed");
    assert_eq!(s["reason"], "host lost");
}
