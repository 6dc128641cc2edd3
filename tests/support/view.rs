//! Reading the agent view's screen (SPEC 4) in tests: its rows, groups, selection, status
//! and input lines, and driving it with the arrow keys.

use std::path::Path;

use super::terminal::{row_text, Terminal};
use super::Crew;

pub const UP: &[u8] = b"\x1b[A";
pub const DOWN: &[u8] = b"\x1b[B";
pub const ESC: &[u8] = b"\x1b";

/// Opens the view and waits until it shows the sessions (the supervisor is connected).
pub fn open(crew: &Crew, rows: u16, cols: u16) -> Terminal {
    open_in(crew, &crew.home, rows, cols)
}

/// Opens the view with `dir` as its working directory, as `open` does.
pub fn open_in(crew: &Crew, dir: &Path, rows: u16, cols: u16) -> Terminal {
    let mut command = crew.command(&["agents"]);
    command.current_dir(dir);
    let term = Terminal::spawn(command, rows, cols);
    term.wait_for("the view, connected", |s| {
        row_text(s, 0).starts_with("crew 0.1.0") && !row_text(s, 0).contains("connecting")
    });
    term
}

/// Leaves the view with Esc (the input is empty) and checks it left cleanly.
pub fn leave(term: &mut Terminal) {
    term.send(ESC);
    term.expect_exit(0);
    term.assert_restored();
}

pub fn rows(s: &vt100::Screen) -> u16 {
    s.size().0.get()
}

/// The rows of the session table: below the header, above the status line.
pub fn table(s: &vt100::Screen) -> std::ops::Range<u16> {
    1..rows(s) - 3
}

/// The table row showing session `name` (its second word is the name).
pub fn find_row(s: &vt100::Screen, name: &str) -> Option<u16> {
    table(s).find(|&r| row_text(s, r).split_whitespace().nth(1) == Some(name))
}

pub fn shows(s: &vt100::Screen, name: &str) -> bool {
    find_row(s, name).is_some()
}

/// A group header's title, if row `row` is one (`▾ Needs input  2`).
pub fn header_title(s: &vt100::Screen, row: u16) -> Option<String> {
    let text = row_text(s, row);
    let rest = text
        .strip_prefix("▾ ")
        .or_else(|| text.strip_prefix("▸ "))?;
    let (title, count) = rest.rsplit_once("  ")?;
    count
        .trim()
        .parse::<usize>()
        .ok()
        .map(|_| title.to_string())
}

/// The row of the group header titled `title`.
pub fn header_row(s: &vt100::Screen, title: &str) -> Option<u16> {
    table(s).find(|&r| header_title(s, r).as_deref() == Some(title))
}

/// The title of the group session `name` is shown in.
pub fn group_of(s: &vt100::Screen, name: &str) -> Option<String> {
    let row = find_row(s, name)?;
    (1..row).rev().find_map(|r| header_title(s, r))
}

/// The selected table row: drawn in inverse video from the first column.
pub fn selected_row(s: &vt100::Screen) -> Option<u16> {
    table(s).find(|&r| s.cell(r, 0).is_some_and(|c| c.inverse()))
}

pub fn selected_name(s: &vt100::Screen) -> Option<String> {
    let row = selected_row(s)?;
    row_text(s, row)
        .split_whitespace()
        .nth(1)
        .map(str::to_string)
}

/// The status line, above the input.
pub fn status(s: &vt100::Screen) -> String {
    row_text(s, rows(s) - 3)
}

/// The input line.
pub fn input(s: &vt100::Screen) -> String {
    row_text(s, rows(s) - 2)
}

/// The visible row names in table order.
pub fn names_in_order(s: &vt100::Screen) -> Vec<String> {
    table(s)
        .filter(|&r| header_title(s, r).is_none())
        .filter_map(|r| row_text(s, r).split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// Moves the selection onto the table row `target` with the arrow keys, then waits for it.
pub fn select_row(term: &mut Terminal, what: &str, target: impl Fn(&vt100::Screen) -> Option<u16>) {
    let s = term.screen();
    let to = target(&s).unwrap_or_else(|| panic!("{what} is not shown:\n{}", term.framed()));
    let from = selected_row(&s).unwrap_or_else(|| panic!("nothing selected:\n{}", term.framed()));
    let key = if to < from { UP } else { DOWN };
    for _ in 0..from.abs_diff(to) {
        term.send(key);
    }
    term.wait_for(&format!("{what} to be selected"), |s| {
        selected_row(s).is_some_and(|r| target(s) == Some(r))
    });
}

pub fn select(term: &mut Terminal, name: &str) {
    select_row(term, name, |s| find_row(s, name));
}

pub fn select_header(term: &mut Terminal, title: &str) {
    select_row(term, &format!("the {title} header"), |s| {
        header_row(s, title)
    });
}
