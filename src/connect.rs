//! Reaching the supervisor (starting it on demand) and a session's host, from a client.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use mux::client::Client;
use mux::protocol::{HostRequest, Reply, Session, SupervisorRequest};
use mux::store::{self, Home};

/// How long a client waits for the supervisor to answer a request.
const SUPERVISOR_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to the supervisor, started first if it is not running.
pub fn supervisor(home: &Home) -> Result<Client, String> {
    if let Ok(c) = Client::connect(&home.supervisor_sock()) {
        return Ok(c);
    }
    start_supervisor(home)?;
    Client::connect(&home.supervisor_sock())
        .map_err(|e| format!("cannot reach the supervisor: {e}"))
}

/// Starts the supervisor in the background and waits until it serves its socket.
pub fn start_supervisor(home: &Home) -> Result<(), String> {
    store::private_dir(&home.daemon_dir()).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the crew binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("__supervisor")
        .env("CREW_HOME", &home.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // Its own session: a terminal closing or a Ctrl+C in it never reaches the supervisor.
    mux::process::detached(&mut cmd, &home.log_path())?;
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the supervisor: {e}"))?;
    let mut line = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut line);
    }
    let _ = child.wait();
    match line.trim().strip_prefix("error ") {
        Some(why) => Err(format!("cannot start the supervisor: {why}")),
        None if line.starts_with("ready") => Ok(()),
        None => Err(format!(
            "the supervisor did not start (see {})",
            home.log_path().display()
        )),
    }
}

/// Sends one request to the supervisor and returns its answer; `Error` becomes `Err`.
pub fn request(home: &Home, req: &SupervisorRequest) -> Result<Reply, String> {
    let mut c = supervisor(home)?;
    c.set_timeout(Some(SUPERVISOR_TIMEOUT))
        .map_err(|e| e.to_string())?;
    match c.request(req) {
        Ok(Reply::Error { message }) => Err(message),
        Ok(reply) => Ok(reply),
        Err(e) => Err(format!("the supervisor did not answer: {e}")),
    }
}

/// Turns a `Done` answer into success, or the first error (the others on stderr).
pub fn done(reply: Reply) -> Result<Vec<String>, String> {
    match reply {
        Reply::Done { ids, errors } => match errors.split_first() {
            None => Ok(ids),
            Some((first, rest)) => {
                for e in rest {
                    eprintln!("crew: {e}");
                }
                Err(first.clone())
            }
        },
        other => Err(format!("unexpected answer from the supervisor: {other:?}")),
    }
}

/// Finds a session by id, prefix or name straight from the files (no supervisor needed).
pub fn find(home: &Home, query: &str) -> Result<Session, String> {
    let id = if store::is_valid_id(query) && home.state_path(query).exists() {
        query.to_string()
    } else {
        let ids = home.job_ids();
        let states: Vec<(String, Option<Session>)> = ids
            .into_iter()
            .map(|id| {
                let s = store::read_state(&home.state_path(&id)).ok();
                (id, s)
            })
            .collect();
        mux::lookup::resolve(
            query,
            states
                .iter()
                .map(|(id, s)| (id.as_str(), s.as_ref().map(|s| s.name.as_str()))),
        )?
    };
    store::read_state(&home.state_path(&id)).map_err(|why| format!("session {id} is broken: {why}"))
}

pub use mux::client::{host, screen};

/// The session as its host knows it now (the state file can lag behind a new host).
pub fn live_session(home: &Home, session: &Session) -> Option<Session> {
    match host(home, session)?.request(&HostRequest::Session).ok()? {
        Reply::State { session } => Some(*session),
        _ => None,
    }
}

/// The client's environment, which the agent runs with.
pub fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
