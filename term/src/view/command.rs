//! The dispatch input, parsed in one place (SPEC 4 "The dispatch input"): a prompt with its
//! prefixes, a filter, a PR to select, or a view command.

use std::path::Path;

use crate::groups::Item;

/// Inputs shorter than this are not dispatched (`Too short`).
pub const MIN_PROMPT: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Empty,
    TooShort,
    /// `s:…` / `a:…`: applied as typed; Enter does nothing more.
    Filter,
    /// `#12` or a PR URL: select the session working on it.
    SelectPr(PrRef),
    /// `/model NAME`, or `/model default` (`None`).
    Model(Option<String>),
    /// `/exit`, `/quit`.
    Exit,
    Dispatch(Dispatch),
    /// A `/word` that is not a view command.
    Unknown(String),
}

/// A prompt to dispatch and where its prefixes send it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dispatch {
    pub prompt: String,
    /// `@name …` or a first word naming a profile.
    pub agent: Option<String>,
    /// `@repo …`: the sibling repository `../repo` to run in.
    pub dir: Option<String>,
    /// `/loop DURATION …`: run again this many seconds after each run ends.
    pub every_s: Option<u64>,
    /// `/name …`: dispatch that skill's prompt, with `prompt` appended.
    pub skill: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrRef {
    Number(u64),
    Url(String),
}

impl PrRef {
    pub fn matches(&self, item: &Item) -> bool {
        item.prs.iter().any(|p| match self {
            PrRef::Number(n) => p.number == *n,
            PrRef::Url(u) => p.url.trim_end_matches('/') == u.trim_end_matches('/'),
        })
    }
}

/// Parses what was typed, for Enter. `profiles` are the agent profile names; `cwd` is the
/// view's directory (for `@repo`).
pub fn parse(input: &str, profiles: &[String], cwd: &str) -> Command {
    let text = input.trim();
    if text.is_empty() {
        return Command::Empty;
    }
    if Filter::parse(text).is_some() {
        return Command::Filter;
    }
    if let Some(pr) = pr_ref(text) {
        return Command::SelectPr(pr);
    }
    if let Some(rest) = text.strip_prefix('/') {
        let (word, after) = first_word(rest);
        // `/usr/bin/make`: a path, not a command; it is a prompt.
        if !word.contains('/') {
            return match word {
                "" => Command::Unknown("a command goes right after the /".into()),
                "exit" | "quit" => Command::Exit,
                "model" => match first_word(after).0 {
                    "" => Command::Unknown("/model needs a name, or `default`".into()),
                    "default" => Command::Model(None),
                    m => Command::Model(Some(m.to_string())),
                },
                "loop" => loop_command(after, profiles, cwd),
                // Any other word names a skill; the worker reads its file.
                skill => Command::Dispatch(Dispatch {
                    prompt: after.to_string(),
                    skill: Some(skill.to_string()),
                    ..Dispatch::default()
                }),
            };
        }
    }
    let mut d = Dispatch {
        prompt: text.to_string(),
        ..Dispatch::default()
    };
    let (first, rest) = first_word(text);
    let named = first.strip_prefix('@');
    let word = named.unwrap_or(first);
    // A profile wins over a sibling repository of the same name.
    if profiles.iter().any(|p| p == word) {
        d.agent = Some(word.to_string());
        d.prompt = rest.to_string();
    } else if let Some(repo) = named.filter(|r| is_sibling_repo(cwd, r)) {
        d.dir = Some(sibling(cwd, repo));
        d.prompt = rest.to_string();
    }
    if d.prompt.chars().count() < MIN_PROMPT {
        return Command::TooShort;
    }
    Command::Dispatch(d)
}

fn first_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim_start()),
        None => (text, ""),
    }
}

/// `/loop DURATION …`: the rest is dispatched like any input (with its prefixes), as a loop.
fn loop_command(after: &str, profiles: &[String], cwd: &str) -> Command {
    let usage =
        || Command::Unknown("/loop needs a duration and a prompt, e.g. /loop 10m check CI".into());
    let (duration, prompt) = first_word(after);
    let every = match mux::profile::parse_duration(duration) {
        Ok(d) if d.as_secs() >= 1 => d.as_secs(),
        _ => return usage(),
    };
    match parse(prompt, profiles, cwd) {
        Command::Dispatch(mut d) => {
            d.every_s = Some(every);
            Command::Dispatch(d)
        }
        Command::TooShort => Command::TooShort,
        _ => usage(),
    }
}

fn pr_ref(text: &str) -> Option<PrRef> {
    if let Some(n) = text.strip_prefix('#') {
        return n.parse().ok().map(PrRef::Number);
    }
    let is_url = text.starts_with("https://") || text.starts_with("http://");
    let is_pr = text.contains("/pull/") || text.contains("/merge_requests/");
    (is_url && is_pr && !text.contains(char::is_whitespace)).then(|| PrRef::Url(text.into()))
}

fn sibling(cwd: &str, name: &str) -> String {
    let parent = Path::new(cwd).parent().unwrap_or(Path::new("/"));
    parent.join(name).to_string_lossy().into_owned()
}

fn is_sibling_repo(cwd: &str, name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new(&sibling(cwd, name)).join(".git").exists()
}

