//! What the supervisor learns about sessions from outside their hosts: row summaries from a
//! model or a local program (SPEC 9) and pull-request status from GitHub (SPEC 10).
//!
//! Both can take seconds, so each runs on its own thread. The loop only hands them the
//! sessions that changed and applies what they find: a live host records it (its state file
//! is the source of truth), and for a session without one the supervisor writes the file.

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Waker;

use super::{Op, Supervisor, Then};
use crate::profile::Config;
use crate::protocol::{HostRequest, Pr, Session};

/// A session as the helper threads see it: every change the supervisor caches, or its end.
pub(super) enum Update {
    Session(Box<Session>),
    Removed(String),
}

/// What a helper thread found.
pub(super) enum Finding {
    Summary { id: String, text: String },
    Prs { id: String, prs: Vec<Pr> },
}

/// The helper threads that are running, and what they were told.
pub(super) struct Helpers {
    to: Vec<Sender<Update>>,
    findings: Receiver<Finding>,
    /// Sessions the helpers know, so a removal can be told.
    known: HashSet<String>,
}

/// The sender a helper thread reports on, waking the loop for each finding.
#[derive(Clone)]
pub(super) struct Report {
    tx: Sender<Finding>,
    waker: Arc<Waker>,
}

impl Report {
    /// Hands a finding to the loop; false once the supervisor is gone.
    pub(super) fn send(&self, finding: Finding) -> bool {
        self.tx.send(finding).is_ok() && self.waker.wake().is_ok()
    }
}

/// What a helper thread does; `spawn` runs the loop they share.
pub(super) trait Helper: Send + 'static {
    /// Takes a changed or removed session into account.
    fn follow(&mut self, update: Update);
    /// When something is due next, if anything is.
    fn next_due(&self) -> Option<Instant>;
    /// Does what is due; false once the supervisor is gone.
    fn work(&mut self) -> bool;
}

/// Starts a helper thread: it follows sessions as the loop sends them and works when
/// something is due. Returns the sender the loop feeds it through.
pub(super) fn spawn<H: Helper>(name: &str, mut helper: H) -> Option<Sender<Update>> {
    let (tx, rx) = std::sync::mpsc::channel::<Update>();
    let run = move || loop {
        let wait = helper.next_due().map_or(Duration::from_secs(3600), |at| {
            at.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok(u) => helper.follow(u),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(u) = rx.try_recv() {
            helper.follow(u);
        }
        if !helper.work() {
            return;
        }
    };
    match std::thread::Builder::new().name(name.into()).spawn(run) {
        Ok(_) => Some(tx),
        Err(e) => {
            log::error!("cannot start the {name} thread: {e}");
            None
        }
    }
}

impl Helpers {
    /// Starts the summary writer when a model or a program is configured (without either
    /// the host's local extract is the summary) and the PR poller (with a GitHub token).
    /// `None` when neither has anything to do.
    pub(super) fn start(
        home: &crate::store::Home,
        config: &Config,
        waker: Waker,
    ) -> Option<Helpers> {
        let (tx, findings) = std::sync::mpsc::channel();
        let report = Report {
            tx,
            waker: Arc::new(waker),
        };
        let mut to = Vec::new();
        if let Some(summaries) = super::summaries::start(home, config, report.clone()) {
            to.push(summaries);
        }
        if let Some(prs) = super::pr_status::start(config, report) {
            to.push(prs);
        }
        (!to.is_empty()).then(|| Helpers {
            to,
            findings,
            known: HashSet::new(),
        })
    }
}

impl Supervisor {
    /// Starts the helpers with the settings of `config.toml` (the defaults when it is broken:
    /// the error is the dispatching command's to report).
    pub(super) fn start_helpers(&mut self) {
        let config = crate::profile::Config::load(&self.home.config_path()).unwrap_or_else(|e| {
            log::warn!("{e}; summaries and PR status use the default settings");
            Config::default()
        });
        let waker = match Waker::new(self.poll.registry(), super::WAKER) {
            Ok(w) => w,
            Err(e) => return log::error!("no summaries or PR status: {e}"),
        };
        self.helpers = Helpers::start(&self.home, &config, waker);
    }

    /// Tells the helpers about every session that changed since they last heard, and about
    /// sessions that are gone. Cheap when nothing changed: one flag per cached session.
    pub(super) fn feed_helpers(&mut self) {
        let Some(helpers) = self.helpers.as_mut() else {
            return;
        };
        let mut updates = Vec::new();
        for (id, c) in self.cache.iter_mut() {
            if c.fed {
                continue;
            }
            c.fed = true;
            if let Ok(s) = &c.session {
                helpers.known.insert(id.clone());
                updates.push(Update::Session(Box::new(s.clone())));
            }
        }
        let gone: Vec<String> = helpers
            .known
            .iter()
            .filter(|id| !self.cache.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            helpers.known.remove(&id);
            updates.push(Update::Removed(id));
        }
        for u in updates {
            for to in &helpers.to {
                let copy = match &u {
                    Update::Session(s) => Update::Session(s.clone()),
                    Update::Removed(id) => Update::Removed(id.clone()),
                };
                let _ = to.send(copy);
            }
        }
    }

    /// Applies what the helpers found since the last wake-up.
    pub(super) fn on_findings(&mut self) {
        let Some(helpers) = self.helpers.as_ref() else {
            return;
        };
        let found: Vec<Finding> = helpers.findings.try_iter().collect();
        for f in found {
            match f {
                Finding::Summary { id, text } => self.annotate(&id, Some(text), None),
                Finding::Prs { id, prs } => self.annotate(&id, None, Some(prs)),
            }
        }
    }

    fn annotate(&mut self, id: &str, summary: Option<String>, prs: Option<Vec<Pr>>) {
        let Some(session) = self.session(id).cloned() else {
            return;
        };
        if session.host_pid.is_some() {
            let request = HostRequest::Annotate {
                summary: summary.clone(),
                prs: prs.clone(),
            };
            // Nobody waits for the answer: batch 0 is never a client's.
            let op = Op {
                batch: 0,
                id: id.to_string(),
                then: Then::Nothing,
            };
            if self.send_to_host(id, &request, op) {
                return;
            }
        }
        let mut session = session;
        if session.annotate(summary, prs) {
            if let Err(e) = self.write_session(&session) {
                log::warn!("session {id}: cannot record its summary or PR status: {e}");
            }
        }
    }
}
