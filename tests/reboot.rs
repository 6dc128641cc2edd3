//! Reboots (SPEC 7): hosts and agents do not survive one. Afterwards `crew ls` shows the
//! sessions that were alive as exited (their hosts lost), and `crew respawn --all` restarts
//! them through their resume commands, in their worktrees, with their transcripts kept.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

/// A repository with one commit at `<home>/repo`, so a dispatch there gets a worktree.
fn repo(crew: &Crew) -> PathBuf {
    let dir = crew.home.join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.name", "Crew Test"]);
    git(&["config", "user.email", "crew@example.com"]);
    std::fs::write(dir.join("README"), "hi\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::canonicalize(&dir).unwrap()
}

fn kill9(pid: i64) {
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// What a reboot leaves: no supervisor, no host, no agent, no socket; every file on disk.
fn simulate_reboot(crew: &Crew, ids: &[&String]) {
    let status = crew.ok(&["daemon", "status"]);
    let standby: i64 = status
        .split("pre-started host pid ")
        .nth(1)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pre-started host: {status}"));
    let supervisor = crew.supervisor_pid().expect("a supervisor") as i64;
    let mut pids = vec![supervisor, standby];
    for id in ids {
        let s = crew.session(id);
        pids.extend(["host_pid", "pid"].iter().filter_map(|k| s[k].as_i64()));
    }
    for pid in &pids {
        kill9(*pid);
    }
    for pid in &pids {
        wait_for(&format!("{pid} to die"), || !alive(*pid));
    }
    let _ = std::fs::remove_file(crew.home.join("daemon/supervisor.sock"));
    for id in ids {
        let _ = std::fs::remove_file(crew.job(id).join("host.sock"));
    }
}

fn output_of(crew: &Crew, id: &str) -> String {
    String::from_utf8_lossy(&crew.transcript(id)).into_owned()
}

#[test]
fn after_a_reboot_ls_shows_sessions_exited_and_respawn_all_restarts_them() {
    let crew = Crew::new();
    let repo = repo(&crew);
    std::fs::write(
        crew.home.join("config.toml"),
        format!(
            "default_agent = \"shell\"\n\
             [agents.fake]\n\
             command = [\"sh\", \"-c\", \"echo conversation one; exec sh {prompt}\"]\n\
             resume = [\"sh\", \"-c\", \"echo resumed in $PWD; exec sh {prompt}\"]\n",
            prompt = fixture("prompt.sh")
        ),
    )
    .unwrap();
    let (plain, _) = crew.bg(&["-n", "plain", "echo plain run; exec sleep 600"]);
    let repo_dir = repo.to_string_lossy().into_owned();
    let (agent, _) = crew.bg(&["--agent", "fake", "-n", "agent", "-C", &repo_dir, "go"]);
    let (looping, _) = crew.bg(&["-n", "looping", "--every", "1h", "echo loop run"]);
    let (done, _) = crew.bg(&["-n", "done", "echo finished"]);
    crew.wait_state(&done, "completed");
    wait_for("the loop to sleep", || {
        crew.session(&looping)["process"] == "sleeping"
    });
    for (id, text) in [(&plain, "plain run"), (&agent, "conversation one")] {
        wait_for("output on disk", || output_of(&crew, id).contains(text));
    }
    let worktree = crew.session(&agent)["cwd"].as_str().unwrap().to_string();
    assert!(
        worktree.contains(".crew/worktrees/agent"),
        "no worktree: {worktree}"
    );

    simulate_reboot(&crew, &[&plain, &agent, &looping, &done]);

    // Every session is listed; the ones that were alive (a loop between runs too) are
    // exited, their host lost; a finished result stays what it was.
    let listed = crew.ls();
    assert_eq!(listed.len(), 4, "{listed:?}");
    for id in [&plain, &agent, &looping] {
        let s = crew.session(id);
        assert_eq!(s["process"], "exited", "{s}");
        assert_eq!(s["reason"], "host lost", "{s}");
        assert_eq!(s["host_pid"], Value::Null, "{s}");
        assert_eq!(s["pid"], Value::Null, "{s}");
    }
    let s = crew.session(&done);
    assert_eq!(
        (&s["state"], &s["process"]),
        (&"completed".into(), &"exited".into()),
        "{s}"
    );
    assert!(crew.ok(&["logs", &plain]).contains("plain run"));

    let out = crew.ok(&["respawn", "--all"]);
    let mut restarted: Vec<&str> = out.lines().collect();
    restarted.sort();
    let mut expected = vec![plain.as_str(), agent.as_str(), looping.as_str()];
    expected.sort();
    assert_eq!(restarted, expected, "finished results are not restarted");
    for id in [&plain, &agent] {
        let s = crew.session(id);
        assert_eq!(s["process"], "alive", "{s}");
        assert!(alive(s["host_pid"].as_i64().unwrap()), "{s}");
    }
    // The agent resumed in its worktree, below what it showed before the reboot.
    wait_for("the resumed agent", || {
        output_of(&crew, &agent).contains(&format!("resumed in {worktree}"))
    });
    let text = output_of(&crew, &agent);
    assert!(
        text.find("conversation one") < text.find("resumed in"),
        "{text}"
    );
    crew.ok(&["reply", &agent, "still there"]);
    wait_for("the resumed agent to answer", || {
        crew.ok(&["logs", &agent]).contains("you said: still there")
    });
    // No resume command: the command runs again, after the first run's output.
    wait_for("the second runs", || {
        output_of(&crew, &plain).matches("plain run").count() == 2
            && output_of(&crew, &looping).matches("loop run").count() == 2
    });
    assert_eq!(crew.session(&done)["process"], "exited");
    assert!(Path::new(&worktree).is_dir());
}
