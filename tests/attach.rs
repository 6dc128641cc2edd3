//! Attach (SPEC 5), driven through a real terminal: `crew attach` and `crew new` run in a
//! PTY, the test types keys and reads the screen back with vt100, and compares it cell by
//! cell with what the host shows.

mod support;

use std::time::{Duration, Instant};

use support::terminal::{
    cells_equal, host_screen, raw_logs, replay, row_text, wait_same_screen, Terminal,
};
use support::*;

const CTRL_BACKSLASH: &[u8] = b"\x1c";

fn fullscreen() -> String {
    format!("python3 {}", fixture("fullscreen.py"))
}

fn prompt() -> String {
    format!("sh {}", fixture("prompt.sh"))
}

/// Dispatches the full-screen fake agent and waits until it has drawn (at the default
/// 24×80 of a session nobody attached to).
fn start_fullscreen(crew: &Crew) -> (String, String) {
    let (id, name) = crew.bg(&[&fullscreen()]);
    wait_for("the full-screen agent to draw", || {
        host_screen(crew, &id, 24, 80)
            .contents()
            .contains("size: 24x80")
    });
    (id, name)
}

/// Dispatches the prompt agent and waits for its prompt.
fn start_prompt(crew: &Crew) -> (String, String) {
    let (id, name) = crew.bg(&[&prompt()]);
    wait_for("the prompt", || crew.ok(&["peek", &id]).contains('>'));
    (id, name)
}

fn attached(crew: &Crew, id: &str) -> i64 {
    crew.session(id)["attached"].as_i64().unwrap_or(-1)
}

fn wait_attached(crew: &Crew, id: &str, n: i64) {
    wait_for(&format!("{n} attached client(s)"), || {
        attached(crew, id) == n
    });
}

/// The client detached: exit code 0, the terminal restored, and the detach line printed.
fn expect_detached(term: &mut Terminal, name: &str) {
    term.expect_exit(0);
    term.wait_text(&format!("[detached from {name}]"));
    term.assert_restored();
}

/// The session kept running after its client left, and was never signalled.
fn still_running(crew: &Crew, id: &str) {
    let s = crew.session(id);
    assert_eq!(s["process"], "alive", "{s}");
    assert!(
        ["working", "idle", "needs_input"].contains(&s["state"].as_str().unwrap_or("")),
        "{s}"
    );
    wait_attached(crew, id, 0);
}

/// The screen's lines with the frame around them (box drawing and spaces) trimmed.
fn boxed_lines(s: &vt100::Screen) -> Vec<String> {
    s.contents()
        .lines()
        .map(|l| l.trim_matches(|c| c == '│' || c == ' ').to_string())
        .collect()
}

/// Waits until the full-screen agent shows exactly `line` inside its box.
fn wait_line(term: &Terminal, line: &str) {
    term.wait_for(&format!("the line {line:?}"), |s| {
        boxed_lines(s).iter().any(|l| l == line)
    });
}

/// Waits until the host's screen (`rows`×`cols`) shows `needle`.
fn wait_host_text(crew: &Crew, id: &str, rows: u16, cols: u16, needle: &str) {
    wait_for(&format!("{needle:?} on the host's screen"), || {
        host_screen(crew, id, rows, cols)
            .contents()
            .contains(needle)
    });
}

