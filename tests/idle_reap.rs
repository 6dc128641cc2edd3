//! Idle reaping (SPEC 6 `idle_reap`, SPEC 7): a finished session nobody touches stops costing
//! a process, keeps its state, screen and transcript, and comes back through its resume
//! command when a user replies or attaches.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::terminal::Terminal;
use support::*;

/// A crew whose sessions are reaped after 2 s, with a profile that ends its first run at
/// once and resumes as a line reader.
fn crew_reaping(first_run: &str) -> Crew {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!(
            "idle_reap = \"2s\"\n\
             [agents.fake]\n\
             command = [\"sh\", \"-c\", \"{first_run}\"]\n\
             resume = [\"sh\", \"-c\", \"echo resumed run; exec sh {}\"]\n",
            fixture("prompt.sh")
        ),
    )
    .unwrap();
    crew
}

fn pid(s: &Value, key: &str) -> i64 {
    s[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not a pid: {s}"))
}

/// Waits until the session's host is gone and the listing says so; returns the session.
fn wait_reaped(crew: &Crew, id: &str, host: i64) -> Value {
    wait_for("the idle host to exit", || !alive(host));
    let mut s = Value::Null;
    wait_for("the listing to show the host gone", || {
        s = crew.session(id);
        s["host_pid"].is_null()
    });
    s
}

#[test]
fn a_completed_sessions_host_exits_after_idle_reap_and_a_reply_resumes_it() {
    let crew = crew_reaping("echo first run output");
    let (id, name) = crew.bg(&["--agent", "fake", "go"]);
    let done = crew.wait_state(&id, "completed");
    let seen_completed = Instant::now();
    let host = pid(&done, "host_pid");
    assert!(alive(host), "{done}");

    let s = wait_reaped(&crew, &id, host);
    let took = seen_completed.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "reaped {took:?} after completing, before idle_reap (2s)"
    );
    // State, result and screen stay; the row shows the process gone.
    assert_eq!(s["state"], "completed", "{s}");
    assert_eq!(s["process"], "exited", "{s}");
    assert_eq!(s["exit_code"], 0, "{s}");
    let row = crew
        .ok(&["ls"])
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{name} not listed"))
        .to_string();
    assert!(row.contains('∙'), "{row}");
    assert!(crew.job(&id).join("screen.txt").exists());
    assert!(crew.ok(&["peek", &id]).contains("first run output"));

    // A reply restarts it through the resume command and reaches the new process.
    crew.ok(&["reply", &id, "hello again"]);
    wait_for("the resumed agent to get the reply", || {
        crew.ok(&["logs", &id]).contains("you said: hello again")
    });
    let s = crew.session(&id);
    assert_eq!(s["process"], "alive", "{s}");
    assert_ne!(pid(&s, "host_pid"), host, "{s}");
    // The old output is still there, above the resumed run.
    let logs = crew.ok(&["logs", &id]);
    let old = logs.find("first run output").expect("the old output");
    let new = logs.find("resumed run").expect("the resumed run");
    assert!(old < new, "{logs}");
}

#[test]
fn a_finished_live_agent_is_stopped_keeping_its_state_and_attach_resumes_it() {
    // The agent reports its turn over and stays, as Claude Code does after its Stop hook.
    let crew = crew_reaping("echo turn one over; crew report completed; exec sleep 600");
    let (id, name) = crew.bg(&["--agent", "fake", "go"]);
    let mut done = Value::Null;
    wait_for("the agent to report its turn over", || {
        done = crew.session(&id);
        done["state"] == "completed" && done["state_source"] == "report"
    });
    let (host, agent) = (pid(&done, "host_pid"), pid(&done, "pid"));

    let s = wait_reaped(&crew, &id, host);
    assert!(!alive(agent), "the agent {agent} outlived its reaped host");
    assert_eq!(
        s["state"], "completed",
        "stopping it is not the user's doing: {s}"
    );
    assert_eq!(s["process"], "exited", "{s}");
    assert_eq!(s["reason"], Value::Null, "{s}");
    assert_eq!(s["pid"], Value::Null, "{s}");

    // Attaching restarts it: the old screen above the resumed session's output.
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    term.wait_text("resumed run");
    let text = term.text();
    let old = text.find("turn one over").expect("the old screen");
    assert!(old < text.find("resumed run").unwrap(), "{text}");
    term.send(b"are you back\r");
    term.wait_text("you said: are you back");
    term.send(b"\x1c");
    term.wait_text(&format!("[detached from {name}]"));
    assert_eq!(crew.session(&id)["process"], "alive");
}

