//! A new session's worktree: created before the agent starts, then the repository's
//! `.crew/setup` runs inside it (copying `.env`, installing dependencies…) with its output on
//! the session's screen. A failing setup fails the dispatch, its output in the message, and
//! the fresh worktree and branch are removed again.

use std::path::Path;
use std::process::{Command, Stdio};

use super::Host;
use crate::worktree;

/// Lines of a failing setup's output quoted in the dispatch's error.
const FAILURE_LINES: usize = 20;

impl Host {
    /// Creates the planned worktree when it does not exist yet (a first start); true when it
    /// was created now.
    pub(super) fn prepare_worktree(&mut self, env: &[(String, String)]) -> Result<bool, String> {
        let (Some(path), Some(branch)) =
            (self.session.worktree.clone(), self.session.branch.clone())
        else {
            return Ok(false);
        };
        let path = Path::new(&path);
        if path.exists() {
            return Ok(false);
        }
        worktree::create(path, &branch)?;
        // The dispatch directory may hold nothing git tracks (so the checkout lacks it).
        let made = std::fs::create_dir_all(&self.session.cwd)
            .map_err(|e| format!("cannot create {}: {e}", self.session.cwd));
        let setup = worktree::checkout_of(path)?.join(".crew/setup");
        let result = match made {
            Ok(()) if setup.is_file() => self.run_setup(&setup, path, env),
            other => other,
        };
        if let Err(why) = result {
            worktree::discard(path, &branch);
            return Err(why);
        }
        Ok(true)
    }

    /// The agent of a first start could not run: the worktree made for it goes again.
    pub(super) fn discard_new_worktree(&self) {
        if let (Some(path), Some(branch)) = (&self.session.worktree, &self.session.branch) {
            worktree::discard(Path::new(path), branch);
        }
    }

    fn run_setup(
        &mut self,
        setup: &Path,
        dir: &Path,
        env: &[(String, String)],
    ) -> Result<(), String> {
        let mut cmd = Command::new("sh");
        // Both streams in one, in order, as a terminal would show them.
        cmd.arg("-c")
            .arg("exec \"$0\" 2>&1")
            .arg(setup)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if !env.is_empty() {
            cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.env("CREW_SESSION_ID", &self.session.id)
            .env("CREW_HOME", &self.home.root);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", setup.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let shown = text.replace('\n', "\r\n");
        self.screen.process(shown.as_bytes());
        self.transcript.extend_from_slice(shown.as_bytes());
        if out.status.success() {
            return Ok(());
        }
        let status = match out.status.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".into(),
        };
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(FAILURE_LINES)..].join("\n");
        Err(format!("{} failed ({status}):\n{tail}", setup.display()))
    }
}
