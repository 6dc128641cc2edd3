//! Pull-request status from the GitHub REST API (SPEC 10), on its own thread.
//!
//! Every GitHub PR a session printed, and the PR whose head is a session's `crew/<name>`
//! branch, is polled every `pr_interval` while open and ten times less often once closed or
//! merged. Requests are conditional (`If-None-Match`), so an unchanged PR costs nothing
//! against the rate limit. A `403`/`429` that says the limit is spent stops every request until
//! the reset time it gives; other errors back off per PR. Without `GITHUB_TOKEN` nothing is
//! polled and every status stays `unknown`.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::annotate::{spawn, Finding, Helper, Report, Update};
use super::summaries::http_error;
use crate::profile::Config;
use crate::protocol::{Pr, Process, Session};

/// The longest a failing PR waits before it is asked again.
const MAX_BACKOFF: Duration = Duration::from_secs(1800);
/// Closed and merged PRs (and ended sessions' branches) change rarely.
const SLOW_FACTOR: u32 = 10;

/// One PR being polled.
struct Polled {
    repo: String,
    number: u64,
    status: Option<Status>,
    next_at: Instant,
    failures: u32,
}

#[derive(Clone, PartialEq, Eq)]
struct Status {
    state: &'static str,
    checks: &'static str,
    review: &'static str,
}

/// A session's branch, looked up for the PR whose head it is.
struct Branch {
    repo: String,
    head: String,
    next_at: Instant,
    failures: u32,
    alive: bool,
}

/// Why a request gave nothing.
enum Failed {
    /// The rate limit is spent: nothing is sent before the instant set in `blocked_until`.
    RateLimited,
    NotFound,
    Other(String),
}

struct Poller {
    api: String,
    token: String,
    agent: ureq::Agent,
    interval: Duration,
    /// Each session's PR URLs.
    sessions: HashMap<String, Vec<String>>,
    prs: HashMap<String, Polled>,
    branches: HashMap<String, Branch>,
    /// Per request URL: the `ETag` and the body it came with.
    etags: HashMap<String, (String, Value)>,
    blocked_until: Option<Instant>,
    report: Report,
}

/// Starts the poller when `GITHUB_TOKEN` is set.
pub(super) fn start(config: &Config, report: Report) -> Option<Sender<Update>> {
    let token = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())?;
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .user_agent("crew")
        .build()
        .into();
    let poller = Poller {
        api: config.github_api.clone(),
        token: token.trim().to_string(),
        agent,
        interval: config.pr_interval,
        sessions: HashMap::new(),
        prs: HashMap::new(),
        branches: HashMap::new(),
        etags: HashMap::new(),
        blocked_until: None,
        report,
    };
    spawn("pr-status", poller)
}

impl Helper for Poller {
    fn follow(&mut self, update: Update) {
        self.follow(update);
    }

    fn next_due(&self) -> Option<Instant> {
        self.next_due()
    }

    fn work(&mut self) -> bool {
        self.poll_due()
    }
}

impl Poller {
    fn follow(&mut self, update: Update) {
        let session = match update {
            Update::Removed(id) => {
                self.sessions.remove(&id);
                self.branches.remove(&id);
                self.forget_unused();
                return;
            }
            Update::Session(s) => s,
        };
        let urls: Vec<String> = session
            .prs
            .iter()
            .filter(|p| is_github(&p.url))
            .map(|p| p.url.clone())
            .collect();
        for p in session.prs.iter().filter(|p| is_github(&p.url)) {
            self.prs.entry(p.url.clone()).or_insert_with(|| Polled {
                repo: p.repo.clone(),
                number: p.number,
                status: None,
                next_at: Instant::now(),
                failures: 0,
            });
        }
        self.sessions.insert(session.id.clone(), urls);
        self.forget_unused();
        let alive = session.process == Process::Alive;
        match self.branches.get_mut(&session.id) {
            Some(b) => b.alive = alive,
            None => {
                if let Some((repo, head)) = branch_of(&session) {
                    let branch = Branch {
                        repo,
                        head,
                        next_at: Instant::now(),
                        failures: 0,
                        alive,
                    };
                    self.branches.insert(session.id.clone(), branch);
                }
            }
        }
    }

