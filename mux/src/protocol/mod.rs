//! Everything that crosses a process boundary: frames, messages and the session record.

pub mod frame;
pub mod message;
pub mod session;

pub use frame::{Decoder, Frame, FrameError, Kind, MAX_PAYLOAD};
pub use message::{
    Assignment, Change, DaemonStatus, Dispatch, HostRequest, Recap, Reply, SupervisorRequest,
};
pub use session::{Loop, Pr, Process, Session, Source, State, STATE_VERSION};

/// The protocol version this binary speaks, kept as a searchable string for the same reason
/// as the crew version (`crate::version`): a test makes a binary that speaks the next
/// protocol by patching it.
static PROTOCOL_MARK: &str = "crew-protocol:1";

/// The protocol version this binary speaks (read at run time, see `PROTOCOL_MARK`).
pub fn version() -> u32 {
    let mark = std::hint::black_box(PROTOCOL_MARK);
    mark.strip_prefix("crew-protocol:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Whether this binary understands a peer that speaks `v`: its own version and the one
/// before, so an upgraded supervisor still talks to hosts started by the previous binary.
pub fn version_supported(v: u32) -> bool {
    let own = version();
    v == own || v + 1 == own
}

/// Whether a host serves a supervisor that speaks `v`: one it understands, or a newer one,
/// which talks down to the host's version (it supports the one before its own); a host
/// cannot know a newer protocol, and refusing it would leave it unwatched after an upgrade.
pub fn serves_supervisor(v: u32) -> bool {
    version_supported(v) || v > version()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_serves_older_by_one_and_every_newer_supervisor() {
        let own = version();
        assert!(version_supported(own) && version_supported(own - 1));
        assert!(!version_supported(own + 1));
        assert!(serves_supervisor(own + 1) && serves_supervisor(own + 5));
        assert!(serves_supervisor(own - 1));
        if own >= 2 {
            assert!(!serves_supervisor(own - 2));
        }
    }
}
