//! Worktrees (SPEC 8): a dispatch inside a git repository runs in a worktree of its own on a
//! branch `crew/<name>`; `crew rm` removes a clean worktree, refuses a dirty one, and with
//! `--force` saves its changes under `refs/crew/saved/<id>` first; the view deletes like
//! `rm --force`, dispatches `@repo` prompts into a sibling repository and groups worktrees by
//! their repository. Real repositories, made with the `git` CLI in each test's own home.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::terminal::row_text;
use support::view::*;
use support::*;

const CTRL_S: &[u8] = b"\x13";
const CTRL_X: &[u8] = b"\x18";
const ROWS: u16 = 30;
const COLS: u16 = 120;

/// A crew whose prompts run in `sh`, with the default worktree setting, quick to call a quiet
/// session idle.
fn crew() -> Crew {
    crew_with("")
}

fn crew_with(extra: &str) -> Crew {
    let crew = Crew::new();
    std::fs::write(
        crew.home.join("config.toml"),
        format!("default_agent = \"shell\"\nidle_after = \"1s\"\n{extra}"),
    )
    .unwrap();
    crew
}

/// Runs git in `dir`, expecting success; returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An empty git repository at `<home>/<name>` (canonical), with a local identity.
fn empty_repo(crew: &Crew, name: &str) -> PathBuf {
    let dir = crew.home.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = canon(&dir);
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.name", "Crew Test"]);
    git(&dir, &["config", "user.email", "crew@example.com"]);
    dir
}