    /// PRs no session shows any more are no longer polled.
    fn forget_unused(&mut self) {
        let sessions = &self.sessions;
        self.prs
            .retain(|url, _| sessions.values().any(|urls| urls.contains(url)));
        let repos: Vec<String> = (self.prs.values().map(|p| &p.repo))
            .chain(self.branches.values().map(|b| &b.repo))
            .map(|repo| format!("/repos/{repo}/"))
            .collect();
        self.etags
            .retain(|url, _| repos.iter().any(|r| url.contains(r.as_str())));
    }

    fn next_due(&self) -> Option<Instant> {
        let prs = self.prs.values().map(|p| p.next_at);
        let branches = self.branches.values().map(|b| b.next_at);
        let due = prs.chain(branches).min()?;
        Some(self.blocked_until.map_or(due, |b| due.max(b)))
    }

    /// Polls every PR and branch that is due; false once the supervisor is gone.
    fn poll_due(&mut self) -> bool {
        let now = Instant::now();
        if self.blocked_until.is_some_and(|b| now < b) {
            return true;
        }
        self.blocked_until = None;
        let branches: Vec<String> = self
            .branches
            .iter()
            .filter(|(_, b)| b.next_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in branches {
            if self.blocked_until.is_some() {
                return true;
            }
            if !self.look_up_branch(&id) {
                return false;
            }
        }
        let due: Vec<String> = self
            .prs
            .iter()
            .filter(|(_, p)| p.next_at <= now)
            .map(|(url, _)| url.clone())
            .collect();
        for url in due {
            if self.blocked_until.is_some() {
                break;
            }
            if !self.poll_pr(&url) {
                return false;
            }
        }
        true
    }

    /// Asks for the PR whose head is the session's branch; a new one joins the session's
    /// PRs (and is polled from then on). False once the supervisor is gone.
    fn look_up_branch(&mut self, id: &str) -> bool {
        let Some(b) = self.branches.get(id) else {
            return true;
        };
        let owner = b.repo.split('/').next().unwrap_or_default();
        let url = format!(
            "{}/repos/{}/pulls?head={}:{}&state=all",
            self.api, b.repo, owner, b.head
        );
        let (repo, alive) = (b.repo.clone(), b.alive);
        let result = self.get(&url);
        if matches!(result, Err(Failed::RateLimited)) {
            self.log_failure(&url, Failed::RateLimited);
            return true;
        }
        let pause = self.pause(alive, result.is_err(), self.branches[id].failures);
        let b = self.branches.get_mut(id).expect("branch");
        b.next_at = Instant::now() + pause;
        let found = match result {
            Ok(v) => {
                b.failures = 0;
                v
            }
            Err(e) => {
                b.failures += 1;
                self.log_failure(&url, e);
                return true;
            }
        };
        let known = self.sessions.get(id).cloned().unwrap_or_default();
        let new: Vec<Pr> = found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pr| {
                let url = pr["html_url"].as_str()?.to_string();
                let number = pr["number"].as_u64()?;
                (!known.contains(&url)).then(|| unknown_pr(url, number, &repo))
            })
            .collect();
        if new.is_empty() {
            return true;
        }
        self.report.send(Finding::Prs {
            id: id.to_string(),
            prs: new,
        })
    }

