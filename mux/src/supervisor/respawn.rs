//! `Respawn`: start stopped or ended sessions again, transcript kept. A host still alive
//! (its agent ended) restarts the agent in place; otherwise a new host is started.

use mio::Token;

use super::{BatchKind, Op, Supervisor, Then};
use crate::protocol::{HostRequest, Process, Session, State};

impl Supervisor {
    pub(super) fn respawn(
        &mut self,
        token: Token,
        queries: Vec<String>,
        env: Vec<(String, String)>,
    ) {
        self.refresh_all();
        let mut ids = Vec::new();
        if queries.is_empty() {
            // --all: what the user or a crash stopped, not finished results.
            let mut all: Vec<&Session> = self
                .cache
                .values()
                .filter_map(|c| c.session.as_ref().ok())
                .filter(|s| wants_respawn_all(s))
                .collect();
            all.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            ids.extend(all.into_iter().map(|s| s.id.clone()));
        } else {
            for q in &queries {
                let Some(id) = self.resolve_for(token, q) else {
                    return;
                };
                ids.push(id);
            }
        }
        let mut errors = Vec::new();
        ids.retain(|id| match self.session(id) {
            Some(s) if s.process == Process::Alive => {
                errors.push(format!("{} ({}) is running", s.id, s.name));
                false
            }
            Some(_) => true,
            None => {
                errors.push(format!("{id} is broken and cannot be restarted"));
                false
            }
        });
        let batch = self.new_batch(token, BatchKind::Done, ids.len() + errors.len());
        for e in errors {
            let op = Op {
                batch,
                id: String::new(),
                then: Then::Nothing,
            };
            self.complete(&op, Err(e));
        }
        for id in ids {
            let op = Op {
                batch,
                id: id.clone(),
                then: Then::Nothing,
            };
            let has_host = self.session(&id).is_some_and(|s| s.host_pid.is_some());
            if !(has_host
                && self.send_to_host(&id, &HostRequest::Respawn { env: env.clone() }, op.clone()))
            {
                self.spawn_host(&id, &env, true, op, false);
            }
        }
    }
}

/// Sessions `respawn --all` brings back: stopped by the user or lost with their host.
fn wants_respawn_all(s: &Session) -> bool {
    s.process != Process::Alive
        && (s.state == State::Stopped || s.reason.as_deref() == Some("host lost"))
}
