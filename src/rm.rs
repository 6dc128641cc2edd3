//! `crew rm`: stop a session if it runs and remove it, with its files.

use mux::protocol::SupervisorRequest;
use mux::store::Home;

use crate::connect;

pub fn run(home: &Home, id: &str, force: bool) -> Result<(), String> {
    connect::done(connect::request(
        home,
        &SupervisorRequest::Remove {
            id: id.into(),
            force,
        },
    )?)?;
    Ok(())
}
