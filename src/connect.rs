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

/// A connection to a session's host, when it runs. The socket is tried even when the
/// state file does not name a host yet: a new host writes it just after it starts serving.
pub fn host(home: &Home, session: &Session) -> Option<Client> {
    let c = Client::connect(&home.host_sock(&session.id)).ok()?;
    c.set_timeout(Some(Duration::from_secs(10))).ok()?;
    Some(c)
}

/// The session as its host knows it now (the state file can lag behind a new host).
pub fn live_session(home: &Home, session: &Session) -> Option<Session> {
    match host(home, session)?.request(&HostRequest::Session).ok()? {
        Reply::State { session } => Some(*session),
        _ => None,
    }
}

/// Asks a session's host for its rendered screen; `None` when the host is gone.
pub fn host_screen(home: &Home, session: &Session, history: bool) -> Option<String> {
    let mut c = host(home, session)?;
    match c.request(&HostRequest::Screen { history }) {
        Ok(Reply::Screen { text }) => Some(text),
        _ => None,
    }
}

/// The session's screen from its host, else the one it left behind.
pub fn screen(home: &Home, session: &Session, history: bool) -> Result<String, String> {
    match host_screen(home, session, history) {
        Some(t) => Ok(t),
        None => saved_screen(home, session, history),
    }
}

/// The screen a session left behind: `screen.txt` if it is current, else rebuilt from the
/// transcript (a host that was killed never wrote one).
pub fn saved_screen(home: &Home, session: &Session, history: bool) -> Result<String, String> {
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let screen_file = home.screen_path(&session.id);
    let transcript_time = mtime(&home.transcript_path(&session.id));
    if history {
        if let Some(t) = mtime(&screen_file) {
            if transcript_time.is_none_or(|tt| t >= tt) {
                if let Ok(text) = std::fs::read_to_string(&screen_file) {
                    return Ok(text);
                }
            }
        }
    }
    let bytes = store::read_transcript(home, &session.id)
        .map_err(|e| format!("cannot read the transcript of {}: {e}", session.id))?;
    let screen = mux::screen::Screen::from_transcript(session.rows, session.cols, &bytes);
    Ok(if history {
        screen.full_text()
    } else {
        screen.screen_text()
    })
}

/// The client's environment, which the agent runs with.
pub fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
