//! `List`: every session from its `state.json` (the source of truth), broken ones included.
//!
//! The answer is `Reply::Sessions` on the wire, assembled from each session's cached JSON:
//! a listing of hundreds of sessions costs a copy, not a serialisation of each.

use mio::Token;

use super::Supervisor;

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
        let mut ids: Vec<String> = self.cache.keys().cloned().collect();
        ids.sort();
        let mut json = String::from(r#"{"type":"sessions","sessions":["#);
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let cached = self.cache.get_mut(id).expect("cached");
            json.push_str(cached.listed(id).get());
        }
        json.push_str("]}");
        if let Some(c) = self.clients.get_mut(&token) {
            c.send_json_bytes(json.as_bytes());
        }
    }
}
