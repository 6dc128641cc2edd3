//! Signals from agents without hooks and what profiles add (SPEC 2 "Where a state comes
//! from", 4 "The dispatch input", 6): title and screen rules with their debounce and their
//! rank, prompt delivery by typing, loop sessions, skills, the view's dispatch prefixes, and
//! bad rules in `config.toml`. (Bells and OSC 9 notifications are in `tests/states.rs`.)

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::terminal::Terminal;
use support::view::*;
use support::*;

/// A crew with `config.toml` = the shell as default agent, idle after 1 s of quiet, and `rest`.
fn crew_with(rest: &str) -> Crew {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!("default_agent = \"shell\"\nidle_after = \"1s\"\n\n{rest}"),
    )
    .unwrap();
    crew
}

fn home(crew: &Crew) -> String {
    crew.home.to_string_lossy().into_owned()
}

/// `crew --bg -C <home> <args>` (never in a git checkout); returns the id.
fn bg(crew: &Crew, args: &[&str]) -> String {
    let home = home(crew);
    let mut all = vec!["-C", home.as_str()];
    all.extend_from_slice(args);
    crew.bg(&all).0
}

/// Runs a fixture script through the `fake` profile (`sh -c {prompt}`), with the crew's home
/// as its first argument (where the test drops its gate files).
fn fake(crew: &Crew, script: &str) -> String {
    let command = format!("sh {} {}", fixture(script), home(crew));
    bg(crew, &["--agent", "fake", &command])
}

fn logs(crew: &Crew, id: &str) -> String {
    crew.ok(&["logs", id])
}

/// Waits until `crew ls` shows session `id` satisfying `cond`; returns the listed session.
/// (The host's `state.json` lags what it pushes to the supervisor; the supervisor never lets
/// that older file step a live session back, which the tests that check a state holds rely
/// on.)
fn settled(crew: &Crew, id: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let mut s = Value::Null;
    wait_for(what, || {
        s = crew.session(id);
        cond(&s)
    });
    s
}

fn touch(path: PathBuf) {
    std::fs::write(path, "").unwrap();
}

/// The `fake` profile: runs its prompt with `sh -c`, and reads no hooks.
const FAKE: &str = "[agents.fake]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n";

/// A title rule: a Braille spinner at the start of the window title means working.
const SPINNER_RULE: &str = r#"
[[agents.fake.title]]
pattern = "^[\u2800-\u28ff]"
state = "working"
"#;

/// A screen rule: `Allow this?` on the bottom of the screen means the agent asks.
const ALLOW_RULE: &str = r#"
[[agents.fake.screen]]
pattern = "Allow this\\?"
state = "needs_input"
"#;

#[test]
fn a_spinner_title_keeps_a_quiet_agent_working_until_it_goes() {
    let crew = crew_with(&format!("{FAKE}{SPINNER_RULE}"));
    let id = fake(&crew, "signals_title.sh");
    let mut s = settled(&crew, &id, "the title to decide the state", |s| {
        s["state_source"] == "title"
    });
    assert_eq!(s["state"], "working", "{s}");
    assert_eq!(s["title"], "\u{280b} Thinking", "{s}");
    // The agent prints nothing while it thinks: quiet for longer than idle_after (1 s) would
    // make it idle, but the spinner says working.
    let moved = within(Duration::from_millis(2500), || {
        s = crew.session(&id);
        s["state"] != "working" || s["state_source"] != "title"
    });
    assert!(
        !moved,
        "a quiet agent with a spinner title stopped working: {s}"
    );

    // A plain title matches no rule: output activity decides again, idle once quiet.
    touch(crew.home.join("plain"));
    wait_for("the agent to finish thinking", || {
        logs(&crew, &id).contains("done thinking")
    });
    let s = crew.wait_state(&id, "idle");
    assert_eq!(s["state_source"], "activity", "{s}");
    assert_eq!(s["title"], "fake: done", "{s}");
}

