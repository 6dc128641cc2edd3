//! The session's state machine (SPEC 2): which signal decides the state, strongest first.
//!
//! Reports and notifications hold until the user types something and the agent answers with
//! output; output activity moves an activity-decided session between working and idle.

use std::time::Instant;

use super::agent::{signal_name, Exit};
use super::{Host, Stopping, STOP_GRACE};
use crate::protocol::{Process, Source, State};
use crate::screen::Signal;
use crate::store;

impl Host {
    pub(super) fn set_state(&mut self, state: State, source: Source) {
        let s = &mut self.session;
        let changed = s.state != state || s.state_source != source;
        s.state = state;
        s.state_source = source;
        if state != State::NeedsInput {
            s.question = None;
        }
        // SPEC 2: a reason says why a session failed or stopped, and nothing else.
        if !matches!(state, State::Failed | State::Stopped) {
            s.reason = None;
        }
        if matches!(source, Source::Report | Source::Notification) {
            self.input_since_report = false;
        }
        let summary = self.local_summary();
        let s = &mut self.session;
        if changed || s.summary != summary {
            s.summary = summary;
            s.changed_at = store::now_rfc3339();
        }
        if changed {
            self.remember_change();
            // A turn that just ended starts its idle_reap count now.
            self.touched();
        }
        self.dirty = true;
    }

    /// The summary SPEC 9 asks for without a model: the question, else the window title,
    /// else the last meaningful line on screen.
    fn local_summary(&self) -> Option<String> {
        if self.summary_from_supervisor {
            return self.session.summary.clone();
        }
        if let Some(q) = &self.session.question {
            return Some(q.clone());
        }
        if let Some(t) = self.screen.title().map(without_decoration) {
            if !t.is_empty() {
                return Some(t);
            }
        }
        self.screen
            .screen_rows()
            .into_iter()
            .rev()
            .map(|(text, _)| without_decoration(&text))
            .find(|t| is_meaningful(t))
    }

    /// Reads the screen for what the row shows: a working session's summary follows its
    /// latest meaningful line, and PR URLs printed since the last look are recorded.
    pub(super) fn scan_screen(&mut self) {
        self.scanned_at = Instant::now();
        self.unscanned = false;
        if self.session.state == State::Working {
            let summary = self.local_summary();
            if summary != self.session.summary {
                self.session.summary = summary;
                self.session.changed_at = store::now_rfc3339();
                self.dirty = true;
            }
        }
        let history = &self.screen.hooks().history;
        let end = history.scrolled;
        let skip = self.scanned_line.max(history.first()).min(end) - history.first();
        // A URL longer than the screen is wide wraps: wrapped rows are joined first.
        let mut rows: Vec<(String, bool)> = history.rows_from(skip as usize).collect();
        self.scanned_line = end;
        rows.extend(self.finished_screen_rows());
        let text = crate::screen::join_rows(rows);
        for pr in crate::prs::find(&text) {
            if !self.session.prs.iter().any(|p| p.url == pr.url) {
                self.session.prs.push(pr);
                self.session.changed_at = store::now_rfc3339();
                self.dirty = true;
            }
        }
    }

    /// The screen rows whose text is final: while the agent runs on the main screen, the
    /// rows above the cursor's (a URL at the cursor may still be growing: `…/pull/1` of
    /// `…/pull/12` split across two writes). Every row once it ended, and on the alternate
    /// screen, where programs draw whole lines.
    fn finished_screen_rows(&self) -> Vec<(String, bool)> {
        let mut rows = self.screen.screen_rows();
        let vt = self.screen.vt();
        if self.agent.is_none() || vt.alternate_screen() {
            return rows;
        }
        rows.truncate(usize::from(vt.cursor_position().0));
        // A row that wraps onto the cursor's row is not finished either.
        while rows.last().is_some_and(|(_, wrapped)| *wrapped) {
            rows.pop();
        }
        rows
    }

    /// Output arrived: an activity-decided session is working again, and so is one whose
    /// report the user has since answered.
    pub(super) fn on_activity(&mut self) {
        let s = &self.session;
        if s.process != Process::Alive || self.stopping.is_some() {
            return;
        }
        let follows_activity = s.state_source == Source::Activity
            || (matches!(
                s.state_source,
                Source::Report | Source::Notification | Source::Screen
            ) && self.input_since_report);
        if follows_activity && s.state != State::Working {
            self.set_state(State::Working, Source::Activity);
        }
    }

    /// Whether an idle transition is due once output stays quiet.
    pub(super) fn idle_pending(&self) -> bool {
        let s = &self.session;
        s.process == Process::Alive
            && s.state == State::Working
            && s.state_source == Source::Activity
    }

    pub(super) fn on_quiet(&mut self) {
        self.catch_up();
        self.set_state(State::Idle, Source::Activity);
        super::release_memory();
    }

    pub(super) fn on_signal_from_output(&mut self, signal: Signal) {
        match signal {
            Signal::Answer(bytes) => self.write_input(&bytes),
            Signal::Bell { line } => self.needs_input(line),
            Signal::Notification { text } => self.needs_input(text),
            Signal::Title => {
                self.session.title = self.screen.title().map(str::to_string);
                self.dirty = true;
                self.check_title();
            }
        }
    }

    fn needs_input(&mut self, question: String) {
        self.follow_signal(Source::Notification, Some((State::NeedsInput, question)));
    }

