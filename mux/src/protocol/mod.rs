//! Everything that crosses a process boundary: frames, messages and the session record.

pub mod frame;
pub mod message;
pub mod session;

pub use frame::{Decoder, Frame, FrameError, Kind, MAX_PAYLOAD};
pub use message::{
    Assignment, Change, DaemonStatus, Dispatch, HostRequest, Recap, Reply, SupervisorRequest,
};
pub use session::{Loop, Pr, Process, Session, Source, State, STATE_VERSION};

/// The protocol version this binary speaks. Peers accept this version and the one before,
/// so an upgraded supervisor can still talk to hosts started by the previous binary.
pub const VERSION: u32 = 1;

pub fn version_supported(v: u32) -> bool {
    v == VERSION || v + 1 == VERSION
}