/// The text a program wrote, without its OSC sequences (titles and the like).
fn visible_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut rest = &text[..];
    while let Some(start) = rest.find("\x1b]") {
        out.push_str(&rest[..start]);
        let osc = &rest[start..];
        let end = [
            osc.find('\x07').map(|i| i + 1),
            osc.find("\x1b\\").map(|i| i + 2),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(osc.len());
        rest = &osc[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn harness_runs_the_fullscreen_agent_in_a_plain_terminal() {
    // The fake agent itself, with no crew in between: what the attach tests rely on.
    let mut command = std::process::Command::new("python3");
    command.arg(fixture("fullscreen.py"));
    let mut term = Terminal::spawn(command, 24, 80);
    term.wait_text("size: 24x80");
    let s = term.screen();
    assert!(s.alternate_screen() && s.bracketed_paste() && s.application_cursor());
    assert!(term.raw_mode());
    assert_eq!(row_text(&s, 21), format!("│ >{}│", " ".repeat(76)));
    assert_eq!(s.cursor_position(), (21, 4));
    assert_eq!(s.cell(0, 1).unwrap().bgcolor(), vt100::Color::Idx(4));
    assert!(s.cell(0, 1).unwrap().bold());

    term.send(b"hi\x04");
    wait_line(&term, "typed: hi^D");
    term.send(b"\x03");
    term.wait_text("got SIGINT");
    term.send(b"\x1b[200~abc\x1c def\x1b[201~");
    term.wait_text("paste: abc^\\ def");
    term.send(b"\x1bOD");
    term.wait_text("key: left");
    term.resize(30, 100);
    term.wait_text("size: 30x100");
    term.send(b"q");
    term.expect_exit(0);
    term.wait_text("fullscreen agent: bye");
    term.assert_restored();
}

#[test]
fn attach_repaints_the_screen_exactly_and_ctrl_backslash_detaches() {
    let crew = Crew::new();
    let (id, name) = start_fullscreen(&crew);

    let mut term = Terminal::attach(&crew, &id, 30, 100);
    // The agent repaints at the new size after the snapshot: wait for that, then compare.
    term.wait_text("size: 30x100");
    wait_same_screen(&term, &crew, &id, 30, 100);
    assert!(term.text().contains("size: 30x100"));
    assert!(term.raw_mode(), "attach puts the terminal in raw mode");
    wait_attached(&crew, &id, 1);

    term.send(CTRL_BACKSLASH);
    expect_detached(&mut term, &name);
    still_running(&crew, &id);

    // Again: the same screen, modes and all.
    let mut term = Terminal::attach(&crew, &id, 30, 100);
    wait_same_screen(&term, &crew, &id, 30, 100);
    let s = term.screen();
    assert!(s.bracketed_paste(), "bracketed paste is repainted");
    assert!(
        s.application_cursor(),
        "application cursor keys are repainted"
    );
    assert!(s.alternate_screen(), "the alternate screen is repainted");
    assert!(
        !s.contents().contains("got SIGINT"),
        "detaching signalled the agent"
    );
    term.send(CTRL_BACKSLASH);
    expect_detached(&mut term, &name);
    still_running(&crew, &id);
}

#[test]
fn keys_go_to_the_agent_and_only_the_detach_key_detaches() {
    let crew = Crew::new();
    let (id, name) = start_fullscreen(&crew);
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    term.wait_text("size: 24x80");

    term.send("hello ✓".as_bytes());
    wait_line(&term, "typed: hello ✓");
    // Ctrl+C, Ctrl+D and Ctrl+Z are the agent's, as in a plain terminal.
    term.send(b"\x03");
    term.wait_text("got SIGINT");
    term.send(b"\x04\x1a");
    wait_line(&term, "typed: hello ✓^D^Z");
    // A detach key inside a bracketed paste is pasted.
    term.send(b"\x1b[200~abc\x1c def\x1b[201~");
    wait_line(&term, "paste: abc^\\ def");
    assert!(term.running(), "a paste detached");
    // Arrow keys on the alternate screen are the agent's, even at its prompt that would
    // count as empty on the main screen (`│ > ` and spaces up to the box's edge).
    term.send(b"\r");
    wait_line(&term, "typed:");
    wait_line(&term, ">");
    term.send(b"\x1b[D");
    wait_line(&term, "key: left");
    term.send(b"\x1b[A");
    wait_line(&term, "key: up");
    term.send(b"\x1bOD");
    wait_line(&term, "key: left");
    assert!(term.running(), "← detached on the alternate screen");
    term.send(b"x");
    wait_line(&term, "typed: x");

    // Ctrl+\ as a terminal with the kitty keyboard protocol (CSI u) sends it, split
    // across reads: the first part goes with a key, and once the agent shows that key the
    // client has read the write it came in.
    term.send(b"y\x1b[92;5");
    wait_line(&term, "typed: xy");
    term.send(b"u");
    expect_detached(&mut term, &name);
    still_running(&crew, &id);

    // ... and as xterm's modifyOtherKeys sends it, split too.
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_line(&term, "typed: xy");
    term.send(b"z\x1b[27;5;9");
    wait_line(&term, "typed: xyz");
    term.send(b"2~");
    expect_detached(&mut term, &name);
    still_running(&crew, &id);
    wait_host_text(&crew, &id, 24, 80, "typed: xyz ");
}

#[test]
fn a_custom_detach_key() {
    let crew = Crew::new();
    let (id, name) = start_fullscreen(&crew);
    let mut term = Terminal::crew(&crew, &["attach", "--detach-key", "ctrl-]", &id], 24, 80);
    term.wait_text("size: 24x80");
    term.send(CTRL_BACKSLASH);
    wait_line(&term, "typed: ^\\");
    assert!(term.running(), "Ctrl+\\ detached with --detach-key ctrl-]");
    term.send(b"\x1d");
    expect_detached(&mut term, &name);
    still_running(&crew, &id);
}

#[test]
fn the_detach_key_comes_from_config_and_a_bad_one_is_refused() {
    let crew = Crew::new();
    std::fs::write(crew.home.join("config.toml"), "detach_key = \"ctrl-]\"\n").unwrap();
    let (id, name) = start_fullscreen(&crew);
    let err = crew.fails(&["attach", "--detach-key", "alt-x", &id]);
    assert!(err.contains("alt-x"), "{err}");
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    term.wait_text("size: 24x80");
    term.send(CTRL_BACKSLASH);
    wait_line(&term, "typed: ^\\");
    assert!(
        term.running(),
        "Ctrl+\\ detached with detach_key = ctrl-] in config"
    );
    term.send(b"\x1d");
    expect_detached(&mut term, &name);
    still_running(&crew, &id);
}

/// Waits until the terminal's cursor is right after a `> ` prompt with nothing typed.
fn wait_empty_prompt(term: &Terminal) {
    term.wait_for("an empty `> ` prompt", |s| {
        let (row, col) = s.cursor_position();
        col == 2 && row_text(s, row) == ">"
    });
}

#[test]
fn left_arrow_detaches_only_at_an_empty_prompt() {
    let crew = Crew::new();
    let (id, name) = start_prompt(&crew);
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_empty_prompt(&term);

    // With text typed, ← is the agent's (here the terminal echoes it).
    term.send(b"abc");
    term.wait_text("> abc");
    term.send(b"\x1b[D");
    term.send(b"def");
    term.wait_text("def");
    assert!(term.running(), "← detached with text on the prompt");
    term.send(b"\r");
    term.wait_text("you said: ");
    wait_empty_prompt(&term);

    term.send(b"\x1b[D");
    expect_detached(&mut term, &name);
    still_running(&crew, &id);

    // ← as a terminal in application cursor mode sends it.
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_empty_prompt(&term);
    term.send(b"\x1bOD");
    expect_detached(&mut term, &name);
    still_running(&crew, &id);
}

#[test]
fn slash_bg_sends_its_text_and_detaches() {
    let crew = Crew::new();
    let (id, name) = start_prompt(&crew);
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_empty_prompt(&term);
    term.send(b"/bg run the tests");
    term.wait_text("> /bg run the tests");
    term.send(b"\r");
    expect_detached(&mut term, &name);
    wait_for("the agent to get the text", || {
        crew.ok(&["logs", &id]).contains("you said: run the tests")
    });
    let logs = crew.ok(&["logs", &id]);
    assert!(!logs.contains("/bg"), "the agent saw /bg: {logs}");
    still_running(&crew, &id);

    // `/bg` alone detaches and sends nothing.
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_empty_prompt(&term);
    term.send(b"/bg");
    term.wait_text("> /bg");
    term.send(b"\r");
    expect_detached(&mut term, &name);
    still_running(&crew, &id);
    wait_for("the agent's line to be erased", || {
        !crew.ok(&["logs", &id]).contains("/bg")
    });
    let logs = crew.ok(&["logs", &id]);
    assert_eq!(logs.matches("you said:").count(), 1, "{logs}");
}

#[test]
fn resizing_the_terminal_resizes_the_session() {
    let crew = Crew::new();
    let (id, name) = start_fullscreen(&crew);
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    term.wait_text("size: 24x80");
    term.resize(35, 120);
    term.wait_text("size: 35x120");
    wait_same_screen(&term, &crew, &id, 35, 120);
    term.resize(20, 60);
    term.wait_text("size: 20x60");
    wait_same_screen(&term, &crew, &id, 20, 60);
    term.send(CTRL_BACKSLASH);
    expect_detached(&mut term, &name);
}

#[test]
fn two_clients_see_the_same_output_and_the_last_active_sets_the_size() {
    let crew = Crew::new();
    let (id, name) = start_fullscreen(&crew);
    let mut a = Terminal::attach(&crew, &id, 30, 100);
    a.wait_text("size: 30x100");
    let mut b = Terminal::attach(&crew, &id, 20, 70);
    // The last to attach sets the size; both see the agent redraw for it.
    b.wait_text("size: 20x70");
    a.wait_text("size: 20x70");
    wait_attached(&crew, &id, 2);

    // A types: its size wins. B still gets every byte, though a screen drawn for 30×100
    // cannot show in its 20×70 (the text scrolls away), so look at what it received.
    let mark = b.mark();
    a.send(b"x");
    a.wait_text("size: 30x100");
    wait_line(&a, "typed: x");
    b.wait_output(mark, "size: 30x100");
    b.wait_output(mark, "typed: x ");

    b.send(b"y");
    b.wait_text("size: 20x70");
    a.wait_text("size: 20x70");
    wait_line(&a, "typed: xy");
    wait_line(&b, "typed: xy");

    b.send(CTRL_BACKSLASH);
    expect_detached(&mut b, &name);
    assert!(a.running(), "one client's detach ended the other");
    wait_attached(&crew, &id, 1);
    a.send(b"z");
    wait_line(&a, "typed: xyz");
    a.wait_text("size: 30x100");
    a.send(CTRL_BACKSLASH);
    expect_detached(&mut a, &name);
    still_running(&crew, &id);
}

/// The batch number of the last flood line the session shows.
fn flood_batch(text: &str) -> Option<u64> {
    text.lines()
        .rev()
        .find_map(|l| l.split_once("flood line ").map(|(_, rest)| rest))
        .and_then(|l| l.split('-').next())
        .and_then(|n| n.parse().ok())
}

/// The flood's latest batch as the transcript has it (the screen may be parsed later: the
/// host parses a flood once it pauses).
fn transcript_batch(crew: &Crew, id: &str) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(crew.job(id).join("transcript")).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(8192))).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    flood_batch(&String::from_utf8_lossy(&tail))
}

