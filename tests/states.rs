//! Where a state comes from (SPEC 2): reports, terminal notifications, output activity;
//! and replying moves a waiting session on.

mod support;

use support::*;

fn logs(crew: &Crew, id: &str) -> String {
    crew.ok(&["logs", id])
}

#[test]
fn a_report_from_inside_asks_and_a_reply_answers() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&[&format!("sh {}", fixture("ask.sh"))]);
    let s = crew.wait_state(&id, "needs_input");
    assert_eq!(s["question"], "double jump or wall climb?");
    assert_eq!(s["state_source"], "report");
    assert_eq!(s["summary"], "double jump or wall climb?");
    let peek = crew.ok(&["peek", &id]);
    assert!(
        peek.contains("planning the level") && peek.contains("? double jump or wall climb?"),
        "{peek}"
    );

    crew.ok(&["reply", &id, "wall climb"]);
    wait_for("the agent to read the reply", || {
        logs(&crew, &id).contains("you chose: wall climb")
    });
    // The answer's output makes it working by activity first; the report follows.
    wait_for("the agent to report working", || {
        let s = crew.session(&id);
        s["state"] == "working" && s["state_source"] == "report"
    });
    assert_eq!(crew.session(&id)["question"], serde_json::Value::Null);
}

fn needs_input_from_the_terminal(fixture_name: &str) {
    let crew = Crew::new();
    let (id, _) = crew.bg(&[&format!("sh {}", fixture(fixture_name))]);
    let s = crew.wait_state(&id, "needs_input");
    assert_eq!(s["question"], "double jump or wall climb?", "{s}");
    assert_eq!(s["state_source"], "notification");
    crew.ok(&["reply", &id, "double jump"]);
    wait_for("the agent to read the reply", || {
        logs(&crew, &id).contains("you chose: double jump")
    });
    // The answer produced output: the session is no longer waiting on the user. (The
    // supervisor hears of it over its own connection, a moment after the logs show it.)
    let mut s = serde_json::Value::Null;
    wait_for("the session to move on", || {
        s = crew.session(&id);
        s["state"] == "working" || s["state"] == "idle"
    });
    assert_eq!(s["state_source"], "activity");
}

#[test]
fn a_bell_means_needs_input() {
    needs_input_from_the_terminal("bell.sh");
}

#[test]
fn an_osc9_notification_means_needs_input() {
    needs_input_from_the_terminal("notify.sh");
}

#[test]
fn quiet_output_means_idle_and_new_output_working_again() {
    let crew = Crew::new();
    let gate = crew.home.join("go");
    let cmd = format!(
        "echo first; while [ ! -e {0} ]; do sleep 0.01; done; echo second; sleep 30",
        gate.display()
    );
    let (id, _) = crew.bg(&[&cmd]);
    let s = crew.wait_state(&id, "idle");
    assert_eq!(s["state_source"], "activity");
    assert_eq!(s["summary"], "first");
    std::fs::write(&gate, "").unwrap();
    let s = crew.wait_state(&id, "working");
    assert_eq!(s["state_source"], "activity");
}

#[test]
fn report_needs_a_session_and_a_real_state() {
    let crew = Crew::new();
    let out = crew.run(&["report", "working"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CREW_SESSION_ID"));
    // Inside a session: a bad state is refused, a failure report keeps its message.
    let (id, _) = crew.bg(&[
        "crew report bogus; echo \"bogus=$?\"; crew report failed --message 'rate limit'; sleep 30",
    ]);
    wait_for("the failure report", || {
        crew.session(&id)["state"] == "failed"
    });
    assert!(logs(&crew, &id).contains("bogus=1"));
    let s = crew.session(&id);
    assert_eq!(s["reason"], "agent reported: rate limit");
    assert_eq!(s["state_source"], "report");
    assert_eq!(s["process"], "alive");
}

#[test]
fn report_reads_hook_json_from_an_argument_and_stdin() {
    let crew = Crew::new();
    let gate = crew.home.join("go");
    let cmd = format!(
        "crew report needs_input '{{\"type\":\"x\",\"last-assistant-message\":\"from codex\"}}'; \
         while [ ! -e {} ]; do sleep 0.01; done; \
         echo '{{\"message\":\"from claude\"}}' | crew report needs_input; sleep 30",
        gate.display()
    );
    let (id, _) = crew.bg(&[&cmd]);
    wait_for("the argument report", || {
        crew.session(&id)["question"] == "from codex"
    });
    std::fs::write(&gate, "").unwrap();
    wait_for("the stdin report", || {
        crew.session(&id)["question"] == "from claude"
    });
    let transcript = String::from_utf8_lossy(&crew.transcript(&id)).into_owned();
    assert!(
        !transcript.contains("crew:"),
        "reports failed: {transcript}"
    );
}

#[test]
fn report_never_starts_the_supervisor() {
    let crew = Crew::new();
    let gate = crew.home.join("go");
    let cmd = format!(
        "while [ ! -e {} ]; do sleep 0.01; done; crew report needs_input --message later && echo reported; sleep 30",
        gate.display()
    );
    let (id, _) = crew.bg(&[&cmd]);
    crew.ok(&["daemon", "stop", "--keep-workers"]);
    let sock = crew.home.join("daemon/supervisor.sock");
    wait_for("the supervisor to go", || !sock.exists());
    std::fs::write(&gate, "").unwrap();
    // logs and peek talk to the host; neither needs a supervisor.
    wait_for("the report", || logs(&crew, &id).contains("reported"));
    assert!(crew.ok(&["peek", &id]).contains("? later"));
    assert!(!sock.exists(), "crew report started a supervisor");
    assert!(!crew.home.join("daemon/supervisor.pid").exists());
}

/// A report outranks a terminal notification (SPEC 2), except that a bell while the agent
/// reports working means it needs you.
#[test]
fn a_notification_after_a_reported_turn_end_changes_nothing() {
    let crew = Crew::new();
    let (done, _) = crew.bg(&[
        "crew report completed; printf '\\033]9;Agent turn complete\\007'; echo after-osc; exec sleep 60",
    ]);
    wait_for("the notification to be read", || {
        crew.ok(&["peek", &done]).contains("after-osc")
    });
    let (asks, _) = crew.bg(&["crew report working; printf 'allow this?\\a'; exec sleep 60"]);
    let s = crew.wait_state(&asks, "needs_input");
    assert_eq!(s["state_source"], "notification");
    assert_eq!(s["question"], "allow this?");
    // The first session's report still decides, with no question.
    let s = crew.session(&done);
    assert_eq!(
        (s["state"].as_str(), s["state_source"].as_str()),
        (Some("completed"), Some("report")),
        "{s}"
    );
    assert_eq!(s["question"], serde_json::Value::Null);
}
