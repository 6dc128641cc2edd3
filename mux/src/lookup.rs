//! Finding a session from what the user typed: an exact id, an exact name, or a unique id
//! prefix (in that order, so a name can never hide a session's own id).

/// One candidate: (id, name). Broken sessions have no name.
pub fn resolve<'a>(
    query: &str,
    sessions: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<String, String> {
    let sessions: Vec<(&str, Option<&str>)> = sessions.into_iter().collect();
    if query.is_empty() {
        return Err("no session matches ''".into());
    }
    if let Some((id, _)) = sessions.iter().find(|(id, _)| *id == query) {
        return Ok(id.to_string());
    }
    if let Some((id, _)) = sessions.iter().find(|(_, name)| *name == Some(query)) {
        return Ok(id.to_string());
    }
    let matches: Vec<&(&str, Option<&str>)> = sessions
        .iter()
        .filter(|(id, _)| id.starts_with(query))
        .collect();
    match matches.as_slice() {
        [] => Err(format!("no session matches '{query}'")),
        [(id, _)] => Ok(id.to_string()),
        many => {
            let mut msg = format!("'{query}' matches {} sessions:", many.len());
            for (id, name) in many {
                msg.push_str(&format!("\n  {id}  {}", name.unwrap_or("(broken)")));
            }
            Err(msg)
        }
    }
}

/// A session name from a prompt's first words: lowercase letters, digits and dashes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace().take(5) {
        let w: String = word
            .chars()
            .filter_map(|c| {
                if c.is_alphanumeric() {
                    Some(c.to_lowercase().next().unwrap_or(c))
                } else if c == '-' || c == '_' || c == '.' || c == '/' {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let w = w.trim_matches('-');
        if w.is_empty() {
            continue;
        }
        if !out.is_empty() {
            if out.len() + 1 + w.len() > 32 {
                break;
            }
            out.push('-');
        }
        out.extend(w.chars().take(32));
    }
    out
}

/// `base`, or `base-2`, `base-3`, … whichever is not taken.
pub fn unique_name(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !taken(n))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_id_then_name_then_prefix() {
        let s = [
            ("abcdefgh", Some("fix-login")),
            ("abzzzzzz", Some("abcdefgh-2")),
            ("qqqqqqqq", Some("ab")),
        ];
        assert_eq!(resolve("abcdefgh", s).unwrap(), "abcdefgh");
        assert_eq!(resolve("fix-login", s).unwrap(), "abcdefgh");
        assert_eq!(resolve("ab", s).unwrap(), "qqqqqqqq");
        assert_eq!(resolve("abc", s).unwrap(), "abcdefgh");
        let e = resolve("a", s).unwrap_err();
        assert!(
            e.contains("matches 2 sessions") && e.contains("abzzzzzz"),
            "{e}"
        );
        assert_eq!(resolve("x", s).unwrap_err(), "no session matches 'x'");
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("Fix the login bug, please now and later"),
            "fix-the-login-bug-please"
        );
        assert_eq!(slug("cargo test --all"), "cargo-test-all");
        assert_eq!(slug("!!!"), "");
        assert_eq!(unique_name("a", |n| n == "a" || n == "a-2"), "a-3");
    }
}
