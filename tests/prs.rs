//! Pull-request status (SPEC 10): URLs found in output, split or whole, and the PR of a
//! session's branch, polled from a stub GitHub REST API on 127.0.0.1: state, checks, review
//! and colour, conditional requests, rate-limit backoff, and the row in the view.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use support::http::{Request, Response, Stub};
use support::terminal::row_text;
use support::view::{find_row, group_of, leave, open};
use support::*;

const TOKEN: &str = "ghp_test_token";

/// PR `n` of `o/r` as the stub serves it: (state, draft, merged, check runs).
fn fixture_pr(n: u64) -> (&'static str, bool, bool, Value) {
    let run = |status: &str, conclusion: Value| json!({"status": status, "conclusion": conclusion});
    match n {
        1 => (
            "open",
            false,
            false,
            json!([run("completed", json!("success"))]),
        ),
        2 => (
            "open",
            false,
            false,
            json!([run("completed", json!("failure"))]),
        ),
        3 => (
            "open",
            false,
            false,
            json!([run("in_progress", Value::Null)]),
        ),
        4 => (
            "closed",
            false,
            true,
            json!([run("completed", json!("success"))]),
        ),
        5 => ("closed", false, false, json!([])),
        6 => (
            "open",
            true,
            false,
            json!([run("completed", json!("success"))]),
        ),
        _ => (
            "open",
            false,
            false,
            json!([run("completed", json!("success"))]),
        ),
    }
}

/// The stub GitHub: pulls, check runs, combined status and reviews of `o/r`, each with an
/// `ETag` that a matching `If-None-Match` gets a `304` for; PR 9 is the head of `branch`.
fn github(request: &Request, branch: &str) -> Response {
    let path = request.path.as_str();
    let body = if let Some(rest) = path.strip_prefix("/repos/o/r/pulls?") {
        let want = format!("head=o:{branch}&state=all");
        if rest == want {
            json!([{ "html_url": "https://github.com/o/r/pull/9", "number": 9 }])
        } else {
            json!([])
        }
    } else if let Some(rest) = path.strip_prefix("/repos/o/r/pulls/") {
        match rest.split_once('/') {
            Some((_, "reviews")) => json!([]),
            Some(_) => return Response::status(404),
            None => {
                let n: u64 = rest.parse().unwrap_or(0);
                let (state, draft, merged, _) = fixture_pr(n);
                json!({
                    "number": n, "state": state, "draft": draft, "merged": merged,
                    "head": { "sha": format!("sha{n}") },
                    "requested_reviewers": [], "requested_teams": [],
                })
            }
        }
    } else if let Some(rest) = path.strip_prefix("/repos/o/r/commits/sha") {
        let (n, what) = rest.split_once('/').unwrap_or((rest, ""));
        let runs = fixture_pr(n.parse().unwrap_or(0)).3;
        match what {
            "check-runs" => {
                json!({ "total_count": runs.as_array().unwrap().len(), "check_runs": runs })
            }
            "status" => json!({ "state": "pending", "total_count": 0, "statuses": [] }),
            _ => return Response::status(404),
        }
    } else {
        return Response::status(404);
    };
    let etag = format!("\"{:x}\"", fnv(&body.to_string()));
    if request.header("if-none-match") == Some(etag.as_str()) {
        let mut not_modified = Response::status(304).header("etag", &etag);
        not_modified.body.clear();
        return not_modified;
    }
    Response::json(200, body).header("etag", &etag)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// A crew whose supervisor polls `stub` with a token, every second.
fn crew_with_github(stub: &Stub) -> Crew {
    crew_with_github_and(stub, "")
}

fn crew_with_github_and(stub: &Stub, settings: &str) -> Crew {
    let mut crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!(
            "default_agent = \"shell\"\ngithub_api = \"{}\"\npr_interval = \"1s\"\n{settings}",
            stub.url
        ),
    )
    .unwrap();
    crew.set_env("GITHUB_TOKEN", TOKEN);
    crew
}

/// The session's PR number `n`, once its status is known.
fn known_pr(crew: &Crew, id: &str, n: u64) -> Value {
    let mut pr = Value::Null;
    wait_for(&format!("PR {n}'s status"), || {
        pr = crew.session(id)["prs"]
            .as_array()
            .and_then(|prs| prs.iter().find(|p| p["number"] == n).cloned())
            .unwrap_or(Value::Null);
        pr["state"].is_string() && pr["state"] != "unknown"
    });
    pr
}

