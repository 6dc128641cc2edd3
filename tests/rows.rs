//! What a row shows besides its state: a working session's summary follows its output, PR
//! URLs it prints are recorded, and a loop session sleeps between runs (SPEC 2, 9, 10).

mod support;

use support::*;

#[test]
fn a_working_summary_follows_the_output() {
    let crew = Crew::new();
    let go = crew.home.join("go");
    let script = format!(
        "echo step one; while [ ! -e {} ]; do sleep 0.05; done; echo step two; sleep 60",
        go.display()
    );
    let (id, _) = crew.bg(&[&script]);
    wait_for("the first summary", || {
        crew.session(&id)["summary"] == "step one"
    });
    std::fs::write(&go, "").unwrap();
    wait_for("the summary to follow", || {
        crew.session(&id)["summary"] == "step two"
    });
}

#[test]
fn printed_pull_request_urls_are_recorded() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&[
        "echo 'opened https://github.com/acme/rocket/pull/12'; seq 1 300; echo 'and https://gitlab.com/g/p/-/merge_requests/7'",
    ]);
    let mut prs = serde_json::Value::Null;
    wait_for("both PRs", || {
        prs = crew.session(&id)["prs"].clone();
        prs.as_array().is_some_and(|a| a.len() == 2)
    });
    assert_eq!(prs[0]["url"], "https://github.com/acme/rocket/pull/12");
    assert_eq!(prs[0]["number"], 12);
    assert_eq!(prs[0]["repo"], "acme/rocket");
    assert_eq!(prs[0]["color"], "grey");
    assert_eq!(prs[1]["number"], 7);
}

#[test]
fn a_loop_sleeps_between_runs_and_runs_again() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["--every", "1s", "echo loop run"]);
    let mut s = serde_json::Value::Null;
    wait_for("the first run to end", || {
        s = crew.session(&id);
        s["process"] == "sleeping"
    });
    assert_eq!(s["state"], "completed");
    assert_eq!(s["loop"]["every_s"], 1);
    assert!(s["loop"]["next_at"].is_string(), "{s}");
    wait_for("a second run", || {
        crew.session(&id)["loop"]["runs"].as_u64() >= Some(2)
    });
    assert!(crew.ok(&["logs", &id]).matches("loop run").count() >= 2);
    wait_for("it to sleep again", || {
        crew.session(&id)["process"] == "sleeping"
    });
    crew.ok(&["stop", &id]);
    let s = crew.wait_state(&id, "stopped");
    assert_eq!(s["process"], "exited");
    assert_eq!(s["loop"]["next_at"], serde_json::Value::Null);
    let out = crew.run(&["--bg", "--every", "soon", "echo x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

#[test]
fn without_a_model_the_summary_is_the_question_else_the_title_else_the_last_line() {
    let crew = Crew::new();
    let (plain, _) = crew.bg(&["printf 'Compiled 12 crates\\n╭──────╮\\n│ ⠋    │\\n'; sleep 60"]);
    let (titled, _) =
        crew.bg(&["printf '\\033]2;⠂ Fixing the tests\\007'; echo some line; sleep 60"]);
    let (asking, _) =
        crew.bg(&["printf '\\033]2;A title\\007\\033]9;Run the migration?\\007'; sleep 60"]);
    for (id, summary) in [
        (&plain, "Compiled 12 crates"),
        (&titled, "Fixing the tests"),
        (&asking, "Run the migration?"),
    ] {
        wait_for(&format!("the summary '{summary}'"), || {
            crew.session(id)["summary"] == summary
        });
    }
}
