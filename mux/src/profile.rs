//! Agent profiles and `config.toml`.
//!
//! A profile says how to start an agent (command, resume command, how the prompt reaches it,
//! model flag, prompt marker) and how to read its state: which settings file to write for its
//! hooks, and title and screen rules. Everything an agent needs is data here, never a code
//! branch per agent. Built-in profiles cover `shell` and the common agent CLIs; a user
//! profile in `config.toml` with the same name overrides the built-in key by key.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use regex_lite::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::protocol::State;

/// How the prompt reaches the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptDelivery {
    /// As a command-line argument (`{prompt}` in the command).
    Arg,
    /// Typed into the PTY once the agent is ready.
    Type,
}

/// The settings file crew writes at `{hooks}` for a session, so the agent reports its state
/// through `crew report` without touching the user's own settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hooks {
    None,
    /// A Claude Code settings file (`claude --settings`) whose hooks run `crew report`.
    Claude,
    /// A Gemini CLI system-defaults file that turns its notifications (OSC 9 / bell) on.
    Gemini,
}

/// A title or screen rule: when `pattern` matches, the session is in `state`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub pattern: Regex,
    pub state: State,
}

#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub command: Vec<String>,
    /// The command when there is no prompt (an interactive start).
    pub interactive: Option<Vec<String>>,
    pub resume: Option<Vec<String>>,
    /// Arguments inserted after the program when a model is chosen (`{model}` replaced).
    pub model: Option<Vec<String>>,
    pub prompt: PromptDelivery,
    /// With `prompt = "type"`: how long the agent has to show its prompt marker.
    pub ready_timeout: Duration,
    /// Regex for the agent's input prompt marker, used to spot an empty prompt.
    pub prompt_pattern: Option<String>,
    /// Added to the agent's environment (placeholders filled).
    pub env: Vec<(String, String)>,
    pub hooks: Hooks,
    /// Window title rules (OSC 0/2), checked whenever the title changes.
    pub title: Vec<Rule>,
    /// Rules over the bottom rows of the screen, checked once output has been quiet for
    /// `debounce`, so a screen that flickers does not flip the state.
    pub screen: Vec<Rule>,
    pub debounce: Duration,
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn rules(list: &[(&str, State)]) -> Vec<Rule> {
    list.iter()
        .map(|(pattern, state)| Rule {
            pattern: Regex::new(pattern).expect("built-in rules are valid"),
            state: *state,
        })
        .collect()
}

/// A Braille spinner in the window title: Claude Code shows one while it works.
const SPINNER_TITLE: &str = "^[\u{2800}-\u{28FF}]";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const DEBOUNCE: Duration = Duration::from_millis(300);

fn profile(name: &str, command: &[&str]) -> Profile {
    Profile {
        name: name.into(),
        command: strings(command),
        interactive: None,
        resume: None,
        model: None,
        prompt: PromptDelivery::Arg,
        ready_timeout: READY_TIMEOUT,
        prompt_pattern: None,
        env: Vec::new(),
        hooks: Hooks::None,
        title: Vec::new(),
        screen: Vec::new(),
        debounce: DEBOUNCE,
    }
}

