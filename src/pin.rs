//! `crew pin` / `crew unpin`: keep a session at the top of the list.

use mux::protocol::SupervisorRequest;
use mux::store::Home;

use crate::connect;

pub fn run(home: &Home, id: &str, pinned: bool) -> Result<(), String> {
    connect::done(connect::request(
        home,
        &SupervisorRequest::Pin {
            id: id.into(),
            pinned,
        },
    )?)?;
    Ok(())
}
