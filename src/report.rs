//! `crew report <state>`: run by an agent or its hooks inside a session. Talks to its own
//! host directly (never starts the supervisor) and must be quick: it runs on every tool call.

use std::io::Read;
use std::time::Duration;

use mux::client::Client;
use mux::protocol::{HostRequest, Reply};
use mux::store::{self, Home};

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
    let message = match &args.message {
        Some(m) => Some(m.clone()),
        None => {
            let payload = args.json.clone().or_else(stdin_payload);
            payload.as_deref().and_then(message_from_json)
        }
    };
    let mut c = Client::connect(&home.host_sock(&id))
        .map_err(|e| format!("cannot reach session {id}: {e}"))?;
    c.set_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    match c.request(&HostRequest::Report {
        state: args.state.clone(),
        message,
    }) {
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

fn message_from_json(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    [
        "message",
        "last-assistant-message",
        "last_assistant_message",
    ]
    .iter()
    .find_map(|k| v.get(*k).and_then(|m| m.as_str()))
    .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_come_from_hook_payloads() {
        assert_eq!(
            super::message_from_json(r#"{"message":"allow Bash?"}"#).as_deref(),
            Some("allow Bash?")
        );
        assert_eq!(
            super::message_from_json(
                r#"{"type":"agent-turn-complete","last-assistant-message":"done"}"#
            )
            .as_deref(),
            Some("done")
        );
        assert_eq!(super::message_from_json("not json"), None);
    }
}
