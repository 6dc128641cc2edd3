//! `crew peek`: what the peek panel shows: the bottom of the session's screen and, when it
//! waits on you, the question.

use mux::protocol::State;
use mux::store::Home;
use term::text::sanitize;

use crate::connect;

pub fn run(home: &Home, query: &str) -> Result<(), String> {
    let session = connect::find(home, query)?;
    // The host's word is newer than its state file.
    let session = connect::live_session(home, &session).unwrap_or(session);
    let screen = connect::screen(home, &session, false)?;
    print!("{screen}");
    if session.state == State::NeedsInput {
        if let Some(q) = &session.question {
            println!("\n? {}", sanitize(q));
        }
    } else if let Some(summary) = session.summary.as_deref() {
        // As in the view's panel: only a summary that says more than the screen does.
        if !screen.contains(summary) {
            println!("\n» {}", sanitize(summary));
        }
    }
    Ok(())
}
