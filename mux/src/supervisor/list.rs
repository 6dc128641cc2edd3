//! `List`: every session from its `state.json` (the source of truth), broken ones included.

use mio::Token;

use super::Supervisor;
use crate::protocol::Reply;

impl Supervisor {
    pub(super) fn list(&mut self, token: Token) {
        self.refresh_all();
        // A host that died while no supervisor watched it is found here.
        let unlinked: Vec<String> = self
            .cache
            .iter()
            .filter(|(id, c)| {
                !self.link_of.contains_key(*id)
                    && c.session.as_ref().map_or(true, |s| s.host_pid.is_some())
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in unlinked {
            self.ensure_link(&id);
        }
        let mut ids: Vec<&String> = self.cache.keys().collect();
        ids.sort();
        let sessions = ids
            .into_iter()
            .map(|id| match &self.cache[id].session {
                Ok(s) => s.public_json(),
                Err(reason) => serde_json::json!({ "id": id, "state": "broken", "reason": reason }),
            })
            .collect();
        self.reply(token, &Reply::Sessions { sessions });
    }
}