/// The profiles crew knows without any configuration. Each passes the prompt, model and
/// conversation id the way its CLI expects, and wires the CLI's own notification mechanism
/// to `crew report` for this session only.
pub fn builtin() -> Vec<Profile> {
    use State::{NeedsInput, Working};
    let mut shell = profile("shell", &["sh", "-c", "{prompt}"]);
    shell.interactive = Some(strings(&["{shell}"]));

    let mut claude = profile(
        "claude",
        &[
            "claude",
            "--session-id",
            "{uuid}",
            "--settings",
            "{hooks}",
            "{prompt}",
        ],
    );
    claude.resume = Some(strings(&[
        "claude",
        "--resume",
        "{uuid}",
        "--settings",
        "{hooks}",
    ]));
    claude.model = Some(strings(&["--model", "{model}"]));
    claude.hooks = Hooks::Claude;
    claude.title = rules(&[(SPINNER_TITLE, Working)]);
    claude.screen = rules(&[
        ("Do you want to (proceed|make this edit|create)", NeedsInput),
        ("esc to interrupt", Working),
    ]);

    let mut codex = profile(
        "codex",
        &[
            "codex",
            "-c",
            "notify=[\"{crew}\",\"report\",\"completed\"]",
            "-c",
            "tui.notifications=true",
            "{prompt}",
        ],
    );
    codex.resume = Some(strings(&["codex", "resume", "--last"]));
    codex.model = Some(strings(&["-m", "{model}"]));
    codex.screen = rules(&[
        (
            "(?i)allow command\\?|would you like to (run|make|apply)",
            NeedsInput,
        ),
        ("esc to interrupt", Working),
    ]);

    // Aider's --message would answer once and exit; typed, the session stays a conversation.
    let mut aider = profile(
        "aider",
        &[
            "aider",
            "--notifications",
            "--notifications-command",
            "'{crew}' report needs_input",
        ],
    );
    aider.prompt = PromptDelivery::Type;
    aider.resume = Some(strings(&["aider", "--restore-chat-history"]));
    aider.model = Some(strings(&["--model", "{model}"]));
    aider.screen = rules(&[("\\(Y\\)es/\\(N\\)o", NeedsInput)]);

    let mut gemini = profile("gemini", &["gemini", "-i", "{prompt}"]);
    gemini.resume = Some(strings(&["gemini", "--resume", "latest"]));
    gemini.model = Some(strings(&["-m", "{model}"]));
    gemini.hooks = Hooks::Gemini;
    gemini.env = vec![("GEMINI_CLI_SYSTEM_DEFAULTS_PATH".into(), "{hooks}".into())];
    gemini.title = rules(&[("^\u{2726}", Working)]);
    gemini.screen = rules(&[
        (
            "Allow execution|Apply this change\\?|Waiting for user confirmation",
            NeedsInput,
        ),
        ("esc to cancel", Working),
    ]);

    vec![shell, claude, codex, aider, gemini]
}

/// What a user can set in `config.toml`. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_agent: Option<Spanned<String>>,
    detach_key: Option<Spanned<String>>,
    idle_reap: Option<Spanned<String>>,
    idle_after: Option<Spanned<String>>,
    worktree: Option<Spanned<String>>,
    disable_agent_view: Option<bool>,
    summary_model: Option<String>,
    summary_interval: Option<Spanned<String>>,
    summary_timeout: Option<Spanned<String>>,
    summary_command: Option<Spanned<Vec<String>>>,
    github_api: Option<Spanned<String>>,
    pr_interval: Option<Spanned<String>>,
    #[serde(default)]
    agents: BTreeMap<String, ProfileFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    command: Option<Vec<String>>,
    interactive: Option<Vec<String>>,
    resume: Option<Vec<String>>,
    model: Option<Vec<String>>,
    prompt: Option<Spanned<String>>,
    ready_timeout: Option<Spanned<String>>,
    prompt_pattern: Option<Spanned<String>>,
    env: Option<BTreeMap<String, String>>,
    hooks: Option<Spanned<String>>,
    debounce: Option<Spanned<String>>,
    title: Option<Vec<RuleFile>>,
    screen: Option<Vec<RuleFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    pattern: Spanned<String>,
    state: Spanned<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorktreeMode {
    Auto,
    Always,
    Never,
}