#[test]
fn screen_rules_read_the_bottom_of_the_screen_once_it_settles() {
    let crew = crew_with(&format!(
        "{FAKE}{ALLOW_RULE}
[[agents.fake.screen]]
pattern = \"esc to interrupt\"
state = \"working\"
"
    ));
    let id = fake(&crew, "signals_screen.sh");
    // A status line that says it works keeps it working while it prints nothing.
    let mut s = settled(&crew, &id, "the working screen rule", |s| {
        s["state_source"] == "screen"
    });
    assert_eq!(s["state"], "working", "{s}");
    let moved = within(Duration::from_millis(2500), || {
        s = crew.session(&id);
        s["state"] != "working" || s["state_source"] != "screen"
    });
    assert!(
        !moved,
        "a quiet agent whose screen says it works stopped working: {s}"
    );

    // The question on the screen: needs input, and the question is that line, trimmed.
    touch(crew.home.join("ask"));
    let s = crew.wait_state(&id, "needs_input");
    assert_eq!(s["state_source"], "screen", "{s}");
    assert_eq!(s["question"], "Allow this? [y/n]", "{s}");

    // The answer clears it away: no rule matches, activity decides again.
    crew.ok(&["reply", &id, "y"]);
    wait_for("the agent to read the answer", || {
        logs(&crew, &id).contains("you chose: y")
    });
    wait_for("the question to be gone", || {
        let s = crew.session(&id);
        s["state"] == "idle" && s["state_source"] == "activity" && s["question"].is_null()
    });
}

#[test]
fn a_spinner_title_outranks_a_question_on_the_screen() {
    let crew = crew_with(&format!("{FAKE}{SPINNER_RULE}{ALLOW_RULE}"));
    let id = fake(&crew, "signals_ranks.sh");
    let mut s = settled(&crew, &id, "the title to decide the state", |s| {
        s["state_source"] == "title"
    });
    // Quiet for much longer than the debounce (300 ms): the screen rule matches, but a title
    // is the stronger signal.
    let moved = within(Duration::from_millis(1500), || {
        s = crew.session(&id);
        s["state"] != "working" || s["state_source"] != "title"
    });
    assert!(!moved, "a screen rule replaced a title rule: {s}");

    // The title lets go: the screen rule is what is left.
    touch(crew.home.join("plain"));
    let s = crew.wait_state(&id, "needs_input");
    assert_eq!(s["state_source"], "screen", "{s}");
    assert_eq!(s["question"], "Allow this? [y/n]", "{s}");
}

#[test]
fn a_screen_flickering_inside_the_debounce_does_not_flip_the_state() {
    let crew = crew_with(&format!(
        "[agents.fake]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\ndebounce = \"400ms\"\n{ALLOW_RULE}"
    ));
    let id = fake(&crew, "signals_flicker.sh");
    let still = crew.home.join("still");
    wait_for("the flicker to start", || {
        crew.home.join("flickering").exists()
    });
    // Every 50 ms the bottom line changes, for about 2 s: never quiet for 400 ms.
    let start = Instant::now();
    let mut samples = 0;
    while !still.exists() {
        let s = crew.session(&id);
        assert!(
            s["state"] != "needs_input" && s["state_source"] != "screen",
            "the state flipped while the screen flickered (sample {samples}, {:?} in): {s}",
            start.elapsed()
        );
        samples += 1;
        assert!(start.elapsed() < DEADLINE, "the flicker never stopped");
    }
    assert!(samples >= 10, "only {samples} samples during the flicker");

    // It stops on the question: needs input once the screen has been still for 400 ms.
    let mut s = Value::Null;
    wait_for("the question, after the debounce", || {
        s = crew.session(&id);
        s["state"] == "needs_input"
    });
    let quiet = SystemTime::now()
        .duration_since(std::fs::metadata(&still).unwrap().modified().unwrap())
        .unwrap_or_default();
    assert!(
        quiet >= Duration::from_millis(380),
        "needs_input came {quiet:?} after the last output, before the 400 ms debounce"
    );
    assert_eq!(s["state_source"], "screen", "{s}");
    assert_eq!(s["question"], "Allow this?", "{s}");
}

#[test]
fn a_typed_prompt_waits_for_the_prompt_marker() {
    let crew = crew_with(&format!(
        "[agents.typer]\ncommand = [\"python3\", \"{}\"]\nprompt = \"type\"\n",
        fixture("signals_typed.py")
    ));
    let id = bg(&crew, &["--agent", "typer", "fix the flaky test"]);
    wait_for("the typed prompt to reach the agent", || {
        logs(&crew, &id).contains("got: fix the flaky test")
    });
    let text = logs(&crew, &id);
    assert!(
        !text.contains("early input"),
        "the prompt was typed before the marker showed:\n{text}"
    );
    // Typed once: the terminal's echo at the marker, and the agent's answer.
    assert_eq!(
        text.matches("fix the flaky test").count(),
        2,
        "the prompt should show once at `> ` and once after `got:`:\n{text}"
    );
    assert!(text.contains("> fix the flaky test"), "{text}");
    let s = crew.session(&id);
    assert_eq!(s["prompt"], "fix the flaky test");
    assert_eq!(s["process"], "alive", "{s}");
    assert_ne!(s["state"], "failed", "{s}");
}