#[test]
fn a_stopped_client_never_slows_the_agent() {
    let crew = Crew::new();
    let gate = crew.home.join("enough");
    let (id, name) = crew.bg(&[&format!(
        "sh {} {}",
        fixture("flood_until.sh"),
        gate.display()
    )]);
    wait_for("the flood", || {
        crew.ok(&["peek", &id]).contains("flood line")
    });
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    term.wait_text("flood line");

    term.signal(libc::SIGSTOP);
    let first = transcript_batch(&crew, &id).expect("a flood line");
    // ~340 KB a batch: 6 batches (2 MB) are several times what the host may queue for a
    // client (256 KiB) and the socket may buffer, so the agent only gets there if nothing
    // waits for the client.
    let mut last = first;
    let flowed = within(DEADLINE, || {
        let start = Instant::now();
        crew.ls();
        let ls = start.elapsed();
        assert!(
            ls < Duration::from_secs(1),
            "ls took {ls:?} during the flood"
        );
        let start = Instant::now();
        crew.ok(&["peek", &id]);
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "peek took {took:?} during the flood"
        );
        last = transcript_batch(&crew, &id).unwrap_or(last);
        last >= first + 6
    });
    assert!(
        flowed,
        "the flood stalled at batch {last} (from {first}) while the client was stopped"
    );
    let size = |f: &str| {
        std::fs::metadata(crew.job(&id).join(f))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    assert!(size("transcript") + size("transcript.1") > 0);
    std::fs::write(&gate, "").unwrap();
    wait_for("the flood to end", || {
        crew.ok(&["peek", &id]).contains("flood done")
    });

    term.signal(libc::SIGCONT);
    // Whatever it missed, the client ends up showing exactly the host's screen. The last
    // screen starts with a clear and sets no modes, so the transcript's tail rebuilds it
    // (replaying megabytes of flood on every poll would be slow).
    let host = replay(&raw_logs(&crew, &id, &["-n", "40"]), 24, 80);
    assert!(host.contents().contains("the last screen"));
    let mut last = Ok(());
    let same = within(DEADLINE, || {
        last = cells_equal(&term.screen(), &host);
        last.is_ok()
    });
    assert!(
        same,
        "after SIGCONT the client never showed the host's screen (client first): {}",
        last.unwrap_err()
    );
    term.send(CTRL_BACKSLASH);
    expect_detached(&mut term, &name);
}

