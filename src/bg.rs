//! `crew --bg "<prompt>"`: dispatch a background session and print `<id> <name>`.

use mux::protocol::{Dispatch, Reply, SupervisorRequest};
use mux::store::Home;

use crate::connect;
use crate::DispatchArgs;

pub fn run(home: &Home, args: &DispatchArgs, prompt: Option<String>) -> Result<(), String> {
    let (id, name) = dispatch(home, args, prompt)?;
    println!("{id} {name}");
    Ok(())
}

/// Starts a session and returns its id and name once its agent is running.
pub fn dispatch(
    home: &Home,
    args: &DispatchArgs,
    prompt: Option<String>,
) -> Result<(String, String), String> {
    crate::agents::refuse_if_disabled(home, "dispatching")?;
    let cwd = match &args.dir {
        Some(d) => std::fs::canonicalize(d)
            .map_err(|e| format!("cannot use directory {}: {e}", d.display()))?,
        None => std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?,
    };
    let prompt = match &args.skill {
        Some(name) => Some(mux::skills::prompt(
            home,
            &cwd,
            name,
            prompt.as_deref().unwrap_or(""),
        )?),
        None => prompt,
    };
    let (rows, cols) = term::attach::terminal_size().unwrap_or((24, 80));
    let request = SupervisorRequest::Dispatch(Dispatch {
        prompt: prompt.filter(|p| !p.trim().is_empty()),
        name: args.name.clone(),
        agent: args.agent.clone(),
        model: args.model.clone(),
        cwd: cwd.to_string_lossy().into_owned(),
        env: connect::environment(),
        rows,
        cols,
        every_s: args.every,
        no_worktree: args.no_worktree,
    });
    match connect::request(home, &request)? {
        Reply::Dispatched { id, name, note } => {
            if let Some(note) = note {
                eprintln!("crew: note: {note}");
            }
            Ok((id, name))
        }
        other => Err(format!("unexpected answer from the supervisor: {other:?}")),
    }
}