/// A repository at `<home>/<name>` with one commit: `tracked.txt` and a `.gitignore` of `*.log`.
fn repo(crew: &Crew, name: &str) -> PathBuf {
    let dir = empty_repo(crew, name);
    std::fs::write(dir.join("tracked.txt"), "original\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "*.log\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    dir
}

fn canon(p: impl AsRef<Path>) -> PathBuf {
    let p = p.as_ref();
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The main checkout's `git status --porcelain`, which must stay empty.
fn assert_clean(repo: &Path) {
    let status = git(repo, &["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "", "the main checkout changed:\n{status}");
}

fn branch_exists(repo: &Path, branch: &str) -> bool {
    !git(repo, &["branch", "--list", branch]).trim().is_empty()
}

fn worktree_listed(repo: &Path, path: &Path) -> bool {
    let list = git(repo, &["worktree", "list", "--porcelain"]);
    list.lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .any(|w| Path::new(w) == path || std::fs::canonicalize(w).ok().as_deref() == Some(path))
}

/// A session's `worktree`, `branch` and `cwd` from `crew ls --json`.
struct Placed {
    worktree: PathBuf,
    branch: String,
    cwd: PathBuf,
}

fn placed(crew: &Crew, id: &str) -> Placed {
    let s = crew.session(id);
    let worktree = s["worktree"]
        .as_str()
        .unwrap_or_else(|| panic!("no worktree: {s}"));
    Placed {
        worktree: canon(worktree),
        branch: s["branch"]
            .as_str()
            .unwrap_or_else(|| panic!("no branch: {s}"))
            .to_string(),
        cwd: canon(s["cwd"].as_str().unwrap_or_else(|| panic!("no cwd: {s}"))),
    }
}

/// Dispatches `command` as `name` from `dir` and waits until it completed.
fn run_in(crew: &Crew, dir: &Path, name: &str, command: &str) -> String {
    let (id, got) = crew.bg(&["-n", name, "-C", &s(dir), command]);
    assert_eq!(got, name);
    crew.wait_state(&id, "completed");
    id
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn two_sessions_get_two_worktrees_and_branches_apart_from_the_main_checkout() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    let one = run_in(
        &crew,
        &repo,
        "one",
        "pwd -P > where.txt; echo first > one-only.txt",
    );
    let two = run_in(
        &crew,
        &repo,
        "two",
        "pwd -P > where.txt; echo second > two-only.txt",
    );

    let (p1, p2) = (placed(&crew, &one), placed(&crew, &two));
    assert_eq!(p1.worktree, repo.join(".crew/worktrees/one"));
    assert_eq!(p2.worktree, repo.join(".crew/worktrees/two"));
    assert_eq!(p1.branch, "crew/one");
    assert_eq!(p2.branch, "crew/two");
    assert_eq!(p1.cwd, p1.worktree);
    assert_eq!(p2.cwd, p2.worktree);
    assert!(branch_exists(&repo, "crew/one") && branch_exists(&repo, "crew/two"));
    assert!(worktree_listed(&repo, &p1.worktree) && worktree_listed(&repo, &p2.worktree));
    // Both branch from HEAD.
    let head = git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(git(&repo, &["rev-parse", "crew/one"]), head);
    assert_eq!(git(&repo, &["rev-parse", "crew/two"]), head);

    // Each command ran in its own worktree, and what it wrote stays there.
    assert_eq!(read(&p1.worktree.join("where.txt")).trim(), s(&p1.worktree));
    assert_eq!(read(&p2.worktree.join("where.txt")).trim(), s(&p2.worktree));
    assert!(p1.worktree.join("one-only.txt").exists());
    assert!(!p2.worktree.join("one-only.txt").exists());
    assert!(p2.worktree.join("two-only.txt").exists());
    assert!(!p1.worktree.join("two-only.txt").exists());
    assert!(!repo.join("where.txt").exists() && !repo.join("one-only.txt").exists());
    assert_clean(&repo);
}

#[test]
fn crew_dir_is_excluded_once_and_the_checkout_stays_clean() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    for name in ["ex-a", "ex-b", "ex-c"] {
        run_in(&crew, &repo, name, "echo made > made.txt");
    }
    let exclude = read(&repo.join(".git/info/exclude"));
    let lines = exclude.lines().filter(|l| l.trim() == ".crew/").count();
    assert_eq!(lines, 1, ".git/info/exclude:\n{exclude}");
    assert_clean(&repo);
}

#[test]
fn a_dispatch_from_a_subdirectory_runs_in_that_subdirectory_of_the_worktree() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    let sub = repo.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("keep.txt"), "x\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "sub"]);

    let id = run_in(&crew, &sub, "in-sub", "pwd -P > where.txt");
    let p = placed(&crew, &id);
    assert_eq!(p.worktree, repo.join(".crew/worktrees/in-sub"));
    assert_eq!(p.cwd, p.worktree.join("src/deep"));
    assert_eq!(
        read(&p.worktree.join("src/deep/where.txt")).trim(),
        s(&p.worktree.join("src/deep"))
    );
    assert!(!sub.join("where.txt").exists());
}

#[test]
fn rm_removes_clean_worktrees_refuses_dirty_ones_and_force_saves_the_changes() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    let clean = run_in(&crew, &repo, "clean", "echo hi");
    let ignored = run_in(&crew, &repo, "ignored", "echo noise > debug.log");
    let untracked = run_in(&crew, &repo, "untracked", "echo hi > new.txt");
    let modified = run_in(&crew, &repo, "modified", "echo changed >> tracked.txt");
    let both = run_in(
        &crew,
        &repo,
        "both",
        "echo hi > new.txt; echo changed >> tracked.txt",
    );
    let paths: Vec<PathBuf> = [&clean, &ignored, &untracked, &modified, &both]
        .iter()
        .map(|id| placed(&crew, id).worktree)
        .collect();
    assert_clean(&repo);

    // Clean (an ignored file does not count): the worktree goes, the branch stays.
    for (id, path, branch) in [
        (&clean, &paths[0], "crew/clean"),
        (&ignored, &paths[1], "crew/ignored"),
    ] {
        crew.ok(&["rm", id]);
        assert!(
            !crew.ls().iter().any(|s| s["id"] == **id),
            "{id} still listed"
        );
        assert!(!path.exists(), "{} is still there", path.display());
        assert!(
            !worktree_listed(&repo, path),
            "{} still a worktree",
            path.display()
        );
        assert!(branch_exists(&repo, branch), "{branch} was deleted");
    }

    // Dirty: refused, nothing removed.
    for (id, path) in [(&untracked, &paths[2]), (&modified, &paths[3])] {
        let err = crew.fails(&["rm", id]);
        assert!(err.contains(&s(path)), "{err}");
        assert!(err.contains("--force"), "{err}");
        crew.session(id);
        assert!(path.exists() && worktree_listed(&repo, path));
    }
    assert!(paths[2].join("new.txt").exists());
    assert_eq!(read(&paths[3].join("tracked.txt")), "original\nchanged\n");
    assert_clean(&repo);

    // --force: saved under refs/crew/saved/<id>, then removed.
    let out = crew.run(&["rm", "--force", &both]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "rm --force failed: {said}");
    let saved = format!("refs/crew/saved/{both}");
    assert!(
        said.contains(&format!("saved the changes in {} to {saved}", s(&paths[4]))),
        "{said}"
    );
    assert!(!paths[4].exists());
    assert!(!worktree_listed(&repo, &paths[4]));
    assert!(!crew.ls().iter().any(|s| s["id"] == both.as_str()));
    assert!(branch_exists(&repo, "crew/both"));
    let stat = git(&repo, &["show", "--stat", "--format=", &saved]);
    assert!(
        stat.contains("new.txt") && stat.contains("tracked.txt"),
        "{stat}"
    );
    assert_eq!(
        git(&repo, &["show", &format!("{saved}:tracked.txt")]),
        "original\nchanged\n"
    );
    assert_eq!(git(&repo, &["show", &format!("{saved}:new.txt")]), "hi\n");
    assert_clean(&repo);
}

/// A worktree is never removed while another session still runs in it.
#[test]
fn rm_leaves_a_worktree_another_session_runs_in() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    let owner = run_in(&crew, &repo, "owner", "echo hi");
    let path = placed(&crew, &owner).worktree;
    let (guest, _) = crew.bg(&[
        "-n",
        "guest",
        "--no-worktree",
        "-C",
        &s(&path),
        "echo inside; exec sleep 60",
    ]);
    crew.wait_state(&guest, "working");
    crew.ok(&["rm", &owner]);
    assert!(!crew.ls().iter().any(|s| s["id"] == owner.as_str()));
    assert!(path.exists(), "{} was removed under guest", path.display());
    assert!(worktree_listed(&repo, &path));
    assert_eq!(
        canon(crew.session(&guest)["cwd"].as_str().unwrap()),
        canon(&path)
    );
}