#[test]
fn an_agent_that_never_shows_a_prompt_fails_the_dispatch() {
    let crew = crew_with(&format!(
        "[agents.mute]\ncommand = [\"sh\", \"{}\"]\nprompt = \"type\"\nready_timeout = \"1s\"\n",
        fixture("signals_nomarker.sh")
    ));
    let start = Instant::now();
    let id = bg(&crew, &["--agent", "mute", "hello there"]);
    let pid = crew.session(&id)["pid"].as_i64();
    let s = crew.wait_state(&id, "failed");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "failed {:?} after dispatch, before the 1 s ready_timeout: {s}",
        start.elapsed()
    );
    let reason = s["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("prompt not delivered:"),
        "reason {reason:?}: {s}"
    );
    assert_eq!(s["process"], "exited", "{s}");
    assert_eq!(s["pid"], Value::Null, "{s}");
    if let Some(pid) = pid {
        wait_for("the agent to be stopped", || !alive(pid));
    }
    let text = logs(&crew, &id);
    assert!(text.contains("fake agent 1.0 starting"), "{text}");
    assert!(
        !text.contains("hello there"),
        "the prompt was typed:\n{text}"
    );
}

/// (Sleeping between runs, `next_at`, stop while sleeping: also `tests/rows.rs`.)
#[test]
fn a_loop_runs_three_times_counting_and_stop_ends_it_for_good() {
    let crew = crew_with("");
    let runs_file = crew.home.join("runs");
    let runs = || {
        std::fs::read_to_string(&runs_file)
            .map(|t| t.lines().count() as u64)
            .unwrap_or(0)
    };
    let command = format!("echo run >> {}; sleep 0.3", runs_file.display());
    let id = bg(&crew, &["--every", "1s", &command]);
    let mut saw_a_run = false;
    let mut saw_sleeping = Vec::new();
    let mut s = Value::Null;
    wait_for("three runs, then sleep", || {
        let before = runs();
        s = crew.session(&id);
        let after = runs();
        let lp = &s["loop"];
        assert_eq!(lp["every_s"], 1, "{s}");
        match s["process"].as_str() {
            Some("sleeping") => {
                let n = lp["runs"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("loop.runs: {s}"));
                assert!(
                    before <= n && n <= after,
                    "sleeping after {before}..{after} runs, but loop.runs is {n}: {s}"
                );
                let next = lp["next_at"].as_str().unwrap_or_default();
                assert!(
                    next.len() >= 20 && next.contains('T'),
                    "next_at is not an RFC 3339 time while sleeping: {s}"
                );
                if saw_sleeping.last() != Some(&n) {
                    saw_sleeping.push(n);
                }
            }
            Some("alive") => {
                assert!(lp["next_at"].is_null(), "next_at while a run goes: {s}");
                saw_a_run = true;
            }
            _ => panic!("a loop session neither runs nor sleeps: {s}"),
        }
        s["process"] == "sleeping" && lp["runs"] == 3
    });
    assert!(saw_a_run, "never saw a run going (each takes 0.3 s)");
    assert_eq!(
        saw_sleeping.last(),
        Some(&3),
        "runs while sleeping: {saw_sleeping:?}"
    );

    crew.ok(&["stop", &id]);
    let s = crew.wait_state(&id, "stopped");
    assert_eq!(s["process"], "exited", "{s}");
    let done = runs();
    let counted = s["loop"]["runs"].clone();
    assert!(done >= 3, "{done} runs");
    // Longer than the interval: nothing runs again.
    let mut last = Value::Null;
    let again = within(Duration::from_millis(2500), || {
        last = crew.session(&id);
        runs() > done || last["loop"]["runs"] != counted || last["state"] != "stopped"
    });
    assert!(
        !again,
        "the loop went on after stop: {} runs (was {done}): {last}",
        runs()
    );
}

