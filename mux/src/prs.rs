//! Pull-request URLs in a session's output (SPEC 10): GitHub `…/pull/N` and GitLab
//! `…/merge_requests/N`. Found URLs start with an unknown status; the PR poller fills it in.

use std::sync::OnceLock;

use regex_lite::Regex;

use crate::protocol::Pr;

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"https?://[A-Za-z0-9.:-]+/([A-Za-z0-9._/-]+?)/(?:-/)?(pull|merge_requests)/([0-9]+)",
        )
        .expect("PR pattern")
    })
}

/// Every PR URL in `text`, in order, without repeats.
pub fn find(text: &str) -> Vec<Pr> {
    let mut out: Vec<Pr> = Vec::new();
    for c in pattern().captures_iter(text) {
        let (Some(all), Some(repo), Some(num)) = (c.get(0), c.get(1), c.get(3)) else {
            continue;
        };
        let Ok(number) = num.as_str().parse() else {
            continue;
        };
        if out.iter().any(|p| p.url == all.as_str()) {
            continue;
        }
        out.push(Pr {
            url: all.as_str().to_string(),
            number,
            repo: repo.as_str().to_string(),
            state: "unknown".into(),
            checks: "unknown".into(),
            review: "unknown".into(),
            color: "grey".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_and_gitlab_urls_are_found_once() {
        let text = "Opened https://github.com/o/r/pull/12 and\nhttps://gitlab.com/g/sub/p/-/merge_requests/7, see https://github.com/o/r/pull/12.";
        let prs = find(text);
        assert_eq!(prs.len(), 2);
        assert_eq!((prs[0].number, prs[0].repo.as_str()), (12, "o/r"));
        assert_eq!(prs[0].url, "https://github.com/o/r/pull/12");
        assert_eq!((prs[1].number, prs[1].repo.as_str()), (7, "g/sub/p"));
        assert!(find("https://github.com/o/r/issues/3").is_empty());
    }
}