#[test]
fn names_with_slashes_spaces_and_unicode_become_worktrees_and_branches() {
    let crew = crew();
    let repo = repo(&crew, "proj");

    let out = crew.ok(&["--bg", "-n", "feat/üñí code", "-C", &s(&repo), "echo odd"]);
    let (id, name) = out.trim_end().split_once(' ').expect("`<id> <name>`");
    crew.wait_state(id, "completed");
    let p = placed(&crew, id);
    assert_eq!(
        p.worktree,
        repo.join(".crew/worktrees").join(name),
        "the session is named {name:?}"
    );
    assert_eq!(p.branch, format!("crew/{name}"));
    assert!(branch_exists(&repo, &format!("crew/{name}")));
    assert!(p.worktree.is_dir());
    assert_clean(&repo);
}

#[test]
fn a_name_whose_branch_is_taken_gets_a_suffix_and_the_old_branch_stays() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    // `crew/taken` exists already, on an older commit: the session gets a suffixed
    // worktree and branch, and the old branch stays where it was.
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["branch", "crew/taken"]);
    std::fs::write(repo.join("tracked.txt"), "second\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "second"]);
    let (id, _) = crew.bg(&["-n", "taken", "-C", &s(&repo), "echo taken"]);
    crew.wait_state(&id, "completed");
    let p = placed(&crew, &id);
    assert_eq!(p.branch, "crew/taken-2");
    assert_eq!(p.worktree, repo.join(".crew/worktrees/taken-2"));
    assert_eq!(git(&repo, &["rev-parse", "crew/taken"]), first);
    assert_eq!(
        git(&repo, &["rev-parse", "crew/taken-2"]),
        git(&repo, &["rev-parse", "HEAD"])
    );
    assert_clean(&repo);
}

#[test]
fn outside_a_repository_and_with_no_worktree_sessions_run_in_the_directory() {
    let crew = crew();
    let plain = crew.home.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let plain = canon(&plain);
    let id = run_in(&crew, &plain, "plain", "pwd -P > where.txt");
    let s1 = crew.session(&id);
    assert!(s1["worktree"].is_null() && s1["branch"].is_null(), "{s1}");
    assert_eq!(canon(s1["cwd"].as_str().unwrap()), plain);
    assert_eq!(read(&plain.join("where.txt")).trim(), s(&plain));

    let repo = repo(&crew, "proj");
    let (id, _) = crew.bg(&["--no-worktree", "-n", "here", "-C", &s(&repo), "echo hi"]);
    crew.wait_state(&id, "completed");
    let s2 = crew.session(&id);
    assert!(s2["worktree"].is_null() && s2["branch"].is_null(), "{s2}");
    assert_eq!(canon(s2["cwd"].as_str().unwrap()), repo);
    assert!(!repo.join(".crew/worktrees/here").exists());
    assert!(!branch_exists(&repo, "crew/here"));
}

