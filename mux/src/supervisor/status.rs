//! `Status` (`crew daemon status`).

use mio::Token;

use super::Supervisor;
use crate::protocol::{self, DaemonStatus, Reply};

impl Supervisor {
    pub(super) fn status(&mut self, token: Token) {
        self.refresh_all();
        let mut older_hosts: Vec<String> = self
            .links
            .values()
            .filter_map(|l| l.crew.clone())
            .filter(|v| is_older(v, crate::version()))
            .collect();
        older_hosts.sort();
        let status = DaemonStatus {
            pid: std::process::id(),
            version: crate::version().into(),
            protocol: protocol::version(),
            uptime_s: self.started.elapsed().as_secs(),
            sessions: self.cache.len(),
            hosts: self.links.len(),
            standby_pid: self.standby_pid(),
            older_hosts,
        };
        self.reply(token, &Reply::Status(status));
    }
}

/// Whether crew version `v` (e.g. `0.1.0`, `unknown` from a host too old to say) is older
/// than `than`, comparing numbers part by part.
fn is_older(v: &str, than: &str) -> bool {
    let parts = |s: &str| -> Option<Vec<u64>> {
        s.split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().ok())
            .collect()
    };
    match (parts(v), parts(than)) {
        (Some(a), Some(b)) => a < b,
        _ => v != than,
    }
}

#[cfg(test)]
mod tests {
    use super::is_older;

    #[test]
    fn versions_compare_by_number() {
        assert!(is_older("0.1.0", "0.1.1"));
        assert!(is_older("0.9.0", "0.10.0"));
        assert!(is_older("unknown", "0.1.0"));
        assert!(!is_older("0.1.0", "0.1.0"));
        assert!(!is_older("0.2.0", "0.1.9"));
    }
}