#[test]
fn attach_to_an_exited_session_shows_its_last_screen() {
    let crew = Crew::new();
    let (id, name) = crew.bg(&["echo final words; exit 3"]);
    crew.wait_state(&id, "failed");
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    term.expect_exit(0);
    term.wait_text("final words");
    term.wait_text("exited with code 3");
    term.wait_text("crew respawn");
    let text = term.text();
    let hint = text
        .lines()
        .find(|l| l.contains("crew respawn"))
        .unwrap_or_default();
    assert!(
        hint.contains(&id[..4]) || hint.contains(&name),
        "the hint names the session: {hint}"
    );
    let words = text.find("final words").unwrap();
    let exited = text.find("exited with code 3").unwrap();
    assert!(words < exited, "the final screen comes first:\n{text}");
    term.assert_restored();
}

#[test]
fn attach_to_an_unknown_session_fails() {
    let crew = Crew::new();
    let mut term = Terminal::attach(&crew, "nosuch", 24, 80);
    term.expect_exit(1);
    term.wait_text("crew: no session matches 'nosuch'");
    term.assert_restored();
}

#[test]
fn the_terminal_is_restored_when_the_host_dies() {
    let crew = Crew::new();
    let (id, _) = start_fullscreen(&crew);
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_same_screen(&term, &crew, &id, 24, 80);
    assert!(term.raw_mode() && term.alternate_screen());
    let host = crew.session(&id)["host_pid"]
        .as_i64()
        .expect("the host's pid");
    unsafe { libc::kill(host as i32, libc::SIGKILL) };
    term.expect_exit(1);
    term.wait_text("crew: ");
    term.assert_restored();
}

