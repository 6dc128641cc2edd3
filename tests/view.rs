//! The agent view (SPEC 4), driven through a real terminal: `crew agents` runs in a PTY,
//! the test types keys and reads the screen back with vt100 (text, colours, inverse video
//! for the selection), and checks what the keys did to the sessions with `crew ls --json`.

mod support;

use std::time::{Duration, Instant};

use support::terminal::{row_text, Terminal};
use support::view::*;
use support::*;

const ENTER: &[u8] = b"\r";
const SHIFT_DOWN: &[u8] = b"\x1b[1;2B";
const CTRL_R: &[u8] = b"\x12";
const CTRL_S: &[u8] = b"\x13";
const CTRL_T: &[u8] = b"\x14";
const CTRL_U: &[u8] = b"\x15";
const CTRL_X: &[u8] = b"\x18";
const CTRL_BACKSLASH: &[u8] = b"\x1c";

const ROWS: u16 = 30;
const COLS: u16 = 120;

/// A crew whose prompts run in `sh` (and a second profile, `fake`, for the agent filter),
/// quick to call a quiet session idle.
fn crew() -> Crew {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        "default_agent = \"shell\"\nidle_after = \"1s\"\n\n[agents.fake]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n",
    )
    .unwrap();
    crew
}

/// Dispatches `command` as session `name` in the crew's home (never a git checkout).
fn dispatch(crew: &Crew, name: &str, command: &str) -> String {
    let home = crew.home.to_string_lossy().into_owned();
    dispatch_with(crew, name, command, &["-C", &home])
}

/// Dispatches with extra flags (which must include `-C DIR`).
fn dispatch_with(crew: &Crew, name: &str, command: &str, extra: &[&str]) -> String {
    let mut args = vec!["-n", name];
    args.extend_from_slice(extra);
    args.push(command);
    let (id, got) = crew.bg(&args);
    assert_eq!(got, name, "the session got the name asked for");
    id
}

/// A session that prints all the time: `working`.
const BUSY: &str = "while :; do echo compiling step; sleep 0.2; done";
/// A session that prints once and waits: `idle` a second later.
const QUIET: &str = "echo waiting here; exec sleep 60";

/// The icon cell of session `name`'s row.
fn icon(s: &vt100::Screen, name: &str) -> Option<vt100::Cell> {
    find_row(s, name).and_then(|r| s.cell(r, 2).cloned())
}

fn has_icon(s: &vt100::Screen, name: &str, glyph: &str, color: vt100::Color) -> bool {
    icon(s, name).is_some_and(|c| c.contents() == glyph && c.fgcolor() == color)
}

fn listed(crew: &Crew, id: &str) -> bool {
    crew.ls().iter().any(|s| s["id"] == id)
}

