//! `Rename`, `Pin` and `Reorder`: settings the user owns. The live host records them; for a session
//! without a host the supervisor writes the file itself.

use mio::Token;

use super::{BatchKind, Op, Supervisor, Then};
use crate::lookup::slug;
use crate::protocol::{HostRequest, Reply};

impl Supervisor {
    pub(super) fn rename(&mut self, token: Token, query: &str, name: String) {
        let Some(id) = self.resolve_for(token, query) else {
            return;
        };
        let name = slug(&name);
        if name.is_empty() {
            return self.reply(
                token,
                &Reply::Error {
                    message: "a session name needs letters or digits".into(),
                },
            );
        }
        let taken = self
            .cache
            .iter()
            .any(|(other, c)| *other != id && c.session.as_ref().is_ok_and(|s| s.name == name));
        if taken {
            return self.reply(
                token,
                &Reply::Error {
                    message: format!("a session named '{name}' already exists"),
                },
            );
        }
        self.update(
            token,
            id,
            HostRequest::Update {
                name: Some(name),
                pinned: None,
                order: None,
            },
        );
    }

    pub(super) fn pin(&mut self, token: Token, query: &str, pinned: bool) {
        self.update_resolved(token, query, None, Some(pinned), None);
    }

    pub(super) fn reorder(&mut self, token: Token, query: &str, order: i64) {
        self.update_resolved(token, query, None, None, Some(order));
    }

    fn update_resolved(
        &mut self,
        token: Token,
        query: &str,
        name: Option<String>,
        pinned: Option<bool>,
        order: Option<i64>,
    ) {
        if let Some(id) = self.resolve_for(token, query) {
            let request = HostRequest::Update {
                name,
                pinned,
                order,
            };
            self.update(token, id, request);
        }
    }

    fn update(&mut self, token: Token, id: String, request: HostRequest) {
        let batch = self.new_batch(token, BatchKind::Done, 1);
        let op = Op {
            batch,
            id: id.clone(),
            then: Then::Nothing,
        };
        let has_host = self.session(&id).is_some_and(|s| s.host_pid.is_some());
        if has_host && self.send_to_host(&id, &request, op.clone()) {
            return;
        }
        let (
            Some(mut s),
            HostRequest::Update {
                name,
                pinned,
                order,
            },
        ) = (self.session(&id).cloned(), request)
        else {
            return self.complete(&op, Err(format!("{id} is broken")));
        };
        if let Some(n) = name {
            s.name = n;
        }
        if let Some(p) = pinned {
            s.pinned = p;
        }
        if let Some(o) = order {
            s.order = o;
        }
        let result = self.write_session(&s);
        self.complete(&op, result);
    }
}
