//! `crew stop` (alias `kill`): stop a session; its state becomes `stopped`.

use mux::protocol::SupervisorRequest;
use mux::store::Home;

use crate::connect;

pub fn run(home: &Home, id: &str) -> Result<(), String> {
    connect::done(connect::request(
        home,
        &SupervisorRequest::Stop { id: id.into() },
    )?)?;
    Ok(())
}