#[test]
fn every_state_shows_in_its_group_with_its_icon_and_colour() {
    let crew = crew();
    let working = dispatch(&crew, "busy", BUSY);
    let asking = dispatch(
        &crew,
        "asking",
        "printf '\\033]9;Proceed?\\007'; exec sleep 60",
    );
    let ringing = dispatch(&crew, "ringing", &format!("sh {}", fixture("bell.sh")));
    let idle = dispatch(&crew, "resting", QUIET);
    let done = dispatch(&crew, "finished", "echo all good; exit 0");
    let done_alive = dispatch(
        &crew,
        "reported",
        "crew report completed; echo reported done; exec sleep 60",
    );
    let failed = dispatch(&crew, "broke", "echo oops; exit 3");
    let stopped = dispatch(&crew, "halted", QUIET);
    crew.wait_state(&working, "working");
    crew.wait_state(&asking, "needs_input");
    crew.wait_state(&ringing, "needs_input");
    crew.wait_state(&idle, "idle");
    crew.wait_state(&done, "completed");
    crew.wait_state(&done_alive, "completed");
    crew.wait_state(&failed, "failed");
    crew.ok(&["stop", &stopped]);
    crew.wait_state(&stopped, "stopped");

    let mut term = open(&crew, ROWS, COLS);
    use vt100::Color::{Default, Idx};
    let expected: &[(&str, &str, &str, vt100::Color)] = &[
        ("busy", "Working", "✽", Idx(6)),
        ("asking", "Needs input", "✻", Idx(3)),
        ("ringing", "Needs input", "✻", Idx(3)),
        ("resting", "Completed", "✻", Default),
        ("finished", "Completed", "∙", Idx(2)),
        ("reported", "Completed", "✻", Idx(2)),
        ("broke", "Completed", "∙", Idx(1)),
        ("halted", "Completed", "∙", Idx(8)),
    ];
    term.wait_for("every session in its group with its icon", |s| {
        expected.iter().all(|(name, group, glyph, color)| {
            group_of(s, name).as_deref() == Some(*group) && has_icon(s, name, glyph, *color)
        })
    });
    let s = term.screen();
    assert!(
        icon(&s, "resting").unwrap().dim(),
        "an idle icon is dim:\n{}",
        term.framed()
    );
    // Needing you first: the groups come in SPEC order.
    let order: Vec<u16> = ["Needs input", "Working", "Completed"]
        .iter()
        .map(|t| header_row(&s, t).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", term.framed());
    // The question is what the needs-input row says; the failure says why.
    assert!(
        row_text(&s, find_row(&s, "asking").unwrap()).contains("Proceed?"),
        "{}",
        term.framed()
    );
    assert!(
        row_text(&s, find_row(&s, "ringing").unwrap()).contains("double jump or wall climb?"),
        "{}",
        term.framed()
    );
    assert!(
        row_text(&s, find_row(&s, "broke").unwrap()).contains("exit code 3"),
        "{}",
        term.framed()
    );
    // The selected row is drawn in inverse video across the whole width.
    let r = selected_row(&s).unwrap_or_else(|| panic!("nothing selected:\n{}", term.framed()));
    assert!(
        (0..COLS).all(|c| s.cell(r, c).is_some_and(|c| c.inverse())),
        "row {r} is not inverse across the width:\n{}",
        term.framed()
    );
    assert_eq!(
        table(&s)
            .filter(|&r| s.cell(r, 5).is_some_and(|c| c.inverse()))
            .count(),
        1,
        "one row is selected"
    );
    // The header counts sessions per state.
    let header = row_text(&s, 0);
    for count in [
        "1 working",
        "2 needs input",
        "1 idle",
        "2 completed",
        "1 failed",
        "1 stopped",
    ] {
        assert!(header.contains(count), "header {header:?} lacks {count:?}");
    }
    leave(&mut term);
}

#[test]
fn space_peeks_and_a_reply_there_reaches_the_agent() {
    let crew = crew();
    let other = dispatch(&crew, "other", QUIET);
    let id = dispatch(&crew, "asker", &format!("sh {}", fixture("notify.sh")));
    crew.wait_state(&id, "needs_input");
    crew.wait_state(&other, "idle");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("both rows", |s| shows(s, "asker") && shows(s, "other"));
    select(&mut term, "asker");
    term.send(b" ");
    // The panel: its title, the question first, then the tail of the session's screen.
    term.wait_for("the peek panel", |s| {
        let text = s.contents();
        let title =
            table(s).find(|&r| row_text(s, r).starts_with("─ asker · needs input · shell ─"));
        let question = title.and_then(|t| {
            (t + 1..rows(s) - 3).find(|&r| row_text(s, r).contains("double jump or wall climb?"))
        });
        question.is_some()
            && text.contains("step 1 done")
            && input(s).starts_with("reply to asker › ")
    });

    term.send(b"wall climb");
    term.wait_for("the reply typed", |s| {
        input(s) == "reply to asker › wall climb"
    });
    term.send(ENTER);
    term.wait_for("the reply sent", |s| status(s).contains("Sent to asker"));
    wait_for("the agent to get the reply", || {
        crew.ok(&["peek", &id]).contains("you chose: wall climb")
    });
    wait_for("the session to move on from needs_input", || {
        crew.session(&id)["state"] != "needs_input"
    });
    // The panel follows: the answer shows in its tail, the question is gone.
    term.wait_for("the peek to show the answer", |s| {
        s.contents().contains("you chose: wall climb")
            && !s.contents().contains("─ asker · needs input")
    });
    assert_eq!(
        crew.session(&other)["state"],
        "idle",
        "the reply went to another session"
    );

    // Esc closes the peek (the view stays); Esc again leaves.
    term.send(ESC);
    term.wait_for("the peek closed", |s| {
        input(s).starts_with("› ") && !s.contents().contains("─ asker ·")
    });
    assert!(term.running(), "Esc with the peek open left the view");
    leave(&mut term);
}

#[test]
fn enter_attaches_and_the_detach_key_comes_back_to_the_same_row() {
    let crew = crew();
    let first = dispatch(&crew, "first", "echo first screen; exec sleep 60");
    let second = dispatch(&crew, "second", "echo second screen marker; exec sleep 60");
    crew.wait_state(&first, "idle");
    crew.wait_state(&second, "idle");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("both rows", |s| shows(s, "first") && shows(s, "second"));
    // The one that is not selected at first, so coming back to it means something.
    let s = term.screen();
    let target = if selected_name(&s).as_deref() == Some("first") {
        "second"
    } else {
        "first"
    };
    select(&mut term, target);
    term.send(ENTER);
    term.wait_for("the session's own screen", |s| {
        s.contents().contains(&format!("{target} screen"))
            && !row_text(s, 0).starts_with("crew 0.1.0")
    });
    wait_for("the view's client to be attached", || {
        let id = if target == "first" { &first } else { &second };
        crew.session(id)["attached"] == 1
    });

    term.send(CTRL_BACKSLASH);
    term.wait_for("the view again, on the same row", |s| {
        row_text(s, 0).starts_with("crew 0.1.0")
            && status(s).contains(&format!("Detached from {target}"))
            && selected_name(s).as_deref() == Some(target)
    });
    assert!(term.running());

    // → attaches too.
    term.send(b"\x1b[C");
    term.wait_for("the session's screen after →", |s| {
        s.contents().contains(&format!("{target} screen"))
            && !row_text(s, 0).starts_with("crew 0.1.0")
    });
    term.send(CTRL_BACKSLASH);
    term.wait_for("the view after the second detach", |s| {
        status(s).contains(&format!("Detached from {target}"))
            && selected_name(s).as_deref() == Some(target)
    });

    // Alt+2 attaches to the second session of the current group, whichever is selected.
    let s = term.screen();
    let rows_in_group = names_in_order(&s);
    assert_eq!(rows_in_group.len(), 2, "{}", term.framed());
    let second_row = rows_in_group[1].clone();
    select(&mut term, &rows_in_group[0]);
    term.send(b"\x1b2");
    term.wait_for("the second session's screen after Alt+2", |s| {
        s.contents().contains(&format!("{second_row} screen"))
            && !row_text(s, 0).starts_with("crew 0.1.0")
    });
    term.send(CTRL_BACKSLASH);
    term.wait_for("the view after Alt+2 and a detach", |s| {
        status(s).contains(&format!("Detached from {second_row}"))
            && selected_name(s).as_deref() == Some(second_row.as_str())
    });
    leave(&mut term);
}

#[test]
fn ctrl_t_pins_and_the_pin_survives_a_restart() {
    let crew = crew();
    let a = dispatch(&crew, "alpha", QUIET);
    let b = dispatch(&crew, "beta", QUIET);
    crew.wait_state(&a, "idle");
    crew.wait_state(&b, "idle");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("both rows", |s| shows(s, "alpha") && shows(s, "beta"));
    select(&mut term, "beta");
    term.send(CTRL_T);
    term.wait_for("beta in Pinned", |s| {
        group_of(s, "beta").as_deref() == Some("Pinned")
            && group_of(s, "alpha").as_deref() == Some("Completed")
            && header_row(s, "Pinned") == Some(1)
    });
    wait_for("the pin to be stored", || {
        crew.session(&b)["pinned"] == true
    });
    assert_eq!(crew.session(&a)["pinned"], false);
    leave(&mut term);

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("beta still in Pinned", |s| {
        group_of(s, "beta").as_deref() == Some("Pinned")
    });
    // Ctrl+T again unpins.
    select(&mut term, "beta");
    term.send(CTRL_T);
    term.wait_for("beta back in Completed", |s| {
        group_of(s, "beta").as_deref() == Some("Completed") && header_row(s, "Pinned").is_none()
    });
    wait_for("the unpin to be stored", || {
        crew.session(&b)["pinned"] == false
    });
    leave(&mut term);
}

#[test]
fn ctrl_r_renames() {
    let crew = crew();
    let id = dispatch(&crew, "oldname", QUIET);
    crew.wait_state(&id, "idle");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the row", |s| shows(s, "oldname"));
    select(&mut term, "oldname");
    term.send(CTRL_R);
    term.wait_for("the rename line with the name typed", |s| {
        input(s) == "rename oldname › oldname"
    });
    term.send(CTRL_U);
    term.wait_for("the name cleared", |s| input(s) == "rename oldname ›");
    term.send(b"newname");
    term.wait_for("the new name typed", |s| {
        input(s) == "rename oldname › newname"
    });
    term.send(ENTER);
    term.wait_for("the row renamed", |s| {
        shows(s, "newname") && !shows(s, "oldname") && input(s).starts_with("› ")
    });
    wait_for("the new name to be stored", || {
        crew.session(&id)["name"] == "newname"
    });

    // Esc while renaming cancels it.
    term.send(CTRL_R);
    term.wait_for("the rename line", |s| {
        input(s).starts_with("rename newname › ")
    });
    term.send(b"zzz");
    term.wait_for("text typed", |s| input(s).ends_with("zzz"));
    term.send(ESC);
    term.wait_for("the rename cancelled", |s| input(s).starts_with("› "));
    assert!(term.running(), "Esc while renaming left the view");
    assert_eq!(crew.session(&id)["name"], "newname");
    leave(&mut term);
}

#[test]
fn shift_down_reorders_within_the_group_and_the_order_survives_a_restart() {
    let crew = crew();
    let ids: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|n| dispatch(&crew, n, QUIET))
        .collect();
    for id in &ids {
        crew.wait_state(id, "idle");
    }

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("three rows", |s| names_in_order(s).len() == 3);
    let before = names_in_order(&term.screen());
    let top = before[0].clone();
    select(&mut term, &top);
    term.send(SHIFT_DOWN);
    let after = vec![before[1].clone(), before[0].clone(), before[2].clone()];
    term.wait_for("the first row moved down one", |s| {
        names_in_order(s) == after && selected_name(s).as_deref() == Some(top.as_str())
    });
    let moved = &ids[["one", "two", "three"]
        .iter()
        .position(|n| *n == top)
        .unwrap()];
    wait_for("the order to be stored", || {
        crew.session(moved)["order"] == 1
    });
    leave(&mut term);

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the same order after a restart", |s| {
        names_in_order(s) == after
    });
    leave(&mut term);
}

