//! Row summaries (SPEC 9): written by the Messages API (a stub on 127.0.0.1 here), by a
//! local `summary_command`, or extracted locally; never more often than the interval allows,
//! never for a session that did not change, and a failure keeps the last one.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::http::{Request, Response, Stub};
use support::view::{find_row, open, select};
use support::*;

const KEY: &str = "sk-ant-test-7f3a9c1e-do-not-log";

/// The Messages API's answer carrying `text`.
fn answer(text: &str) -> Response {
    Response::json(
        200,
        serde_json::json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [{ "type": "text", "text": text }],
            "stop_reason": "end_turn",
        }),
    )
}

/// A crew whose supervisor asks `stub` for summaries, with `settings` in its config.
fn crew_with_api(stub: &Stub, settings: &str) -> Crew {
    let mut crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!("default_agent = \"shell\"\nsummary_model = \"haiku-test\"\n{settings}"),
    )
    .unwrap();
    crew.set_env("ANTHROPIC_API_KEY", KEY);
    crew.set_env("ANTHROPIC_BASE_URL", &stub.url);
    crew
}

/// The requests that summarised the session dispatched with `prompt`.
fn about(stub: &Stub, prompt: &str) -> Vec<Request> {
    let task = format!("Task: {prompt}\n");
    stub.requests()
        .into_iter()
        .filter(|r| {
            r.json()["messages"][0]["content"]
                .as_str()
                .is_some_and(|c| c.contains(&task))
        })
        .collect()
}

fn log(crew: &Crew) -> String {
    std::fs::read_to_string(crew.home.join("daemon/supervisor.log")).unwrap_or_default()
}

#[test]
fn the_messages_api_writes_the_summary_shown_in_ls_and_the_view() {
    let stub = Stub::start(|_| answer("Counting sheep, three so far"));
    let crew = crew_with_api(&stub, "");
    let prompt = "echo counting sheep one two three; sleep 60";
    let (id, name) = crew.bg(&["-n", "sheep", prompt]);
    wait_for("the model's summary", || {
        crew.session(&id)["summary"] == "Counting sheep, three so far"
    });
    let request = about(&stub, prompt).into_iter().next().expect("a request");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert!(request.header("anthropic-version").is_some());
    let body = request.json();
    assert_eq!(body["model"], "haiku-test");
    let content = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        content.contains("counting sheep one two three"),
        "{content}"
    );
    assert!(content.contains("Agent: shell"), "{content}");
    assert!(content.contains("State: "), "{content}");

    let mut view = open(&crew, 24, 100);
    view.wait_for("the summary in the row", |s| {
        find_row(s, &name).is_some_and(|r| {
            support::terminal::row_text(s, r).contains("Counting sheep, three so far")
        })
    });
    // The peek panel shows it above the screen it was written from.
    select(&mut view, &name);
    view.send(b" ");
    view.wait_for("the summary in the peek panel", |s| {
        s.contents().contains("» Counting sheep, three so far")
            && s.contents().contains("counting sheep one two three")
    });
    view.send(support::view::ESC);
    view.wait_for("the peek panel closed", |s| {
        !s.contents().contains("» Counting")
    });
    support::view::leave(&mut view);
    let peek = crew.ok(&["peek", &id]);
    assert!(peek.contains("\n» Counting sheep, three so far"), "{peek}");
    assert!(!log(&crew).contains(KEY));
}

#[test]
fn the_summary_of_a_turn_end_is_in_the_attach_recap() {
    let stub = Stub::start(|r| {
        let content = r.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if content.contains("State: needs_input") {
            answer("Asks whether to deploy")
        } else {
            answer("Getting ready")
        }
    });
    let crew = crew_with_api(&stub, "");
    let (id, name) =
        crew.bg(&["echo deploy is ready; printf '\\033]9;Deploy now?\\007'; sleep 60"]);
    crew.wait_state(&id, "needs_input");
    wait_for("the turn end's summary", || {
        crew.session(&id)["summary"] == "Asks whether to deploy"
    });
    let mut term = support::terminal::Terminal::attach(&crew, &id, 24, 80);
    term.wait_for("the recap with the summary", |s| {
        let text = s.contents();
        text.contains(&name) && text.contains("needs input  Asks whether to deploy")
    });
    term.send(b"x");
    term.send(b"\x1c");
    term.expect_exit(0);
}

