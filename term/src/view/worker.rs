//! The view's helper thread: everything that talks to the supervisor or a host, or touches
//! the disk, runs here, so the view's loop never waits. The binary supplies the handler
//! (it owns the connection logic); the loop gets each outcome through a channel and a wake.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use super::model::Settings;

pub enum Request {
    /// Connect to the supervisor and `Watch`.
    Subscribe,
    Dispatch {
        prompt: String,
        agent: Option<String>,
        dir: String,
        model: Option<String>,
        /// Shift+Enter: attach once it runs.
        attach: bool,
    },
    Stop(String),
    /// Delete sessions (their worktrees' changes saved first).
    Remove(Vec<String>),
    Rename {
        id: String,
        name: String,
    },
    Pin {
        id: String,
        pinned: bool,
    },
    Reorder(Vec<(String, i64)>),
    /// The session's screen with its colours, for the peek panel.
    Screen(String),
    /// Type a reply (restarting the session first if it exited and can resume).
    Reply {
        id: String,
        text: String,
    },
    SaveSettings(Settings),
}

pub enum Outcome {
    /// A connection that has sent `Watch`.
    Subscribed(std::os::unix::net::UnixStream),
    Dispatched {
        id: String,
        name: String,
        attach: bool,
    },
    /// A screen as escape sequences (`vt100` formatted contents) of this size.
    Screen {
        id: String,
        rows: u16,
        cols: u16,
        bytes: Vec<u8>,
    },
    /// Failed; say why.
    Failed(String),
    /// The subscription could not be made; try again later.
    Unreachable(String),
    /// Done, nothing to say.
    Quiet,
}

pub type Handler = Arc<dyn Fn(Request) -> Outcome + Send + Sync>;

pub struct Worker {
    requests: Sender<Request>,
    pub outcomes: Receiver<Outcome>,
}

impl Worker {
    /// Starts the thread; `wake` is called after each outcome is queued.
    pub fn start(handler: Handler, wake: Arc<mio::Waker>) -> Worker {
        let (requests, inbox) = channel::<Request>();
        let (done, outcomes) = channel();
        std::thread::Builder::new()
            .name("view-worker".into())
            .spawn(move || {
                for request in inbox {
                    if done.send(handler(request)).is_err() {
                        break;
                    }
                    let _ = wake.wake();
                }
            })
            .expect("the view's helper thread starts");
        Worker { requests, outcomes }
    }

    pub fn send(&self, request: Request) {
        let _ = self.requests.send(request);
    }
}