    /// `crew report`: the agent says what it is doing.
    pub(super) fn on_report(&mut self, state: State, message: Option<String>) {
        let message = message
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        match state {
            State::NeedsInput => self.session.question = message,
            State::Failed => {
                self.session.reason = Some(match message {
                    Some(m) => format!("agent reported: {m}"),
                    None => "agent reported failure".into(),
                })
            }
            _ => {}
        }
        self.set_state(state, Source::Report);
    }

    /// The agent's process ended: its exit decides, unless the user stopped it.
    pub(super) fn on_exit(&mut self, exit: Exit) {
        if self.reaping {
            // The host exits next and writes the final screen and state as it goes.
            self.on_reaped_exit();
            return;
        }
        // An agent-reported failure keeps its reason over the exit status.
        let reported_failure =
            self.session.state == State::Failed && self.session.state_source == Source::Report;
        let reported_reason = self.session.reason.clone();
        let s = &mut self.session;
        s.pid = None;
        s.process = Process::Exited;
        let (state, source) = match exit {
            Exit::Code(code) => {
                s.exit_code = Some(code);
                s.signal = None;
                if code == 0 {
                    (State::Completed, Source::Exit)
                } else {
                    s.reason = Some(format!("exit code {code}"));
                    (State::Failed, Source::Exit)
                }
            }
            Exit::Signal(sig) => {
                s.exit_code = None;
                s.signal = Some(sig);
                s.reason = Some(format!("killed by signal {sig} ({})", signal_name(sig)));
                (State::Failed, Source::Exit)
            }
        };
        if let Some(why) = self.failure.take() {
            self.stopping = None;
            self.session.reason = Some(why);
            self.set_state(State::Failed, Source::Exit);
        } else if self.stopping.take().is_some() {
            self.session.reason = Some("stopped by user".into());
            self.set_state(State::Stopped, Source::User);
            self.quit = true;
        } else if reported_failure && state == State::Failed {
            self.session.reason = reported_reason;
            self.set_state(State::Failed, Source::Report);
        } else {
            self.set_state(state, source);
        }
        self.sleep_until_next_run();
        self.scan_screen();
        self.disk.write_screen(self.screen.full_text());
        self.tell_attached_the_end();
        super::release_memory();
    }

    /// Stop the agent: HUP now, TERM after a grace period, KILL after another. A host whose
    /// agent already ended just exits, keeping the final state.
    pub(super) fn begin_stop(&mut self) {
        match &self.agent {
            Some(agent) if self.stopping.is_none() => {
                agent.signal(libc::SIGHUP);
                self.stopping = Some(Stopping {
                    next_signal: libc::SIGTERM,
                    at: Instant::now() + STOP_GRACE,
                });
            }
            Some(_) => {}
            None => {
                // A loop between runs has nothing to signal: it is stopped where it sleeps.
                if self.session.process == Process::Sleeping {
                    self.next_run = None;
                    self.session.process = Process::Exited;
                    if let Some(l) = &mut self.session.loop_ {
                        l.next_at = None;
                    }
                    self.session.reason = Some("stopped by user".into());
                    self.set_state(State::Stopped, Source::User);
                }
                self.quit = true;
            }
        }
    }

    /// A loop session whose run just ended (not stopped by the user) sleeps until its next
    /// run: `process` is `sleeping` and `loop.next_at` says when.
    fn sleep_until_next_run(&mut self) {
        if self.quit {
            return;
        }
        let Some(l) = &mut self.session.loop_ else {
            return;
        };
        l.runs += 1;
        let every = std::time::Duration::from_secs(l.every_s.max(1));
        let at = std::time::SystemTime::now() + every;
        l.next_at = Some(store::rfc3339(at));
        self.next_run = Some(Instant::now() + every);
        self.session.process = Process::Sleeping;
        self.dirty = true;
    }

    /// The loop's next run: the same command again, below what the last run showed.
    pub(super) fn run_loop_again(&mut self) {
        self.next_run = None;
        let argv = self.session.command.clone();
        let env = std::mem::take(&mut self.env);
        self.screen.process(b"\r\n");
        if let Err(why) = self.start_agent(&argv, &env) {
            log::error!("the loop's next run cannot start: {why}");
            self.session.reason = Some(format!("next run failed to start: {why}"));
            self.session.process = Process::Exited;
            self.set_state(State::Failed, Source::Exit);
        }
    }
}

/// A line worth showing as a summary: has letters or digits, not just a spinner or a border.
fn is_meaningful(line: &str) -> bool {
    line.chars().filter(|c| c.is_alphanumeric()).count() >= 2
}

/// A line without what agents draw around their words: box drawing, block elements, Braille
/// spinners and the usual spinner glyphs; runs of spaces become one.
fn without_decoration(line: &str) -> String {
    let decoration = |c: char| {
        matches!(c, '\u{2500}'..='\u{259f}' | '\u{2800}'..='\u{28ff}')
            || "✶✻✽✢✳✷✸✹✺·∙•●○◐◓◑◒◴◷◶◵".contains(c)
    };
    let kept: String = line.chars().filter(|c| !decoration(*c)).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoration_is_stripped_from_summary_lines() {
        assert_eq!(
            without_decoration("│ ⠋ Compiling   crew │"),
            "Compiling crew"
        );
        assert_eq!(
            without_decoration("✻ Thinking… (esc to interrupt)"),
            "Thinking… (esc to interrupt)"
        );
        assert_eq!(without_decoration("╭──────╮"), "");
        assert!(!is_meaningful(&without_decoration("│ ⠙ │")));
    }
}