#[test]
fn worktree_never_and_always_in_the_config() {
    let crew = crew_with("worktree = \"never\"\n");
    let repo = repo(&crew, "proj");
    let id = run_in(&crew, &repo, "never", "echo hi");
    let s1 = crew.session(&id);
    assert!(s1["worktree"].is_null() && s1["branch"].is_null(), "{s1}");
    assert_eq!(canon(s1["cwd"].as_str().unwrap()), repo);

    let crew = crew_with("worktree = \"always\"\n");
    let plain = crew.home.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let err = crew.fails(&["--bg", "-n", "nope", "-C", &s(&plain), "echo hi"]);
    assert!(err.contains("not in a git repository"), "{err}");
    assert!(crew.ls().is_empty());
}

#[test]
fn a_repository_without_commits_runs_in_place_with_a_note() {
    let crew = crew();
    let repo = empty_repo(&crew, "fresh");
    let out = crew.run(&["--bg", "-n", "fresh", "-C", &s(&repo), "pwd -P > where.txt"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let (id, name) = stdout.trim_end().split_once(' ').expect("`<id> <name>`");
    assert_eq!(name, "fresh");
    let note = format!(
        "crew: note: the repository has no commit yet, so the session runs in {} itself",
        s(&repo)
    );
    assert!(stderr.lines().any(|l| l == note), "stderr: {stderr}");
    crew.wait_state(id, "completed");
    let s1 = crew.session(id);
    assert!(s1["worktree"].is_null() && s1["branch"].is_null(), "{s1}");
    assert_eq!(canon(s1["cwd"].as_str().unwrap()), repo);
    assert_eq!(read(&repo.join("where.txt")).trim(), s(&repo));
}

#[test]
fn a_detached_head_branches_from_its_commit_with_a_note() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("tracked.txt"), "second\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "second"]);
    git(&repo, &["checkout", "-q", "--detach", first.trim()]);

    let out = crew.run(&["--bg", "-n", "loose", "-C", &s(&repo), "cat tracked.txt"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("detached"), "stderr: {stderr}");
    let (id, _) = stdout.trim_end().split_once(' ').expect("`<id> <name>`");
    crew.wait_state(id, "completed");
    let p = placed(&crew, id);
    assert_eq!(p.worktree, repo.join(".crew/worktrees/loose"));
    assert!(p.worktree.is_dir());
    assert_eq!(git(&repo, &["rev-parse", "crew/loose"]), first);
    assert_eq!(read(&p.worktree.join("tracked.txt")), "original\n");
}

#[test]
fn setup_runs_in_each_new_worktree_and_a_failing_setup_fails_the_dispatch() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    let setup = repo.join(".crew/setup");
    std::fs::create_dir_all(setup.parent().unwrap()).unwrap();
    std::fs::write(
        &setup,
        "#!/bin/sh\npwd -P > setup-ran.txt\necho setting up\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&setup, std::fs::Permissions::from_mode(0o755)).unwrap();

    let id = run_in(&crew, &repo, "with-setup", "cat setup-ran.txt");
    let p = placed(&crew, &id);
    assert_eq!(
        read(&p.worktree.join("setup-ran.txt")).trim(),
        s(&p.worktree)
    );
    assert!(!repo.join("setup-ran.txt").exists());
    let logs = crew.ok(&["logs", &id]);
    assert!(logs.contains("setting up"), "logs: {logs}");
    // The command ran after the setup: it read the file the setup wrote.
    assert!(logs.contains(&s(&p.worktree)), "logs: {logs}");
    assert_clean(&repo);

    std::fs::write(&setup, "#!/bin/sh\necho cannot install deps\nexit 3\n").unwrap();
    let before = crew.ls().len();
    let err = crew.fails(&["--bg", "-n", "broken-setup", "-C", &s(&repo), "echo never"]);
    assert!(err.contains("failed (exit code 3)"), "{err}");
    assert!(err.contains("cannot install deps"), "{err}");
    assert_eq!(
        crew.ls().len(),
        before,
        "a session remains: {:?}",
        crew.ls()
    );
    assert!(!repo.join(".crew/worktrees/broken-setup").exists());
    assert!(!branch_exists(&repo, "crew/broken-setup"));
    let list = git(&repo, &["worktree", "list"]);
    assert!(!list.contains("broken-setup"), "{list}");
    assert_clean(&repo);
}

// ---- the view ----

/// The bottom three rows (status, input, footer), for messages that may wrap.
fn bottom(s: &vt100::Screen) -> String {
    (rows(s) - 3..rows(s))
        .map(|r| row_text(s, r))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn deleting_in_the_view_saves_the_changes_like_rm_force() {
    let crew = crew();
    let repo = repo(&crew, "proj");
    let (id, _) = crew.bg(&[
        "-n",
        "dirty",
        "-C",
        &s(&repo),
        "echo hi > new.txt; echo changed >> tracked.txt; echo edited; exec sleep 60",
    ]);
    crew.wait_state(&id, "idle");
    let path = placed(&crew, &id).worktree;
    wait_for("the edits", || path.join("new.txt").exists());

    let mut term = open_in(&crew, &crew.home, ROWS, COLS);
    term.wait_for("the row", |s| find_row(s, "dirty").is_some());
    select(&mut term, "dirty");
    term.send(CTRL_X);
    term.wait_for("the stop message", |s| bottom(s).contains("Stopping dirty"));
    term.send(CTRL_X);
    wait_for("the session to be deleted", || {
        !crew.ls().iter().any(|s| s["id"] == id.as_str())
    });
    term.wait_for("the saved message", |s| {
        bottom(s).contains("saved the changes in")
    });
    assert!(!path.exists(), "{} is still there", path.display());
    assert!(!worktree_listed(&repo, &path));
    assert!(branch_exists(&repo, "crew/dirty"));
    let files = git(
        &repo,
        &[
            "ls-tree",
            "-r",
            "--name-only",
            &format!("refs/crew/saved/{id}"),
        ],
    );
    assert!(files.lines().any(|l| l == "new.txt"), "{files}");
    assert_eq!(
        git(
            &repo,
            &["show", &format!("refs/crew/saved/{id}:tracked.txt")]
        ),
        "original\nchanged\n"
    );
    assert_clean(&repo);
    leave(&mut term);
}

#[test]
fn at_repo_dispatches_into_the_sibling_repository_and_ctrl_s_groups_by_repository() {
    let crew = crew();
    let work = crew.home.join("work");
    std::fs::create_dir_all(work.join("here")).unwrap();
    let repo = repo(&crew, "work/other");
    let (cli, _) = crew.bg(&["-n", "from-cli", "-C", &s(&repo), "echo cli; exec sleep 60"]);
    crew.wait_state(&cli, "idle");

    let mut term = open_in(&crew, &work.join("here"), ROWS, COLS);
    term.wait_for("the row", |s| find_row(s, "from-cli").is_some());
    term.send(b"@other echo made in the sibling; exec sleep 60\r");
    wait_for("the new session", || crew.ls().len() == 2);
    let s_new = crew
        .ls()
        .into_iter()
        .find(|s| s["id"] != cli.as_str())
        .unwrap();
    let id = s_new["id"].as_str().unwrap().to_string();
    let name = s_new["name"].as_str().unwrap().to_string();
    let p = placed(&crew, &id);
    assert_eq!(
        p.worktree.parent(),
        Some(repo.join(".crew/worktrees").as_path())
    );
    assert_eq!(p.cwd, p.worktree);
    assert_eq!(
        p.branch,
        format!("crew/{}", p.worktree.file_name().unwrap().to_string_lossy())
    );
    assert!(branch_exists(&repo, &p.branch));
    let ok = within(DEADLINE, || {
        crew.ok(&["peek", &id]).contains("made in the sibling")
    });
    assert!(ok, "{}", crew.ok(&["peek", &id]));
    crew.wait_state(&id, "idle");

    // Grouped by directory: both worktrees sit under the repository's root.
    let root = s(&repo);
    term.wait_for("the new row", |s| find_row(s, &name).is_some());
    term.send(CTRL_S);
    term.wait_for("grouped by repository", |s| {
        group_of(s, "from-cli").as_deref() == Some(root.as_str())
            && group_of(s, &name).as_deref() == Some(root.as_str())
    });
    assert_clean(&repo);
    leave(&mut term);
}
