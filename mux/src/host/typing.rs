//! Prompt delivery by typing (`prompt = "type"`): the host types the prompt into the PTY
//! once the agent shows its prompt marker and output has settled, then Enter a moment later
//! (TUIs that read a burst as a paste would otherwise take the Enter as text). An agent that
//! shows no prompt by the profile's `ready_timeout` is stopped and the session fails.

use std::time::{Duration, Instant};

use super::Host;
use crate::profile::PromptDelivery;

/// Output must have been quiet this long before the prompt is typed.
const SETTLE: Duration = Duration::from_millis(300);

/// Between the prompt's text and its Enter.
const ENTER_AFTER: Duration = Duration::from_millis(100);

pub(super) struct Typing {
    text: String,
    deadline: Instant,
    /// The text is typed; Enter goes at this moment.
    enter_at: Option<Instant>,
}

impl Host {
    /// Called as the agent starts with `argv`: a fresh run (not a resume) of a profile that
    /// takes its prompt by typing gets it typed.
    pub(super) fn plan_typing(&mut self, argv: &[String]) {
        self.typing = None;
        let fresh = argv == self.session.command.as_slice();
        let prompt = self.session.prompt.clone().filter(|p| !p.trim().is_empty());
        if let (PromptDelivery::Type, true, Some(text)) = (self.profile.prompt, fresh, prompt) {
            self.typing = Some(Typing {
                text,
                deadline: Instant::now() + self.profile.ready_timeout,
                enter_at: None,
            });
        }
    }

    /// When the typing wants to be looked at again.
    pub(super) fn typing_at(&self) -> Option<Instant> {
        let t = self.typing.as_ref()?;
        if let Some(at) = t.enter_at {
            return Some(at);
        }
        // Output wakes the loop by itself; without output only the settle time and the
        // deadline matter.
        let settled = self.last_output + SETTLE;
        Some(if settled > Instant::now() {
            settled.min(t.deadline)
        } else {
            t.deadline
        })
    }

    pub(super) fn on_typing_timer(&mut self, now: Instant) {
        let Some(t) = &self.typing else {
            return;
        };
        let (enter_at, deadline) = (t.enter_at, t.deadline);
        if self.agent.is_none() {
            self.typing = None;
            return;
        }
        if let Some(at) = enter_at {
            if now >= at {
                self.typing = None;
                self.write_input(b"\r");
            }
            return;
        }
        let settled = now >= self.last_output + SETTLE && self.backlog.unparsed() == 0;
        if settled && self.prompt_before_cursor().is_some() {
            let t = self.typing.as_mut().expect("checked above");
            t.enter_at = Some(now + ENTER_AFTER);
            let mut bytes = Vec::new();
            // A multi-line prompt is one paste, not several submitted lines.
            let paste = self.screen.vt().bracketed_paste();
            if paste {
                bytes.extend_from_slice(b"\x1b[200~");
            }
            bytes.extend_from_slice(t.text.as_bytes());
            if paste {
                bytes.extend_from_slice(b"\x1b[201~");
            }
            self.write_input(&bytes);
        } else if now >= deadline {
            let waited = self.profile.ready_timeout;
            self.typing = None;
            self.failure = Some(format!(
                "prompt not delivered: the agent showed no prompt within {}",
                crate::profile::format_duration(waited)
            ));
            self.begin_stop();
        }
    }
}
