//! Worktrees (SPEC 8): each session dispatched in a git repository works in its own
//! worktree, `<repo>/.crew/worktrees/<name>` on branch `crew/<name>` from HEAD, and no way of
//! removing a session destroys work: uncommitted changes are saved as a commit under
//! `refs/crew/saved/<id>` before a worktree goes.
//!
//! The supervisor plans a worktree at dispatch (cheap: it only reads the repository); the
//! session's host creates it and runs `.crew/setup` before it starts the agent, so slow git
//! work never stalls the supervisor.

use std::path::{Path, PathBuf};

use git2::{BranchType, Repository, Signature, StatusOptions, WorktreeAddOptions};

use crate::profile::WorktreeMode;

/// Where a session's worktree goes, decided at dispatch.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The worktree's directory.
    pub path: PathBuf,
    pub branch: String,
    /// Where the agent runs: the dispatch directory's place inside the worktree.
    pub cwd: PathBuf,
}

/// What a dispatch in `dir` gets: a planned worktree, or none, with a note for the user when
/// the repository cannot have one and the session runs in `dir` itself.
pub fn plan(
    dir: &Path,
    name: &str,
    mode: WorktreeMode,
) -> Result<(Option<Plan>, Option<String>), String> {
    if mode == WorktreeMode::Never {
        return Ok((None, None));
    }
    let repo = match Repository::discover(dir) {
        Ok(r) => r,
        Err(_) if mode == WorktreeMode::Always => {
            return Err(format!(
                "{} is not in a git repository (worktree = \"always\"; use --no-worktree to run there anyway)",
                dir.display()
            ))
        }
        Err(_) => return Ok((None, None)),
    };
    let fallback = |why: &str| {
        Ok((
            None,
            Some(format!(
                "{why}, so the session runs in {} itself",
                dir.display()
            )),
        ))
    };
    if repo.is_bare() {
        return fallback("the repository is bare");
    }
    if repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .is_none()
    {
        return fallback("the repository has no commit yet");
    }
    let Some(workdir) = repo.workdir() else {
        return fallback("the repository has no working directory");
    };
    let root = main_checkout(&repo)?;
    let subdir = dir
        .canonicalize()
        .ok()
        .and_then(|d| {
            let w = workdir.canonicalize().ok()?;
            d.strip_prefix(&w).ok().map(Path::to_path_buf)
        })
        .unwrap_or_default();
    let base = git_safe(name);
    let main = Repository::open(&root)
        .map_err(|e| format!("cannot open {}: {}", root.display(), e.message()))?;
    let taken = |n: &str| {
        root.join(".crew/worktrees").join(n).exists()
            || main
                .find_branch(&format!("crew/{n}"), BranchType::Local)
                .is_ok()
            || main.find_worktree(n).is_ok()
    };
    let mut wt_name = base.clone();
    let mut i = 2;
    while taken(&wt_name) {
        wt_name = format!("{base}-{i}");
        i += 1;
    }
    let path = root.join(".crew/worktrees").join(&wt_name);
    let note = repo.head_detached().unwrap_or(false).then(|| {
        "HEAD is detached, so the worktree branches from the commit it points at".to_string()
    });
    // `join("")` would end the directory in a slash.
    let cwd = if subdir.as_os_str().is_empty() {
        path.clone()
    } else {
        path.join(&subdir)
    };
    Ok((
        Some(Plan {
            cwd,
            branch: format!("crew/{wt_name}"),
            path,
        }),
        note,
    ))
}

/// The main checkout of the repository `repo` belongs to (a worktree's own repository points
/// at it through its common directory), so worktrees never nest inside worktrees.
fn main_checkout(repo: &Repository) -> Result<PathBuf, String> {
    let common = repo.commondir();
    let main = Repository::open(common)
        .map_err(|e| format!("cannot open {}: {}", common.display(), e.message()))?;
    main.workdir()
        .or_else(|| repo.workdir())
        .map(|w| w.canonicalize().unwrap_or_else(|_| w.to_path_buf()))
        .ok_or_else(|| "the repository has no working directory".into())
}

/// A worktree and branch name git accepts, as close to the session name as it can be (that
/// is already a slug of letters, digits and dashes): anything else becomes a single dash.
fn git_safe(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "session".into()
    } else {
        s
    }
}

/// The main checkout a crew worktree path (`<root>/.crew/worktrees/<name>`) belongs to.
pub fn checkout_of(path: &Path) -> Result<&Path, String> {
    path.ancestors()
        .nth(3)
        .ok_or_else(|| format!("{} is not a crew worktree path", path.display()))
}