#[test]
fn failures_keep_the_last_summary_and_never_log_the_key() {
    let stub = Stub::start(|_| answer("First look"));
    let crew = crew_with_api(
        &stub,
        "summary_interval = \"1s\"\nsummary_timeout = \"1s\"\n",
    );
    // Always working: a new line every 100 ms.
    let prompt = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done";
    let (id, _) = crew.bg(&[prompt]);
    wait_for("the first summary", || {
        crew.session(&id)["summary"] == "First look"
    });

    let failures: [(&str, Response); 3] = [
        ("HTTP 500", Response::status(500)),
        ("HTTP 429", Response::status(429).header("retry-after", "1")),
        (
            "timed out",
            answer("Too late").delayed(Duration::from_secs(3)),
        ),
    ];
    for (said, response) in failures {
        let before = stub.requests().len();
        stub.answer(move |_| response.clone());
        wait_for(&format!("a request answered with {said}"), || {
            stub.requests().len() > before && log(&crew).contains(said)
        });
        assert_eq!(crew.session(&id)["summary"], "First look", "after {said}");
    }
    stub.answer(|_| answer("Second look"));
    wait_for("a summary once the API is back", || {
        crew.session(&id)["summary"] == "Second look"
    });
    let log = log(&crew);
    assert!(log.contains("summary of"), "{log}");
    assert!(!log.contains(KEY), "the key is in the log: {log}");
}

#[test]
fn a_working_session_is_summarised_at_most_once_per_interval_and_a_quiet_one_not_at_all() {
    let n = Arc::new(Mutex::new(0));
    let counter = n.clone();
    let stub = Stub::start(move |_| {
        let mut n = counter.lock().unwrap();
        *n += 1;
        answer(&format!("Summary {n}"))
    });
    let crew = crew_with_api(&stub, "summary_interval = \"1s\"\nidle_after = \"1s\"\n");
    let go = crew.home.join("go");
    // Works (a line every 50 ms) until told to stop, then prints its result and waits.
    let busy = format!(
        "i=0; while [ ! -e {} ]; do i=$((i+1)); echo step $i; sleep 0.05; done; echo all done; sleep 60",
        go.display()
    );
    let quiet = "sleep 60";
    let (busy_id, _) = crew.bg(&[&busy]);
    let (quiet_id, _) = crew.bg(&[quiet]);
    wait_for("three summaries of the busy session", || {
        about(&stub, &busy).len() >= 3
    });
    std::fs::write(&go, "").unwrap();
    crew.wait_state(&busy_id, "idle");
    wait_for("a summary at the end of the turn", || {
        about(&stub, &busy).iter().any(|r| {
            let c = r.json()["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_string();
            c.contains("State: idle") && c.contains("all done")
        })
    });
    let working: Vec<Request> = about(&stub, &busy)
        .into_iter()
        .filter(|r| r.body.contains("State: working"))
        .collect();
    for pair in working.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(900),
            "two requests {gap:?} apart with a 1 s interval"
        );
    }
    // Nothing changes any more: no request for either session, however long it sits.
    let settled = about(&stub, &busy).len();
    assert!(!within(Duration::from_secs(3), || {
        about(&stub, &busy).len() > settled || !about(&stub, quiet).is_empty()
    }));
    assert_eq!(crew.session(&quiet_id)["state"], "idle");
    assert!(crew.session(&busy_id)["summary"]
        .as_str()
        .is_some_and(|s| s.starts_with("Summary ")));
}

#[test]
fn summary_command_pipes_the_screen_to_a_local_program() {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!(
            "default_agent = \"shell\"\nsummary_command = [\"sh\", \"{}\"]\n",
            fixture("summarize.sh")
        ),
    )
    .unwrap();
    let (id, _) = crew.bg(&["echo building the docs; sleep 60"]);
    let mut summary = String::new();
    wait_for("the program's summary", || {
        summary = crew.session(&id)["summary"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        summary.ends_with("building the docs")
    });
    // The program's first line: the session, the state it read, the last line on screen.
    assert!(summary.starts_with(&format!("{id} ")), "{summary}");
    assert!(
        summary.contains(" working: ") || summary.contains(" idle: "),
        "{summary}"
    );
}

#[test]
fn a_slow_api_never_holds_up_the_supervisor() {
    let stub = Stub::start(|_| answer("Slow but sure").delayed(Duration::from_secs(6)));
    let crew = crew_with_api(&stub, "");
    let (id, _) = crew.bg(&["echo waiting on a slow model; sleep 60"]);
    wait_for("the summary request", || !stub.requests().is_empty());
    let asked = stub.requests()[0].at;
    // While the request hangs, the supervisor answers, dispatches and lists as ever.
    let (other, _) = crew.bg(&["echo meanwhile; sleep 60"]);
    assert!(crew.ls().len() == 2);
    crew.ok(&["stop", &other]);
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "the supervisor waited for the model"
    );
    assert_ne!(crew.session(&id)["summary"], "Slow but sure");
    wait_for("the slow summary", || {
        crew.session(&id)["summary"] == "Slow but sure"
    });
}