    /// Polls one PR; a status that changed goes to every session showing it. False once the
    /// supervisor is gone.
    fn poll_pr(&mut self, url: &str) -> bool {
        let Some(p) = self.prs.get(url) else {
            return true;
        };
        let (repo, number) = (p.repo.clone(), p.number);
        let result = self.status_of(&repo, number);
        let Some(p) = self.prs.get_mut(url) else {
            return true;
        };
        let status = match result {
            Ok(s) => s,
            // Not this PR's fault: it is asked first once the limit resets.
            Err(Failed::RateLimited) => {
                self.log_failure(url, Failed::RateLimited);
                return true;
            }
            Err(e) => {
                p.failures += 1;
                let failures = p.failures;
                let open = p.status.as_ref().is_none_or(|s| is_open(s.state));
                let pause = self.pause(open, true, failures);
                if let Some(p) = self.prs.get_mut(url) {
                    p.next_at = Instant::now() + pause;
                }
                self.log_failure(url, e);
                return true;
            }
        };
        p.failures = 0;
        let changed = p.status.as_ref() != Some(&status);
        p.status = Some(status.clone());
        let pause = self.pause(is_open(status.state), false, 0);
        if let Some(p) = self.prs.get_mut(url) {
            p.next_at = Instant::now() + pause;
        }
        if !changed {
            return true;
        }
        let pr = Pr {
            url: url.to_string(),
            number,
            repo,
            state: status.state.into(),
            checks: status.checks.into(),
            review: status.review.into(),
            color: color(&status).into(),
        };
        let showing: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, urls)| urls.iter().any(|u| u == url))
            .map(|(id, _)| id.clone())
            .collect();
        showing.into_iter().all(|id| {
            self.report.send(Finding::Prs {
                id,
                prs: vec![pr.clone()],
            })
        })
    }

    /// How long until the next poll: the interval while open (or alive), ten times that when
    /// closed, doubling per failure up to half an hour.
    fn pause(&self, open: bool, failed: bool, failures: u32) -> Duration {
        let base = if open {
            self.interval
        } else {
            self.interval * SLOW_FACTOR
        };
        if !failed {
            return base;
        }
        let factor = 1u32 << failures.min(10);
        (self.interval * factor)
            .min(MAX_BACKOFF)
            .max(base.min(MAX_BACKOFF))
    }

    fn log_failure(&self, url: &str, failed: Failed) {
        match failed {
            Failed::RateLimited => log::warn!(
                "GitHub rate limit reached; no PR status requests for {}",
                crate::profile::format_duration(self.blocked_until.map_or(Duration::ZERO, |b| {
                    b.saturating_duration_since(Instant::now())
                }))
            ),
            Failed::NotFound => log::warn!("PR status: {url} not found"),
            Failed::Other(why) => log::warn!("PR status: {url}: {why}"),
        }
    }

    /// The PR's state, its head commit's checks and its review decision.
    fn status_of(&mut self, repo: &str, number: u64) -> Result<Status, Failed> {
        let pr = self.get(&format!("{}/repos/{repo}/pulls/{number}", self.api))?;
        let state = match (
            pr["state"].as_str(),
            pr["merged"].as_bool(),
            pr["draft"].as_bool(),
        ) {
            (_, Some(true), _) => "merged",
            (Some("closed"), _, _) if !pr["merged_at"].is_null() => "merged",
            (Some("closed"), _, _) => "closed",
            (Some("open"), _, Some(true)) => "draft",
            (Some("open"), _, _) => "open",
            _ => "unknown",
        };
        let checks = match pr["head"]["sha"].as_str() {
            Some(sha) => {
                let runs = self.get_optional(&format!(
                    "{}/repos/{repo}/commits/{sha}/check-runs",
                    self.api
                ))?;
                let combined =
                    self.get_optional(&format!("{}/repos/{repo}/commits/{sha}/status", self.api))?;
                checks_of(&runs, &combined)
            }
            None => "unknown",
        };
        let reviews =
            self.get_optional(&format!("{}/repos/{repo}/pulls/{number}/reviews", self.api))?;
        Ok(Status {
            state,
            checks,
            review: review_of(&pr, &reviews),
        })
    }

    /// A resource that may not exist (no checks API on an old Enterprise server): `null`.
    fn get_optional(&mut self, url: &str) -> Result<Value, Failed> {
        match self.get(url) {
            Err(Failed::NotFound) => Ok(Value::Null),
            other => other,
        }
    }

    /// One conditional GET: a `304` answers from the body stored with its `ETag`.
    fn get(&mut self, url: &str) -> Result<Value, Failed> {
        let mut request = self
            .agent
            .get(url)
            .header("authorization", &format!("Bearer {}", self.token))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        if let Some((etag, _)) = self.etags.get(url) {
            request = request.header("if-none-match", etag);
        }
        let mut response = request.call().map_err(|e| Failed::Other(http_error(&e)))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        let status = response.status().as_u16();
        match status {
            304 => match self.etags.get(url) {
                Some((_, body)) => Ok(body.clone()),
                None => Err(Failed::Other("304 without a stored answer".into())),
            },
            200 => {
                let etag = header("etag");
                let text = response
                    .body_mut()
                    .read_to_string()
                    .map_err(|e| Failed::Other(http_error(&e)))?;
                let body: Value = serde_json::from_str(&text)
                    .map_err(|e| Failed::Other(format!("not JSON: {e}")))?;
                if let Some(etag) = etag {
                    self.etags.insert(url.to_string(), (etag, body.clone()));
                }
                Ok(body)
            }
            403 | 429 => {
                let spent = header("x-ratelimit-remaining").as_deref() == Some("0");
                let reset = header("x-ratelimit-reset").and_then(|r| r.parse::<u64>().ok());
                let retry = header("retry-after").and_then(|r| r.parse::<u64>().ok());
                let wait = match (retry, reset) {
                    (Some(s), _) => Some(Duration::from_secs(s)),
                    (None, Some(at)) if spent => Some(until_epoch(at)),
                    _ if status == 429 => Some(self.interval),
                    _ => None,
                };
                match wait {
                    Some(w) => {
                        self.blocked_until = Some(Instant::now() + w);
                        Err(Failed::RateLimited)
                    }
                    None => Err(Failed::Other(format!("HTTP {status}"))),
                }
            }
            404 => Err(Failed::NotFound),
            other => Err(Failed::Other(format!("HTTP {other}"))),
        }
    }
}

