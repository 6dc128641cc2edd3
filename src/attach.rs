//! `crew attach <id>`: the session's terminal, raw, until you detach (SPEC 5).

use mux::protocol::{Process, Session, State, SupervisorRequest};
use mux::store::Home;
use term::attach::{Options, Outcome};
use term::text::sanitize;

use crate::connect;

#[derive(clap::Args)]
pub struct AttachArgs {
    /// The detach key, e.g. ctrl-\ (the default), ctrl-] or ctrl-a.
    #[arg(long, value_name = "KEY")]
    pub detach_key: Option<String>,
    /// Session id, id prefix or name.
    pub id: String,
}

pub fn run(home: &Home, args: &AttachArgs) -> Result<(), String> {
    let key = detach_key(home, args.detach_key.as_deref())?;
    let session = connect::find(home, &args.id)?;
    attach(home, session, key)
}

/// The detach key: the flag, else `detach_key` in config.toml, else ctrl-\.
pub fn detach_key(home: &Home, flag: Option<&str>) -> Result<u8, String> {
    if let Some(k) = flag {
        return mux::profile::parse_detach_key(k);
    }
    match mux::profile::Config::load(&home.config_path()) {
        Ok(c) => Ok(c.detach_key),
        Err(e) => {
            eprintln!("crew: {e}; using ctrl-\\ to detach");
            Ok(mux::profile::Config::default().detach_key)
        }
    }
}

/// How an attach went, for the caller to tell (the command line prints it, the view shows
/// it in its status line).
pub enum Attached {
    Detached(Session),
    /// The agent ended while attached.
    Ended(Session),
    /// The session had ended and has no resume command: nothing was attached.
    CannotRun(Session),
}

/// Attaches to `session`: restarts it first when it ended and can resume, and shows how it
/// ended when it cannot.
pub fn attach(home: &Home, session: Session, detach_key: u8) -> Result<(), String> {
    match attach_quietly(home, session, detach_key)? {
        Attached::Detached(s) => println!("[detached from {}]", sanitize(&s.name)),
        Attached::Ended(end) => {
            println!("[{} {}]", sanitize(&end.name), how_it_ended(&end));
            println!("{}", run_again_hint(&end));
        }
        Attached::CannotRun(s) => show_ended(home, &s)?,
    }
    Ok(())
}

pub fn attach_quietly(home: &Home, session: Session, detach_key: u8) -> Result<Attached, String> {
    let session = match ensure_running(home, session)? {
        Ok(s) => s,
        Err(ended) => return Ok(Attached::CannotRun(ended)),
    };
    let socket = home.host_sock(&session.id);
    let outcome = term::attach::run(&Options {
        socket: &socket,
        detach_key,
    })?;
    let name = sanitize(&session.name);
    match outcome {
        Outcome::Detached => Ok(Attached::Detached(session)),
        Outcome::Ended(end) => Ok(Attached::Ended(*end)),
        Outcome::Lost(why) => Err(format!("lost {name}: {why}")),
        Outcome::Signal(sig) => Err(format!(
            "attach to {name} ended by {}",
            mux::host::signal_name(sig)
        )),
    }
}

/// The session, running: as it is, or restarted through its resume command when it ended.
/// `Ok(Err(session))` when it ended and cannot resume.
pub fn ensure_running(home: &Home, session: Session) -> Result<Result<Session, Session>, String> {
    let session = connect::live_session(home, &session).unwrap_or(session);
    if session.process == Process::Alive {
        return Ok(Ok(session));
    }
    if session.resume.is_none() {
        return Ok(Err(session));
    }
    let request = SupervisorRequest::Respawn {
        ids: vec![session.id.clone()],
        env: connect::environment(),
    };
    connect::done(connect::request(home, &request)?)?;
    Ok(Ok(connect::live_session(home, &session).unwrap_or(session)))
}

/// A session that cannot run again by itself: its final screen, how it ended, and how to
/// start it again.
fn show_ended(home: &Home, session: &Session) -> Result<(), String> {
    let screen = connect::screen(home, session, false)?;
    print!("{screen}");
    println!("[{} {}]", sanitize(&session.name), how_it_ended(session));
    println!("{}", run_again_hint(session));
    Ok(())
}

pub fn how_it_ended(s: &Session) -> String {
    if s.state == State::Stopped {
        return "was stopped".into();
    }
    match (s.exit_code, s.signal) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!(
            "was killed by signal {sig} ({})",
            mux::host::signal_name(sig)
        ),
        _ => match &s.reason {
            Some(r) => format!("ended: {}", sanitize(r)),
            None => "ended".into(),
        },
    }
}

pub fn run_again_hint(s: &Session) -> String {
    format!("run it again with: crew respawn {}", s.id)
}
