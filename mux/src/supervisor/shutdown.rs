//! `Shutdown` (`crew daemon stop`): stop every session and then the supervisor, or with
//! `--keep-workers` only the supervisor, leaving every host running.

use mio::Token;

use super::{BatchKind, Op, Supervisor, Then};
use crate::protocol::Reply;

impl Supervisor {
    pub(super) fn shutdown(&mut self, token: Token, keep_workers: bool) {
        if keep_workers {
            self.reply(
                token,
                &Reply::Done {
                    ids: Vec::new(),
                    errors: Vec::new(),
                },
            );
            self.quit = true;
            return;
        }
        self.refresh_all();
        let running: Vec<String> = self
            .cache
            .iter()
            .filter(|(_, c)| c.session.as_ref().is_ok_and(|s| s.host_pid.is_some()))
            .map(|(id, _)| id.clone())
            .collect();
        let batch = self.new_batch(token, BatchKind::Shutdown, running.len());
        for id in running {
            self.stop_session(Op {
                batch,
                id,
                then: Then::Nothing,
            });
        }
    }
}
