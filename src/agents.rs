//! `crew agents` (and `crew` alone): the full-screen agent view (SPEC 4).
//!
//! The view itself lives in `term::view`; this file gives it what only the binary has:
//! the connection to the supervisor and the hosts (run on the view's helper thread), the
//! view's settings file, and attaching (the view hands over the terminal and comes back).

use std::sync::Arc;

use mux::protocol::{Dispatch, HostRequest, Reply, SupervisorRequest};
use mux::store::{self, Home};
use term::view::{self, Exit, Handler, Model, NewSession, Outcome, Request, Settings};

use crate::{attach, connect, reply, rm};

#[derive(clap::Args, Default)]
pub struct AgentsArgs {
    /// Model to dispatch with (`/model` in the view changes it for the run).
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// Group rows by state or by directory (remembered, like Ctrl+S).
    #[arg(long, value_name = "state|dir", value_parser = ["state", "dir"])]
    group: Option<String>,
    /// The detach key when attaching from the view, e.g. ctrl-\ (the default) or ctrl-].
    #[arg(long, value_name = "KEY")]
    detach_key: Option<String>,
}

pub fn run(home: &Home, args: &AgentsArgs) -> Result<(), String> {
    refuse_if_disabled(home, "the agent view")?;
    let detach_key = attach::detach_key(home, args.detach_key.as_deref())?;
    let mut settings = load_settings(home);
    if let Some(g) = &args.group {
        settings.group = g.clone();
        save_settings(home, &settings)?;
    }
    let cwd = std::env::current_dir()
        .map_err(|e| format!("cannot read the current directory: {e}"))?
        .to_string_lossy()
        .into_owned();
    let skills = mux::skills::names(home, std::path::Path::new(&cwd));
    let mut model = Model::new(cwd, args.model.clone(), settings);
    model.skills = skills;
    model.profiles = match mux::profile::Config::load(&home.config_path()) {
        Ok(c) => c.profiles.iter().map(|p| p.name.clone()).collect(),
        Err(e) => {
            model.say(e);
            mux::profile::Config::default()
                .profiles
                .iter()
                .map(|p| p.name.clone())
                .collect()
        }
    };
    // Start the supervisor before the screen changes, so a failure is one plain line.
    connect::supervisor(home)?;
    let handler: Handler = {
        let home = home.clone();
        Arc::new(move |request| handle(&home, request))
    };
    loop {
        match view::run(&mut model, &handler)? {
            Exit::Quit => return Ok(()),
            Exit::Attach(id) => attach_from_view(home, &mut model, &id, detach_key),
        }
    }
}

/// `disable_agent_view` in config.toml or `CREW_DISABLE_AGENT_VIEW=1`: the view and
/// dispatching refuse, saying how to turn them back on.
pub fn refuse_if_disabled(home: &Home, what: &str) -> Result<(), String> {
    let env = std::env::var("CREW_DISABLE_AGENT_VIEW").is_ok_and(|v| !v.is_empty() && v != "0");
    if env {
        return Err(format!(
            "{what} is turned off by CREW_DISABLE_AGENT_VIEW; unset it to turn it back on"
        ));
    }
    let config = mux::profile::Config::load(&home.config_path()).unwrap_or_default();
    if config.disable_agent_view {
        return Err(format!(
            "{what} is turned off by disable_agent_view in {}; set it to false to turn it back on",
            home.config_path().display()
        ));
    }
    Ok(())
}

/// Enter, `→` or `Alt+N` in the view: the attach client takes the terminal; afterwards the
/// view comes back with the same selection and says how the attach went.
fn attach_from_view(home: &Home, model: &mut Model, id: &str, detach_key: u8) {
    let session = match connect::find(home, id) {
        Ok(s) => s,
        Err(e) => return model.say(e),
    };
    match attach::attach_quietly(home, session, detach_key) {
        Ok(attach::Attached::Detached(s)) => model.say(format!("Detached from {}", s.name)),
        Ok(attach::Attached::Ended(s)) => {
            model.say(format!("{} {}", s.name, attach::how_it_ended(&s)))
        }
        Ok(attach::Attached::CannotRun(s)) => {
            // Show its final screen in the peek panel instead.
            model.peek = Some(view::Peek::new(s.id.clone()));
            model.say(format!(
                "{} {} · {}",
                s.name,
                attach::how_it_ended(&s),
                attach::run_again_hint(&s)
            ));
        }
        Err(e) => model.say(e),
    }
    model.select_session(id);
}

