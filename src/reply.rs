//! `crew reply`: type text and Enter into a session, as if at its prompt; a session that
//! ended is restarted first when its profile can resume it.

use mux::protocol::{HostRequest, Reply, Session};
use mux::store::Home;

use crate::{attach, connect};

pub fn run(home: &Home, query: &str, text: &str) -> Result<(), String> {
    let session = connect::find(home, query)?;
    reply(home, session, text)
}

pub fn reply(home: &Home, session: Session, text: &str) -> Result<(), String> {
    let not_running = |s: &Session| {
        format!(
            "session {} ({}) is not running; `crew respawn {}` starts it again",
            s.id, s.name, s.id
        )
    };
    let session = attach::ensure_running(home, session)?.map_err(|s| not_running(&s))?;
    let mut c = connect::host(home, &session).ok_or_else(|| not_running(&session))?;
    match c.request(&HostRequest::Input {
        text: text.to_string(),
        enter: true,
    }) {
        Ok(Reply::Ok) => Ok(()),
        Ok(Reply::Error { .. }) => Err(not_running(&session)),
        Ok(other) => Err(format!("unexpected answer from the host: {other:?}")),
        Err(e) => Err(format!("the session's host did not answer: {e}")),
    }
}
