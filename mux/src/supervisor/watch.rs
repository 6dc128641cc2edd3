//! `Watch`: the agent view's push stream. A watcher gets every session once, then only what
//! changed, at the end of the loop turn that changed it; nobody polls.

use mio::Token;

use super::Supervisor;

impl Supervisor {
    pub(super) fn watch(&mut self, token: Token) {
        // Earlier watchers hear of pending changes first; the new one starts from the list,
        // which holds everything.
        self.push_changes();
        self.list(token);
        for c in self.cache.values_mut() {
            c.sent = true;
        }
        self.watched = self.cache.keys().cloned().collect();
        self.changed = false;
        self.watchers.push(token);
    }

    /// Sends every session changed since the last push to every watcher, and the ids of
    /// sessions that are gone. Cheap when nothing changed: one flag.
    pub(super) fn push_changes(&mut self) {
        // Without watchers there is nobody to tell; `watch` starts the next one afresh.
        if !self.changed || self.watchers.is_empty() {
            return;
        }
        self.changed = false;
        let mut frames: Vec<Vec<u8>> = Vec::new();
        for (id, c) in self.cache.iter_mut() {
            if !c.sent {
                c.sent = true;
                let json = format!(r#"{{"type":"changed","session":{}}}"#, c.listed(id).get());
                frames.push(json.into_bytes());
            }
        }
        let gone: Vec<String> = self
            .watched
            .iter()
            .filter(|id| !self.cache.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            self.watched.remove(&id);
            let json = serde_json::json!({ "type": "removed", "id": id });
            frames.push(json.to_string().into_bytes());
        }
        self.watched.extend(self.cache.keys().cloned());
        for t in &self.watchers {
            if let Some(c) = self.clients.get_mut(t) {
                for f in &frames {
                    c.send_json_bytes(f);
                }
            }
        }
    }
}
