//! Row summaries written by a model (the Messages API) or a local program (SPEC 9), on their
//! own thread: a request can take seconds and must never hold up the supervisor's loop.
//!
//! When: first as soon as a session has output, then at most once per `summary_interval`
//! while it works, plus once when a turn ends. Never twice for the same text: a session that
//! did not change costs nothing. A failure keeps the last summary and backs off (doubling from
//! the interval, or as long as the API's `retry-after` says).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::annotate::{spawn, Finding, Helper, Report, Update};
use crate::profile::Config;
use crate::protocol::{Process, Session, State};
use crate::store::Home;

/// Screen lines a summary is written from.
const TAIL_LINES: usize = 40;
/// A session with no output yet is looked at again this soon.
const NO_OUTPUT_RETRY: Duration = Duration::from_secs(1);
/// The longest a failing writer waits before trying again.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Summaries longer than this are cut (SPEC 9: one line of about 80 characters).
const MAX_CHARS: usize = 80;
const ANTHROPIC_VERSION: &str = "2023-06-01";

const INSTRUCTIONS: &str = "You write the status line of a coding-agent session for a \
dashboard row. From the session's screen below, say in one line of at most 80 characters \
what it is doing, what it needs from the user, or what it produced. No quotes, no preamble.";

/// Who writes the summaries.
enum Writer {
    Api {
        url: String,
        key: String,
        model: String,
        agent: ureq::Agent,
    },
    Command(Vec<String>),
}

/// One session as the writer follows it.
struct Followed {
    session: Box<Session>,
    /// Not before this instant.
    next_at: Instant,
    /// A turn ended since the last summary: summarise now, whatever the interval says.
    turn_ended: bool,
    /// Hash of the text last summarised.
    last_text: Option<u64>,
}

/// Why a summary could not be written; `retry_after` when the server said how long to wait.
struct Failure {
    why: String,
    retry_after: Option<Duration>,
}

struct Summaries {
    home: Home,
    writer: Writer,
    interval: Duration,
    timeout: Duration,
    followed: HashMap<String, Followed>,
    /// While failing: no request before this instant, and the wait after the next failure.
    backoff: Option<(Instant, Duration)>,
    report: Report,
}

/// Starts the writer when `summary_command` or `ANTHROPIC_API_KEY` is set; `None` leaves
/// summaries to the hosts' local extract.
pub(super) fn start(home: &Home, config: &Config, report: Report) -> Option<Sender<Update>> {
    let writer = match (&config.summary_command, std::env::var("ANTHROPIC_API_KEY")) {
        (Some(argv), _) => Writer::Command(argv.clone()),
        (None, Ok(key)) if !key.trim().is_empty() => {
            let base = std::env::var("ANTHROPIC_BASE_URL")
                .ok()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| "https://api.anthropic.com".into());
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(config.summary_timeout))
                .http_status_as_error(false)
                .build()
                .into();
            Writer::Api {
                url: format!("{}/v1/messages", base.trim_end_matches('/')),
                key: key.trim().to_string(),
                model: config.summary_model.clone(),
                agent,
            }
        }
        _ => return None,
    };
    let summaries = Summaries {
        home: home.clone(),
        writer,
        interval: config.summary_interval,
        timeout: config.summary_timeout,
        followed: HashMap::new(),
        backoff: None,
        report,
    };
    spawn("summaries", summaries)
}

impl Helper for Summaries {
    fn follow(&mut self, update: Update) {
        self.follow(update);
    }

    fn next_due(&self) -> Option<Instant> {
        self.next_due()
    }

    fn work(&mut self) -> bool {
        self.write_due()
    }
}