#[test]
fn attached_quiet_and_unresumable_sessions_are_never_reaped() {
    let crew = crew_reaping("echo waiting; crew report completed; exec sleep 600");
    let config = std::fs::read_to_string(crew.home.join("config.toml")).unwrap();
    let resume = "resume = [\"sh\", \"-c\", \"exec sleep 600\"]\n";
    std::fs::write(
        crew.home.join("config.toml"),
        format!(
            "idle_after = \"200ms\"\n{config}\
             [agents.typed]\n\
             command = [\"sh\", \"-c\", \"read line; crew report completed; echo turn over; exec sleep 600\"]\n{resume}\
             [agents.quiet]\ncommand = [\"sh\", \"-c\", \"echo quiet; exec sleep 600\"]\n{resume}\
             [agents.once]\ncommand = [\"sh\", \"-c\", \"crew report completed; exec sleep 600\"]\n"
        ),
    )
    .unwrap();
    // Its turn ends while someone is attached.
    let (watched, _) = crew.bg(&["--agent", "typed", "-n", "watched", "go"]);
    let mut term = Terminal::attach(&crew, &watched, 24, 80);
    wait_for("the attach", || crew.session(&watched)["attached"] == 1);
    term.send(b"done\r");
    term.wait_text("turn over");
    // Idle only because it prints nothing (a long build, a sleep): its turn is not over.
    let (quiet, _) = crew.bg(&["--agent", "quiet", "-n", "quiet", "go"]);
    // Its turn is over, but it could not come back.
    let (once, _) = crew.bg(&["--agent", "once", "-n", "once", "go"]);
    crew.wait_state(&quiet, "idle");
    for id in [&watched, &once] {
        wait_for("the turn to end", || {
            crew.session(id)["state_source"] == "report"
        });
    }
    let hosts: Vec<i64> = [&watched, &quiet, &once]
        .iter()
        .map(|id| pid(&crew.session(id), "host_pid"))
        .collect();

    // One whose turn ends after all of theirs, so it is reaped after they would have been.
    let (reaped, _) = crew.bg(&["--agent", "fake", "-n", "reaped", "go"]);
    wait_for("its turn to end", || {
        crew.session(&reaped)["state_source"] == "report"
    });
    let host = pid(&crew.session(&reaped), "host_pid");
    wait_reaped(&crew, &reaped, host);
    for (id, host) in [&watched, &quiet, &once].iter().zip(&hosts) {
        let s = crew.session(id);
        assert_eq!(s["process"], "alive", "{s}");
        assert_eq!(pid(&s, "host_pid"), *host, "{s}");
        assert!(alive(*host), "{id}'s host was reaped: {s}");
    }
    term.send(b"\x1c");
    term.wait_text("[detached from watched]");
}

#[test]
fn idle_reap_zero_means_never() {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        "idle_reap = \"0\"\n\
         [agents.fake]\ncommand = [\"sh\", \"-c\", \"crew report completed; exec sleep 600\"]\n\
         resume = [\"sh\", \"-c\", \"exec sleep 600\"]\n",
    )
    .unwrap();
    let (kept, _) = crew.bg(&["--agent", "fake", "go"]);
    wait_for("the turn to end", || {
        crew.session(&kept)["state_source"] == "report"
    });
    let host = pid(&crew.session(&kept), "host_pid");
    // "Never" cannot be waited for: a session in another home, reaped after 1 s, finishes
    // later and is gone first.
    let other = Crew::new();
    std::fs::write(other.home.join("config.toml"), "idle_reap = \"1s\"\n").unwrap();
    let (gone, _) = other.bg(&["true"]);
    let other_host = pid(&other.wait_state(&gone, "completed"), "host_pid");
    wait_reaped(&other, &gone, other_host);
    assert!(alive(host), "idle_reap = \"0\" reaped a session");
    assert_eq!(crew.session(&kept)["process"], "alive");
}
