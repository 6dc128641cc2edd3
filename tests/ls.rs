//! `crew ls` as people read it (SPEC 3, 4, 11): groups, folding, and nothing a session
//! prints can put escape sequences into the listing.

mod support;

use support::*;

#[test]
fn older_results_fold_unless_all_and_failures_never_fold() {
    let crew = Crew::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(crew.bg(&["-n", &format!("done-{i}"), "true"]).0);
    }
    let (failed, _) = crew.bg(&["-n", "broke", "exit 1"]);
    for id in &ids {
        crew.wait_state(id, "completed");
    }
    crew.wait_state(&failed, "failed");

    let text = crew.ok(&["ls"]);
    let rows = text.lines().filter(|l| l.contains("done-")).count();
    assert_eq!(rows, 5, "the 5 most recently changed stay: {text}");
    assert!(text.contains("… 7 more"), "{text}");
    assert!(text.contains("broke"), "failures never fold: {text}");

    let all = crew.ok(&["ls", "--all"]);
    assert_eq!(
        all.lines().filter(|l| l.contains("done-")).count(),
        12,
        "{all}"
    );
    assert!(!all.contains("more"), "{all}");
    assert_eq!(crew.ls().len(), 13, "--json lists every session");
}

#[test]
fn control_characters_from_a_session_never_reach_the_listing() {
    let crew = Crew::new();
    let cmd = "crew report needs_input --message \"$(printf 'pick \\033[2J\\033]0;pwned\\007one\\033[31m')\"; sleep 30";
    let (id, _) = crew.bg(&[cmd]);
    let s = crew.wait_state(&id, "needs_input");
    assert!(
        s["question"].as_str().unwrap().contains('\x1b'),
        "the data itself is kept: {s}"
    );
    let text = crew.ok(&["ls"]);
    assert!(text.contains("pick [2J]0;pwnedone[31m"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    let peek = crew.ok(&["peek", &id]);
    assert!(!peek.contains('\x1b') && !peek.contains('\x07'), "{peek:?}");
}

#[test]
fn every_command_has_help() {
    let crew = Crew::new();
    let commands: &[&[&str]] = &[
        &[],
        &["logs"],
        &["peek"],
        &["reply"],
        &["ls"],
        &["stop"],
        &["kill"],
        &["respawn"],
        &["rm"],
        &["rename"],
        &["pin"],
        &["unpin"],
        &["report"],
        &["daemon"],
        &["daemon", "start"],
        &["daemon", "stop"],
        &["daemon", "status"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = crew.ok(&args);
        assert!(out.contains("Usage:"), "crew {args:?}: {out}");
    }
    assert!(!crew.home.join("daemon").exists(), "help starts nothing");
}
