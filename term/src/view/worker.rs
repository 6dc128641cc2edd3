//! The view's helper thread: everything that talks to the supervisor or a host, or touches
//! the disk, runs here, so the view's loop never waits. The binary supplies the handler
//! (it owns the connection logic); the loop gets each outcome through a channel and a wake.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use super::model::Settings;

pub enum Request {
    /// Connect to the supervisor and `Watch`.
    Subscribe,
    Dispatch(NewSession),
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

/// A session the dispatch input asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    pub prompt: String,
    pub agent: Option<String>,
    pub dir: String,
    pub model: Option<String>,
    /// `/loop DURATION …`.
    pub every_s: Option<u64>,
    /// `/name …`: the prompt is the skill's file, with `prompt` appended.
    pub skill: Option<String>,
    /// Shift+Enter: attach once it runs.
    pub attach: bool,
}

pub enum Outcome {
    /// A connection that has sent `Watch`.
    Subscribed(std::os::unix::net::UnixStream),
    Dispatched {
        id: String,
        name: String,
        attach: bool,
        /// Why the session runs without a worktree, and the like.
        note: Option<String>,
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
    /// Done; something the user should know (where a deleted worktree's changes went).
    Said(String),
}

pub type Handler = Arc<dyn Fn(Request) -> Outcome + Send + Sync>;

pub struct Worker {
    requests: Option<Sender<Request>>,
    pub outcomes: Receiver<Outcome>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread; `wake` is called after each outcome is queued.
    pub fn start(handler: Handler, wake: Arc<mio::Waker>) -> Worker {
        let (requests, inbox) = channel::<Request>();
        let (done, outcomes) = channel();
        let thread = std::thread::Builder::new()
            .name("view-worker".into())
            .spawn(move || {
                for request in inbox {
                    let _ = done.send(handler(request));
                    let _ = wake.wake();
                }
            })
            .expect("the view's helper thread starts");
        Worker {
            requests: Some(requests),
            outcomes,
            thread: Some(thread),
        }
    }

    pub fn send(&self, request: Request) {
        if let Some(r) = &self.requests {
            let _ = r.send(request);
        }
    }
}

/// Leaving the view finishes what was asked (a dispatch, a saved setting) before crew
/// exits or attaches: nothing typed is lost.
impl Drop for Worker {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
