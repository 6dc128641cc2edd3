//! `crew logs` and `crew peek`: rendered text, raw bytes, following (SPEC 3).

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::*;

#[test]
fn logs_show_the_rendered_text_and_raw_shows_the_bytes() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&[&format!("sh {}", fixture("paint.sh"))]);
    let s = crew.wait_state(&id, "completed");
    assert_eq!(s["title"], "painting the level");
    let logs = crew.ok(&["logs", &id]);
    assert_eq!(
        logs, "green title\nprogress 100%\nabcdef\nkept line\norange and truecolor\n",
        "rendered text, no escape codes"
    );
    assert_eq!(
        crew.ok(&["logs", "-n", "2", &id]),
        "kept line\norange and truecolor\n"
    );
    let raw = crew.run(&["logs", "--raw", &id]).stdout;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("\x1b[1;32mgreen title\x1b[0m"), "{raw:?}");
    assert!(raw.contains("progress 10%\rprogress 55%"), "{raw:?}");
    let peek = crew.ok(&["peek", &id]);
    assert!(
        peek.contains("orange and truecolor") && !peek.contains('\x1b'),
        "{peek}"
    );
}

#[test]
fn logs_keep_at_least_two_thousand_lines_of_a_long_session() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&[&format!("sh {} 10000", fixture("flood.sh"))]);
    wait_for("the flood to end", || {
        crew.ok(&["logs", "-n", "1", &id]).contains("flood done")
    });
    let logs = crew.ok(&["logs", "-n", "2001", &id]);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 2001);
    assert_eq!(lines[0], "flood line 8001 of the quick brown fox");
    assert_eq!(lines[2000], "flood done");
}

/// Runs `crew logs -f` while the session prints, and checks every line arrives once, in order.
fn follow(raw: bool) {
    let crew = Crew::new();
    let gate = crew.home.join("go");
    let cmd = format!(
        "echo waiting; while [ ! -e {} ]; do sleep 0.01; done; i=1; while [ $i -le 200 ]; do echo \"tick $i\"; i=$((i+1)); done; echo ticks done",
        gate.display()
    );
    let (id, _) = crew.bg(&[&cmd]);
    let mut args = vec!["logs", "-f", &id];
    if raw {
        args.push("--raw");
    }
    let mut child = crew.command(&args).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first.trim_end(), "waiting");
    std::fs::write(&gate, "").unwrap();
    let mut lines = Vec::new();
    for line in out.lines() {
        let line = line.unwrap();
        lines.push(line.trim_end_matches('\r').to_string());
    }
    // The follower ends by itself when the session ends.
    assert!(child.wait().unwrap().success());
    let expected: Vec<String> = (1..=200)
        .map(|i| format!("tick {i}"))
        .chain(["ticks done".to_string()])
        .collect();
    assert_eq!(lines, expected);
}

#[test]
fn logs_follow_prints_new_lines_until_the_session_ends() {
    follow(false);
}

#[test]
fn logs_follow_raw_prints_the_bytes_until_the_session_ends() {
    follow(true);
}

#[test]
fn logs_of_an_unknown_session_fail_clearly() {
    let crew = Crew::new();
    assert_eq!(
        crew.fails(&["logs", "zzzz"]),
        "crew: no session matches 'zzzz'\n"
    );
    assert_eq!(
        crew.fails(&["peek", "zzzz"]),
        "crew: no session matches 'zzzz'\n"
    );
}