#[test]
fn the_terminal_is_restored_when_the_client_is_terminated() {
    let crew = Crew::new();
    let (id, _) = start_fullscreen(&crew);
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_same_screen(&term, &crew, &id, 24, 80);
    term.signal(libc::SIGTERM);
    let status = term.wait_status();
    assert!(
        matches!(status.code(), Some(1) | Some(143))
            || std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGTERM),
        "after SIGTERM: {status:?}"
    );
    term.assert_restored();
    still_running(&crew, &id);
    assert!(!host_screen(&crew, &id, 24, 80)
        .contents()
        .contains("got SIGINT"));
}

#[test]
fn crew_new_dispatches_and_attaches() {
    let crew = Crew::new();
    let mut term = Terminal::crew(
        &crew,
        &[
            "new",
            "-n",
            "newbie",
            "--detach-key",
            "ctrl-a",
            &fullscreen(),
        ],
        24,
        80,
    );
    term.wait_text("size: 24x80");
    assert!(term.raw_mode());
    term.send(b"hi\x1c");
    wait_line(&term, "typed: hi^\\");
    term.send(b"\x01");
    expect_detached(&mut term, "newbie");
    let s = crew
        .ls()
        .into_iter()
        .find(|s| s["name"] == "newbie")
        .expect("the new session is listed");
    let id = s["id"].as_str().unwrap().to_string();
    still_running(&crew, &id);
    wait_host_text(&crew, &id, 24, 80, "typed: hi^\\ ");
}

