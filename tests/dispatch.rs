//! Dispatching background sessions and how they end (SPEC 2, 3 `--bg`).

mod support;

use support::*;

/// A command that runs until the test creates `go` in `dir`, then exits with `code`.
fn gated(dir: &std::path::Path, code: i32) -> String {
    format!(
        "echo started; while [ ! -e {}/go ]; do sleep 0.01; done; exit {code}",
        dir.display()
    )
}

#[test]
fn a_session_works_then_completes_with_exit_code_zero() {
    let crew = Crew::new();
    let (id, name) = crew.bg(&[&gated(&crew.home, 0)]);
    assert_eq!(id.len(), 8);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
        "{id}"
    );
    assert_eq!(name, "echo-started-while");
    let s = crew.session(&id);
    assert_eq!(s["state"], "working");
    assert_eq!(s["process"], "alive");
    // --bg returns once the agent process is running.
    assert!(alive(s["pid"].as_i64().expect("pid while running")));
    assert!(alive(s["host_pid"].as_i64().expect("host_pid")));
    std::fs::write(crew.home.join("go"), "").unwrap();
    let s = crew.wait_state(&id, "completed");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["signal"], serde_json::Value::Null);
    assert_eq!(s["reason"], serde_json::Value::Null);
    assert_eq!(s["process"], "exited");
    assert_eq!(s["pid"], serde_json::Value::Null);
    assert_eq!(s["state_source"], "exit");
}

#[test]
fn a_nonzero_exit_and_a_signal_are_failures() {
    let crew = Crew::new();
    let (three, _) = crew.bg(&["exit 3"]);
    let (killed, _) = crew.bg(&["kill -9 $$"]);
    let s = crew.wait_state(&three, "failed");
    assert_eq!(s["exit_code"], 3);
    assert_eq!(s["reason"], "exit code 3");
    assert_eq!(s["signal"], serde_json::Value::Null);
    let s = crew.wait_state(&killed, "failed");
    assert_eq!(s["exit_code"], serde_json::Value::Null);
    assert_eq!(s["signal"], 9);
    assert_eq!(s["reason"], "killed by signal 9 (SIGKILL)");
}

#[test]
fn ls_json_has_every_session_field() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["-n", "fields", "echo hi"]);
    let s = crew.wait_state(&id, "completed");
    let keys = [
        "id",
        "name",
        "agent",
        "prompt",
        "model",
        "cwd",
        "worktree",
        "branch",
        "state",
        "process",
        "state_source",
        "reason",
        "exit_code",
        "signal",
        "summary",
        "question",
        "title",
        "pinned",
        "order",
        "prs",
        "loop",
        "pid",
        "host_pid",
        "created_at",
        "changed_at",
        "attached",
    ];
    let obj = s.as_object().unwrap();
    for k in keys {
        assert!(obj.contains_key(k), "missing {k} in {s}");
    }
    assert_eq!(obj.len(), keys.len(), "no extra fields: {s}");
    assert_eq!(s["name"], "fields");
    assert_eq!(s["agent"], "shell");
    assert_eq!(s["prompt"], "echo hi");
    assert_eq!(s["summary"], "hi");
    for t in ["created_at", "changed_at"] {
        let v = s[t].as_str().unwrap();
        assert!(
            v.len() >= 20 && v.ends_with('Z') && v.as_bytes()[10] == b'T',
            "{t} = {v}"
        );
    }
}

#[test]
fn the_agent_gets_its_session_environment_and_its_queries_answered() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["echo \"id=$CREW_SESSION_ID term=$TERM home=$CREW_HOME\""]);
    crew.wait_state(&id, "completed");
    let logs = crew.ok(&["logs", &id]);
    assert!(
        logs.contains(&format!(
            "id={id} term=xterm-256color home={}",
            crew.home.display()
        )),
        "{logs}"
    );

    let (q, _) = crew.bg(&[&format!("sh {}", fixture("query.sh"))]);
    crew.wait_state(&q, "completed");
    let logs = crew.ok(&["logs", &q]);
    assert!(logs.contains("pos=033[1;1R da=033[?62;22c"), "{logs}");
}

#[test]
fn names_are_unique_and_bad_dispatches_say_why() {
    let crew = Crew::new();
    let (_, a) = crew.bg(&["sleep 30"]);
    let (_, b) = crew.bg(&["sleep 30"]);
    assert_eq!((a.as_str(), b.as_str()), ("sleep-30", "sleep-30-2"));
    let err = crew.fails(&["--bg", "-n", "sleep-30", "true"]);
    assert!(err.contains("already exists"), "{err}");
    let err = crew.fails(&["--bg", "-C", "/nonexistent/dir", "true"]);
    assert!(err.contains("/nonexistent/dir"), "{err}");
    let err = crew.fails(&["--bg", "--agent", "nosuch", "true"]);
    assert!(err.contains("no agent profile named 'nosuch'"), "{err}");
    let err = crew.fails(&["--bg", "--model", "big", "true"]);
    assert!(err.contains("does not take a model"), "{err}");
    // A usage error is clap's exit code 2.
    assert_eq!(crew.run(&["--bg", "--bogus", "x"]).status.code(), Some(2));
    assert_eq!(crew.ls().len(), 2, "failed dispatches leave nothing behind");
}

#[test]
fn dispatch_runs_in_the_given_directory() {
    let crew = Crew::new();
    let dir = crew.home.join("work");
    std::fs::create_dir(&dir).unwrap();
    let (id, _) = crew.bg(&["-C", dir.to_str().unwrap(), "pwd"]);
    let s = crew.wait_state(&id, "completed");
    assert_eq!(s["cwd"], dir.to_str().unwrap());
    assert!(crew.ok(&["logs", &id]).contains(dir.to_str().unwrap()));
}
