//! What each key does (SPEC 4): changes to the model, requests for the helper thread, and
//! sometimes leaving the loop (quit, or attach).

use std::time::{Duration, Instant};

use termwiz::input::{InputEvent, KeyCode, KeyEvent, Modifiers};

use super::command::{self, Command};
use super::model::{Line, Mode, Model, Peek};
use super::worker::{NewSession, Request};
use super::Exit;

/// A second `Ctrl+X` within this deletes what the first stopped.
pub const DELETE_WINDOW: Duration = Duration::from_secs(2);

/// What handling input asks of the loop.
#[derive(Default)]
pub struct Effects {
    pub requests: Vec<Request>,
    pub exit: Option<Exit>,
}

impl Effects {
    fn ask(&mut self, r: Request) {
        self.requests.push(r);
    }
}

pub fn on_event(m: &mut Model, event: InputEvent, fx: &mut Effects) {
    match event {
        InputEvent::Key(k) => on_key(m, k, fx),
        InputEvent::Paste(text) => {
            if m.mode == Mode::Help {
                m.mode = Mode::Normal;
            }
            type_text(m, &text);
        }
        _ => {}
    }
}

fn on_key(m: &mut Model, k: KeyEvent, fx: &mut Effects) {
    let mods = k.modifiers & (Modifiers::SHIFT | Modifiers::ALT | Modifiers::CTRL);
    match std::mem::replace(&mut m.mode, Mode::Normal) {
        Mode::Help => {
            if !matches!(k.key, KeyCode::Escape | KeyCode::Char('?')) {
                on_key(m, k, fx);
            }
        }
        Mode::ConfirmDelete { title, ids } => {
            if k.key == KeyCode::Char('y') || k.key == KeyCode::Char('Y') {
                m.say(format!("Deleting {} session(s) in {title}", ids.len()));
                fx.ask(Request::Remove(ids));
            } else {
                m.say("Nothing deleted");
            }
        }
        Mode::Rename { id, mut text } => match (k.key, mods) {
            (KeyCode::Enter, _) | (KeyCode::Char('\r'), _) => {
                if !text.trim().is_empty() {
                    fx.ask(Request::Rename {
                        id,
                        name: text.trim().to_string(),
                    });
                }
            }
            (KeyCode::Escape, _) => {}
            _ => {
                edit(&mut text, &k, mods);
                m.mode = Mode::Rename { id, text };
            }
        },
        Mode::Normal => normal_key(m, k, mods, fx),
    }
}

