//! Stop, respawn, rm, rename, pin, and finding sessions by prefix or name (SPEC 2, 3).

mod support;

use serde_json::Value;
use support::*;

#[test]
fn stop_ends_the_agent_and_records_it() {
    let crew = Crew::new();
    let (id, name) = crew.bg(&["sleep 60"]);
    let pid = crew.session(&id)["pid"].as_i64().unwrap();
    crew.ok(&["stop", &name]);
    // `stop` returns once the session is recorded as stopped.
    let s = crew.session(&id);
    assert_eq!(s["state"], "stopped");
    assert_eq!(s["state_source"], "user");
    assert_eq!(s["reason"], "stopped by user");
    assert_eq!(s["process"], "exited");
    assert_eq!(s["pid"], Value::Null);
    assert!(!alive(pid));
    // `kill` is the same command.
    let (other, _) = crew.bg(&["sleep 60"]);
    crew.ok(&["kill", &other]);
    assert_eq!(crew.session(&other)["state"], "stopped");
}

#[test]
fn stop_escalates_to_sigkill_for_an_agent_that_ignores_hup_and_term() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["trap '' HUP TERM; echo stubborn; while :; do sleep 0.05; done"]);
    wait_for("the trap", || crew.ok(&["logs", &id]).contains("stubborn"));
    let pid = crew.session(&id)["pid"].as_i64().unwrap();
    crew.ok(&["stop", &id]);
    assert_eq!(crew.session(&id)["state"], "stopped");
    assert!(!alive(pid));
}

#[test]
fn respawn_keeps_the_transcript_and_appends() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["echo run-marker; sleep 60"]);
    wait_for("first run", || {
        crew.ok(&["logs", &id]).contains("run-marker")
    });
    let first_pid = crew.session(&id)["pid"].clone();
    crew.ok(&["stop", &id]);
    assert_eq!(crew.ok(&["respawn", &id]), format!("{id}\n"));
    let s = crew.session(&id);
    assert_eq!(s["state"], "working");
    assert_eq!(s["process"], "alive");
    assert_ne!(s["pid"], first_pid);
    wait_for("second run", || {
        crew.ok(&["logs", &id]).matches("run-marker").count() == 2
    });
    // The transcript (appended on the host's disk thread) holds both runs.
    wait_for("both runs in the transcript", || {
        String::from_utf8_lossy(&crew.transcript(&id))
            .matches("run-marker")
            .count()
            == 2
    });
    // Respawning a running session is refused.
    let err = crew.fails(&["respawn", &id]);
    assert!(err.contains("is running"), "{err}");
}

#[test]
fn respawn_restarts_an_exited_agent_in_its_live_host() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["echo once"]);
    let host = crew.wait_state(&id, "completed")["host_pid"].clone();
    crew.ok(&["respawn", &id]);
    wait_for("second run", || {
        crew.ok(&["logs", &id]).matches("once").count() == 2
    });
    let s = crew.wait_state(&id, "completed");
    assert_eq!(s["host_pid"], host, "the same host ran it again");
}

#[test]
fn respawn_all_brings_back_stopped_sessions_only() {
    let crew = Crew::new();
    let (a, _) = crew.bg(&["sleep 60"]);
    let (b, _) = crew.bg(&["sleep 61"]);
    let (done, _) = crew.bg(&["true"]);
    crew.wait_state(&done, "completed");
    crew.ok(&["stop", &a]);
    crew.ok(&["stop", &b]);
    let out = crew.ok(&["respawn", "--all"]);
    let mut ids: Vec<&str> = out.lines().collect();
    ids.sort();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(crew.session(&a)["state"], "working");
    assert_eq!(crew.session(&b)["state"], "working");
    assert_eq!(crew.session(&done)["state"], "completed");
}

#[test]
fn rm_stops_and_removes() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["sleep 60"]);
    let pid = crew.session(&id)["pid"].as_i64().unwrap();
    crew.ok(&["rm", &id]);
    assert!(crew.ls().iter().all(|s| s["id"] != id.as_str()));
    assert!(!crew.job(&id).exists());
    wait_for("the agent to end", || !alive(pid));
    assert_eq!(
        crew.fails(&["rm", &id]),
        format!("crew: no session matches '{id}'\n")
    );
}

#[test]
fn rename_and_pin_change_what_ls_shows() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["sleep 60"]);
    let (other, _) = crew.bg(&["-n", "taken", "sleep 60"]);
    crew.ok(&["rename", &id, "Level Design"]);
    assert_eq!(crew.session(&id)["name"], "level-design");
    crew.ok(&["peek", "level-design"]);
    let err = crew.fails(&["rename", &id, "taken"]);
    assert!(err.contains("already exists"), "{err}");

    crew.ok(&["pin", "level-design"]);
    assert_eq!(crew.session(&id)["pinned"], true);
    let text = crew.ok(&["ls"]);
    assert!(text.starts_with("Pinned\n"), "{text}");
    assert!(text.find("level-design").unwrap() < text.find("taken").unwrap());
    crew.ok(&["unpin", &id]);
    assert_eq!(crew.session(&id)["pinned"], false);

    // A session without a host keeps its settings too.
    crew.ok(&["stop", &other]);
    crew.ok(&["rename", &other, "resting"]);
    crew.ok(&["pin", "resting"]);
    let s = crew.session(&other);
    assert_eq!(
        (s["name"].as_str(), s["pinned"].as_bool()),
        (Some("resting"), Some(true))
    );
}

#[test]
fn ids_match_by_prefix_and_ambiguity_lists_the_candidates() {
    let crew = Crew::new();
    // Dispatch until two ids share a first character (32 letters: a handful suffice).
    let mut ids: Vec<String> = Vec::new();
    let shared = loop {
        let (id, _) = crew.bg(&["true"]);
        if let Some(prev) = ids.iter().find(|p| p.as_bytes()[0] == id.as_bytes()[0]) {
            break (prev.clone(), id);
        }
        ids.push(id);
        assert!(ids.len() < 40);
    };
    let prefix = &shared.0[..1];
    let err = crew.fails(&["peek", prefix]);
    assert!(
        err.starts_with(&format!("crew: '{prefix}' matches 2 sessions:")),
        "{err}"
    );
    assert!(err.contains(&shared.0) && err.contains(&shared.1), "{err}");
    let err = crew.fails(&["stop", prefix]);
    assert!(err.contains("matches 2 sessions"), "{err}");
    // A longer prefix is unique.
    let unique = &shared.1[..shared.1.len().min(7)];
    assert!(crew.run(&["peek", unique]).status.success());
    assert_eq!(
        crew.fails(&["stop", "nothing-like-it"]),
        "crew: no session matches 'nothing-like-it'\n"
    );
}
