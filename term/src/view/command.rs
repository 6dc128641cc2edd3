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
        let mut words = rest.split_whitespace();
        let word = words.next().unwrap_or("");
        if word.contains('/') {
            // A path, not a command: it is a prompt.
        } else {
            return match word {
                "exit" | "quit" => Command::Exit,
                "model" => match words.next() {
                    None => Command::Unknown("/model needs a name, or `default`".into()),
                    Some("default") => Command::Model(None),
                    Some(m) => Command::Model(Some(m.to_string())),
                },
                _ => Command::Unknown(format!("unknown command /{word}")),
            };
        }
    }
    let mut d = Dispatch {
        prompt: text.to_string(),
        ..Dispatch::default()
    };
    let (first, rest) = match text.split_once(char::is_whitespace) {
        Some((f, r)) => (f, r.trim_start()),
        None => (text, ""),
    };
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
        assert!(matches!(parse("/frob", &p, "/"), Command::Unknown(_)));
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