fn normal_key(m: &mut Model, k: KeyEvent, mods: Modifiers, fx: &mut Effects) {
    let ctrl = mods == Modifiers::CTRL;
    let shift = mods == Modifiers::SHIFT;
    match k.key {
        KeyCode::UpArrow | KeyCode::ApplicationUpArrow if shift => reorder(m, -1, fx),
        KeyCode::DownArrow | KeyCode::ApplicationDownArrow if shift => reorder(m, 1, fx),
        KeyCode::UpArrow | KeyCode::ApplicationUpArrow => move_by(m, -1, fx),
        KeyCode::DownArrow | KeyCode::ApplicationDownArrow => move_by(m, 1, fx),
        KeyCode::PageUp => move_by(m, -10, fx),
        KeyCode::PageDown => move_by(m, 10, fx),
        KeyCode::Home => move_by(m, -(m.lines.len() as isize), fx),
        KeyCode::End => move_by(m, m.lines.len() as isize, fx),
        // Shift+Enter: modifyOtherKeys sends Enter+SHIFT, the CSI u form `\r`+SHIFT.
        KeyCode::Enter | KeyCode::Char('\r') | KeyCode::Char('\n') if shift => enter(m, true, fx),
        KeyCode::Enter | KeyCode::Char('\r') | KeyCode::Char('\n') => enter(m, false, fx),
        KeyCode::RightArrow | KeyCode::ApplicationRightArrow => {
            if let Some(id) = target(m) {
                fx.exit = Some(Exit::Attach(id));
            }
        }
        KeyCode::Escape => escape(m, fx),
        KeyCode::Char('c') if ctrl => escape(m, fx),
        KeyCode::Char('s') if ctrl => {
            m.settings.group = if m.settings.by_dir() { "state" } else { "dir" }.into();
            m.relayout();
            m.say(if m.settings.by_dir() {
                "Grouped by directory"
            } else {
                "Grouped by state"
            });
            fx.ask(Request::SaveSettings(m.settings.clone()));
        }
        KeyCode::Char('t') if ctrl => pin(m, fx),
        KeyCode::Char('r') if ctrl => {
            if let Some(item) = m.selected_item() {
                m.mode = Mode::Rename {
                    id: item.id.clone(),
                    text: item.name.clone(),
                };
            }
        }
        KeyCode::Char('x') if ctrl => ctrl_x(m, fx),
        KeyCode::Char(d @ '1'..='9') if mods == Modifiers::ALT => {
            let n = d as usize - '0' as usize;
            match m
                .current_group()
                .and_then(|(_, items)| items.get(n - 1).map(|i| i.id.clone()))
            {
                Some(id) => fx.exit = Some(Exit::Attach(id)),
                None => m.say(format!("no session {n} in this group")),
            }
        }
        KeyCode::Tab if mods.is_empty() => complete(m),
        KeyCode::Char(' ') if mods.is_empty() && active_text(m).is_empty() => toggle_peek(m, fx),
        KeyCode::Char('?') if m.peek.is_none() && m.input.is_empty() => m.mode = Mode::Help,
        _ => {
            let before = m.input.clone();
            match &mut m.peek {
                Some(p) => edit(&mut p.reply, &k, mods),
                None => edit(&mut m.input, &k, mods),
            }
            if m.input != before {
                m.relayout();
            }
        }
    }
}

/// The buffer keys type into: the peek's reply when it is open, else the dispatch input.
fn active_text(m: &Model) -> &str {
    match &m.peek {
        Some(p) => &p.reply,
        None => &m.input,
    }
}

fn type_text(m: &mut Model, text: &str) {
    match &mut m.mode {
        Mode::Rename { text: t, .. } => t.push_str(text),
        _ => match &mut m.peek {
            Some(p) => p.reply.push_str(text),
            None => {
                m.input.push_str(text);
                m.relayout();
            }
        },
    }
}

/// Line editing: printable characters, Backspace, Ctrl+U (clear), Ctrl+W (last word).
fn edit(text: &mut String, k: &KeyEvent, mods: Modifiers) {
    match k.key {
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char('u') if mods == Modifiers::CTRL => text.clear(),
        KeyCode::Char('w') if mods == Modifiers::CTRL => {
            let kept = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
            text.truncate(kept);
        }
        KeyCode::Char(c)
            if !mods.intersects(Modifiers::CTRL | Modifiers::ALT) && !c.is_control() =>
        {
            text.push(c)
        }
        _ => {}
    }
}

/// The session a key like `→` or Enter acts on: the peeked one, else the selected one.
fn target(m: &Model) -> Option<String> {
    match &m.peek {
        Some(p) => Some(p.id.clone()),
        None => m.selected_item().map(|i| i.id.clone()),
    }
}

fn move_by(m: &mut Model, delta: isize, fx: &mut Effects) {
    m.move_by(delta);
    // An open peek follows the selection.
    let selected = m.selected_item().map(|i| i.id.clone());
    if let (Some(p), Some(id)) = (&mut m.peek, selected) {
        if p.id != id {
            *p = Peek::new(id.clone());
            p.pending = true;
            fx.ask(Request::Screen(id));
        }
    }
}

