//! Broken files never stop crew (SPEC 1, 6): a truncated, garbage, future-version or missing
//! `state.json` lists that one session as `broken` with the reason and every other session
//! normally; a bad `config.toml` is a clear one-line error naming the file, line and key.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

/// Processes of sessions whose `state.json` the test broke: `Crew`'s clean-up finds them
/// through their state files, so they are killed here: hosts by pid, agents (session
/// leaders in their PTY) with their whole process group.
struct Reap {
    hosts: Vec<i64>,
    agents: Vec<i64>,
}

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in &self.agents {
            unsafe { libc::kill(-(*pid as i32), libc::SIGKILL) };
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
        for pid in &self.hosts {
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
    }
}

struct Broken {
    crew: Crew,
    /// `state.json` cut after 40 bytes.
    truncated: String,
    /// `state.json` overwritten with binary garbage.
    garbage: String,
    /// Left alone.
    good: String,
    _reap: Reap,
}

/// Three sessions that completed; two of them then get a broken `state.json`.
fn three_with_two_broken() -> Broken {
    three_with_two_broken_in(Crew::new())
}

fn three_with_two_broken_in(crew: Crew) -> Broken {
    let (truncated, _) = crew.bg(&["echo one"]);
    let (garbage, _) = crew.bg(&["echo two"]);
    let (good, _) = crew.bg(&["echo three"]);
    let mut hosts = Vec::new();
    for id in [&truncated, &garbage, &good] {
        let s = crew.wait_state(id, "completed");
        if id != &good {
            hosts.extend(s["host_pid"].as_i64());
        }
    }
    let reap = Reap {
        hosts,
        agents: Vec::new(),
    };
    let path = crew.job(&truncated).join("state.json");
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 40, "state.json is only {} bytes", bytes.len());
    std::fs::write(&path, &bytes[..40]).unwrap();
    let garbage_bytes: Vec<u8> = (0u32..512)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(crew.job(&garbage).join("state.json"), garbage_bytes).unwrap();
    Broken {
        crew,
        truncated,
        garbage,
        good,
        _reap: reap,
    }
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {list:?}"))
}

/// Asserts the exact broken shape `{"id", "state": "broken", "reason"}`; returns the reason.
fn broken_entry(list: &[Value], id: &str) -> String {
    let s = find(list, id);
    let obj = s.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "reason", "state"], "{id}: {s}");
    assert_eq!(s["state"], "broken", "{s}");
    let reason = s["reason"]
        .as_str()
        .expect("reason is a string")
        .to_string();
    assert!(!reason.is_empty(), "{s}");
    reason
}

/// The text row of `id` in `crew ls`.
fn text_row(ls: &str, id: &str) -> String {
    ls.lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("{id} has no row in crew ls:\n{ls}"))
        .to_string()
}

#[test]
fn ls_json_lists_broken_state_files_as_broken_and_the_rest_normally() {
    let b = three_with_two_broken();
    let list = b.crew.ls();
    assert_eq!(list.len(), 3, "{list:?}");

    let good = find(&list, &b.good);
    assert_eq!(good["state"], "completed", "{good}");
    assert!(
        good["name"].is_string() && good["created_at"].is_string(),
        "{good}"
    );

    let reason = broken_entry(&list, &b.truncated);
    assert!(
        reason.contains("truncated"),
        "reason for a truncated state.json: {reason}"
    );
    let reason = broken_entry(&list, &b.garbage);
    assert!(
        reason.contains("not valid JSON"),
        "reason for a state.json of binary garbage: {reason}"
    );
}

#[test]
fn ls_text_shows_broken_rows_with_their_reason() {
    // A home as long as a typical `/home/<user>/.crew` (19 characters), whatever the pid, so the
    // row has the same room for the reason on every run.
    let home = std::path::PathBuf::from(format!(
        "/tmp/ctx{:07}-txt",
        std::process::id() % 10_000_000
    ));
    assert_eq!(home.as_os_str().len(), 19);
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let b = three_with_two_broken_in(Crew::with_home(home));
    let ls = b.crew.ok(&["ls"]);
    let good = text_row(&ls, &b.good);
    assert!(good.contains("completed"), "{good}");
    for (id, why) in [(&b.truncated, "truncated"), (&b.garbage, "not valid JSON")] {
        let row = text_row(&ls, id);
        assert!(row.contains("broken"), "{row}");
        assert!(
            row.contains(why),
            "the row of a broken session should show why ({why}):\n{row}\nfull listing:\n{ls}"
        );
    }
}

#[test]
fn peek_at_a_broken_session_fails_with_one_line() {
    let b = three_with_two_broken();
    for id in [&b.truncated, &b.garbage] {
        let err = b.crew.fails(&["peek", id]);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        assert!(err.contains("broken"), "{err}");
        assert!(err.contains(id.as_str()), "{err}");
    }
    assert!(b.crew.ok(&["peek", &b.good]).contains("three"));
}