#[test]
fn ctrl_s_groups_by_directory_and_the_choice_survives_a_restart() {
    let crew = crew();
    let (dir_a, dir_b) = (crew.home.join("proj-a"), crew.home.join("proj-b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let (dir_a, dir_b) = (
        dir_a.to_string_lossy().into_owned(),
        dir_b.to_string_lossy().into_owned(),
    );
    let a = dispatch_with(&crew, "in-a", QUIET, &["-C", &dir_a]);
    let b = dispatch_with(&crew, "in-b", "exit 0", &["-C", &dir_b]);
    crew.wait_state(&a, "idle");
    crew.wait_state(&b, "completed");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("grouped by state", |s| {
        group_of(s, "in-a").as_deref() == Some("Completed")
            && group_of(s, "in-b").as_deref() == Some("Completed")
    });
    term.send(CTRL_S);
    term.wait_for("grouped by directory", |s| {
        group_of(s, "in-a").as_deref() == Some(dir_a.as_str())
            && group_of(s, "in-b").as_deref() == Some(dir_b.as_str())
    });
    wait_for("view.json to say dir", || {
        std::fs::read_to_string(crew.home.join("view.json")).is_ok_and(|t| t.contains("\"dir\""))
    });
    leave(&mut term);

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("still grouped by directory", |s| {
        group_of(s, "in-a").as_deref() == Some(dir_a.as_str())
            && group_of(s, "in-b").as_deref() == Some(dir_b.as_str())
    });
    // Ctrl+S again: back to states, and that persists too.
    term.send(CTRL_S);
    term.wait_for("grouped by state again", |s| {
        group_of(s, "in-a").as_deref() == Some("Completed")
    });
    wait_for("view.json to say state", || {
        std::fs::read_to_string(crew.home.join("view.json")).is_ok_and(|t| t.contains("\"state\""))
    });
    leave(&mut term);
}

#[test]
fn ctrl_x_stops_and_twice_within_two_seconds_deletes() {
    let crew = crew();
    let victim = dispatch(&crew, "victim", QUIET);
    let doomed = dispatch(&crew, "doomed", QUIET);
    crew.wait_state(&victim, "idle");
    crew.wait_state(&doomed, "idle");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("both rows", |s| shows(s, "victim") && shows(s, "doomed"));
    select(&mut term, "victim");
    term.send(CTRL_X);
    term.wait_for("the stop message", |s| {
        status(s).contains("Stopping victim · Ctrl+X again within 2 s deletes it")
    });
    crew.wait_state(&victim, "stopped");
    term.wait_for("the row stopped", |s| {
        has_icon(s, "victim", "∙", vt100::Color::Idx(8))
    });
    assert!(listed(&crew, &victim), "one Ctrl+X deleted the session");

    select(&mut term, "doomed");
    let start = Instant::now();
    term.send(CTRL_X);
    term.wait_for("the stop message", |s| {
        status(s).contains("Stopping doomed")
    });
    term.send(CTRL_X);
    assert!(start.elapsed() < Duration::from_secs(2), "too slow to test");
    wait_for("the session to be deleted", || !listed(&crew, &doomed));
    term.wait_for("the row gone", |s| {
        !shows(s, "doomed") && shows(s, "victim")
    });
    assert!(listed(&crew, &victim));
    leave(&mut term);
}

#[test]
fn ctrl_x_on_a_group_header_asks_then_deletes_the_whole_group() {
    let crew = crew();
    let keep = dispatch(&crew, "keeper", BUSY);
    let gone: Vec<String> = ["done-one", "done-two", "done-three"]
        .iter()
        .map(|n| dispatch(&crew, n, "exit 0"))
        .collect();
    crew.wait_state(&keep, "working");
    for id in &gone {
        crew.wait_state(id, "completed");
    }

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the groups", |s| {
        header_row(s, "Completed").is_some() && shows(s, "keeper") && shows(s, "done-three")
    });
    select_header(&mut term, "Completed");
    // Anything but y keeps them.
    term.send(CTRL_X);
    term.wait_for("the question", |s| {
        status(s).starts_with("Delete 3 sessions in Completed") && status(s).contains("y to delete")
    });
    term.send(b"n");
    term.wait_for("nothing deleted", |s| status(s).contains("Nothing deleted"));
    assert_eq!(crew.ls().len(), 4);

    term.send(CTRL_X);
    term.wait_for("the question again", |s| {
        status(s).starts_with("Delete 3 sessions in Completed")
    });
    term.send(b"y");
    wait_for("the group's sessions to be deleted", || {
        let left: Vec<_> = crew.ls().into_iter().map(|s| s["id"].clone()).collect();
        left == [serde_json::json!(keep)]
    });
    term.wait_for("the group gone", |s| {
        header_row(s, "Completed").is_none() && shows(s, "keeper")
    });
    leave(&mut term);
}

