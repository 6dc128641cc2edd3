//! `Status` (`crew daemon status`).

use mio::Token;

use super::Supervisor;
use crate::protocol::{DaemonStatus, Reply, VERSION};

impl Supervisor {
    pub(super) fn status(&mut self, token: Token) {
        self.refresh_all();
        let status = DaemonStatus {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: VERSION,
            uptime_s: self.started.elapsed().as_secs(),
            sessions: self.cache.len(),
            hosts: self.links.len(),
            standby_pid: self.standby_pid(),
        };
        self.reply(token, &Reply::Status(status));
    }
}
