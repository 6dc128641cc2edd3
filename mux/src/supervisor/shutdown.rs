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
        // Every session that may have a host: a recorded one, a link, or a broken state file
        // (its host, if any, is found by its socket).
        let running: Vec<String> = self
            .cache
            .iter()
            .filter(|(id, c)| {
                self.link_of.contains_key(*id)
                    || c.session.as_ref().map_or(true, |s| s.host_pid.is_some())
            })
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