#[test]
fn the_recap_shows_what_happened_while_away() {
    let crew = Crew::new();
    let (id, name) = crew.bg(&[&format!("sh {}", fixture("bell.sh"))]);
    crew.wait_state(&id, "needs_input");

    let mut term = Terminal::attach(&crew, &id, 24, 80);
    let shown = within(DEADLINE, || {
        let text = term.text();
        text.contains("needs input") && text.contains("double jump or wall climb?")
    });
    assert!(
        shown,
        "the recap is not on the screen; the terminal received {:?} and shows:\n{}",
        visible_text(&term.output()),
        term.framed()
    );
    assert!(term.text().contains(&name), "the recap names the session");
    // A key dismisses it and goes nowhere else.
    term.send(b"x");
    term.wait_for("the session's screen", |s| {
        let text = s.contents();
        !text.contains("needs input") && text.contains("step 1 done")
    });
    wait_same_screen(&term, &crew, &id, 24, 80);
    term.send(b"wall climb\r");
    wait_for("the answer", || {
        crew.ok(&["logs", &id]).contains("you chose: ")
    });
    let logs = crew.ok(&["logs", &id]);
    assert!(
        logs.contains("you chose: wall climb"),
        "the key that dismissed the recap reached the agent: {logs}"
    );
    term.send(CTRL_BACKSLASH);
    expect_detached(&mut term, &name);
}

#[test]
fn no_recap_when_nothing_happened() {
    let crew = Crew::new();
    let (id, name) = start_prompt(&crew);
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    wait_same_screen(&term, &crew, &id, 24, 80);
    let shown = visible_text(&term.output());
    assert!(
        !shown.contains(&name),
        "a recap was shown though nothing happened: {shown:?}"
    );
    // The first key goes straight to the agent.
    term.send(b"ping\r");
    wait_for("the agent to answer", || {
        crew.ok(&["logs", &id]).contains("you said: ping")
    });
    // The prompt after the answer may still be on its way: compare until both settle.
    wait_same_screen(&term, &crew, &id, 24, 80);
    term.send(CTRL_BACKSLASH);
    expect_detached(&mut term, &name);
}

#[test]
fn attach_to_an_ended_session_resumes_it_when_its_profile_can() {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!(
            "[agents.fake]\ncommand = [\"sh\", \"-c\", \"echo first run: {{prompt}}\"]\n\
             resume = [\"sh\", \"-c\", \"echo resumed run; exec sh {}\"]\n",
            fixture("prompt.sh")
        ),
    )
    .unwrap();
    let (id, name) = crew.bg(&["--agent", "fake", "hello"]);
    crew.wait_state(&id, "completed");
    let mut term = Terminal::attach(&crew, &id, 24, 80);
    term.wait_text("resumed run");
    wait_for("the resumed session to run", || {
        crew.session(&id)["process"] == "alive"
    });
    term.send(b"again\r");
    term.wait_text("you said: again");
    term.send(CTRL_BACKSLASH);
    expect_detached(&mut term, &name);
    assert_eq!(crew.session(&id)["process"], "alive");
}
