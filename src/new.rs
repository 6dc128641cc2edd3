//! `crew new "<prompt>"`: dispatch a session and attach to it at once; detaching leaves it
//! running in the background.

use mux::store::Home;

use crate::{attach, bg, connect, DispatchArgs};

pub fn run(
    home: &Home,
    args: &DispatchArgs,
    detach_key: Option<&str>,
    prompt: Option<String>,
) -> Result<(), String> {
    let key = attach::detach_key(home, detach_key)?;
    let (id, _) = bg::dispatch(home, args, prompt)?;
    let session = connect::find(home, &id)?;
    attach::attach(home, session, key)
}