#[test]
fn statuses_and_colours_come_from_the_github_api() {
    let stub = Stub::start(|r| github(r, ""));
    let crew = crew_with_github(&stub);
    let urls: Vec<String> = (1..=6)
        .map(|n| format!("https://github.com/o/r/pull/{n}"))
        .collect();
    let gitlab = "https://gitlab.com/o/r/-/merge_requests/8";
    let (id, _) = crew.bg(&[&format!("echo {} {gitlab}; sleep 60", urls.join(" "))]);
    let expected = [
        (1, "open", "passing", "green"),
        (2, "open", "failing", "red"),
        (3, "open", "pending", "yellow"),
        (4, "merged", "passing", "purple"),
        (5, "closed", "none", "grey"),
        (6, "draft", "passing", "grey"),
    ];
    for (n, state, checks, color) in expected {
        let pr = known_pr(&crew, &id, n);
        assert_eq!(
            (
                pr["state"].as_str(),
                pr["checks"].as_str(),
                pr["color"].as_str()
            ),
            (Some(state), Some(checks), Some(color)),
            "PR {n}: {pr}"
        );
        assert_eq!(pr["review"], "none");
        assert_eq!(pr["url"], format!("https://github.com/o/r/pull/{n}"));
        assert_eq!(pr["repo"], "o/r");
    }
    let first = stub.requests()[0].clone();
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // The next poll of an open PR is conditional, and its 304 changes nothing.
    wait_for("a poll with If-None-Match", || {
        stub.requests()
            .iter()
            .any(|r| r.path == "/repos/o/r/pulls/1" && r.header("if-none-match").is_some())
    });
    assert_eq!(known_pr(&crew, &id, 1)["color"], "green");
    // A merged PR is polled ten times less often than an open one.
    let polls = |n: u64| {
        let path = format!("/repos/o/r/pulls/{n}");
        stub.requests().iter().filter(|r| r.path == path).count()
    };
    wait_for("three polls of the open PR", || polls(1) >= 3);
    assert_eq!(polls(4), 1, "the merged PR was polled again");
    // A GitLab merge request keeps its dot, unknown: it is never asked of GitHub.
    let mr = crew.session(&id)["prs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["url"] == gitlab)
        .cloned()
        .expect("the merge request is recorded");
    assert_eq!(
        (mr["state"].as_str(), mr["color"].as_str()),
        (Some("unknown"), Some("grey"))
    );
    assert!(!stub
        .requests()
        .iter()
        .any(|r| r.path.contains("merge_requests")));
}

#[test]
fn a_url_split_across_two_writes_is_found_whole() {
    let stub = Stub::start(|r| github(r, ""));
    // Working for a while after the first half, so the summary below can only come from the
    // host's periodic read of the screen, the same read that looks for PR URLs.
    let crew = crew_with_github_and(&stub, "idle_after = \"8s\"\n");
    let go = crew.home.join("go");
    let script = format!(
        "printf 'opened https://github.com/o/r/pull/1'; while [ ! -e {} ]; do sleep 0.05; done; printf '2 for review\\n'; sleep 60",
        go.display()
    );
    let (id, _) = crew.bg(&[&script]);
    wait_for(
        "the host to read the screen with the first half on it",
        || {
            let s = crew.session(&id);
            s["summary"] == "opened https://github.com/o/r/pull/1" && s["state"] == "working"
        },
    );
    assert_eq!(crew.session(&id)["prs"], json!([]), "half a URL was taken");
    std::fs::write(&go, "").unwrap();
    let pr = known_pr(&crew, &id, 12);
    assert_eq!(pr["url"], "https://github.com/o/r/pull/12");
    assert_eq!(crew.session(&id)["prs"].as_array().unwrap().len(), 1);
}

#[test]
fn two_prs_show_their_count_and_the_worse_colour_and_the_row_moves_to_ready_for_review() {
    // GitHub is down at first: the PRs are known but their status is not.
    let stub = Stub::start(|_| Response::status(503));
    let crew = crew_with_github(&stub);
    let (id, name) = crew.bg(&[
        "-n",
        "two-prs",
        "echo https://github.com/o/r/pull/1 https://github.com/o/r/pull/2; sleep 60",
    ]);
    wait_for("both PRs recorded", || {
        crew.session(&id)["prs"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    });
    crew.wait_state(&id, "idle");
    let cols = 100;
    let mut view = open(&crew, 24, cols);
    view.wait_for("the row among the completed, grey", |s| {
        group_of(s, &name).as_deref() == Some("Completed")
            && find_row(s, &name)
                .and_then(|r| s.cell(r, cols - 1))
                .is_some_and(|c| c.contents() == "●" && c.fgcolor() == vt100::Color::Idx(8))
    });
    stub.answer(|r| github(r, ""));
    view.wait_for("the row ready for review, with 2 and a red dot", |s| {
        let Some(row) = find_row(s, &name) else {
            return false;
        };
        let dot = s.cell(row, cols - 1);
        group_of(s, &name).as_deref() == Some("Ready for review")
            && row_text(s, row).ends_with("2●")
            && dot.is_some_and(|c| c.contents() == "●" && c.fgcolor() == vt100::Color::Idx(1))
    });
    // The dot links to the PR that needs attention most: the failing one.
    let out = String::from_utf8_lossy(&view.output()).into_owned();
    let link = "\x1b]8;;https://github.com/o/r/pull/2";
    assert!(
        out.contains(&format!("{link}\x1b\\")) || out.contains(&format!("{link}\x07")),
        "no link to PR 2"
    );
    leave(&mut view);
    assert_eq!(known_pr(&crew, &id, 1)["color"], "green");
    assert_eq!(known_pr(&crew, &id, 2)["color"], "red");
}

#[test]
fn a_spent_rate_limit_stops_every_request_until_its_reset() {
    let stub = Stub::start(|_| Response::status(503));
    let crew = crew_with_github(&stub);
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let reset = since_epoch.as_secs() + 5;
    let reset_at = std::time::Instant::now() + (Duration::from_secs(reset) - since_epoch);
    stub.answer(move |_| {
        Response::status(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string())
    });
    let (id, _) = crew.bg(&["echo https://github.com/o/r/pull/1; sleep 60"]);
    wait_for("the first request", || !stub.requests().is_empty());
    let limited = stub.requests()[0].at;
    assert!(
        limited + Duration::from_secs(2) < reset_at,
        "the test was too slow"
    );
    stub.answer(|r| github(r, ""));
    let pr = known_pr(&crew, &id, 1);
    assert_eq!(pr["color"], "green");
    // Nothing was asked between the refusal and the reset.
    let second = stub.requests()[1].at;
    assert!(
        second + Duration::from_millis(300) >= reset_at,
        "asked again {:?} after the refusal, {:?} before the reset",
        second - limited,
        reset_at - second
    );
    let log = std::fs::read_to_string(crew.home.join("daemon/supervisor.log")).unwrap();
    assert!(log.contains("rate limit"), "{log}");
    assert!(!log.contains(TOKEN));
}

#[test]
fn a_session_on_a_crew_branch_gets_the_pr_of_its_branch() {
    let stub = Stub::start(|r| github(r, "crew/fix-it"));
    let crew = crew_with_github(&stub);
    let repo = crew.home.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["config", "user.name", "Crew Test"],
        &["config", "user.email", "crew@example.com"],
        &["remote", "add", "origin", "git@github.com:o/r.git"],
        &["commit", "-q", "--allow-empty", "-m", "first"],
    ] {
        git(&repo, args);
    }
    let (id, _) = crew.bg(&["-n", "fix-it", "-C", repo.to_str().unwrap(), "sleep 60"]);
    assert_eq!(crew.session(&id)["branch"], "crew/fix-it");
    let pr = known_pr(&crew, &id, 9);
    assert_eq!(pr["url"], "https://github.com/o/r/pull/9");
    assert_eq!(pr["color"], "green");
    assert!(stub
        .requests()
        .iter()
        .any(|r| r.path == "/repos/o/r/pulls?head=o:crew/fix-it&state=all"));
}

#[test]
fn without_a_token_nothing_is_polled_and_the_status_stays_unknown() {
    let stub = Stub::start(|r| github(r, ""));
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!("github_api = \"{}\"\npr_interval = \"1s\"\n", stub.url),
    )
    .unwrap();
    let (id, _) = crew.bg(&["echo https://github.com/o/r/pull/1; sleep 60"]);
    wait_for("the PR recorded", || {
        crew.session(&id)["prs"]
            .as_array()
            .is_some_and(|p| p.len() == 1)
    });
    assert!(!within(Duration::from_secs(2), || !stub
        .requests()
        .is_empty()));
    let pr = &crew.session(&id)["prs"][0];
    assert_eq!(
        (pr["state"].as_str(), pr["color"].as_str()),
        (Some("unknown"), Some("grey"))
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}