impl Summaries {
    fn follow(&mut self, update: Update) {
        let session = match update {
            Update::Removed(id) => {
                self.followed.remove(&id);
                return;
            }
            Update::Session(s) => s,
        };
        let now = Instant::now();
        match self.followed.get_mut(&session.id) {
            Some(f) => {
                let was_working = f.session.state == State::Working;
                let was_alive = f.session.process == Process::Alive;
                if (was_working && session.state != State::Working)
                    || (was_alive && session.process != Process::Alive)
                {
                    // A turn end is summarised now, whatever the interval says.
                    f.turn_ended = true;
                    f.next_at = now;
                }
                f.session = session;
            }
            None => {
                let f = Followed {
                    session,
                    next_at: now,
                    turn_ended: false,
                    last_text: None,
                };
                self.followed.insert(f.session.id.clone(), f);
            }
        }
    }

    /// The earliest instant some session is due, if any is.
    fn next_due(&self) -> Option<Instant> {
        let due = self
            .followed
            .values()
            .filter_map(|f| self.due_at(f))
            .min()?;
        Some(match self.backoff {
            Some((until, _)) => due.max(until),
            None => due,
        })
    }

    /// When a session should be summarised next: at once after a turn ended, on its clock
    /// while it works, never while it does nothing.
    fn due_at(&self, f: &Followed) -> Option<Instant> {
        let working = f.session.state == State::Working && f.session.process == Process::Alive;
        (working || f.turn_ended).then_some(f.next_at)
    }

    /// Writes every due summary; false once the supervisor is gone.
    fn write_due(&mut self) -> bool {
        let now = Instant::now();
        if self.backoff.is_some_and(|(until, _)| now < until) {
            return true;
        }
        let mut due: Vec<(Instant, String)> = self
            .followed
            .values()
            .filter_map(|f| {
                Some((
                    self.due_at(f).filter(|at| *at <= now)?,
                    f.session.id.clone(),
                ))
            })
            .collect();
        due.sort();
        for (_, id) in due {
            match self.write_one(&id) {
                Ok(None) => {}
                Ok(Some(text)) => {
                    self.backoff = None;
                    if !self.report.send(Finding::Summary { id, text }) {
                        return false;
                    }
                }
                Err(f) => {
                    let wait = match self.backoff {
                        Some((_, last)) => (last * 2).min(MAX_BACKOFF),
                        None => self.interval,
                    };
                    let wait = f.retry_after.map_or(wait, |r| r.max(wait));
                    log::warn!(
                        "summary of {id} failed: {}; trying again in {}",
                        f.why,
                        crate::profile::format_duration(wait)
                    );
                    self.backoff = Some((Instant::now() + wait, wait));
                    break;
                }
            }
        }
        true
    }

    /// Summarises one session when its screen changed since the last summary. `Ok(None)`:
    /// nothing to say (no output yet, or nothing new).
    fn write_one(&mut self, id: &str) -> Result<Option<String>, Failure> {
        let Some(f) = self.followed.get_mut(id) else {
            return Ok(None);
        };
        let tail = screen_tail(&self.home, &f.session);
        if tail.is_empty() {
            // A turn that ended with nothing on screen has nothing to summarise.
            f.turn_ended = false;
            f.next_at = Instant::now() + NO_OUTPUT_RETRY;
            return Ok(None);
        }
        let text = request_text(&f.session, &tail);
        let hash = hash_of(&text);
        f.next_at = Instant::now() + self.interval;
        if f.last_text == Some(hash) {
            f.turn_ended = false;
            return Ok(None);
        }
        let session = f.session.clone();
        let line = match &self.writer {
            Writer::Api {
                url,
                key,
                model,
                agent,
            } => ask_api(agent, url, key, model, &text)?,
            Writer::Command(argv) => ask_command(argv, &text, &session, self.timeout)?,
        };
        let f = self.followed.get_mut(id).expect("followed");
        f.turn_ended = false;
        f.last_text = Some(hash);
        Ok(one_line(&line))
    }
}

/// The bottom of a session's screen, trailing blank lines dropped: from its host, or the
/// screen it left behind.
fn screen_tail(home: &Home, session: &Session) -> String {
    let Ok(text) = crate::client::screen(home, session, false) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let start = end.saturating_sub(TAIL_LINES);
    lines[start..end].join("\n")
}