/// How long from now until a Unix time (at least a second: the reset is whole seconds).
fn until_epoch(at: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(at)
        .saturating_sub(now)
        .max(Duration::from_secs(1))
}

fn is_github(url: &str) -> bool {
    url.contains("/pull/")
}

fn is_open(state: &str) -> bool {
    matches!(state, "open" | "draft" | "unknown")
}

fn unknown_pr(url: String, number: u64, repo: &str) -> Pr {
    Pr {
        url,
        number,
        repo: repo.to_string(),
        state: "unknown".into(),
        checks: "unknown".into(),
        review: "unknown".into(),
        color: "grey".into(),
    }
}

/// `passing`, `failing`, `pending` or `none`, from the check runs and the combined status of
/// the head commit.
fn checks_of(runs: &Value, combined: &Value) -> &'static str {
    let runs: &[Value] = runs["check_runs"].as_array().map_or(&[], |r| r.as_slice());
    let statuses = combined["total_count"].as_u64().unwrap_or(0) > 0;
    let combined_state = combined["state"].as_str().filter(|_| statuses);
    let failed_run = runs.iter().any(|r| {
        matches!(
            r["conclusion"].as_str(),
            Some("failure" | "timed_out" | "cancelled" | "action_required" | "startup_failure")
        )
    });
    if failed_run || matches!(combined_state, Some("failure" | "error")) {
        return "failing";
    }
    let running = runs
        .iter()
        .any(|r| r["status"].as_str() != Some("completed"));
    if running || combined_state == Some("pending") {
        return "pending";
    }
    if runs.is_empty() && !statuses {
        return "none";
    }
    "passing"
}

/// GitHub's review decision from the REST API: the latest review of each reviewer, and
/// reviewers still asked.
fn review_of(pr: &Value, reviews: &Value) -> &'static str {
    let mut latest: HashMap<&str, &str> = HashMap::new();
    for r in reviews.as_array().into_iter().flatten() {
        let (Some(user), Some(state)) = (r["user"]["login"].as_str(), r["state"].as_str()) else {
            continue;
        };
        match state {
            "APPROVED" | "CHANGES_REQUESTED" => {
                latest.insert(user, state);
            }
            "DISMISSED" => {
                latest.remove(user);
            }
            _ => {}
        }
    }
    let asked = |key: &str| pr[key].as_array().is_some_and(|a| !a.is_empty());
    if latest.values().any(|s| *s == "CHANGES_REQUESTED") {
        "changes_requested"
    } else if asked("requested_reviewers") || asked("requested_teams") {
        "review_required"
    } else if latest.values().any(|s| *s == "APPROVED") {
        "approved"
    } else {
        "none"
    }
}

/// SPEC 10: red (checks failing or changes requested), yellow (checks running or review
/// pending), green (open, checks passing), purple (merged), grey (closed or draft).
fn color(s: &Status) -> &'static str {
    match s.state {
        "merged" => "purple",
        "open" if s.checks == "failing" || s.review == "changes_requested" => "red",
        "open" if s.checks == "pending" || s.review == "review_required" => "yellow",
        "open" => "green",
        _ => "grey",
    }
}