#[test]
fn a_future_version_or_a_missing_state_file_is_broken() {
    let crew = Crew::new();
    let (good, _) = crew.bg(&["echo one"]);
    crew.wait_state(&good, "completed");

    // A copy of a real state file from a crew far in the future.
    let future = "zzzzzzz2";
    let mut state: Value =
        serde_json::from_slice(&std::fs::read(crew.job(&good).join("state.json")).unwrap())
            .unwrap();
    state["version"] = 999.into();
    state["id"] = future.into();
    state["name"] = "from-the-future".into();
    state["pid"] = Value::Null;
    state["host_pid"] = Value::Null;
    state["host_start"] = Value::Null;
    std::fs::create_dir(crew.job(future)).unwrap();
    std::fs::write(
        crew.job(future).join("state.json"),
        serde_json::to_vec_pretty(&state).unwrap(),
    )
    .unwrap();
    // A session directory whose state file never got written.
    let missing = "yyyyyyy3";
    std::fs::create_dir(crew.job(missing)).unwrap();

    let list = crew.ls();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(find(&list, &good)["state"], "completed");
    let reason = broken_entry(&list, future);
    assert!(reason.contains("999"), "reason for version 999: {reason}");
    assert!(
        reason.contains("version"),
        "reason for version 999: {reason}"
    );
    let reason = broken_entry(&list, missing);
    assert!(
        reason.contains("missing"),
        "reason for no state.json: {reason}"
    );

    let ls = crew.ok(&["ls"]);
    assert!(text_row(&ls, &good).contains("completed"));
    assert!(text_row(&ls, future).contains("broken"));
    assert!(text_row(&ls, missing).contains("broken"));
    for id in [future, missing] {
        let err = crew.fails(&["peek", id]);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        assert!(err.contains("broken"), "{err}");
    }
}

#[test]
fn a_bad_config_is_a_one_line_error_naming_file_line_and_key() {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        "idle_reap = \"1h\"\ncolour = 3\n",
    )
    .unwrap();
    let err = crew.fails(&["--bg", "echo x"]);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    for word in ["config.toml", "line 2", "colour"] {
        assert!(err.contains(word), "the error should name {word}: {err}");
    }
    // Nothing was dispatched, and listing does not need the config.
    assert!(crew.ls().is_empty());
    assert!(crew.ok(&["ls"]).contains("no sessions"));
}

/// A running session whose `state.json` is then overwritten with garbage; returns its id,
/// host pid and agent pid, and the reaper for them.
fn running_then_broken(crew: &Crew) -> (String, i64, i64, Reap) {
    let (id, _) = crew.bg(&["sleep 60"]);
    let s = crew.session(&id);
    let host = s["host_pid"].as_i64().expect("host_pid");
    let agent = s["pid"].as_i64().expect("pid");
    let reap = Reap {
        hosts: vec![host],
        agents: vec![agent],
    };
    // The host's disk thread writes its first state.json a moment after the dispatch
    // returns; breaking the file before that write lands would see it repaired.
    wait_for("the host's own state.json", || {
        crew.state_file(&id)["pid"].as_i64() == Some(agent)
    });
    std::fs::write(crew.job(&id).join("state.json"), "garbage\n").unwrap();
    (id, host, agent, reap)
}

#[test]
fn daemon_stop_also_stops_a_running_session_whose_state_file_broke() {
    let crew = Crew::new();
    let (id, host, agent, _reap) = running_then_broken(&crew);
    broken_entry(&crew.ls(), &id);
    crew.ok(&["daemon", "stop"]);
    assert!(
        within(Duration::from_secs(5), || !alive(agent)),
        "crew daemon stop exited 0 but the agent {agent} of session {id} (broken state.json) still runs"
    );
    assert!(
        within(Duration::from_secs(5), || !alive(host)),
        "crew daemon stop exited 0 but the host {host} of session {id} still runs"
    );
}

#[test]
fn stop_of_a_running_session_whose_state_file_broke_stops_it_or_says_it_cannot() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["sleep 60"]);
    // A new supervisor, started after the file broke, has never seen this host.
    crew.ok(&["daemon", "stop", "--keep-workers"]);
    // The host's disk thread writes its pids a moment after the dispatch returns.
    let mut s = serde_json::Value::Null;
    wait_for("the host's state file", || {
        s = crew.state_file(&id);
        s["host_pid"].is_i64() && s["pid"].is_i64()
    });
    let host = s["host_pid"].as_i64().expect("host_pid");
    let agent = s["pid"].as_i64().expect("pid");
    let _reap = Reap {
        hosts: vec![host],
        agents: vec![agent],
    };
    std::fs::write(crew.job(&id).join("state.json"), "garbage\n").unwrap();
    broken_entry(&crew.ls(), &id);

    let out = crew.run(&["stop", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        assert!(
            within(Duration::from_secs(5), || !alive(agent)),
            "crew stop {id} exited 0 but the agent {agent} still runs"
        );
        assert!(
            within(Duration::from_secs(5), || !alive(host)),
            "crew stop {id} exited 0 but the host {host} still runs"
        );
    } else {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.starts_with("crew: ") && err.contains("broken"), "{err}");
    }
}

#[test]
fn an_unusable_crew_home_is_one_clear_error_and_changes_nothing() {
    let crew = Crew::new();
    // CREW_HOME names a file: nothing can be created under it.
    let file = crew.home.join("not-a-dir");
    std::fs::write(&file, "precious").unwrap();
    for args in [
        &["ls"][..],
        &["--bg", "echo hi"][..],
        &["daemon", "start"][..],
    ] {
        let out = crew.command(args).env("CREW_HOME", &file).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "crew {args:?}: {err}");
        assert!(
            err.starts_with("crew: ") && err.lines().count() == 1,
            "crew {args:?}: {err}"
        );
        assert!(
            err.contains("not-a-dir") && err.contains("Not a directory"),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}
