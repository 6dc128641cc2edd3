//! The supervisor's watching connection to each live host, and what it learns from it:
//! acknowledgements of requests it forwarded, and the host's end (stopped, or lost).

use std::collections::VecDeque;

use mio::Token;

use super::{Op, Supervisor};
use crate::conn::Conn;
use crate::process::process_is;
use crate::protocol::{version, version_supported, HostRequest, Process, Reply, Source, State};
use crate::store;

pub(super) struct Link {
    pub conn: Conn,
    pub id: String,
    /// Requests forwarded to the host, answered in order by `Ok` or `Error`.
    pub awaiting: VecDeque<Op>,
    /// The crew version of the host's binary, from its hello (`None` until then, or from a
    /// host too old to say).
    pub crew: Option<String>,
}

impl Supervisor {
    /// Connects to the host of `id` if its state says it has one, or if its socket is there
    /// (a session whose state file broke may still have a live host). A host that is gone is
    /// marked lost. Returns whether a link exists now.
    pub(super) fn ensure_link(&mut self, id: &str) -> bool {
        if self.link_of.contains_key(id) {
            return true;
        }
        let sock = self.home.host_sock(id);
        let host = self
            .session(id)
            .and_then(|s| Some((s.host_pid?, s.host_start)));
        if host.is_none() && !sock.exists() {
            return false;
        }
        let std = match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(std) => std,
            Err(e) => {
                match host {
                    Some((pid, start)) if !process_is(pid, start) => self.mark_lost(id),
                    Some((pid, _)) => {
                        log::warn!("session {id}: host {pid} is alive but refuses: {e}")
                    }
                    None => {}
                }
                return false;
            }
        };
        if std.set_nonblocking(true).is_err() {
            return false;
        }
        let stream = mio::net::UnixStream::from_std(std);
        let token = self.token();
        let Ok(mut conn) = Conn::register(stream, self.poll.registry(), token) else {
            return false;
        };
        conn.send(&HostRequest::Watch { version: version() });
        let link = Link {
            conn,
            id: id.to_string(),
            awaiting: VecDeque::new(),
            crew: None,
        };
        self.links.insert(token, link);
        self.link_of.insert(id.to_string(), token);
        true
    }

    /// Sends a request to a session's host; `op` completes when the host answers.
    pub(super) fn send_to_host(&mut self, id: &str, request: &HostRequest, op: Op) -> bool {
        if !self.ensure_link(id) {
            return false;
        }
        let token = self.link_of[id];
        let link = self.links.get_mut(&token).expect("link");
        link.conn.send(request);
        link.awaiting.push_back(op);
        true
    }

    pub(super) fn on_link(&mut self, token: Token) {
        let Some(link) = self.links.get_mut(&token) else {
            return;
        };
        if let Err(e) = link.conn.fill() {
            log::warn!("session {}: host connection failed: {e}", link.id);
            self.link_closed(token);
            return;
        }
        loop {
            let Some(link) = self.links.get_mut(&token) else {
                return;
            };
            let msg = match link.conn.next_message::<Reply>() {
                Ok(None) => break,
                Ok(Some(Ok(msg))) => msg,
                Ok(Some(Err(_))) | Err(_) => {
                    log::warn!(
                        "session {}: host sent something unreadable; reconnecting later",
                        link.id
                    );
                    self.link_closed(token);
                    return;
                }
            };
            match msg {
                Reply::Hello { version, id, .. }
                    if id != link.id || !version_supported(version) =>
                {
                    log::warn!(
                        "session {}: socket answered as session {id}, protocol {version}",
                        link.id
                    );
                    self.link_closed(token);
                    return;
                }
                Reply::Hello { crew, .. } => {
                    link.crew = Some(crew.unwrap_or_else(|| "unknown".into()));
                }
                Reply::Ok => {
                    if let Some(op) = link.awaiting.pop_front() {
                        self.complete(&op, Ok(()));
                    }
                }
                Reply::Error { message } => {
                    let id = link.id.clone();
                    if let Some(op) = link.awaiting.pop_front() {
                        self.complete(&op, Err(format!("{id}: {message}")));
                    }
                }
                // A live host's push is the newest state there is; its file may still be on
                // its way to the disk. A broken file stays listed as broken (SPEC 1) until
                // the host's next write repairs it.
                Reply::State { session } => {
                    let id = link.id.clone();
                    if session.id == id {
                        self.refresh(&id);
                        if let Some(c) = self.cache.get_mut(&id).filter(|c| c.session.is_ok()) {
                            c.set(*session);
                            self.changed = true;
                        }
                    }
                }
                _ => {}
            }
        }
        if self.links.get(&token).is_some_and(|l| l.conn.eof) {
            self.link_closed(token);
        }
    }

    /// The host closed its socket: it exited after recording its end, or it died.
    pub(super) fn link_closed(&mut self, token: Token) {
        let Some(mut link) = self.links.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut link.conn.stream);
        self.link_of.remove(&link.id);
        self.refresh(&link.id);
        if let Some(s) = self.session(&link.id) {
            if let Some(pid) = s.host_pid {
                if !process_is(pid, s.host_start) {
                    self.mark_lost(&link.id);
                }
            }
        }
        // Whatever was asked of the host is moot now that it is gone.
        for op in link.awaiting.drain(..) {
            self.complete(&op, Ok(()));
        }
    }

    /// A host died without recording its end: the session failed with `host lost`. Its
    /// transcript stays on disk, so `logs` and `peek` can rebuild its last screen.
    pub(super) fn mark_lost(&mut self, id: &str) {
        let Some(mut s) = self.session(id).cloned() else {
            return;
        };
        log::warn!("session {id}: host {} is gone", s.host_pid.unwrap_or(0));
        s.host_pid = None;
        s.host_start = None;
        s.pid = None;
        s.attached = 0;
        // A loop between runs was alive too: its host would have started the next run.
        if matches!(s.process, Process::Alive | Process::Sleeping) {
            if let Some(l) = &mut s.loop_ {
                l.next_at = None;
            }
            s.process = Process::Exited;
            s.state = State::Failed;
            s.state_source = Source::Exit;
            s.reason = Some("host lost".into());
            s.changed_at = store::now_rfc3339();
        }
        if let Err(e) = self.write_session(&s) {
            log::error!("{e}");
        }
    }
}
