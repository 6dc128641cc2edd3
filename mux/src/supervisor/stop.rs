//! `Stop`: the host stops the agent (HUP, TERM, KILL) and exits; the client is answered
//! once the session is recorded as stopped.

use mio::Token;

use super::{BatchKind, Op, Supervisor, Then};
use crate::protocol::HostRequest;

impl Supervisor {
    pub(super) fn stop(&mut self, token: Token, query: &str) {
        let Some(id) = self.resolve_for(token, query) else {
            return;
        };
        let batch = self.new_batch(token, BatchKind::Done, 1);
        self.stop_session(Op {
            batch,
            id,
            then: Then::Nothing,
        });
    }

    /// Stops a session if its host runs; completes `op` at once if nothing runs.
    pub(super) fn stop_session(&mut self, op: Op) {
        let id = op.id.clone();
        if !self.send_to_host(&id, &HostRequest::Stop, op.clone()) {
            self.complete(&op, Ok(()));
        }
    }
}