/// Runs on the view's helper thread: one request to the supervisor or a host.
fn handle(home: &Home, request: Request) -> Outcome {
    let result = match request {
        Request::Subscribe => return subscribe(home),
        Request::Dispatch(new) => return dispatch(home, new),
        Request::Screen(id) => return painted(home, &id),
        Request::Stop(id) => supervisor(home, SupervisorRequest::Stop { id }),
        // As `crew rm --force`: a worktree's changes are saved before it goes.
        Request::Remove(ids) => {
            let mut said = Vec::new();
            let mut errors = Vec::new();
            for id in ids {
                match connect::find(home, &id).and_then(|s| rm::remove(home, &s, true)) {
                    Ok(lines) => said.extend(lines),
                    Err(e) => errors.push(e),
                }
            }
            return match (errors.first(), said.is_empty()) {
                (Some(e), _) => Outcome::Failed(e.clone()),
                (None, true) => Outcome::Quiet,
                (None, false) => Outcome::Said(said.join(" · ")),
            };
        }
        Request::Rename { id, name } => supervisor(home, SupervisorRequest::Rename { id, name }),
        Request::Pin { id, pinned } => supervisor(home, SupervisorRequest::Pin { id, pinned }),
        Request::Reorder(orders) => orders
            .into_iter()
            .try_for_each(|(id, order)| supervisor(home, SupervisorRequest::Reorder { id, order })),
        Request::Reply { id, text } => {
            connect::find(home, &id).and_then(|s| reply::reply(home, s, &text))
        }
        Request::SaveSettings(settings) => save_settings(home, &settings),
    };
    match result {
        Ok(()) => Outcome::Quiet,
        Err(e) => Outcome::Failed(e),
    }
}

fn supervisor(home: &Home, request: SupervisorRequest) -> Result<(), String> {
    connect::done(connect::request(home, &request)?).map(|_| ())
}

fn subscribe(home: &Home) -> Outcome {
    let connected = connect::supervisor(home).and_then(|mut c| {
        c.send(&SupervisorRequest::Watch)
            .map_err(|e| format!("cannot watch the supervisor: {e}"))?;
        Ok(c.into_stream())
    });
    match connected {
        Ok(stream) => Outcome::Subscribed(stream),
        Err(e) => Outcome::Unreachable(e),
    }
}

fn dispatch(home: &Home, new: NewSession) -> Outcome {
    if let Err(e) = refuse_if_disabled(home, "dispatching") {
        return Outcome::Failed(e);
    }
    let prompt = match &new.skill {
        Some(name) => {
            match mux::skills::prompt(home, std::path::Path::new(&new.dir), name, &new.prompt) {
                Ok(p) => p,
                Err(e) => return Outcome::Failed(e),
            }
        }
        None => new.prompt,
    };
    let (rows, cols) = term::attach::terminal_size().unwrap_or((24, 80));
    let request = SupervisorRequest::Dispatch(Dispatch {
        prompt: Some(prompt),
        name: None,
        agent: new.agent,
        model: new.model,
        cwd: new.dir,
        env: connect::environment(),
        rows,
        cols,
        every_s: new.every_s,
        no_worktree: false,
    });
    let attach = new.attach;
    match connect::request(home, &request) {
        Ok(Reply::Dispatched { id, name, note }) => Outcome::Dispatched {
            id,
            name,
            attach,
            note,
        },
        Ok(other) => Outcome::Failed(format!("unexpected answer from the supervisor: {other:?}")),
        Err(e) => Outcome::Failed(e),
    }
}

/// The session's screen with colours: from its host, else rebuilt from its transcript.
fn painted(home: &Home, id: &str) -> Outcome {
    let session = match connect::find(home, id) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e),
    };
    let live =
        connect::host(home, &session).and_then(|mut c| c.request(&HostRequest::Painted).ok());
    let reply = match live {
        Some(r @ Reply::Painted { .. }) => r,
        _ => match store::read_transcript(home, id) {
            Ok(bytes) => {
                mux::screen::Screen::from_transcript(session.rows, session.cols, &bytes).painted()
            }
            Err(e) => return Outcome::Failed(format!("cannot read the transcript of {id}: {e}")),
        },
    };
    match reply {
        Reply::Painted { rows, cols, text } => Outcome::Screen {
            id: id.to_string(),
            rows,
            cols,
            bytes: text.into_bytes(),
        },
        _ => Outcome::Quiet,
    }
}

fn settings_path(home: &Home) -> std::path::PathBuf {
    home.root.join("view.json")
}

/// The view's settings; a missing or unreadable file gives the defaults.
fn load_settings(home: &Home) -> Settings {
    let path = settings_path(home);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            eprintln!(
                "crew: {} is unreadable ({e}); using default view settings",
                path.display()
            );
            Settings::default()
        }),
        Err(_) => Settings::default(),
    }
}

fn save_settings(home: &Home, settings: &Settings) -> Result<(), String> {
    let settings = Settings {
        version: 1,
        ..settings.clone()
    };
    let bytes = serde_json::to_vec_pretty(&settings).expect("settings serialize");
    store::private_dir(&home.root).map_err(|e| e.to_string())?;
    store::write_atomic(&settings_path(home), &bytes)
        .map_err(|e| format!("cannot save the view settings: {e}"))
}
