//! `crew report <state>`: run by an agent or its hooks inside a session. Talks to its own
//! host directly (never starts the supervisor) and must be quick: it runs on every tool call.

use std::io::Read;
use std::time::Duration;

use mux::client::Client;
use mux::protocol::{HostRequest, Reply};
use mux::store::{self, Home};
use serde_json::Value;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// working, needs_input, idle, completed or failed.
    state: String,
    /// What to show: the question, or why it failed.
    #[arg(long, value_name = "TEXT")]
    message: Option<String>,
    /// A JSON payload (Codex `notify` passes one); its `message` or
    /// `last-assistant-message` field becomes the message.
    json: Option<String>,
}

pub fn run(args: &ReportArgs) -> Result<(), String> {
    let id = std::env::var("CREW_SESSION_ID").map_err(|_| {
        "crew report runs inside a crew session (CREW_SESSION_ID is not set)".to_string()
    })?;
    if !store::is_valid_id(&id) {
        return Err(format!("CREW_SESSION_ID '{id}' is not a session id"));
    }
    let home = Home::from_env();
    let payload = args
        .json
        .clone()
        .or_else(stdin_payload)
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    let Some((state, from_payload)) = refine(&args.state, payload.as_ref()) else {
        return Ok(());
    };
    let message = args.message.clone().or(from_payload);
    let mut c = Client::connect(&home.host_sock(&id))
        .map_err(|e| format!("cannot reach session {id}: {e}"))?;
    c.set_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    match c.request(&HostRequest::Report { state, message }) {
        Ok(Reply::Ok) => Ok(()),
        Ok(Reply::Error { message }) => Err(message),
        Ok(other) => Err(format!("unexpected answer from the host: {other:?}")),
        Err(e) => Err(format!("session {id} did not answer: {e}")),
    }
}

/// JSON on stdin, as Claude Code hooks send it, when stdin is not a terminal. Waits only
/// briefly for the first byte so an idle pipe never hangs the agent.
fn stdin_payload() -> Option<String> {
    if unsafe { libc::isatty(0) } == 1 {
        return None;
    }
    let mut pfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    if unsafe { libc::poll(&mut pfd, 1, 200) } <= 0 {
        return None;
    }
    let mut text = String::new();
    std::io::stdin()
        .take(1 << 20)
        .read_to_string(&mut text)
        .ok()?;
    Some(text).filter(|t| !t.trim().is_empty())
}

/// The state to report and its message, as the hook's JSON refines them (Claude Code sends
/// one per event): a question asked through the `AskUserQuestion` tool needs the user, and a
/// subagent's stop (`None`) is not the session's turn ending. The message is the event's
/// text: a notification's `message`, a failure's `error`, or the turn's last message.
fn refine(state: &str, payload: Option<&Value>) -> Option<(String, Option<String>)> {
    let Some(v) = payload else {
        return Some((state.to_string(), None));
    };
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    match field("hook_event_name") {
        Some("SubagentStop") => return None,
        Some("PreToolUse") if field("tool_name") == Some("AskUserQuestion") => {
            let input = &v["tool_input"];
            let question = input["questions"][0]["question"]
                .as_str()
                .or_else(|| input["question"].as_str())
                .map(str::to_string);
            return Some(("needs_input".into(), question));
        }
        _ => {}
    }
    let keys: &[&str] = if state == "failed" {
        &["error", "message", "last_assistant_message"]
    } else {
        &[
            "message",
            "last-assistant-message",
            "last_assistant_message",
        ]
    };
    let message = keys.iter().find_map(|k| field(k)).map(str::to_string);
    Some((state.to_string(), message))
}

#[cfg(test)]
mod tests {
    use super::refine;

    fn refined(state: &str, json: &str) -> Option<(String, Option<String>)> {
        refine(state, Some(&serde_json::from_str(json).unwrap()))
    }

    #[test]
    fn messages_come_from_hook_payloads() {
        let said = |state: &str, json: &str| refined(state, json).unwrap().1;
        assert_eq!(
            said("needs_input", r#"{"message":"allow Bash?"}"#).as_deref(),
            Some("allow Bash?")
        );
        assert_eq!(
            said(
                "completed",
                r#"{"type":"agent-turn-complete","last-assistant-message":"done"}"#
            )
            .as_deref(),
            Some("done")
        );
        assert_eq!(
            said(
                "failed",
                r#"{"error":"rate_limit","last_assistant_message":"x"}"#
            )
            .as_deref(),
            Some("rate_limit")
        );
        assert_eq!(refine("idle", None), Some(("idle".into(), None)));
    }

    #[test]
    fn hook_events_refine_the_state() {
        assert_eq!(
            refined(
                "working",
                r#"{"hook_event_name":"PreToolUse","tool_name":"AskUserQuestion",
                    "tool_input":{"questions":[{"question":"Which database?"}]}}"#
            ),
            Some(("needs_input".into(), Some("Which database?".into())))
        );
        assert_eq!(
            refined("completed", r#"{"hook_event_name":"SubagentStop"}"#),
            None
        );
        assert_eq!(
            refined(
                "working",
                r#"{"hook_event_name":"PreToolUse","tool_name":"Bash"}"#
            ),
            Some(("working".into(), None))
        );
    }
}