/// `s:<state>` or `a:<agent>`, matched as a prefix so it narrows as you type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    State(String),
    Agent(String),
}

impl Filter {
    pub fn parse(input: &str) -> Option<Filter> {
        let text = input.trim();
        if let Some(s) = text.strip_prefix("s:") {
            return Some(Filter::State(s.trim().to_string()));
        }
        text.strip_prefix("a:")
            .map(|a| Filter::Agent(a.trim().to_string()))
    }

    pub fn matches(&self, item: &Item) -> bool {
        match self {
            // Waiting on you: a question, an agent ready for its next prompt, a PR to review.
            Filter::State(s) if s == "blocked" => {
                matches!(item.state.as_str(), "needs_input" | "idle") || item.has_open_pr()
            }
            Filter::State(s) => item.state.starts_with(s.as_str()),
            Filter::Agent(a) => item.agent.starts_with(a.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles() -> Vec<String> {
        vec!["shell".into(), "claude".into()]
    }

    #[test]
    fn prompts_commands_and_filters() {
        let p = profiles();
        assert_eq!(parse("", &p, "/"), Command::Empty);
        assert_eq!(parse("abc", &p, "/"), Command::TooShort);
        assert_eq!(parse("s:work", &p, "/"), Command::Filter);
        assert_eq!(parse("a:shell", &p, "/"), Command::Filter);
        assert_eq!(parse("#12", &p, "/"), Command::SelectPr(PrRef::Number(12)));
        assert_eq!(
            parse("https://github.com/o/r/pull/7", &p, "/"),
            Command::SelectPr(PrRef::Url("https://github.com/o/r/pull/7".into()))
        );
        assert_eq!(
            parse("/model opus", &p, "/"),
            Command::Model(Some("opus".into()))
        );
        assert_eq!(parse("/model default", &p, "/"), Command::Model(None));
        assert_eq!(parse("/quit", &p, "/"), Command::Exit);
        let Command::Dispatch(d) = parse("/review the parser", &p, "/") else {
            panic!("a /word names a skill")
        };
        assert_eq!(
            (d.skill.as_deref(), d.prompt.as_str()),
            (Some("review"), "the parser")
        );
        let Command::Dispatch(d) = parse("/loop 10m @claude check the build", &p, "/") else {
            panic!("a loop")
        };
        assert_eq!(
            (d.every_s, d.agent.as_deref(), d.prompt.as_str()),
            (Some(600), Some("claude"), "check the build")
        );
        let Command::Dispatch(d) = parse("/loop 1h /review", &p, "/") else {
            panic!("a looping skill")
        };
        assert_eq!(
            (d.every_s, d.skill.as_deref()),
            (Some(3600), Some("review"))
        );
        assert!(matches!(
            parse("/loop soon do it", &p, "/"),
            Command::Unknown(_)
        ));
        assert!(matches!(
            parse("/loop 0 do it", &p, "/"),
            Command::Unknown(_)
        ));
        assert_eq!(parse("/loop 5m ab", &p, "/"), Command::TooShort);
        let Command::Dispatch(d) = parse("/usr/bin/make test", &p, "/") else {
            panic!("a path is a prompt")
        };
        assert_eq!(d.prompt, "/usr/bin/make test");
    }

    #[test]
    fn a_profile_prefix_picks_the_agent() {
        let p = profiles();
        let Command::Dispatch(d) = parse("@shell echo hi there", &p, "/") else {
            panic!()
        };
        assert_eq!(
            (d.agent.as_deref(), d.prompt.as_str()),
            (Some("shell"), "echo hi there")
        );
        let Command::Dispatch(d) = parse("claude fix the tests", &p, "/") else {
            panic!()
        };
        assert_eq!(d.agent.as_deref(), Some("claude"));
        assert_eq!(parse("@shell ls", &p, "/"), Command::TooShort);
    }

    /// SPEC 4: a profile wins over a sibling repository of the same name.
    #[test]
    fn a_profile_wins_over_a_sibling_repository_of_its_name() {
        let root = std::env::temp_dir().join(format!("crew-sibling-{}", std::process::id()));
        let here = root.join("here");
        std::fs::create_dir_all(&here).unwrap();
        for repo in ["shell", "other"] {
            std::fs::create_dir_all(root.join(repo).join(".git")).unwrap();
        }
        let cwd = here.to_string_lossy().into_owned();
        let p = profiles();
        let Command::Dispatch(d) = parse("@shell fix the build", &p, &cwd) else {
            panic!()
        };
        assert_eq!((d.agent.as_deref(), d.dir), (Some("shell"), None));
        let Command::Dispatch(d) = parse("@other fix the build", &p, &cwd) else {
            panic!()
        };
        let other = root.join("other").to_string_lossy().into_owned();
        assert_eq!((d.agent, d.dir.as_deref()), (None, Some(other.as_str())));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn blocked_means_waiting_on_you() {
        let f = Filter::parse("s:blocked").unwrap();
        let item = |state: &str| Item {
            state: state.into(),
            ..Item::default()
        };
        assert!(f.matches(&item("needs_input")));
        assert!(!f.matches(&item("working")));
        assert!(Filter::parse("s:work").unwrap().matches(&item("working")));
    }
}