/// Settings in effect: `config.toml` over the defaults.
#[derive(Clone, Debug)]
pub struct Config {
    pub default_agent: Option<String>,
    pub detach_key: u8,
    pub idle_reap: Duration,
    /// Quiet for this long means idle.
    pub idle_after: Duration,
    pub worktree: WorktreeMode,
    pub disable_agent_view: bool,
    /// The model that writes row summaries (SPEC 9).
    pub summary_model: String,
    /// At most one summary request per working session this often.
    pub summary_interval: Duration,
    /// A summary request or command that takes longer than this has failed.
    pub summary_timeout: Duration,
    /// A local program that writes summaries instead of the Messages API.
    pub summary_command: Option<Vec<String>>,
    /// The GitHub REST API's base URL (GitHub Enterprise: `https://host/api/v3`).
    pub github_api: String,
    /// How often an open PR's status is polled; closed and merged ones ten times less.
    pub pr_interval: Duration,
    pub profiles: Vec<Profile>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            default_agent: None,
            detach_key: 0x1c,
            idle_reap: Duration::from_secs(3600),
            idle_after: Duration::from_secs(2),
            worktree: WorktreeMode::Auto,
            disable_agent_view: false,
            summary_model: "claude-haiku-4-5".into(),
            summary_interval: Duration::from_secs(15),
            summary_timeout: Duration::from_secs(10),
            summary_command: None,
            github_api: "https://api.github.com".into(),
            pr_interval: Duration::from_secs(60),
            profiles: builtin(),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file means the defaults. The error is one line naming the
    /// file, the line and the key.
    pub fn load(path: &Path) -> Result<Config, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let msg = e.message().replace('\n', " ");
            match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }
        })?;
        let bad = |field: &Spanned<String>, key: &str, why: String| {
            format!("line {}: {key}: {why}", line_of(text, field.span().start))
        };
        let mut config = Config::default();
        if let Some(k) = &file.detach_key {
            config.detach_key =
                parse_detach_key(k.get_ref()).map_err(|w| bad(k, "detach_key", w))?;
        }
        if let Some(d) = &file.idle_reap {
            config.idle_reap = parse_duration(d.get_ref()).map_err(|w| bad(d, "idle_reap", w))?;
        }
        if let Some(d) = &file.idle_after {
            config.idle_after = parse_duration(d.get_ref()).map_err(|w| bad(d, "idle_after", w))?;
        }
        if let Some(w) = &file.worktree {
            config.worktree = match w.get_ref().as_str() {
                "auto" => WorktreeMode::Auto,
                "always" => WorktreeMode::Always,
                "never" => WorktreeMode::Never,
                other => {
                    return Err(bad(
                        w,
                        "worktree",
                        format!("'{other}' is not auto, always or never"),
                    ))
                }
            };
        }
        config.disable_agent_view = file.disable_agent_view.unwrap_or(false);
        if let Some(m) = file.summary_model.filter(|m| !m.trim().is_empty()) {
            config.summary_model = m;
        }
        let durations = [
            (
                &file.summary_interval,
                "summary_interval",
                &mut config.summary_interval,
            ),
            (
                &file.summary_timeout,
                "summary_timeout",
                &mut config.summary_timeout,
            ),
            (&file.pr_interval, "pr_interval", &mut config.pr_interval),
        ];
        for (value, key, into) in durations {
            if let Some(d) = value {
                let parsed = parse_duration(d.get_ref()).map_err(|w| bad(d, key, w))?;
                if parsed.is_zero() {
                    return Err(bad(d, key, "must be more than 0".into()));
                }
                *into = parsed;
            }
        }
        if let Some(c) = &file.summary_command {
            if c.get_ref().is_empty() {
                let line = line_of(text, c.span().start);
                return Err(format!("line {line}: summary_command: needs a program"));
            }
            config.summary_command = Some(c.get_ref().clone());
        }
        if let Some(u) = &file.github_api {
            let url = u.get_ref().trim_end_matches('/');
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(
                    u,
                    "github_api",
                    format!("'{url}' is not an http(s) URL"),
                ));
            }
            config.github_api = url.to_string();
        }
        for (name, pf) in file.agents {
            let base = config.profiles.iter().find(|p| p.name == name).cloned();
            let profile = merge_profile(&name, pf, base, &bad)?;
            config.profiles.retain(|p| p.name != name);
            config.profiles.push(profile);
        }
        if let Some(d) = &file.default_agent {
            if config.profile(d.get_ref()).is_none() {
                return Err(bad(
                    d,
                    "default_agent",
                    format!("no agent profile named '{}'", d.get_ref()),
                ));
            }
            config.default_agent = Some(d.get_ref().clone());
        }
        Ok(config)
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// `default_agent`, else the first installed of claude, codex, aider, gemini, else shell.
    pub fn default_profile(&self, path: Option<&std::ffi::OsStr>) -> &Profile {
        if let Some(p) = self.default_agent.as_deref().and_then(|n| self.profile(n)) {
            return p;
        }
        for name in ["claude", "codex", "aider", "gemini"] {
            if let Some(p) = self.profile(name) {
                if p.command.first().is_some_and(|prog| on_path(prog, path)) {
                    return p;
                }
            }
        }
        self.profile("shell")
            .expect("the shell profile always exists")
    }
}