fn enter(m: &mut Model, shift: bool, fx: &mut Effects) {
    if let Some(p) = &mut m.peek {
        let text = std::mem::take(&mut p.reply);
        let id = p.id.clone();
        if text.trim().is_empty() {
            fx.exit = Some(Exit::Attach(id));
        } else {
            let name = m.item(&id).map_or(id.clone(), |i| i.name.clone());
            m.say(format!("Sent to {name}"));
            fx.ask(Request::Reply { id, text });
        }
        return;
    }
    if !m.input.trim().is_empty() {
        return submit(m, shift, fx);
    }
    match m.selected_line().cloned() {
        Some(Line::Group { title, .. }) => {
            m.toggle_collapsed(&title);
            fx.ask(Request::SaveSettings(m.settings.clone()));
        }
        Some(Line::Fold { title, .. }) => {
            m.expanded.insert(title);
            m.relayout();
        }
        Some(Line::Session(i)) => fx.exit = Some(Exit::Attach(m.items[i].id.clone())),
        None => {}
    }
}

/// Enter on a non-empty input: dispatch, or the command it holds.
fn submit(m: &mut Model, attach: bool, fx: &mut Effects) {
    match command::parse(&m.input, &m.profiles, &m.cwd) {
        Command::Empty | Command::Filter => {}
        Command::TooShort => m.say("Too short"),
        Command::Unknown(why) => m.say(why),
        Command::Exit => fx.exit = Some(Exit::Quit),
        Command::Model(model) => {
            m.say(match &model {
                Some(name) => format!("Dispatching with model {name} for this run"),
                None => "Dispatching with the default model".to_string(),
            });
            m.session_model = model;
            clear_input(m);
        }
        Command::SelectPr(pr) => {
            let found = m.items.iter().find(|i| pr.matches(i)).map(|i| i.id.clone());
            clear_input(m);
            match found {
                Some(id) => {
                    if !m.select_session(&id) {
                        m.say("that session is in a collapsed group");
                    }
                }
                None => m.say("no session is working on that pull request"),
            }
        }
        Command::Dispatch(d) => {
            m.say(if attach {
                "Dispatching and attaching…"
            } else {
                "Dispatching…"
            });
            fx.ask(Request::Dispatch(NewSession {
                prompt: d.prompt,
                agent: d.agent,
                dir: d.dir.unwrap_or_else(|| m.cwd.clone()),
                model: m.dispatch_model().map(str::to_string),
                every_s: d.every_s,
                skill: d.skill,
                attach,
            }));
            clear_input(m);
        }
    }
}

fn clear_input(m: &mut Model) {
    m.input.clear();
    m.relayout();
}

/// Esc: close the help or peek, else clear the input, else leave.
fn escape(m: &mut Model, fx: &mut Effects) {
    if m.peek.is_some() {
        m.peek = None;
    } else if !m.input.is_empty() {
        clear_input(m);
    } else {
        fx.exit = Some(Exit::Quit);
    }
}

fn toggle_peek(m: &mut Model, fx: &mut Effects) {
    if m.peek.take().is_some() {
        return;
    }
    if let Some(id) = m.selected_item().map(|i| i.id.clone()) {
        let mut p = Peek::new(id.clone());
        p.pending = true;
        m.peek = Some(p);
        fx.ask(Request::Screen(id));
    }
}

fn pin(m: &mut Model, fx: &mut Effects) {
    let Some(Line::Session(i)) = m.selected_line().cloned() else {
        return;
    };
    let item = &mut m.items[i];
    item.pinned = !item.pinned;
    let (id, pinned, name) = (item.id.clone(), item.pinned, item.name.clone());
    m.say(if pinned {
        format!("Pinned {name}")
    } else {
        format!("Unpinned {name}")
    });
    m.relayout();
    fx.ask(Request::Pin { id, pinned });
}

