//! `crew rm`: stop a session if it runs and remove it, with its worktree, losing nothing: a
//! worktree with uncommitted changes (untracked files count, ignored ones do not) is kept
//! unless `--force`, which first saves them as a commit under `refs/crew/saved/<id>`. A
//! worktree another session still works in is never removed.

use std::path::Path;

use mux::protocol::{Session, SupervisorRequest};
use mux::store::{self, Home};
use mux::worktree;

use crate::connect;

pub fn run(home: &Home, query: &str, force: bool) -> Result<(), String> {
    let session = connect::find(home, query)?;
    for line in remove(home, &session, force)? {
        println!("{line}");
    }
    Ok(())
}

/// Removes `session` and its worktree; returns what the user should know (where saved
/// changes went, a worktree that was kept).
pub fn remove(home: &Home, session: &Session, force: bool) -> Result<Vec<String>, String> {
    let worktree = session
        .worktree
        .as_deref()
        .map(Path::new)
        .filter(|p| p.exists() && !used_by_another(home, &session.id, p));
    if let Some(w) = worktree {
        if !force && worktree::is_dirty(w)? {
            return Err(format!(
                "{} has uncommitted changes; nothing was removed (crew rm --force saves them to refs/crew/saved/{} first)",
                w.display(),
                session.id
            ));
        }
    }
    // The agent stops first, so what is saved is final.
    connect::done(connect::request(
        home,
        &SupervisorRequest::Remove {
            id: session.id.clone(),
            force,
        },
    )?)?;
    let mut said = Vec::new();
    let Some(w) = worktree else {
        return Ok(said);
    };
    if worktree::is_dirty(w)? {
        if !force {
            // Written while the agent was stopping: keep them where they are.
            said.push(format!(
                "kept {}: it has changes made as the agent stopped",
                w.display()
            ));
            return Ok(said);
        }
        let saved = worktree::save_changes(w, &session.id)?;
        said.push(format!("saved the changes in {} to {saved}", w.display()));
    }
    worktree::remove(w)?;
    Ok(said)
}

/// Whether a session other than `id` runs in the worktree at `path`.
fn used_by_another(home: &Home, id: &str, path: &Path) -> bool {
    home.job_ids()
        .iter()
        .filter(|other| *other != id)
        .any(|other| {
            store::read_state(&home.state_path(other)).is_ok_and(|s| {
                Path::new(&s.cwd).starts_with(path)
                    || s.worktree.as_deref().is_some_and(|w| Path::new(w) == path)
            })
        })
}