/// A user profile over the built-in of the same name (if any): each key given replaces the
/// built-in's.
fn merge_profile(
    name: &str,
    pf: ProfileFile,
    base: Option<Profile>,
    bad: &dyn Fn(&Spanned<String>, &str, String) -> String,
) -> Result<Profile, String> {
    let key = |k: &str| format!("agents.{name}.{k}");
    let mut p = base.unwrap_or_else(|| Profile::plain(name));
    if let Some(c) = pf.command {
        p.command = c;
    }
    if p.command.is_empty() {
        return Err(format!("[agents.{name}]: command: needs a non-empty list"));
    }
    if pf.interactive.is_some() {
        p.interactive = pf.interactive;
    }
    if pf.resume.is_some() {
        p.resume = pf.resume;
    }
    if pf.model.is_some() {
        p.model = pf.model;
    }
    if let Some(v) = &pf.prompt {
        p.prompt = match v.get_ref().as_str() {
            "arg" => PromptDelivery::Arg,
            "type" => PromptDelivery::Type,
            other => {
                return Err(bad(
                    v,
                    &key("prompt"),
                    format!("'{other}' is not arg or type"),
                ))
            }
        };
    }
    if let Some(v) = &pf.ready_timeout {
        p.ready_timeout =
            parse_duration(v.get_ref()).map_err(|w| bad(v, &key("ready_timeout"), w))?;
    }
    if let Some(v) = &pf.debounce {
        p.debounce = parse_duration(v.get_ref()).map_err(|w| bad(v, &key("debounce"), w))?;
    }
    if let Some(v) = &pf.prompt_pattern {
        Regex::new(v.get_ref()).map_err(|e| {
            bad(
                v,
                &key("prompt_pattern"),
                format!("not a valid regular expression: {e}"),
            )
        })?;
        p.prompt_pattern = Some(v.get_ref().clone());
    }
    if let Some(env) = pf.env {
        p.env = env.into_iter().collect();
    }
    if let Some(v) = &pf.hooks {
        p.hooks = match v.get_ref().as_str() {
            "none" => Hooks::None,
            "claude" => Hooks::Claude,
            "gemini" => Hooks::Gemini,
            other => {
                return Err(bad(
                    v,
                    &key("hooks"),
                    format!("'{other}' is not none, claude or gemini"),
                ))
            }
        };
    }
    let allowed = [State::Working, State::NeedsInput, State::Idle];
    let compile = |list: Vec<RuleFile>, k: &str| -> Result<Vec<Rule>, String> {
        list.into_iter()
            .map(|r| {
                let pattern = Regex::new(r.pattern.get_ref()).map_err(|e| {
                    bad(
                        &r.pattern,
                        &key(k),
                        format!("not a valid regular expression: {e}"),
                    )
                })?;
                let state = State::parse(r.state.get_ref())
                    .filter(|s| allowed.contains(s))
                    .ok_or_else(|| {
                        bad(
                            &r.state,
                            &key(k),
                            format!(
                                "'{}' is not working, needs_input or idle",
                                r.state.get_ref()
                            ),
                        )
                    })?;
                Ok(Rule { pattern, state })
            })
            .collect()
    };
    if let Some(list) = pf.title {
        p.title = compile(list, "title")?;
    }
    if let Some(list) = pf.screen {
        p.screen = compile(list, "screen")?;
    }
    p.name = name.to_string();
    Ok(p)
}

/// Whether `prog` is an executable in one of the directories of `path`.
pub fn on_path(prog: &str, path: Option<&std::ffi::OsStr>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if prog.contains('/') {
        return Path::new(prog).is_file();
    }
    let Some(path) = path else { return false };
    std::env::split_paths(path).any(|dir| {
        std::fs::metadata(dir.join(prog))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// `ctrl-<char>` to the byte the terminal sends for it.
pub fn parse_detach_key(s: &str) -> Result<u8, String> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("ctrl-")
        .or_else(|| lower.strip_prefix("c-"));
    let byte = match rest.map(|r| r.as_bytes()) {
        Some([c @ b'a'..=b'z']) => c - b'a' + 1,
        Some([b'\\']) => 0x1c,
        Some([b']']) => 0x1d,
        Some([b'^']) | Some([b'6']) => 0x1e,
        Some([b'_']) | Some([b'-']) => 0x1f,
        Some([b'@']) | Some([b' ']) | Some([b'2']) => 0x00,
        Some([b'[']) => 0x1b,
        _ => return Err(format!("'{s}' is not a key like ctrl-\\ or ctrl-a")),
    };
    Ok(byte)
}

/// A duration as config.toml writes it: `30s`, `1500ms`, `10m`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(60_000) || ms == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}m", ms / 60_000)
    }
}