#[test]
fn state_and_agent_filters_apply_as_you_type() {
    let crew = crew();
    let busy = dispatch(&crew, "busy", BUSY);
    let asking = dispatch(
        &crew,
        "asking",
        "printf '\\033]9;Proceed?\\007'; exec sleep 60",
    );
    let resting = dispatch(&crew, "resting", QUIET);
    let done = dispatch(&crew, "done", "exit 0");
    let faked = dispatch_with(
        &crew,
        "faked",
        "exit 0",
        &["--agent", "fake", "-C", &crew.home.to_string_lossy()],
    );
    crew.wait_state(&busy, "working");
    crew.wait_state(&asking, "needs_input");
    crew.wait_state(&resting, "idle");
    crew.wait_state(&done, "completed");
    crew.wait_state(&faked, "completed");
    let all = ["busy", "asking", "resting", "done", "faked"];

    let mut term = open(&crew, ROWS, COLS);
    let only =
        |s: &vt100::Screen, want: &[&str]| all.iter().all(|n| shows(s, n) == want.contains(n));
    term.wait_for("every row", |s| only(s, &all));

    term.send(b"s:blocked");
    term.wait_for("only what waits on you", |s| {
        only(s, &["asking", "resting"])
    });
    term.send(CTRL_U);
    term.wait_for("every row again", |s| only(s, &all));

    term.send(b"s:work");
    term.wait_for("only the working one, as typed", |s| only(s, &["busy"]));
    term.send(b"ing");
    term.wait_for("only the working one", |s| only(s, &["busy"]));
    // Enter on a filter does not dispatch it.
    term.send(ENTER);
    term.send(CTRL_U);
    term.wait_for("every row again", |s| only(s, &all));
    assert_eq!(crew.ls().len(), 5, "Enter on a filter dispatched");

    term.send(b"a:fake");
    term.wait_for("only the fake agent's", |s| only(s, &["faked"]));
    term.send(CTRL_U);
    term.send(b"a:shell");
    term.wait_for("only the shell agent's", |s| {
        only(s, &["busy", "asking", "resting", "done"])
    });
    term.send(CTRL_U);
    term.send(b"a:nobody");
    term.wait_for("nothing", |s| {
        only(s, &[]) && s.contents().contains("no session matches the filter")
    });
    // Esc clears the input (and the filter) before it leaves.
    term.send(ESC);
    term.wait_for("every row after Esc", |s| {
        only(s, &all) && input(s).starts_with("› ")
    });
    assert!(term.running(), "Esc with text typed left the view");
    leave(&mut term);
}

#[test]
fn hash_number_selects_the_session_with_that_pr() {
    let crew = crew();
    let seven = dispatch(&crew, "pr-seven", "echo https://github.com/o/r/pull/7");
    let twelve = dispatch(&crew, "pr-twelve", "echo https://github.com/o/r/pull/12");
    let plain = dispatch(&crew, "no-pr", QUIET);
    for (id, n) in [(&seven, 7), (&twelve, 12)] {
        wait_for(&format!("PR {n} to be recorded"), || {
            crew.session(id)["prs"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["number"] == n))
        });
    }
    crew.wait_state(&plain, "idle");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the rows with their PR dots", |s| {
        ["pr-seven", "pr-twelve"].iter().all(|n| {
            find_row(s, n)
                .and_then(|r| s.cell(r, COLS - 1))
                .is_some_and(|c| c.contents() == "●" && c.fgcolor() == vt100::Color::Idx(8))
        }) && shows(s, "no-pr")
    });
    // Start away from it.
    select(&mut term, "no-pr");
    term.send(b"#12");
    term.wait_for("#12 typed", |s| input(s) == "› #12");
    term.send(ENTER);
    term.wait_for("pr-twelve selected and the input cleared", |s| {
        selected_name(s).as_deref() == Some("pr-twelve") && !input(s).contains("#12")
    });
    term.send(b"#7\r");
    term.wait_for("pr-seven selected", |s| {
        selected_name(s).as_deref() == Some("pr-seven")
    });
    term.send(b"#99\r");
    term.wait_for("no such PR", |s| {
        status(s).contains("no session is working on that pull request")
            && selected_name(s).as_deref() == Some("pr-seven")
    });
    assert_eq!(crew.ls().len(), 3, "#N dispatched a session");
    // The dot is a terminal hyperlink (OSC 8) to its PR.
    let out = String::from_utf8_lossy(&term.output()).into_owned();
    assert!(
        out.contains("\x1b]8;;https://github.com/o/r/pull/12"),
        "no hyperlink to the PR in the output"
    );
    leave(&mut term);
}

