//! What the view knows and shows: the sessions, how they are laid out in lines, which line
//! is selected, what is typed, and the view's persisted settings. Plain data; the panels
//! draw it and the keys change it.

use std::collections::HashSet;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::command::Filter;
use crate::groups::{self, Group, Item};

/// What persists across runs of the view (`CREW_HOME/view.json`). Pins, order and names
/// live in the sessions themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub version: u32,
    /// `state` (the default) or `dir`.
    pub group: String,
    /// Titles of collapsed groups.
    pub collapsed: Vec<String>,
}

impl Settings {
    pub fn by_dir(&self) -> bool {
        self.group == "dir"
    }
}

/// One line of the session table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Group {
        group: Group,
        title: String,
        count: usize,
        collapsed: bool,
    },
    /// A session, by index into `Model::items`.
    Session(usize),
    /// `… N more`: the folded rows of the group with this title.
    Fold { title: String, count: usize },
}

/// What stays selected when lines move: the session, group or fold row itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Session(String),
    Group(String),
    Fold(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Rename {
        id: String,
        text: String,
    },
    /// `Ctrl+X` on a group header asks first.
    ConfirmDelete {
        title: String,
        ids: Vec<String>,
    },
}

/// The open peek panel.
pub struct Peek {
    pub id: String,
    /// The reply being typed.
    pub reply: String,
    /// The session's screen as its host last sent it, parsed (colours kept).
    pub screen: Option<vt100::Parser>,
    /// When the screen was last asked for (to refresh a working session's tail).
    pub asked: Option<Instant>,
    /// A request for the screen is on its way.
    pub pending: bool,
}

impl Peek {
    pub fn new(id: String) -> Peek {
        Peek {
            id,
            reply: String::new(),
            screen: None,
            asked: None,
            pending: false,
        }
    }
}

pub struct Model {
    pub items: Vec<Item>,
    pub settings: Settings,
    pub lines: Vec<Line>,
    pub selected: usize,
    /// The first line the table shows.
    pub scroll: usize,
    /// Seconds until a row the table last drew changes by itself (an age, a countdown).
    pub next_change: Option<u64>,
    /// The widest session name; names get up to a quarter of the width, 8 to 28 columns.
    pub name_width: usize,
    key: Option<Key>,
    /// Groups whose `… N more` was expanded in this run.
    pub expanded: HashSet<String>,
    pub input: String,
    pub mode: Mode,
    pub peek: Option<Peek>,
    pub status: Option<(String, Instant)>,
    /// `--model`, the dispatch model for this run.
    pub model: Option<String>,
    /// Set by `/model NAME` for the rest of the run.
    pub session_model: Option<String>,
    /// Where dispatched sessions run.
    pub cwd: String,
    /// The agent profiles, for `@name` and a first word naming one.
    pub profiles: Vec<String>,
    /// Skill names for `/` completion (project ones first), read when the view opens.
    pub skills: Vec<String>,
    /// The supervisor stream is up and the list is current.
    pub connected: bool,
    /// The last `Ctrl+X` (stop), so a second one within 2 s deletes.
    pub last_stop: Option<(String, Instant)>,
    /// A session to select as soon as it appears (just dispatched).
    pub pending_select: Option<String>,
}

impl Model {
    pub fn new(cwd: String, model: Option<String>, settings: Settings) -> Model {
        Model {
            items: Vec::new(),
            settings,
            lines: Vec::new(),
            selected: 0,
            scroll: 0,
            name_width: 8,
            next_change: None,
            key: None,
            expanded: HashSet::new(),
            input: String::new(),
            mode: Mode::Normal,
            peek: None,
            status: None,
            model,
            session_model: None,
            cwd,
            profiles: Vec::new(),
            skills: Vec::new(),
            connected: false,
            last_stop: None,
            pending_select: None,
        }
    }

    /// The dispatch model: `/model` wins over `--model`.
    pub fn dispatch_model(&self) -> Option<&str> {
        self.session_model.as_deref().or(self.model.as_deref())
    }

    pub fn set_items(&mut self, items: Vec<Item>) {
        self.items = items;
        self.relayout();
    }

    /// A session changed or appeared.
    pub fn upsert(&mut self, item: Item) {
        match self.items.iter_mut().find(|i| i.id == item.id) {
            Some(old) => *old = item,
            None => self.items.push(item),
        }
        self.relayout();
    }

