//! `Remove`: stop the session if it runs, then delete its directory.

use mio::Token;

use super::{BatchKind, Op, Supervisor, Then};

impl Supervisor {
    pub(super) fn remove(&mut self, token: Token, query: &str, _force: bool) {
        let Some(id) = self.resolve_for(token, query) else {
            return;
        };
        let batch = self.new_batch(token, BatchKind::Done, 1);
        self.stop_session(Op {
            batch,
            id,
            then: Then::Remove,
        });
    }

    pub(super) fn remove_files(&mut self, id: &str) {
        let dir = self.home.job_dir(id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::error!("cannot remove {}: {e}", dir.display());
            }
        }
        let sock = self.home.host_sock(id);
        if !sock.starts_with(&dir) {
            let _ = std::fs::remove_file(sock);
        }
        self.cache.remove(id);
        self.changed = true;
        self.save_roster();
    }
}