/// `1h`, `30m`, `2s`, `500ms`, `1h30m`, or `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("'{s}' is not a duration like 30s, 10m, 1h or 0");
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let d = match &rest[..unit] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86400),
            _ => return Err(bad()),
        };
        total += d;
        rest = &rest[unit..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_key("ctrl-\\").unwrap(), 0x1c);
        assert_eq!(parse_detach_key("ctrl-]").unwrap(), 0x1d);
        assert_eq!(parse_detach_key("ctrl-a").unwrap(), 1);
        assert!(parse_detach_key("alt-x").is_err());
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = Config::parse("idle_reap = \"1h\"\nbogus = 1\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("bogus"), "{e}");
        let e = Config::parse("\nworktree = \"sometimes\"\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("worktree"), "{e}");
        let e = Config::parse("[agents.x]\ncommand = [\"a\"]\ncolour = 3\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("colour"), "{e}");
        let e = Config::parse("default_agent = \"nope\"\n").unwrap_err();
        assert!(e.contains("default_agent"), "{e}");
        let e = Config::parse("\n\nsummary_interval = \"0s\"\n").unwrap_err();
        assert!(
            e.contains("line 3") && e.contains("summary_interval"),
            "{e}"
        );
        let e = Config::parse("github_api = \"api.github.com\"\n").unwrap_err();
        assert!(e.contains("github_api") && e.contains("http"), "{e}");
        let e = Config::parse("summary_command = []\n").unwrap_err();
        assert!(e.contains("line 1: summary_command"), "{e}");
        let e =
            Config::parse("[agents.x]\ncommand = [\"a\"]\nprompt_pattern = \"(\"\n").unwrap_err();
        assert!(e.contains("agents.x.prompt_pattern"), "{e}");
    }

    /// The README's example profile is real configuration.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\nidle_after").expect("the example") + 8;
        let end = start + readme[start..].find("```").unwrap();
        let c = Config::parse(&readme[start..end]).unwrap();
        let p = c.profile("mybot").unwrap();
        assert_eq!(p.prompt, PromptDelivery::Type);
        assert_eq!((p.title.len(), p.screen.len()), (1, 2));
        assert!(p.screen[0].pattern.is_match("Proceed? [y/N]"));
        assert_eq!(p.env, [("MYBOT_COLOR".to_string(), "1".to_string())]);
    }

    #[test]
    fn rules_are_checked_when_read() {
        let e = Config::parse("[agents.x]\ncommand = [\"a\"]\n\n[[agents.x.screen]]\npattern = \"ok\"\nstate = \"sleeping\"\n")
            .unwrap_err();
        assert!(e.contains("line 6") && e.contains("agents.x.screen"), "{e}");
        let e = Config::parse(
            "[agents.x]\ncommand = [\"a\"]\ntitle = [{ pattern = \"(\", state = \"working\" }]\n",
        )
        .unwrap_err();
        assert!(e.contains("line 3") && e.contains("agents.x.title"), "{e}");
        let e = Config::parse("[agents.claude]\nhooks = \"vim\"\n").unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("agents.claude.hooks"),
            "{e}"
        );
        // A user profile overrides a built-in key by key.
        let c = Config::parse("[agents.claude]\nready_timeout = \"5s\"\n").unwrap();
        let claude = c.profile("claude").unwrap();
        assert_eq!(claude.ready_timeout, Duration::from_secs(5));
        assert_eq!(claude.hooks, Hooks::Claude);
        assert!(!claude.title.is_empty());
    }

    #[test]
    fn user_profiles_override_and_add() {
        let c = Config::parse(
            "default_agent = \"mine\"\n[agents.mine]\ncommand = [\"bash\", \"-c\", \"{prompt}\"]\n\
             [agents.shell]\ncommand = [\"dash\", \"-c\", \"{prompt}\"]\n",
        )
        .unwrap();
        assert_eq!(c.default_profile(None).name, "mine");
        assert_eq!(c.profile("shell").unwrap().command[0], "dash");
        assert!(c.profile("shell").unwrap().interactive.is_some());
        let plain = Config::parse("").unwrap();
        assert_eq!(
            plain
                .default_profile(Some(std::ffi::OsStr::new("/nonexistent")))
                .name,
            "shell"
        );
    }
}