#[test]
fn a_pr_printed_by_a_session_waiting_for_input_gets_its_dot() {
    // The default idle_after: the session asks, prints its PR, and waits for the answer.
    let crew = Crew::new();
    let id = dispatch(
        &crew,
        "pr-asks",
        "printf '\\033]9;Merge it?\\007'; echo https://github.com/o/r/pull/5; exec sleep 60",
    );
    crew.wait_state(&id, "needs_input");
    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the PR dot on the row", |s| {
        find_row(s, "pr-asks")
            .and_then(|r| s.cell(r, COLS - 1))
            .is_some_and(|c| c.contents() == "●")
    });
    assert_eq!(crew.session(&id)["prs"][0]["number"], 5);
    leave(&mut term);
}

#[test]
fn question_mark_shows_the_help_and_slash_model_shows_in_the_header() {
    let crew = crew();
    let id = dispatch(&crew, "helped", QUIET);
    crew.wait_state(&id, "idle");

    let mut term = open(&crew, 40, COLS);
    term.wait_for("the row", |s| shows(s, "helped"));
    term.send(b"?");
    term.wait_for("the help", |s| {
        let text = s.contents();
        [
            "Keys",
            "Ctrl+T",
            "pin / unpin",
            "Ctrl+X",
            "Shift+↑ ↓",
            "s:STATE",
            "/model NAME",
        ]
        .iter()
        .all(|k| text.contains(k))
            && text.contains("On helped: Enter attaches")
            && !shows(s, "helped")
    });
    term.send(ESC);
    term.wait_for("the table again", |s| {
        shows(s, "helped") && !s.contents().contains("pin / unpin")
    });
    assert!(term.running(), "Esc in the help left the view");

    term.send(b"/model opus");
    term.wait_for("typed", |s| input(s) == "› /model opus");
    term.send(ENTER);
    term.wait_for("the model in the header", |s| {
        row_text(s, 0).starts_with("crew 0.1.0 · model opus (session) · ")
            && input(s).starts_with("› ")
    });
    assert_eq!(crew.ls().len(), 1, "/model dispatched a session");

    // `?` with text typed is text.
    term.send(b"why?");
    term.wait_for("a question mark typed", |s| input(s) == "› why?");
    term.send(CTRL_U);
    term.send(b"/exit\r");
    term.expect_exit(0);
    term.assert_restored();
}