/// What the writer is asked: the agent, its state, its task and its screen.
fn request_text(session: &Session, tail: &str) -> String {
    let state = serde_json::to_value(session.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let task: String = session
        .prompt
        .as_deref()
        .unwrap_or("(interactive)")
        .chars()
        .take(500)
        .collect();
    let model = session
        .model
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    format!(
        "{INSTRUCTIONS}\n\nAgent: {}{model}\nState: {state}\nTask: {task}\nScreen:\n{tail}\n",
        session.agent
    )
}

fn hash_of(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// One Messages API request. The key goes only into its header: no error names it.
fn ask_api(
    agent: &ureq::Agent,
    url: &str,
    key: &str,
    model: &str,
    text: &str,
) -> Result<String, Failure> {
    let body = serde_json::json!({
        "model": model,
        "max_tokens": 100,
        "messages": [{ "role": "user", "content": text }],
    });
    let fail = |why: String| Failure {
        why,
        retry_after: None,
    };
    let mut response = agent
        .post(url)
        .header("x-api-key", key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .map_err(|e| fail(http_error(&e)))?;
    let status = response.status().as_u16();
    if status != 200 {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        return Err(Failure {
            why: format!("the Messages API answered HTTP {status}"),
            retry_after,
        });
    }
    let answer = response
        .body_mut()
        .read_to_string()
        .map_err(|e| fail(http_error(&e)))?;
    let value: serde_json::Value = serde_json::from_str(&answer).map_err(|e| {
        fail(format!(
            "the Messages API answered something else than JSON: {e}"
        ))
    })?;
    value["content"]
        .as_array()
        .and_then(|blocks| blocks.iter().find_map(|b| b["text"].as_str()))
        .map(str::to_string)
        .ok_or_else(|| fail("the Messages API answer has no text".into()))
}

/// An HTTP failure in words, without the request (its headers hold the key).
pub(super) fn http_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => format!("request failed: {other}"),
    }
}

/// Pipes the request text to `summary_command`; its first line of output is the summary.
fn ask_command(
    argv: &[String],
    text: &str,
    session: &Session,
    timeout: Duration,
) -> Result<String, Failure> {
    let fail = |why: String| Failure {
        why,
        retry_after: None,
    };
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("CREW_SESSION_ID", &session.id)
        .env("CREW_AGENT", &session.agent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run summary_command {}: {e}", argv[0])))?;
    let stdin = child.stdin.take();
    let input = text.to_string();
    // A program that does not read its input must not block this thread.
    std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(input.as_bytes());
        }
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.by_ref().take(64 * 1024).read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let out = match rx.recv_timeout(timeout) {
        Ok(out) => out,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "summary_command took longer than {}",
                crate::profile::format_duration(timeout)
            )));
        }
    };
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("summary_command failed: {status}")));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The first line with words in it, control characters dropped, quotes trimmed, cut to
/// about 80 characters.
fn one_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let clean: String = line.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().trim_matches(['"', '\'', '`']).trim();
    if clean.is_empty() {
        return None;
    }
    if clean.chars().count() <= MAX_CHARS {
        return Some(clean.to_string());
    }
    let cut: String = clean.chars().take(MAX_CHARS - 1).collect();
    Some(format!("{}…", cut.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_takes_the_first_line_with_words_and_cuts_it() {
        assert_eq!(
            one_line("\n  \"Fixing the parser\"\nsecond").as_deref(),
            Some("Fixing the parser")
        );
        assert_eq!(one_line("a\x1b[31mb").as_deref(), Some("a[31mb"));
        assert_eq!(one_line("  \n\n"), None);
        let long = one_line(&"word ".repeat(40)).unwrap();
        assert_eq!(long.chars().count(), 80);
        assert!(long.ends_with('…'));
    }
}
