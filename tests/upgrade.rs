//! Live upgrade (SPEC 7): installing a new crew binary over the one the supervisor runs makes
//! it re-execute itself, in place, while every session keeps its processes and an attached
//! terminal keeps working; hosts of the old binary go on serving the new supervisor.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::terminal::Terminal;
use support::view::{leave, open, shows};
use support::*;

const MARK: &str = "crew-version:";

/// The next version of the same length (`0.1.0` → `0.1.1`, `0.1.9` → `0.2.0`).
fn bumped(version: &str) -> String {
    let mut chars: Vec<char> = version.chars().collect();
    for i in (0..chars.len()).rev() {
        match chars[i] {
            '0'..='8' => {
                chars[i] = (chars[i] as u8 + 1) as char;
                return chars.into_iter().collect();
            }
            '9' => chars[i] = '0',
            _ => {}
        }
    }
    panic!("no same-length version after {version}");
}

/// Installs a copy of `bin` with each `(from, to)` string replaced by another of the same
/// length, as an installer does: written beside it, then renamed over it.
fn install_patched(bin: &Path, replacements: &[(String, String)]) {
    let mut bytes = std::fs::read(bin).unwrap();
    for (old, new) in replacements {
        assert_eq!(old.len(), new.len());
        let mut found = 0;
        let mut at = 0;
        while let Some(i) = bytes[at..]
            .windows(old.len())
            .position(|w| w == old.as_bytes())
        {
            bytes[at + i..at + i + new.len()].copy_from_slice(new.as_bytes());
            at += i + new.len();
            found += 1;
        }
        assert!(found > 0, "no {old:?} in {}", bin.display());
    }
    let tmp = bin.with_file_name(".crew.new");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, bin).unwrap();
}

/// `daemon status`'s first line: (pid, crew version, protocol).
fn supervisor(crew: &Crew) -> (i64, String, u32) {
    let status = crew.ok(&["daemon", "status"]);
    let first = status.lines().next().unwrap_or_default().to_string();
    let field = |name: &str| -> String {
        first
            .split(", ")
            .find_map(|f| f.split(name).nth(1))
            .unwrap_or_else(|| panic!("no {name:?} in {status}"))
            .to_string()
    };
    (
        field("pid ").parse().unwrap(),
        field("crew "),
        field("protocol ").parse().unwrap(),
    )
}

/// A crew that runs everything from a copy of the binary the test can replace; returns the
/// crew, the copy and its directory.
fn crew_from_a_copy() -> (Crew, PathBuf, PathBuf) {
    let mut crew = Crew::new();
    let dir = crew.home.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("crew");
    std::fs::copy(bin(), &copy).unwrap();
    crew.bin = copy.clone();
    (crew, copy, dir)
}

#[test]
fn a_replaced_binary_re_executes_the_supervisor_and_every_session_carries_on() {
    let (crew, copy, _) = crew_from_a_copy();
    let old = env!("CARGO_PKG_VERSION");
    let new = bumped(old);

    let (quiet, _) = crew.bg(&["echo first; exec sleep 600"]);
    let (chat, name) = crew.bg(&["-n", "chat", &format!("exec sh {}", fixture("prompt.sh"))]);
    let mut term = Terminal::attach(&crew, &chat, 24, 80);
    term.send(b"before\r");
    term.wait_text("you said: before");
    let before: Vec<_> = [&quiet, &chat].iter().map(|id| crew.session(id)).collect();
    // The agent view watches the supervisor.
    let mut view = open(&crew, 30, 120);
    view.wait_for("the view's rows", |s| shows(s, "chat"));
    let (pid, version, protocol) = supervisor(&crew);
    assert_eq!(version, old);

    // A new version that also speaks the next protocol: old hosts must accept its watch.
    install_patched(
        &copy,
        &[
            (format!("{MARK}{old}"), format!("{MARK}{new}")),
            (
                format!("crew-protocol:{protocol}"),
                format!("crew-protocol:{}", protocol + 1),
            ),
        ],
    );
    wait_for("the supervisor to run the new binary", || {
        supervisor(&crew).1 == new
    });
    let status = crew.ok(&["daemon", "status"]);
    // Re-executed in place: a service manager still sees its main process.
    assert_eq!(supervisor(&crew).0, pid, "{status}");
    assert_eq!(supervisor(&crew).2, protocol + 1, "{status}");
    // Each old host greeted the new supervisor with its version: it accepted the watch.
    assert!(
        status.contains(&format!(
            "2 sessions, 2 hosts connected, 2 hosts of older versions (crew {old} ×2)"
        )),
        "{status}"
    );

    // Every session is listed with the same processes, and the attached terminal works.
    let listed = crew.ls();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for old in &before {
        let s = crew.session(old["id"].as_str().unwrap());
        assert_eq!(s["host_pid"], old["host_pid"], "{s}");
        assert_eq!(s["pid"], old["pid"], "{s}");
        assert_eq!(s["process"], "alive", "{s}");
        assert!(alive(s["host_pid"].as_i64().unwrap()), "{s}");
    }
    term.send(b"after\r");
    term.wait_text("you said: after");
    wait_for("the old host to still list the attach", || {
        crew.session(&chat)["attached"] == 1
    });

    // New sessions get hosts of the new binary; the old ones are left alone.
    let (fresh, _) = crew.bg(&["-n", "fresh", "echo fresh; exec sleep 600"]);
    wait_for("the new session's output", || {
        crew.ok(&["logs", &fresh]).contains("fresh")
    });
    let status = crew.ok(&["daemon", "status"]);
    assert!(
        status.contains("3 sessions, 3 hosts connected, 2 hosts of older versions"),
        "{status}"
    );
    assert!(crew.ok(&["logs", &quiet]).contains("first"));
    // The view lost its watch when the supervisor re-executed, and watches the new one.
    view.wait_for("the view to show the new session", |s| shows(s, "fresh"));
    leave(&mut view);
    term.send(b"\x1c");
    term.wait_text(&format!("[detached from {name}]"));
}

#[test]
fn a_binary_that_cannot_run_leaves_the_supervisor_as_it_was() {
    let (mut crew, copy, dir) = crew_from_a_copy();
    let (id, _) = crew.bg(&["exec sleep 600"]);
    let before = supervisor(&crew);

    // Replaced by something that is not a program the kernel can run.
    let keep = dir.join("crew.real");
    std::fs::hard_link(&copy, &keep).unwrap();
    let tmp = dir.join(".crew.new");
    std::fs::write(&tmp, b"\x7fELF broken").unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &copy).unwrap();
    let log = crew.home.join("daemon/supervisor.log");
    wait_for("the failed attempt in the log", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("cannot run the new crew binary"))
    });
    // Commands come from the good binary from here on.
    crew.bin = keep;
    assert_eq!(supervisor(&crew), before);
    assert_eq!(crew.session(&id)["process"], "alive");
}