    pub fn remove(&mut self, id: &str) {
        self.items.retain(|i| i.id != id);
        if self.peek.as_ref().is_some_and(|p| p.id == id) {
            self.peek = None;
        }
        self.relayout();
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn filter(&self) -> Option<Filter> {
        Filter::parse(&self.input)
    }

    /// Recomputes the lines from the sessions, keeping the selection on the same thing.
    pub fn relayout(&mut self) {
        let filter = self.filter();
        let shown = |i: &Item| filter.as_ref().is_none_or(|f| f.matches(i));
        let grouped = if self.settings.by_dir() {
            groups::group_by_dir(&self.items)
        } else {
            groups::group(&self.items, true)
        };
        let mut lines = Vec::new();
        for g in grouped {
            let mut rows: Vec<usize> = g
                .rows
                .into_iter()
                .filter(|&i| shown(&self.items[i]))
                .collect();
            let mut folded: Vec<usize> = g
                .folded
                .into_iter()
                .filter(|&i| shown(&self.items[i]))
                .collect();
            if rows.is_empty() && folded.is_empty() {
                continue;
            }
            if self.expanded.contains(&g.title) {
                rows.append(&mut folded);
            }
            let collapsed = self.settings.collapsed.contains(&g.title);
            lines.push(Line::Group {
                group: g.group,
                title: g.title.clone(),
                count: rows.len() + folded.len(),
                collapsed,
            });
            if collapsed {
                continue;
            }
            lines.extend(rows.into_iter().map(Line::Session));
            if !folded.is_empty() {
                lines.push(Line::Fold {
                    title: g.title,
                    count: folded.len(),
                });
            }
        }
        self.lines = lines;
        self.name_width = self
            .items
            .iter()
            .map(|i| crate::text::width(&crate::text::sanitize(super::table::display_name(i))))
            .max()
            .unwrap_or(8);
        if let Some(id) = self.pending_select.clone() {
            if self.select_session(&id) {
                self.pending_select = None;
                return;
            }
        }
        let found = self
            .key
            .as_ref()
            .and_then(|k| self.lines.iter().position(|l| self.key_of(l) == *k));
        match found {
            Some(i) => self.selected = i,
            None => {
                self.selected = self.first_session_near(self.selected);
                self.key = self.lines.get(self.selected).map(|l| self.key_of(l));
            }
        }
    }

    /// The session line nearest `at` (a session that went away leaves the selection on
    /// its neighbour rather than on a header).
    fn first_session_near(&self, at: usize) -> usize {
        let at = at.min(self.lines.len().saturating_sub(1));
        let is_row = |i: usize| !matches!(self.lines[i], Line::Group { .. });
        (at..self.lines.len())
            .find(|&i| is_row(i))
            .or_else(|| (0..at).rev().find(|&i| is_row(i)))
            .unwrap_or(at)
    }

    fn key_of(&self, line: &Line) -> Key {
        match line {
            Line::Group { title, .. } => Key::Group(title.clone()),
            Line::Session(i) => Key::Session(self.items[*i].id.clone()),
            Line::Fold { title, .. } => Key::Fold(title.clone()),
        }
    }

    pub fn select(&mut self, line: usize) {
        if line < self.lines.len() {
            self.selected = line;
            self.key = Some(self.key_of(&self.lines[line]));
        }
    }

    pub fn select_session(&mut self, id: &str) -> bool {
        let at = self
            .lines
            .iter()
            .position(|l| matches!(l, Line::Session(i) if self.items[*i].id == id));
        if let Some(at) = at {
            self.select(at);
        }
        at.is_some()
    }

    /// Moves the selection by `delta` lines, stopping at the ends.
    pub fn move_by(&mut self, delta: isize) {
        if self.lines.is_empty() {
            return;
        }
        let last = self.lines.len() as isize - 1;
        let at = (self.selected as isize + delta).clamp(0, last);
        self.select(at as usize);
    }

    pub fn selected_line(&self) -> Option<&Line> {
        self.lines.get(self.selected)
    }

    /// The selected session, if a session row is selected.
    pub fn selected_item(&self) -> Option<&Item> {
        match self.selected_line()? {
            Line::Session(i) => Some(&self.items[*i]),
            _ => None,
        }
    }

    /// The title of the group the selection is in, and the sessions shown in it in order.
    pub fn current_group(&self) -> Option<(String, Vec<&Item>)> {
        let start = (0..=self.selected.min(self.lines.len().checked_sub(1)?))
            .rev()
            .find(|&i| matches!(self.lines[i], Line::Group { .. }))?;
        let Line::Group { title, .. } = &self.lines[start] else {
            return None;
        };
        let items = self.lines[start + 1..]
            .iter()
            .take_while(|l| !matches!(l, Line::Group { .. }))
            .filter_map(|l| match l {
                Line::Session(i) => Some(&self.items[*i]),
                _ => None,
            })
            .collect();
        Some((title.clone(), items))
    }

    /// Every session of a group, folded ones included, ignoring the filter.
    pub fn group_ids(&self, title: &str) -> Vec<String> {
        let grouped = if self.settings.by_dir() {
            groups::group_by_dir(&self.items)
        } else {
            groups::group(&self.items, true)
        };
        grouped
            .into_iter()
            .filter(|g| g.title == title)
            .flat_map(|g| g.rows.into_iter().chain(g.folded))
            .map(|i| self.items[i].id.clone())
            .collect()
    }

    pub fn toggle_collapsed(&mut self, title: &str) {
        let c = &mut self.settings.collapsed;
        match c.iter().position(|t| t == title) {
            Some(i) => {
                c.remove(i);
            }
            None => c.push(title.to_string()),
        }
        self.relayout();
    }

    pub fn say(&mut self, message: impl Into<String>) {
        self.status = Some((message.into(), Instant::now()));
    }

    /// Counts per state for the header, in SPEC order.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let states = mux::protocol::State::ALL.map(|s| s.as_str());
        states
            .into_iter()
            .chain(["broken"])
            .map(|s| (s, self.items.iter().filter(|i| i.state == s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Whether anything shown is working (the icon animates only then).
    pub fn animating(&self) -> bool {
        self.lines
            .iter()
            .any(|l| matches!(l, Line::Session(i) if self.items[*i].state == "working"))
    }
}