/// Creates the planned worktree (a new branch from HEAD) and excludes `.crew/` in the main
/// checkout once.
pub fn create(path: &Path, branch: &str) -> Result<(), String> {
    let root = checkout_of(path)?;
    let err = |what: &str, e: git2::Error| format!("cannot {what}: {}", e.message());
    let repo = Repository::open(root).map_err(|e| err(&format!("open {}", root.display()), e))?;
    exclude_crew_dir(&repo)?;
    let commit = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| err("read HEAD", e))?;
    let short = branch.strip_prefix("crew/").unwrap_or(branch);
    let reference = repo
        .branch(branch, &commit, false)
        .map_err(|e| err(&format!("create branch {branch}"), e))?
        .into_reference();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(&reference));
    if let Err(e) = repo.worktree(short, path, Some(&opts)) {
        // Nothing of value is on the new branch yet.
        if let Ok(mut b) = repo.find_branch(branch, BranchType::Local) {
            let _ = b.delete();
        }
        return Err(err(&format!("create the worktree {}", path.display()), e));
    }
    Ok(())
}

/// Adds `.crew/` to the repository's `info/exclude` unless a line already says so.
fn exclude_crew_dir(repo: &Repository) -> Result<(), String> {
    let info = repo.commondir().join("info");
    let file = info.join("exclude");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if text
        .lines()
        .any(|l| matches!(l.trim(), ".crew/" | ".crew" | "/.crew/" | "/.crew"))
    {
        return Ok(());
    }
    let mut text = text;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(".crew/\n");
    std::fs::create_dir_all(&info).map_err(|e| format!("cannot create {}: {e}", info.display()))?;
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// Whether the worktree at `path` has changes: modified, staged or untracked files (ignored
/// files do not count). A missing worktree has none.
pub fn is_dirty(path: &Path) -> Result<bool, String> {
    if !path.exists() {
        return Ok(false);
    }
    let repo = Repository::open(path)
        .map_err(|e| format!("cannot open {}: {}", path.display(), e.message()))?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts)).map_err(|e| {
        format!(
            "cannot read the status of {}: {}",
            path.display(),
            e.message()
        )
    })?;
    Ok(!statuses.is_empty())
}

/// Saves every change in the worktree (tracked and untracked, not ignored) as a commit on top
/// of its HEAD, referenced by `refs/crew/saved/<id>`; the worktree's own branch and index are
/// left as they were. Returns the ref.
pub fn save_changes(path: &Path, id: &str) -> Result<String, String> {
    let err = |what: &str, e: git2::Error| {
        format!("cannot {what} in {}: {}", path.display(), e.message())
    };
    let repo = Repository::open(path).map_err(|e| err("open the repository", e))?;
    // A separate index, so the worktree's own staging is untouched.
    let mut index = repo.index().map_err(|e| err("read the index", e))?;
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .map_err(|e| err("add the changes", e))?;
    index
        .update_all(["*"].iter(), None)
        .map_err(|e| err("add the deletions", e))?;
    let tree_id = index.write_tree().map_err(|e| err("write the tree", e))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| err("read the tree", e))?;
    let parent = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| err("read HEAD", e))?;
    let sig = repo
        .signature()
        .or_else(|_| Signature::now("crew", "crew@localhost"))
        .map_err(|e| err("make a signature", e))?;
    let name = format!("refs/crew/saved/{id}");
    let message = format!(
        "crew: changes saved from {} before its worktree was removed",
        path.display()
    );
    let commit = repo
        .commit(None, &sig, &sig, &message, &tree, &[&parent])
        .map_err(|e| err("commit the changes", e))?;
    repo.reference(&name, commit, true, "crew: saved changes")
        .map_err(|e| err("record the saved changes", e))?;
    // Leave the worktree's index as it was on disk (the in-memory index was never written).
    Ok(name)
}

/// Removes the worktree at `path` (its directory and git's record of it); its branch stays.
pub fn remove(path: &Path) -> Result<(), String> {
    let err =
        |what: &str, e: git2::Error| format!("cannot {what} {}: {}", path.display(), e.message());
    if !path.exists() {
        return Ok(());
    }
    let wt_repo = Repository::open(path).map_err(|e| err("open", e))?;
    let main =
        Repository::open(wt_repo.commondir()).map_err(|e| err("open the repository of", e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{} has no name", path.display()))?;
    let wt = main
        .find_worktree(name)
        .map_err(|e| err("find the worktree", e))?;
    let mut opts = git2::WorktreePruneOptions::new();
    opts.valid(true).working_tree(true).locked(true);
    wt.prune(Some(&mut opts))
        .map_err(|e| err("remove the worktree", e))?;
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Removes a worktree and its branch after a failed start (nothing of value is on them).
pub fn discard(path: &Path, branch: &str) {
    let _ = remove(path);
    if let Some(repo) = checkout_of(path)
        .ok()
        .and_then(|r| Repository::open(r).ok())
    {
        if let Ok(mut b) = repo.find_branch(branch, BranchType::Local) {
            let _ = b.delete();
        }
    }
}