/// Values for a profile's placeholders.
pub struct Placeholders<'a> {
    pub prompt: Option<&'a str>,
    pub model: Option<&'a str>,
    pub uuid: &'a str,
    pub session: &'a str,
    pub cwd: &'a str,
    pub hooks: &'a str,
    pub shell: &'a str,
    /// The crew binary, for hooks that call `crew report`.
    pub crew: &'a str,
}

impl Placeholders<'_> {
    fn fill(&self, arg: &str) -> String {
        arg.replace("{prompt}", self.prompt.unwrap_or(""))
            .replace("{model}", self.model.unwrap_or(""))
            .replace("{uuid}", self.uuid)
            .replace("{session}", self.session)
            .replace("{cwd}", self.cwd)
            .replace("{hooks}", self.hooks)
            .replace("{shell}", self.shell)
            .replace("{crew}", self.crew)
    }
}

impl Profile {
    /// The argv that starts this agent: the interactive command when there is no prompt
    /// (or the command without its `{prompt}` argument), plus the model flag.
    pub fn command_for(&self, v: &Placeholders<'_>) -> Result<Vec<String>, String> {
        let base = match (v.prompt, &self.interactive) {
            (None, Some(interactive)) => interactive,
            _ => &self.command,
        };
        let argv = self.expand(base, v)?;
        if argv.is_empty() {
            return Err(format!(
                "agent profile '{}' has an empty command",
                self.name
            ));
        }
        Ok(argv)
    }

    /// A profile with no command yet and every other key at its default: what a user
    /// profile starts from, and what a host uses when its profile is gone from the config.
    pub fn plain(name: &str) -> Profile {
        profile(name, &[])
    }

    /// The profile's extra environment, placeholders filled.
    pub fn env_for(&self, v: &Placeholders<'_>) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|(k, val)| (k.clone(), v.fill(val)))
            .collect()
    }

    /// The argv that resumes this agent's conversation, if the profile has one.
    pub fn resume_for(&self, v: &Placeholders<'_>) -> Option<Vec<String>> {
        let resume = self.resume.as_ref()?;
        let no_prompt = Placeholders { prompt: None, ..*v };
        self.expand(resume, &no_prompt).ok()
    }

    fn expand(&self, base: &[String], v: &Placeholders<'_>) -> Result<Vec<String>, String> {
        let mut argv: Vec<String> = base
            .iter()
            .filter(|a| !(v.prompt.is_none() && a.as_str() == "{prompt}"))
            .map(|a| v.fill(a))
            .collect();
        if let Some(model) = v.model {
            let flag = self
                .model
                .as_ref()
                .ok_or_else(|| format!("agent profile '{}' does not take a model", self.name))?;
            let flag: Vec<String> = flag.iter().map(|a| a.replace("{model}", model)).collect();
            let at = 1.min(argv.len());
            argv.splice(at..at, flag);
        }
        Ok(argv)
    }
}

#[cfg(test)]
mod command_tests {
    use super::*;

    fn vars<'a>(prompt: Option<&'a str>, model: Option<&'a str>) -> Placeholders<'a> {
        Placeholders {
            prompt,
            model,
            uuid: "u-1",
            session: "abcdefgh",
            cwd: "/w",
            hooks: "/h.json",
            shell: "/bin/bash",
            crew: "/bin/crew",
        }
    }

    #[test]
    fn commands_fill_placeholders() {
        let c = Config::default();
        let shell = c.profile("shell").unwrap();
        assert_eq!(
            shell.command_for(&vars(Some("cargo test"), None)).unwrap(),
            ["sh", "-c", "cargo test"]
        );
        assert_eq!(shell.command_for(&vars(None, None)).unwrap(), ["/bin/bash"]);
        assert!(shell.command_for(&vars(Some("x"), Some("m"))).is_err());
        let claude = c.profile("claude").unwrap();
        assert_eq!(
            claude.command_for(&vars(Some("hi"), Some("opus"))).unwrap(),
            [
                "claude",
                "--model",
                "opus",
                "--session-id",
                "u-1",
                "--settings",
                "/h.json",
                "hi"
            ]
        );
        assert_eq!(
            claude.resume_for(&vars(Some("hi"), None)).unwrap(),
            ["claude", "--resume", "u-1", "--settings", "/h.json"]
        );
        let codex = c.profile("codex").unwrap();
        assert_eq!(
            codex.command_for(&vars(Some("fix"), None)).unwrap()[2],
            r#"notify=["/bin/crew","report","completed"]"#
        );
    }
}
