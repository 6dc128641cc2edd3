//! `crew reply`: type text and Enter into a session, as if at its prompt.

use mux::protocol::{HostRequest, Reply};
use mux::store::Home;

use crate::connect;

pub fn run(home: &Home, query: &str, text: &str) -> Result<(), String> {
    let session = connect::find(home, query)?;
    let not_running = || {
        format!(
            "session {} ({}) is not running; `crew respawn {}` starts it again",
            session.id, session.name, session.id
        )
    };
    let mut c = connect::host(home, &session).ok_or_else(not_running)?;
    match c.request(&HostRequest::Input {
        text: text.to_string(),
        enter: true,
    }) {
        Ok(Reply::Ok) => Ok(()),
        Ok(Reply::Error { .. }) => Err(not_running()),
        Ok(other) => Err(format!("unexpected answer from the host: {other:?}")),
        Err(e) => Err(format!("the session's host did not answer: {e}")),
    }
}
