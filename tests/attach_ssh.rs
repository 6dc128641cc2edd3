//! Attach through `ssh -t` (SPEC 5: "Attach works in any VT100/xterm-compatible terminal,
//! including through `ssh -t`"), against a private sshd on 127.0.0.1. Skipped, with a
//! message, where sshd or ssh is missing or cannot start.

mod support;

use support::sshd::Sshd;
use support::terminal::{host_screen, Terminal};
use support::*;

#[test]
fn attach_works_through_ssh() {
    let crew = Crew::new();
    let sshd = match Sshd::start(&crew.home) {
        Ok(sshd) => sshd,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };

    // The connection itself: a remote terminal, and a command's exit code carried back.
    let mut term = Terminal::spawn(sshd.ssh(&["tty;", "exit", "7"]), 24, 80);
    term.wait_status();
    assert_eq!(
        term.wait_exit(),
        Some(7),
        "ssh through the test sshd failed; it shows:\n{}\nsshd logged:\n{}",
        term.framed(),
        sshd.log()
    );
    term.wait_text("/dev/pts/");

    let (id, name) = crew.bg(&[&format!("python3 {}", fixture("fullscreen.py"))]);
    wait_for("the full-screen agent to draw", || {
        host_screen(&crew, &id, 24, 80)
            .contents()
            .contains("size: 24x80")
    });
    let home = format!("CREW_HOME={}", crew.home.display());
    let path = format!("PATH='{}'", path_with_crew());
    let bin = bin();
    let remote = [
        "env",
        &home,
        &path,
        bin.to_str().unwrap(),
        "attach",
        id.as_str(),
    ];
    let mut term = Terminal::spawn(sshd.ssh(&remote), 30, 90);
    // The remote terminal's size reaches the session.
    term.wait_text("size: 30x90");
    term.send(b"over ssh");
    term.wait_text("typed: over ssh");
    term.resize(26, 100);
    term.wait_text("size: 26x100");
    term.send(b"\x1c");
    term.expect_exit(0);
    term.wait_text(&format!("[detached from {name}]"));
    term.assert_restored();

    let s = crew.session(&id);
    assert_eq!(s["process"], "alive", "{s}");
    wait_for("the client to be gone", || {
        crew.session(&id)["attached"] == 0
    });
}
