//! What the host does for each request on `host.sock`, one function per message kind.

use mio::Token;

use super::{Host, Role};
use crate::protocol::{self, HostRequest, Pr, Process, Reply, State};

impl Host {
    pub(super) fn on_request(&mut self, token: Token, request: HostRequest) {
        // What a user does to a session (peek, logs, reply, attach) restarts its idle_reap
        // count; the supervisor's watch, agents' reports and settings do not.
        if matches!(
            request,
            HostRequest::Screen { .. }
                | HostRequest::Painted
                | HostRequest::Follow { .. }
                | HostRequest::Input { .. }
                | HostRequest::Attach { .. }
        ) {
            self.touched();
        }
        match request {
            HostRequest::Watch { version } => self.watch(token, version),
            HostRequest::Session => {
                let session = Box::new(self.session.clone());
                self.reply(token, &Reply::State { session });
            }
            HostRequest::Screen { history } => self.screen_text(token, history),
            HostRequest::Painted => {
                self.settle();
                let reply = self.screen.painted();
                self.reply(token, &reply);
            }
            HostRequest::Follow { from } => self.follow(token, from),
            HostRequest::Input { text, enter } => self.input(token, &text, enter),
            HostRequest::Report { state, message } => self.report(token, &state, message),
            HostRequest::Update {
                name,
                pinned,
                order,
            } => self.update(token, name, pinned, order),
            HostRequest::Annotate { summary, prs } => self.annotate(token, summary, prs),
            HostRequest::Stop => self.stop(token),
            HostRequest::Respawn { env } => self.respawn(token, &env),
            HostRequest::Quit => self.quit_request(token),
            HostRequest::Attach { rows, cols } => self.attach(token, rows, cols),
            HostRequest::Resize { rows, cols } => self.resize_request(token, rows, cols),
            HostRequest::Left { raw } => self.left(token, &raw),
            HostRequest::Enter { raw } => self.enter(token, &raw),
        }
    }

    /// Raw bytes from a client go to the agent as typed input.
    pub(super) fn on_data(&mut self, token: Token, bytes: &[u8]) {
        if self.agent.is_some() {
            self.touched();
            self.touch(token);
            self.track_typing(bytes);
            self.input_since_report = true;
            self.write_input(bytes);
        }
    }

    fn watch(&mut self, token: Token, version: u32) {
        if !protocol::serves_supervisor(version) {
            self.fail(
                token,
                format!(
                    "protocol {version} not supported (host speaks {})",
                    protocol::version()
                ),
            );
            return;
        }
        if let Some(c) = self.clients.get_mut(&token) {
            c.role = Role::Watcher;
        }
        let hello = Reply::Hello {
            version: protocol::version(),
            id: self.session.id.clone(),
            host_pid: std::process::id(),
            host_start: self.session.host_start.unwrap_or(0),
            crew: Some(crate::version().to_string()),
        };
        self.reply(token, &hello);
        self.reply(
            token,
            &Reply::State {
                session: Box::new(self.session.clone()),
            },
        );
    }

    fn screen_text(&mut self, token: Token, history: bool) {
        self.settle();
        let text = if history {
            self.screen.full_text()
        } else {
            self.screen.screen_text()
        };
        self.reply(token, &Reply::Screen { text });
    }

    fn follow(&mut self, token: Token, from: u64) {
        self.settle();
        if let Some(c) = self.clients.get_mut(&token) {
            c.role = Role::Follower { next: from };
        }
    }

    fn input(&mut self, token: Token, text: &str, enter: bool) {
        if !self.agent_running(token) {
            return;
        }
        self.settle();
        self.typed = super::Typed::Text(String::new());
        self.line_at_prompt = false;
        let mut bytes = Vec::with_capacity(text.len() + 16);
        // Multi-line text is a paste for programs that asked for bracketed paste, so its
        // newlines do not submit early.
        if self.screen.vt().bracketed_paste() && text.contains('\n') {
            bytes.extend_from_slice(b"\x1b[200~");
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(b"\x1b[201~");
        } else {
            bytes.extend_from_slice(text.as_bytes());
        }
        if enter {
            bytes.push(b'\r');
        }
        self.input_since_report = true;
        self.write_input(&bytes);
        self.reply(token, &Reply::Ok);
    }

    fn report(&mut self, token: Token, state: &str, message: Option<String>) {
        let Some(state) = State::parse(state) else {
            self.fail(
                token,
                format!("'{state}' is not a state (working, needs_input, idle, completed, failed)"),
            );
            return;
        };
        if state == State::Stopped {
            self.fail(token, "'stopped' is for the user to decide; use crew stop");
            return;
        }
        if self.session.process != Process::Alive {
            self.fail(token, "the session's agent is not running");
            return;
        }
        self.on_report(state, message);
        self.reply(token, &Reply::Ok);
    }

    fn update(
        &mut self,
        token: Token,
        name: Option<String>,
        pinned: Option<bool>,
        order: Option<i64>,
    ) {
        if let Some(name) = name {
            self.session.name = name;
        }
        if let Some(p) = pinned {
            self.session.pinned = p;
        }
        if let Some(o) = order {
            self.session.order = o;
        }
        // Names are looked up in the state files: the new one is there before we answer.
        self.publish();
        self.disk.sync();
        self.reply(token, &Reply::Ok);
    }

    fn annotate(&mut self, token: Token, summary: Option<String>, prs: Option<Vec<Pr>>) {
        self.summary_from_supervisor |= summary.is_some();
        // The summary of a turn end comes after the change: the recap shows it with it.
        if let (Some(text), Some(last)) = (&summary, self.changes.back_mut()) {
            last.summary = Some(text.clone());
        }
        self.dirty |= self.session.annotate(summary, prs);
        self.reply(token, &Reply::Ok);
    }

    fn stop(&mut self, token: Token) {
        if let Some(c) = self.clients.get_mut(&token) {
            c.awaiting_stop = true;
        }
        // The user's stop wins over an idle reap under way: the session ends stopped.
        self.reaping = false;
        self.begin_stop();
    }

    fn respawn(&mut self, token: Token, env: &[(String, String)]) {
        if self.agent.is_some() {
            self.fail(token, "the session is running");
            return;
        }
        let argv = self
            .session
            .resume
            .clone()
            .unwrap_or_else(|| self.session.command.clone());
        self.screen.process(b"\r\n");
        match self.start_agent(&argv, env) {
            Ok(()) => self.reply(token, &Reply::Ok),
            Err(message) => self.fail(token, message),
        }
    }

    fn quit_request(&mut self, token: Token) {
        if self.agent.is_some() {
            self.fail(token, "the session is running; stop it first");
            return;
        }
        if let Some(c) = self.clients.get_mut(&token) {
            c.awaiting_stop = true;
        }
        self.quit = true;
    }
}
