//! `Dispatch`: a new session. The supervisor names it, writes its first `state.json`, and
//! starts its host; the client is answered once the agent is running.

use mio::Token;

use super::{BatchKind, Op, Supervisor, Then};
use crate::lookup::{slug, unique_name};
use std::path::Path;

use crate::profile::{Config, Hooks, Placeholders, WorktreeMode};
use crate::protocol::{Dispatch, Process, Reply, Session, Source, State, STATE_VERSION};
use crate::store;

impl Supervisor {
    pub(super) fn dispatch(&mut self, token: Token, d: Dispatch) {
        let (session, hooks, note) = match self.new_session(&d) {
            Ok(s) => s,
            Err(message) => {
                self.reply(token, &Reply::Error { message });
                return;
            }
        };
        if let Err(e) = store::private_dir(&self.home.job_dir(&session.id)) {
            self.reply(
                token,
                &Reply::Error {
                    message: e.to_string(),
                },
            );
            return;
        }
        let written = crate::hooks::write(
            hooks,
            &self.hooks_path(&session.id),
            &self.crew_path(),
            &d.env,
        )
        .and_then(|()| store::write_first_state(&self.home, &session));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(self.home.job_dir(&session.id));
            self.reply(
                token,
                &Reply::Error {
                    message: e.to_string(),
                },
            );
            return;
        }
        self.refresh(&session.id);
        self.save_roster();
        let kind = BatchKind::Dispatch {
            id: session.id.clone(),
            name: session.name.clone(),
            note,
        };
        let batch = self.new_batch(token, kind, 1);
        let op = Op {
            batch,
            id: session.id.clone(),
            then: Then::Nothing,
        };
        self.spawn_host(&session.id, &d.env, false, op, true);
    }

    fn hooks_path(&self, id: &str) -> std::path::PathBuf {
        self.home.job_dir(id).join("hooks.json")
    }

    fn new_session(&mut self, d: &Dispatch) -> Result<(Session, Hooks, Option<String>), String> {
        let config = Config::load(&self.home.config_path())?;
        let path = d
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| std::ffi::OsStr::new(v.as_str()));
        let profile = match &d.agent {
            Some(a) => config
                .profile(a)
                .ok_or_else(|| format!("no agent profile named '{a}'"))?,
            None => config.default_profile(path),
        };
        if !std::path::Path::new(&d.cwd).is_dir() {
            return Err(format!("directory {} does not exist", d.cwd));
        }
        // Names come from the cache: every change of name passes through the supervisor.
        let id = loop {
            let id = store::new_id();
            if !self.home.job_dir(&id).exists() {
                break id;
            }
        };
        let taken = |n: &str| {
            self.cache
                .values()
                .any(|c| c.session.as_ref().is_ok_and(|s| s.name == n))
        };
        let name = match &d.name {
            Some(n) => {
                let n = slug(n);
                if n.is_empty() {
                    return Err("a session name needs letters or digits".into());
                }
                if taken(&n) {
                    return Err(format!("a session named '{n}' already exists"));
                }
                n
            }
            None => {
                let base = d
                    .prompt
                    .as_deref()
                    .map(slug)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| profile.name.clone());
                unique_name(&base, taken)
            }
        };
        // The worktree is only planned here (reading the repository is quick); the host
        // creates it before it starts the agent.
        let mode = if d.no_worktree {
            WorktreeMode::Never
        } else {
            config.worktree
        };
        let (worktree, note) = crate::worktree::plan(Path::new(&d.cwd), &name, mode)?;
        let cwd = worktree
            .as_ref()
            .map_or(d.cwd.clone(), |w| w.cwd.to_string_lossy().into_owned());
        let shell = d
            .env
            .iter()
            .find(|(k, _)| k == "SHELL")
            .map_or("sh", |(_, v)| v.as_str());
        let uuid = store::new_uuid();
        let hooks = self.hooks_path(&id);
        let crew = self.crew_path();
        let vars = Placeholders {
            prompt: d.prompt.as_deref(),
            model: d.model.as_deref(),
            uuid: &uuid,
            session: &id,
            cwd: &cwd,
            hooks: &hooks.to_string_lossy(),
            shell,
            crew: &crew,
        };
        let command = profile.command_for(&vars)?;
        let resume = profile.resume_for(&vars);
        let env = profile.env_for(&vars);
        let now = store::now_rfc3339();
        let session = Session {
            version: STATE_VERSION,
            id,
            name,
            agent: profile.name.clone(),
            prompt: d.prompt.clone(),
            model: d.model.clone(),
            cwd,
            worktree: worktree
                .as_ref()
                .map(|w| w.path.to_string_lossy().into_owned()),
            branch: worktree.map(|w| w.branch),
            state: State::Working,
            process: Process::Alive,
            state_source: Source::Activity,
            reason: None,
            exit_code: None,
            signal: None,
            summary: None,
            question: None,
            title: None,
            pinned: false,
            order: 0,
            prs: Vec::new(),
            loop_: d.every_s.map(|every_s| crate::protocol::Loop {
                every_s,
                runs: 0,
                next_at: None,
            }),
            pid: None,
            host_pid: None,
            created_at: now.clone(),
            changed_at: now,
            attached: 0,
            command,
            resume,
            env,
            host_start: None,
            rows: d.rows.max(2),
            cols: d.cols.max(10),
        };
        Ok((session, profile.hooks, note))
    }
}

impl Supervisor {
    /// The crew binary, for hooks that run `crew report`.
    fn crew_path(&self) -> String {
        self.binary
            .path()
            .map_or_else(|| "crew".into(), |p| p.to_string_lossy().into_owned())
    }
}