#[test]
fn typing_a_prompt_dispatches_it_in_the_views_directory() {
    let crew = crew();
    let mut term = open(&crew, ROWS, COLS);
    term.wait_text("no sessions yet");
    term.send(b"abc\r");
    term.wait_for("Too short", |s| status(s).contains("Too short"));
    assert!(crew.ls().is_empty(), "a 3-character prompt was dispatched");
    term.send(CTRL_U);
    term.wait_for("the input cleared", |s| !input(s).contains("abc"));

    term.send(b"echo made by the view; exec sleep 60");
    term.send(ENTER);
    wait_for("the session", || crew.ls().len() == 1);
    let s = &crew.ls()[0];
    assert_eq!(s["agent"], "shell");
    assert_eq!(
        std::fs::canonicalize(s["cwd"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(&crew.home).unwrap()
    );
    let name = s["name"].as_str().unwrap().to_string();
    term.wait_for("the new row, selected", |s| {
        selected_name(s).as_deref() == Some(name.as_str()) && input(s).starts_with("› ")
    });
    let id = s["id"].as_str().unwrap().to_string();
    let ok = within(DEADLINE, || {
        crew.ok(&["peek", &id]).contains("made by the view")
    });
    assert!(ok, "{}\n{}", crew.ok(&["peek", &id]), crew.session(&id));

    // Shift+Enter (as a CSI u terminal sends it) dispatches and attaches at once.
    term.send(b"echo shifted and attached; exec sleep 60");
    term.wait_for("the prompt typed", |s| input(s).ends_with("exec sleep 60"));
    term.send(b"\x1b[13;2u");
    term.wait_for("the new session's screen", |s| {
        s.contents().contains("shifted and attached") && !row_text(s, 0).starts_with("crew 0.1.0")
    });
    assert_eq!(crew.ls().len(), 2);
    term.send(CTRL_BACKSLASH);
    term.wait_for("the view, on the new session", |s| {
        status(s).contains("Detached from echo-shifted")
            && selected_name(s).is_some_and(|n| n.starts_with("echo-shifted"))
    });
    leave(&mut term);
}

#[test]
fn thirty_completed_sessions_fold_and_a_failure_stays_visible() {
    let crew = crew();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(dispatch(&crew, &format!("ok-{i:02}"), "exit 0"));
    }
    let failed = dispatch(&crew, "the-failure", "exit 4");
    for id in &ids {
        crew.wait_state(id, "completed");
    }
    crew.wait_state(&failed, "failed");

    let mut term = open(&crew, 40, COLS);
    term.wait_for("the fold row", |s| {
        table(s).any(|r| row_text(s, r) == "    … 25 more")
            && header_row(s, "Completed").is_some()
            && shows(s, "the-failure")
    });
    let s = term.screen();
    let shown = names_in_order(&s)
        .into_iter()
        .filter(|n| n.starts_with("ok-"))
        .count();
    assert_eq!(shown, 5, "five completed rows stay:\n{}", term.framed());
    assert!(
        row_text(&s, header_row(&s, "Completed").unwrap()).ends_with("  31"),
        "the header counts every row:\n{}",
        term.framed()
    );
    // Enter on the fold row shows them all.
    select_row(&mut term, "the fold row", |s| {
        table(s).find(|&r| row_text(s, r).starts_with("    … "))
    });
    term.send(ENTER);
    term.wait_for("the folded rows", |s| {
        !s.contents().contains("… 25 more") && shows(s, "ok-00") && shows(s, "ok-29")
    });
    leave(&mut term);
}

/// Whether a row's name column shows `name`, whole or cut short with `…`.
fn name_fits(shown: &str, name: &str) -> bool {
    shown == name
        || shown
            .strip_suffix('…')
            .is_some_and(|start| !start.is_empty() && name.starts_with(start))
}

/// Every row of the screen is a line of its own: nothing wrapped onto the next row, each
/// session row has its icon at column 2, its name (maybe cut short) and its age at the
/// right edge on the same row, and the header and input rows are in place.
fn no_wrapping(s: &vt100::Screen, names: &[&str]) -> Result<(), String> {
    let cols = s.size().1.get();
    if let Some(r) = (0..rows(s)).find(|&r| s.row_wrapped(r)) {
        return Err(format!("row {r} wrapped"));
    }
    if !row_text(s, 0).starts_with("crew 0.1.0") {
        return Err("no header on the first row".into());
    }
    if !input(s).starts_with("› ") {
        return Err("the input is not on the second last row".into());
    }
    let mut sessions = Vec::new();
    for r in table(s) {
        let text = row_text(s, r);
        if text.is_empty() || text.starts_with("▾ ") || text.starts_with("    … ") {
            continue;
        }
        let icon = s
            .cell(r, 2)
            .map(|c| c.contents().to_string())
            .unwrap_or_default();
        if !text.starts_with("  ") || !["✽", "✻", "∙", "✢"].contains(&icon.as_str()) {
            return Err(format!("row {r} is not a table line: {text:?}"));
        }
        let age = s.contents_between(r, cols - 8, r, cols - 4);
        let age = age.trim();
        let digits = age.trim_end_matches(['s', 'm', 'h', 'd']);
        if digits.is_empty() || digits.len() == age.len() || digits.parse::<u32>().is_err() {
            return Err(format!("row {r} has no age at the right edge: {text:?}"));
        }
        sessions.push(text.split_whitespace().nth(1).unwrap_or("").to_string());
    }
    if sessions.len() != names.len() {
        return Err(format!(
            "{} session rows, expected {}",
            sessions.len(),
            names.len()
        ));
    }
    for name in names {
        if !sessions.iter().any(|shown| name_fits(shown, name)) {
            return Err(format!("{name} is not shown"));
        }
    }
    Ok(())
}

#[test]
fn wide_and_narrow_terminals_render_without_wrapping() {
    let crew = crew();
    let long = "a long question that goes on and on ".repeat(12);
    let asking = dispatch(
        &crew,
        "a-rather-long-session-name-here",
        &format!("crew report needs_input --message '{long}'; exec sleep 60"),
    );
    let busy = dispatch(&crew, "busy", BUSY);
    let pr = dispatch(&crew, "with-pr", "echo https://github.com/o/r/pull/3");
    let failed = dispatch(&crew, "failing", &format!("echo {long}; exit 2"));
    crew.wait_state(&asking, "needs_input");
    crew.wait_state(&busy, "working");
    crew.wait_state(&failed, "failed");
    wait_for("the PR", || {
        crew.session(&pr)["prs"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    });
    let names = [
        "a-rather-long-session-name-here",
        "busy",
        "with-pr",
        "failing",
    ];

    for cols in [300, 40] {
        let mut term = open(&crew, 24, cols);
        let mut last = Ok(());
        let fine = within(DEADLINE, || {
            last = no_wrapping(&term.screen(), &names);
            last.is_ok()
        });
        assert!(
            fine,
            "{cols} columns: {}:\n{}",
            last.unwrap_err(),
            term.framed()
        );
        // The PR dot is at the right edge.
        let s = term.screen();
        let r = find_row(&s, "with-pr").unwrap();
        assert_eq!(
            s.cell(r, cols - 1).unwrap().contents(),
            "●",
            "{cols} columns:\n{}",
            term.framed()
        );
        // Resizing keeps it so, both ways.
        let other = if cols == 300 { 40 } else { 300 };
        term.resize(24, other);
        let fine = within(DEADLINE, || {
            let s = term.screen();
            last = no_wrapping(&s, &names);
            last.is_ok()
                && find_row(&s, "with-pr")
                    .and_then(|r| s.cell(r, other - 1))
                    .is_some_and(|c| c.contents() == "●")
        });
        assert!(
            fine,
            "resized from {cols} to {other} columns: {:?}:\n{}",
            last,
            term.framed()
        );
        leave(&mut term);
    }
}

#[test]
fn escape_sequences_in_session_data_are_drawn_harmlessly() {
    let crew = crew();
    // A question and a failure reason that carry a title change, a colour, a screen clear
    // and a cursor move: all of it comes from the session, none of it may reach the
    // terminal as a sequence.
    let evil = "x\x1b]2;pwned\x07\x1b[31mRED\x1b[2J\x1b[Hgotcha";
    let asking = dispatch(
        &crew,
        "evil-question",
        &format!("crew report needs_input --message '{evil}'; exec sleep 60"),
    );
    let failing = dispatch(
        &crew,
        "evil-reason",
        &format!("crew report failed --message '{evil}'; exit 1"),
    );
    // A window title with a C1 control (U+009B, a one-character CSI to some terminals).
    let titled = dispatch(
        &crew,
        "evil-title",
        "printf '\\033]2;t\\302\\2331mTITLE\\007'; exec sleep 60",
    );
    crew.wait_state(&asking, "needs_input");
    crew.wait_state(&failing, "failed");
    wait_for("the title to be recorded", || {
        crew.session(&titled)["title"]
            .as_str()
            .is_some_and(|t| t.contains('\u{9b}'))
    });
    assert!(
        crew.session(&asking)["question"]
            .as_str()
            .is_some_and(|q| q.contains('\x1b')),
        "the question kept its escapes: the test would test nothing"
    );

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("both rows with their text, escapes removed", |s| {
        ["evil-question", "evil-reason"].iter().all(|n| {
            find_row(s, n).is_some_and(|r| row_text(s, r).contains("x]2;pwned[31mRED[2J[Hgotcha"))
        }) && find_row(s, "evil-title").is_some_and(|r| row_text(s, r).contains("t1mTITLE"))
    });
    // Peek both: the panel title, the question and the reply label.
    select(&mut term, "evil-question");
    term.send(b" ");
    term.wait_for("the peek with the question", |s| {
        s.contents().contains("─ evil-question · needs input")
            && (1..rows(s) - 3).any(|r| row_text(s, r).trim() == "x]2;pwned[31mRED[2J[Hgotcha")
    });
    select(&mut term, "evil-reason");
    term.wait_for("the peek of the other", |s| {
        s.contents().contains("─ evil-reason · failed")
    });
    term.send(ESC);
    term.wait_for("the peek closed", |s| input(s).starts_with("› "));

    let out = term.output();
    let text = String::from_utf8_lossy(&out);
    for bad in [
        "\x1b]2;pwned",
        "\x1b[31mRED",
        "\x1b[2J\x1b[Hgotcha",
        "\x07\x1b[31m",
        "\u{9b}",
    ] {
        assert!(
            !text.contains(bad),
            "the view wrote {bad:?} from session data to the terminal"
        );
    }
    let s = term.screen();
    // No stray effects: the header and both rows are where they belong, nothing is red but
    // what the view colours (the failed icon and reason), and "RED" is plain text.
    assert!(
        row_text(&s, 0).starts_with("crew 0.1.0"),
        "{}",
        term.framed()
    );
    let r = find_row(&s, "evil-question").unwrap();
    let text = row_text(&s, r);
    let col = text
        .find("RED")
        .map(|b| text[..b].chars().count() as u16)
        .unwrap();
    assert_ne!(
        s.cell(r, col).unwrap().fgcolor(),
        vt100::Color::Idx(1),
        "the injected colour took effect:\n{}",
        term.framed()
    );
    leave(&mut term);
}

#[test]
fn crew_demo_shows_every_state_within_a_few_seconds() {
    let crew = crew();
    let start = Instant::now();
    let mut term = Terminal::crew(&crew, &["demo"], 30, 120);
    use vt100::Color::Idx;
    let mut last = String::new();
    let ok = within(Duration::from_secs(15), || {
        let s = term.screen();
        let checks = [
            ("demo-build", "Working", Some(("✽", Idx(6)))),
            ("demo-migrate", "Needs input", Some(("✻", Idx(3)))),
            ("demo-tests", "Completed", Some(("∙", Idx(2)))),
            ("demo-deploy", "Completed", Some(("∙", Idx(1)))),
            ("demo-pr", "Completed", None),
        ];
        for (name, group, icon) in checks {
            if group_of(&s, name).as_deref() != Some(group) {
                last = format!("{name} not in {group}");
                return false;
            }
            if let Some((glyph, color)) = icon {
                if !has_icon(&s, name, glyph, color) {
                    last = format!("{name} has no {glyph} in {color:?}");
                    return false;
                }
            }
        }
        let dot = find_row(&s, "demo-pr")
            .and_then(|r| s.cell(r, 119))
            .is_some_and(|c| c.contents() == "●");
        if !dot {
            last = "demo-pr has no PR dot".into();
        }
        dot
    });
    assert!(ok, "{last} after {:?}:\n{}", start.elapsed(), term.framed());
    let s = term.screen();
    assert!(
        row_text(&s, find_row(&s, "demo-migrate").unwrap())
            .contains("Apply the migration to staging?"),
        "{}",
        term.framed()
    );
    // Whatever else the demo shows, every session it made has a row.
    for session in crew.ls() {
        let name = session["name"].as_str().unwrap();
        assert!(shows(&s, name), "{name} has no row:\n{}", term.framed());
    }
    leave(&mut term);
}

#[test]
fn esc_and_sigterm_restore_the_terminal() {
    let crew = crew();
    let id = dispatch(&crew, "survivor", QUIET);
    crew.wait_state(&id, "idle");

    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the row", |s| shows(s, "survivor"));
    assert!(
        term.alternate_screen(),
        "the view is on the alternate screen"
    );
    assert!(term.raw_mode(), "the view puts the terminal in raw mode");
    leave(&mut term);

    // `crew` alone is the view too.
    let mut term = Terminal::crew(&crew, &[], ROWS, COLS);
    term.wait_for("the view from `crew` alone", |s| {
        row_text(s, 0).starts_with("crew 0.1.0") && shows(s, "survivor")
    });
    term.signal(libc::SIGTERM);
    term.wait_status();
    term.assert_restored();
    // Leaving the view leaves the sessions running.
    let s = crew.session(&id);
    assert_eq!(s["process"], "alive", "{s}");
}

#[test]
fn a_disabled_agent_view_refuses_saying_how_to_turn_it_back_on() {
    let crew = crew();
    for args in [&["agents"][..], &["--bg", "echo hello"][..], &[][..]] {
        let out = crew
            .command(args)
            .env("CREW_DISABLE_AGENT_VIEW", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "crew {args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "crew {args:?}: one line: {err:?}");
        assert!(
            err.starts_with("crew: ")
                && err.contains("CREW_DISABLE_AGENT_VIEW")
                && err.contains("turn it back on"),
            "crew {args:?}: {err}"
        );
    }
    assert!(crew.ls().is_empty(), "--bg dispatched while disabled");

    // The same from config.toml.
    std::fs::write(crew.home.join("config.toml"), "disable_agent_view = true\n").unwrap();
    for args in [&["agents"][..], &["--bg", "echo hello"][..]] {
        let err = crew.fails(args);
        assert_eq!(err.lines().count(), 1, "crew {args:?}: one line: {err:?}");
        assert!(
            err.contains("disable_agent_view") && err.contains("turn it back on"),
            "crew {args:?}: {err}"
        );
    }
    assert!(crew.ls().is_empty(), "--bg dispatched while disabled");
}

#[test]
fn enter_on_a_group_header_collapses_it_and_the_flags_set_grouping_and_model() {
    let crew = crew();
    let a = dispatch(&crew, "alpha", QUIET);
    crew.wait_state(&a, "idle");
    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("alpha", |s| shows(s, "alpha"));
    select_header(&mut term, "Completed");
    term.send(ENTER);
    term.wait_for("the group collapsed", |s| {
        header_row(s, "Completed").is_some_and(|r| row_text(s, r).starts_with("▸ Completed  1"))
            && !shows(s, "alpha")
    });
    leave(&mut term);
    // Collapsed groups are remembered.
    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("still collapsed", |s| {
        header_row(s, "Completed").is_some_and(|r| row_text(s, r).starts_with("▸ "))
            && !shows(s, "alpha")
    });
    select_header(&mut term, "Completed");
    term.send(ENTER);
    term.wait_for("expanded again", |s| shows(s, "alpha"));
    leave(&mut term);

    // `--group dir` groups by directory and is remembered; `--model` shows in the header.
    let mut term = Terminal::crew(
        &crew,
        &["agents", "--group", "dir", "--model", "opus"],
        ROWS,
        COLS,
    );
    let dir = crew.home.to_string_lossy().into_owned();
    term.wait_for("the directory group and the model", |s| {
        let header = row_text(s, 0);
        header.contains("model opus")
            && !header.contains("(session)")
            && group_of(s, "alpha").is_some_and(|g| g.ends_with(dir.trim_start_matches('/')))
    });
    leave(&mut term);
    let settings = std::fs::read_to_string(crew.home.join("view.json")).unwrap();
    assert!(settings.contains("\"dir\""), "{settings}");
}

#[test]
fn a_reply_to_an_ended_session_restarts_it_when_its_profile_can_resume() {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        "default_agent = \"shell\"\n[agents.fake]\ncommand = [\"sh\", \"-c\", \"echo first run\"]\n\
         resume = [\"sh\", \"-c\", \"echo resumed; read line; echo got $line; exec sleep 60\"]\n",
    )
    .unwrap();
    let home = crew.home.to_string_lossy().into_owned();
    let id = dispatch_with(&crew, "resumable", "go", &["--agent", "fake", "-C", &home]);
    crew.wait_state(&id, "completed");

    // From the peek panel.
    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the row", |s| shows(s, "resumable"));
    select(&mut term, "resumable");
    term.send(b" ");
    term.wait_for("the peek", |s| {
        input(s).starts_with("reply to resumable › ")
    });
    term.send(b"from the view\r");
    wait_for("the resumed agent to get the reply", || {
        crew.ok(&["logs", &id]).contains("got from the view")
    });
    assert_eq!(crew.session(&id)["process"], "alive");
    term.send(ESC);
    term.wait_for("the peek closed", |s| input(s).starts_with("› "));
    leave(&mut term);

    // And from the command line.
    crew.ok(&["stop", &id]);
    crew.wait_state(&id, "stopped");
    crew.ok(&["reply", &id, "from the cli"]);
    wait_for("the reply after a restart", || {
        crew.ok(&["logs", &id]).contains("got from the cli")
    });
}

#[test]
fn the_view_reconnects_after_the_supervisor_crashes() {
    let crew = crew();
    let a = dispatch(&crew, "before", QUIET);
    crew.wait_state(&a, "idle");
    let mut term = open(&crew, ROWS, COLS);
    term.wait_for("the row", |s| shows(s, "before"));
    let sup = crew.supervisor_pid().expect("the supervisor's pid");
    unsafe { libc::kill(sup, libc::SIGKILL) };
    wait_for("the supervisor to die", || !alive(sup as i64));
    // The next command starts a new supervisor; the view finds it and shows what it knows.
    dispatch(&crew, "after", QUIET);
    term.wait_for("both sessions, from the new supervisor", |s| {
        shows(s, "before") && shows(s, "after") && !row_text(s, 0).contains("connecting")
    });
    assert!(term.running());
    leave(&mut term);
}

/// `/model` in the view reaches the agent through its profile's model flag, and the peek
/// panel names the agent and model the reply goes to.
#[test]
fn a_model_chosen_in_the_view_reaches_the_agent_and_shows_in_the_peek() {
    let crew = Crew::new();
    // `env MODEL=<model> sh -c <prompt>`: the model flag goes right after the program.
    std::fs::write(
        crew.home.join("config.toml"),
        "default_agent = \"modelled\"\nidle_after = \"1s\"\n\n[agents.modelled]\n\
         command = [\"env\", \"sh\", \"-c\", \"{prompt}\"]\nmodel = [\"MODEL={model}\"]\n",
    )
    .unwrap();
    let mut term = open(&crew, ROWS, COLS);
    term.send(b"/model opus-9");
    term.send(ENTER);
    term.wait_for("the model in the header", |s| {
        row_text(s, 0).contains("model opus-9 (session)")
    });
    term.send(b"echo model is $MODEL; exec sleep 60");
    term.send(ENTER);
    wait_for("the session", || crew.ls().len() == 1);
    let id = crew.ls()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(crew.session(&id)["model"], "opus-9");
    wait_for("the agent to see its model", || {
        crew.ok(&["peek", &id]).contains("model is opus-9")
    });
    term.wait_for("the row", |s| {
        find_row(s, "echo-model-is-model-exec").is_some()
    });
    select(&mut term, "echo-model-is-model-exec");
    term.send(b" ");
    term.wait_for("the peek title with agent and model", |s| {
        table(s).any(|r| {
            row_text(s, r).starts_with("─ echo-model-is-model-exec · ")
                && row_text(s, r).contains("· modelled opus-9 ─")
        })
    });
    term.send(ESC);
    term.wait_for("the peek closed", |s| {
        !s.contents().contains("─ echo-model-is-model-exec · ")
    });
    leave(&mut term);
}