/// Ctrl+X: stop; a second one on the same session within 2 s deletes it; on a group
/// header, ask before deleting the whole group.
fn ctrl_x(m: &mut Model, fx: &mut Effects) {
    match m.selected_line().cloned() {
        Some(Line::Group { title, .. }) => {
            let ids = m.group_ids(&title);
            if !ids.is_empty() {
                m.mode = Mode::ConfirmDelete { title, ids };
            }
        }
        Some(Line::Session(i)) => {
            let item = &m.items[i];
            let (id, name) = (item.id.clone(), item.name.clone());
            let again = m
                .last_stop
                .as_ref()
                .is_some_and(|(last, at)| *last == id && at.elapsed() < DELETE_WINDOW);
            if again {
                m.last_stop = None;
                m.say(format!("Deleting {name}"));
                fx.ask(Request::Remove(vec![id]));
                return;
            }
            if matches!(item.process.as_str(), "alive" | "sleeping") {
                m.say(format!(
                    "Stopping {name} · Ctrl+X again within 2 s deletes it"
                ));
                fx.ask(Request::Stop(id.clone()));
            } else {
                m.say(format!(
                    "{name} is not running · Ctrl+X again within 2 s deletes it"
                ));
            }
            m.last_stop = Some((id, Instant::now()));
        }
        _ => {}
    }
}

/// Shift+Up/Down: swap the session with its neighbour in the group, and give every
/// session of the group its position as `order`, so the order persists.
fn reorder(m: &mut Model, delta: isize, fx: &mut Effects) {
    let Some(selected) = m.selected_item().map(|i| i.id.clone()) else {
        return;
    };
    let Some((_, items)) = m.current_group() else {
        return;
    };
    let mut ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let at = ids.iter().position(|id| *id == selected).unwrap_or(0);
    let to = at as isize + delta;
    if to < 0 || to as usize >= ids.len() {
        return;
    }
    ids.swap(at, to as usize);
    let mut changes = Vec::new();
    for (pos, id) in ids.iter().enumerate() {
        if let Some(item) = m.items.iter_mut().find(|i| i.id == *id) {
            if item.order != pos as i64 {
                item.order = pos as i64;
                changes.push((id.clone(), pos as i64));
            }
        }
    }
    m.relayout();
    m.select_session(&selected);
    fx.ask(Request::Reorder(changes));
}

/// Tab: complete what is typed (`/model`, `s:STATE`, `a:AGENT`, `@AGENT`); on an empty
/// input, list the agent profiles.
fn complete(m: &mut Model) {
    if m.peek.is_some() {
        return;
    }
    // Browsing the profiles: an empty input takes the first, each Tab the next.
    let current = m.profiles.iter().position(|p| m.input == format!("@{p} "));
    if (m.input.is_empty() || current.is_some()) && !m.profiles.is_empty() {
        let next = current.map_or(0, |i| (i + 1) % m.profiles.len());
        m.input = format!("@{} ", m.profiles[next]);
        let list = m.profiles.join(", ");
        m.say(format!(
            "agents: {list} · Tab for the next, then type the prompt"
        ));
        m.relayout();
        return;
    }
    let candidates: Vec<String> = if let Some(s) = m.input.strip_prefix("s:") {
        let states = mux::protocol::State::ALL.map(|s| s.as_str());
        states
            .iter()
            .chain(&["blocked"])
            .filter(|x| x.starts_with(s))
            .map(|x| format!("s:{x}"))
            .collect()
    } else if let Some(a) = m.input.strip_prefix("a:") {
        m.profiles
            .iter()
            .filter(|x| x.starts_with(a))
            .map(|x| format!("a:{x}"))
            .collect()
    } else if let Some(a) = m.input.strip_prefix('@').filter(|a| !a.contains(' ')) {
        m.profiles
            .iter()
            .filter(|x| x.starts_with(a))
            .map(|x| format!("@{x} "))
            .collect()
    } else if m.input.starts_with('/') && !m.input.contains(' ') {
        let skills = m.skills.iter().map(|s| format!("/{s} "));
        ["/model ", "/loop ", "/exit", "/quit"]
            .iter()
            .map(|x| x.to_string())
            .chain(skills)
            .filter(|x| x.starts_with(m.input.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    if let Some(first) = candidates.first() {
        m.input = first.clone();
        m.relayout();
    }
}
