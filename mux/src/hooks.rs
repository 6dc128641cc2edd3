//! The per-session settings file a profile's `{hooks}` names: it wires the agent's own
//! notification mechanism to `crew report` for this session only. The user's own agent
//! settings are never read for writing or changed.

use std::path::Path;

use serde_json::{json, Value};

use crate::profile::Hooks;

/// Writes the settings file for `kind` at `path` (0600, atomically). `crew` is the crew
/// binary the hooks run; `env` is the dispatch's environment.
pub fn write(
    kind: Hooks,
    path: &Path,
    crew: &str,
    env: &[(String, String)],
) -> std::io::Result<()> {
    let settings = match kind {
        Hooks::None => return Ok(()),
        Hooks::Claude => claude(crew),
        Hooks::Gemini => gemini(env),
    };
    let mut bytes = serde_json::to_vec_pretty(&settings).expect("settings serialize");
    bytes.push(b'\n');
    crate::store::write_atomic(path, &bytes)
}

/// Claude Code settings for `claude --settings FILE`: its hooks merge with the user's own.
/// `crew report` reads each event's JSON on stdin, so one hook per event is enough: an
/// `AskUserQuestion` tool call becomes a question there. `SubagentStop` is left out on
/// purpose: a subagent finishing is not the session's turn ending.
fn claude(crew: &str) -> Value {
    let report = |state: &str| json!([{ "hooks": [{ "type": "command", "command": format!("{} report {state}", shell_quote(crew)) }] }]);
    let mut pre_tool = report("working");
    pre_tool[0]["matcher"] = json!("*");
    let mut notification = report("needs_input");
    notification[0]["matcher"] = json!("permission_prompt|elicitation_dialog");
    json!({
        "hooks": {
            "UserPromptSubmit": report("working"),
            "PreToolUse": pre_tool,
            "Notification": notification,
            "Stop": report("completed"),
            "StopFailure": report("failed"),
            "SessionEnd": report("idle"),
        }
    })
}

/// Gemini CLI system defaults (`GEMINI_CLI_SYSTEM_DEFAULTS_PATH`), the weakest settings
/// layer, so the user's own settings still win: the existing system defaults with
/// notifications turned on, which makes Gemini send OSC 9 (or a bell) when it needs you.
fn gemini(env: &[(String, String)]) -> Value {
    let existing = env
        .iter()
        .find(|(k, _)| k == "GEMINI_CLI_SYSTEM_DEFAULTS_PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "/etc/gemini-cli/system-defaults.json".into());
    let mut settings: Value = std::fs::read(&existing)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if !settings["general"].is_object() {
        settings["general"] = json!({});
    }
    if settings["general"].get("enableNotifications").is_none() {
        settings["general"]["enableNotifications"] = json!(true);
    }
    settings
}

/// `s` as one shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_hooks_report_each_event() {
        let s = claude("/opt/my crew/crew");
        let cmd = |event: &str| s["hooks"][event][0]["hooks"][0]["command"].clone();
        assert_eq!(cmd("Stop"), "'/opt/my crew/crew' report completed");
        assert_eq!(cmd("StopFailure"), "'/opt/my crew/crew' report failed");
        assert_eq!(
            s["hooks"]["Notification"][0]["matcher"],
            "permission_prompt|elicitation_dialog"
        );
        assert!(s["hooks"].get("SubagentStop").is_none());
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