/// A `crew/<name>` session's GitHub repository (from its checkout's `origin` remote) and
/// branch.
fn branch_of(session: &Session) -> Option<(String, String)> {
    let branch = session.branch.as_ref().filter(|b| b.starts_with("crew/"))?;
    let dir = session.worktree.as_deref().unwrap_or(&session.cwd);
    let repo = git2::Repository::open(dir).ok()?;
    let remote = repo.find_remote("origin").ok()?;
    let slug = repo_slug(remote.url().ok()?)?;
    Some((slug, branch.clone()))
}

/// `owner/name` from a remote URL: `git@host:owner/name.git`, `https://host/owner/name`,
/// `ssh://git@host/owner/name.git`.
fn repo_slug(url: &str) -> Option<String> {
    let path = url.trim_end_matches('/').trim_end_matches(".git");
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.split_once('/')?.1,
        None => path.split_once(':')?.1,
    };
    let mut parts = path.rsplit('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let owner = parts.next().filter(|o| !o.is_empty())?;
    Some(format!("{owner}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(state: &'static str, checks: &'static str, review: &'static str) -> Status {
        Status {
            state,
            checks,
            review,
        }
    }

    #[test]
    fn colours_follow_spec_10() {
        assert_eq!(color(&status("open", "passing", "approved")), "green");
        assert_eq!(color(&status("open", "none", "none")), "green");
        assert_eq!(color(&status("open", "failing", "approved")), "red");
        assert_eq!(
            color(&status("open", "passing", "changes_requested")),
            "red"
        );
        assert_eq!(color(&status("open", "pending", "none")), "yellow");
        assert_eq!(
            color(&status("open", "passing", "review_required")),
            "yellow"
        );
        assert_eq!(color(&status("merged", "failing", "none")), "purple");
        assert_eq!(color(&status("closed", "passing", "none")), "grey");
        assert_eq!(color(&status("draft", "failing", "none")), "grey");
    }

    #[test]
    fn checks_combine_check_runs_and_statuses() {
        let run =
            |status: &str, conclusion: Value| json!({"status": status, "conclusion": conclusion});
        let runs = |r: Vec<Value>| json!({"total_count": r.len(), "check_runs": r});
        let none = json!({"state": "pending", "total_count": 0});
        assert_eq!(checks_of(&runs(vec![]), &none), "none");
        assert_eq!(checks_of(&Value::Null, &Value::Null), "none");
        let ok = run("completed", json!("success"));
        assert_eq!(checks_of(&runs(vec![ok.clone()]), &none), "passing");
        let going = run("in_progress", Value::Null);
        assert_eq!(checks_of(&runs(vec![ok.clone(), going]), &none), "pending");
        let bad = run("completed", json!("failure"));
        assert_eq!(checks_of(&runs(vec![ok, bad]), &none), "failing");
        let failing = json!({"state": "failure", "total_count": 1});
        assert_eq!(checks_of(&runs(vec![]), &failing), "failing");
        let pending = json!({"state": "pending", "total_count": 2});
        assert_eq!(checks_of(&runs(vec![]), &pending), "pending");
    }

    #[test]
    fn the_review_decision_takes_each_reviewers_latest_review() {
        let pr = json!({"requested_reviewers": []});
        let review = |user: &str, state: &str| json!({"user": {"login": user}, "state": state});
        let reviews = json!([review("a", "CHANGES_REQUESTED"), review("a", "APPROVED")]);
        assert_eq!(review_of(&pr, &reviews), "approved");
        let reviews = json!([review("a", "APPROVED"), review("b", "CHANGES_REQUESTED")]);
        assert_eq!(review_of(&pr, &reviews), "changes_requested");
        let reviews = json!([review("b", "CHANGES_REQUESTED"), review("b", "DISMISSED")]);
        assert_eq!(review_of(&pr, &reviews), "none");
        let asked = json!({"requested_reviewers": [{"login": "c"}]});
        assert_eq!(review_of(&asked, &json!([])), "review_required");
    }

    #[test]
    fn repo_slugs_come_from_every_remote_form() {
        for url in [
            "git@github.com:o/r.git",
            "https://github.com/o/r",
            "https://github.com/o/r.git/",
            "ssh://git@github.com/o/r.git",
            "https://ghe.example.com/o/r.git",
        ] {
            assert_eq!(repo_slug(url).as_deref(), Some("o/r"), "{url}");
        }
        assert_eq!(repo_slug("/srv/git/r"), None);
    }
}