/// A project directory under the crew's home with `.crew/skills/<name>.md` = `text`.
fn project_with_skill(crew: &Crew, name: &str, text: &str) -> PathBuf {
    let dir = crew.home.join("proj");
    std::fs::create_dir_all(dir.join(".crew/skills")).unwrap();
    std::fs::write(dir.join(".crew/skills").join(format!("{name}.md")), text).unwrap();
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn skill_prompts_come_from_the_project_first_then_crew_home() {
    let crew = crew_with("");
    let proj = project_with_skill(&crew, "hello", "echo skill-from-project\n\n  \n");
    std::fs::create_dir_all(crew.home.join("skills")).unwrap();
    std::fs::write(crew.home.join("skills/hello.md"), "echo skill-from-home\n").unwrap();
    let deeper = proj.join("src/deeper");
    let elsewhere = crew.home.join("elsewhere");
    std::fs::create_dir_all(&deeper).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();

    let (id, _) = crew.bg(&["-C", path(&proj), "--skill", "hello", "echo extra words"]);
    assert_eq!(
        crew.session(&id)["prompt"],
        "echo skill-from-project\n\necho extra words"
    );
    wait_for("the skill to run", || {
        let text = logs(&crew, &id);
        text.contains("skill-from-project") && text.contains("extra words")
    });
    // From a subdirectory, the nearest ancestor's skills; nothing appended without a rest.
    let (id, _) = crew.bg(&["-C", path(&deeper), "--skill", "hello"]);
    assert_eq!(crew.session(&id)["prompt"], "echo skill-from-project");
    // Outside the project: CREW_HOME/skills.
    let (id, _) = crew.bg(&[
        "-C",
        path(&elsewhere),
        "--skill",
        "hello",
        "echo extra words",
    ]);
    assert_eq!(
        crew.session(&id)["prompt"],
        "echo skill-from-home\n\necho extra words"
    );
    wait_for("the home skill to run", || {
        logs(&crew, &id).contains("skill-from-home")
    });

    let err = crew.fails(&["--bg", "-C", path(&proj), "--skill", "nope", "echo x"]);
    assert_eq!(
        err.trim_end(),
        format!(
            "crew: no skill named 'nope' (looked in .crew/skills and {}/skills)",
            crew.home.display()
        )
    );
    assert_eq!(crew.ls().len(), 3, "a missing skill dispatched something");
}

const ROWS: u16 = 30;
const COLS: u16 = 120;
const ENTER: &[u8] = b"\r";
const CTRL_U: &[u8] = b"\x15";

/// Clears whatever is typed, then leaves the view cleanly.
fn clear_and_leave(term: &mut Terminal) {
    term.send(CTRL_U);
    leave(term);
}

/// Types `text` into the view's input, checks it shows, and presses Enter.
fn dispatch_in_view(term: &mut Terminal, text: &str) {
    term.send(text.as_bytes());
    term.wait_for(&format!("{text:?} typed"), |s| {
        input(s) == format!("› {text}")
    });
    term.send(ENTER);
    // An empty input shows its placeholder after the `›`.
    term.wait_for("the input to clear", |s| {
        let line = input(s);
        line.starts_with("›") && !line.contains(text)
    });
}

/// Waits for the one session with `prompt` and returns it.
fn session_with_prompt(crew: &Crew, prompt: &str) -> Value {
    let mut found = Vec::new();
    wait_for(&format!("a session with prompt {prompt:?}"), || {
        found = crew
            .ls()
            .into_iter()
            .filter(|s| s["prompt"] == prompt)
            .collect();
        !found.is_empty()
    });
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn same_dir(a: &str, b: &Path) -> bool {
    std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
}

#[test]
fn the_view_dispatches_skills_loops_and_agent_prefixes() {
    // A user `codex` profile replaces the built-in, so no real codex is needed.
    let crew = crew_with("[agents.codex]\ncommand = [\"sh\", \"-c\", \"echo codex {prompt}\"]\n");
    let proj = project_with_skill(&crew, "hello", "echo skill-from-project\n");
    let mut term = open_in(&crew, &proj, ROWS, COLS);

    dispatch_in_view(&mut term, "/hello echo more-words");
    let s = session_with_prompt(&crew, "echo skill-from-project\n\necho more-words");
    assert_eq!(s["agent"], "shell", "{s}");
    assert!(same_dir(s["cwd"].as_str().unwrap(), &proj), "{s}");
    assert!(s["loop"].is_null(), "{s}");

    dispatch_in_view(&mut term, "/loop 2s echo looping");
    let s = session_with_prompt(&crew, "echo looping");
    assert_eq!(s["loop"]["every_s"], 2, "{s}");
    assert_eq!(s["agent"], "shell", "{s}");

    dispatch_in_view(&mut term, "@codex fix it");
    wait_for("the @codex session", || {
        crew.ls().iter().any(|s| s["agent"] == "codex")
    });
    dispatch_in_view(&mut term, "codex fix it");
    let mut codex = Vec::new();
    wait_for("two codex sessions", || {
        codex = crew
            .ls()
            .into_iter()
            .filter(|s| s["agent"] == "codex")
            .collect();
        codex.len() == 2
    });
    for s in &codex {
        assert_eq!(s["prompt"], "fix it", "{s}");
        let id = s["id"].as_str().unwrap();
        // The user's profile ran, not the built-in codex.
        wait_for("the user's codex command to run", || {
            logs(&crew, id).contains("codex fix it")
        });
    }
    assert_eq!(crew.ls().len(), 4, "{:?}", crew.ls());
    clear_and_leave(&mut term);
}

#[test]
fn tab_on_an_empty_input_browses_the_agent_profiles() {
    let crew = crew_with(FAKE);
    let mut term = open_in(&crew, &crew.home, ROWS, COLS);
    let profiles = ["shell", "claude", "codex", "aider", "gemini", "fake"];
    let picked = |s: &vt100::Screen| -> Option<String> {
        input(s)
            .strip_prefix("› @")
            .filter(|name| profiles.contains(name))
            .map(str::to_string)
    };
    term.send(b"\t");
    term.wait_for("a profile in the input", |s| picked(s).is_some());
    // Each Tab on `@<profile> ` moves to the next, through every profile and round again.
    let mut seen = vec![picked(&term.screen()).unwrap()];
    loop {
        let last = seen.last().unwrap().clone();
        term.send(b"\t");
        term.wait_for(&format!("the profile after {last}"), |s| {
            picked(s).is_some_and(|p| p != last)
        });
        let next = picked(&term.screen()).unwrap();
        if next == seen[0] {
            break;
        }
        assert!(!seen.contains(&next), "{next} again after {seen:?}");
        seen.push(next);
    }
    let mut all = seen.clone();
    all.sort();
    let mut expected = profiles.to_vec();
    expected.sort();
    assert_eq!(all, expected, "Tab went through {seen:?}");
    // `@<profile> ` with its space: typing goes on after it.
    term.send(b"x");
    term.wait_for("typing after the profile", |s| {
        input(s) == format!("› @{} x", seen[0])
    });
    assert!(crew.ls().is_empty(), "Tab dispatched something");
    clear_and_leave(&mut term);
}

#[test]
fn bad_title_and_screen_rules_are_one_line_errors_naming_file_line_and_key() {
    let cases = [
        (
            "screen",
            "pattern = \"(\"\nstate = \"needs_input\"\n",
            5,
            // (how a regex error reads is the product's choice)
            "",
        ),
        (
            "screen",
            "pattern = \"x\"\nstate = \"sleeping\"\n",
            6,
            "sleeping",
        ),
        (
            "title",
            "pattern = \"x\"\nstate = \"sleeping\"\n",
            6,
            "sleeping",
        ),
    ];
    for (table, body, line, word) in cases {
        let crew = Crew::new();
        let config =
            format!("[agents.fake]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n\n[[agents.fake.{table}]]\n{body}");
        std::fs::write(crew.home.join("config.toml"), &config).unwrap();
        let err = crew.fails(&["--bg", "-C", &home(&crew), "--agent", "fake", "echo x"]);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        let key = format!("agents.fake.{table}");
        for part in ["config.toml", &format!("line {line}:"), &key, word] {
            assert!(
                err.contains(part),
                "the error should name {part:?}: {err}\nconfig.toml:\n{config}"
            );
        }
        assert!(crew.ls().is_empty(), "a bad profile dispatched something");
    }
}

/// A screen question outranks nothing stronger, except a report that the agent is working:
/// a question on screen then means it needs you. After a reported turn end it changes
/// nothing.
#[test]
fn a_screen_question_beats_a_reported_working_but_not_a_reported_end() {
    let crew = crew_with(&format!("{FAKE}{ALLOW_RULE}"));
    let home = home(&crew);
    let (working, _) = crew.bg(&[
        "--agent",
        "fake",
        "-C",
        &home,
        "crew report working; echo 'Allow this? [y/n]'; exec sleep 60",
    ]);
    let s = settled(&crew, &working, "the screen question", |s| {
        s["state"] == "needs_input"
    });
    assert_eq!(s["state_source"], "screen", "{s}");
    assert_eq!(s["question"], "Allow this? [y/n]", "{s}");

    let (done, _) = crew.bg(&[
        "--agent",
        "fake",
        "-C",
        &home,
        "crew report completed; echo 'Allow this? [y/n]'; echo shown; exec sleep 60",
    ]);
    wait_for("the question on screen", || {
        crew.ok(&["peek", &done]).contains("shown")
    });
    // Longer than the debounce (300 ms): the rule has been read and changed nothing.
    assert!(
        !within(Duration::from_millis(1500), || crew.session(&done)["state"]
            != "completed"),
        "{}",
        crew.session(&done)
    );
    assert_eq!(crew.session(&done)["state_source"], "report");
}
