//! The profile's title and screen rules (SPEC 2, signals 2 and 3): a title rule is checked
//! whenever the title changes; screen rules once output has been quiet for the profile's
//! debounce, so a screen that flickers between two texts never flips the state.

use std::time::Instant;

use super::Host;
use crate::profile::Rule;
use crate::protocol::{Process, Source, State};

/// How many rows the screen rules read: the last ones with something on them.
const SCREEN_ROWS: usize = 10;

impl Host {
    /// Whether `state` from `source` may replace the current state: never a weaker signal
    /// over a stronger one, unless the user has answered the stronger one since, or it is a
    /// question while the agent reports working (a bell after it reported its turn over,
    /// such as Codex's turn-complete notification, changes nothing).
    fn may_decide(&self, source: Source, state: State) -> bool {
        let current = self.session.state_source;
        strength(source) >= strength(current)
            || (matches!(
                current,
                Source::Report | Source::Notification | Source::Screen
            ) && self.input_since_report)
            || (current == Source::Report
                && self.session.state == State::Working
                && state == State::NeedsInput)
    }

    /// The title changed: a matching rule decides; a title that stops matching hands the
    /// state back to output activity.
    pub(super) fn check_title(&mut self) {
        let title = self.screen.title().unwrap_or("").to_string();
        let hit = first_match(&self.profile.title, &title).map(|(s, _)| (s, title.clone()));
        self.follow_signal(Source::Title, hit);
    }

    /// Output has been quiet for the debounce: read the bottom of the screen.
    pub(super) fn check_screen(&mut self) {
        self.screen_due = false;
        if self.profile.screen.is_empty() {
            return;
        }
        let rows = self.screen.screen_rows();
        // The tail: the last rows with something on them (a short screen is drawn at the top).
        let end = rows
            .iter()
            .rposition(|(text, _)| !text.trim().is_empty())
            .map_or(0, |i| i + 1);
        let text = rows[end.saturating_sub(SCREEN_ROWS)..end]
            .iter()
            .map(|(text, _)| text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let hit = first_match(&self.profile.screen, &text);
        self.follow_signal(Source::Screen, hit);
    }

    /// Whether the screen rules are due, and when.
    pub(super) fn screen_check_at(&self) -> Option<Instant> {
        self.screen_due
            .then(|| self.last_output + self.profile.debounce)
    }

    /// A signal weaker than a report (a notification, a title or screen rule) says the
    /// session is in a state (with the line that says so), or that its rule no longer holds.
    pub(super) fn follow_signal(&mut self, source: Source, hit: Option<(State, String)>) {
        if self.session.process != Process::Alive || self.stopping.is_some() {
            return;
        }
        match hit {
            Some((state, line)) => {
                if !self.may_decide(source, state) {
                    return;
                }
                if state == State::NeedsInput {
                    let line = line.trim();
                    self.session.question = (!line.is_empty()).then(|| line.to_string());
                }
                if source == Source::Screen && self.session.state_source != Source::Screen {
                    self.input_since_report = false;
                }
                self.set_state(state, source);
            }
            // The rule that decided no longer holds: output activity decides again.
            None if self.session.state_source == source => {
                let state = if self.last_output.elapsed() < self.idle_after {
                    State::Working
                } else {
                    State::Idle
                };
                self.set_state(state, Source::Activity);
            }
            None => {}
        }
    }
}

/// The first rule that matches, with the line it matched on.
fn first_match(rules: &[Rule], text: &str) -> Option<(State, String)> {
    rules.iter().find_map(|r| {
        let m = r.pattern.find(text)?;
        let start = text[..m.start()].rfind('\n').map_or(0, |i| i + 1);
        let end = text[m.start()..]
            .find('\n')
            .map_or(text.len(), |i| m.start() + i);
        Some((r.state, text[start..end].to_string()))
    })
}

/// SPEC 2's order, strongest first.
fn strength(source: Source) -> u8 {
    match source {
        Source::User | Source::Exit => 6,
        Source::Report => 5,
        Source::Notification => 4,
        Source::Title => 3,
        Source::Screen => 2,
        Source::Activity => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_lite::Regex;

    #[test]
    fn the_matched_line_becomes_the_question() {
        let rules = vec![Rule {
            pattern: Regex::new("Allow this\\?").unwrap(),
            state: State::NeedsInput,
        }];
        assert_eq!(
            first_match(&rules, "thinking\n  Allow this? (y/n)\n> "),
            Some((State::NeedsInput, "  Allow this? (y/n)".into()))
        );
        assert_eq!(first_match(&rules, "thinking"), None);
    }
}
