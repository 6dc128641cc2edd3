//! `crew rename <id> <name>`.

use mux::protocol::SupervisorRequest;
use mux::store::Home;

use crate::connect;

pub fn run(home: &Home, id: &str, name: &str) -> Result<(), String> {
    connect::done(connect::request(
        home,
        &SupervisorRequest::Rename {
            id: id.into(),
            name: name.into(),
        },
    )?)?;
    Ok(())
}
