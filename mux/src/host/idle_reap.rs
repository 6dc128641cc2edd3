//! Idle reaping (SPEC 7, `idle_reap`): a session whose turn is over and that nobody has
//! attached to, peeked at or typed into for `idle_reap` stops costing memory. Its agent is
//! stopped (when it can be resumed later) and the host exits, leaving `state.json`,
//! `screen.txt` and the transcript; attach, peek-reply and reply start it again through its
//! profile's resume command, below its old screen.
//!
//! The host decides, not the supervisor: it alone knows when its turn ended and when it was
//! last touched, and it keeps counting while no supervisor runs.

use std::time::Instant;

use super::Host;
use crate::protocol::{Process, Source, State};

impl Host {
    /// A user attached, peeked or typed: the session is in use, whatever its state.
    pub(super) fn touched(&mut self) {
        self.untouched_since = Instant::now();
    }

    /// When this session is due to be reaped, if it may be at all.
    pub(super) fn idle_reap_at(&self) -> Option<Instant> {
        if self.idle_reap.is_zero()
            || self.attached_count > 0
            || self.stopping.is_some()
            || self.quit
        {
            return None;
        }
        let s = &self.session;
        let finished = match s.process {
            // Only the host is left: the agent's end is recorded, nothing is lost.
            Process::Exited => true,
            // A loop's host must stay to start the next run.
            Process::Sleeping => false,
            // A live agent is stopped only when its turn is over by its own word (a report,
            // a notification, a title or screen rule: quiet output alone may be a long
            // build) and it can be resumed, so it comes back as it was when touched.
            Process::Alive => {
                matches!(s.state, State::Completed | State::Idle)
                    && s.state_source != Source::Activity
                    && s.resume.is_some()
            }
        };
        finished.then_some(self.untouched_since + self.idle_reap)
    }

    /// Stops the agent if it still runs, then exits with the session's state kept.
    pub(super) fn reap_idle_session(&mut self) {
        log::info!(
            "session {}: finished and untouched for {:?}; stopping its host",
            self.session.id,
            self.idle_reap
        );
        if self.agent.is_some() {
            self.reaping = true;
            self.begin_stop();
        } else {
            self.quit = true;
        }
    }

    /// The reaped agent ended: the session keeps the state its turn ended with, not that of
    /// being stopped; `process` says it no longer runs.
    pub(super) fn on_reaped_exit(&mut self) {
        self.reaping = false;
        self.stopping = None;
        let s = &mut self.session;
        s.pid = None;
        s.process = Process::Exited;
        s.exit_code = None;
        s.signal = None;
        s.reason = None;
        self.dirty = true;
        self.quit = true;
    }
}
