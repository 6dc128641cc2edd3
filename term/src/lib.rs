//! crew's terminal side: everything that draws on or reads from a user's terminal.
//!
//! `text` makes session data safe and fitting to draw; `groups` orders sessions the way
//! people read them (the agent view and `crew ls` share it); `attach` is the raw attach
//! client; `view` is the agent view; `raw` is the terminal mode both put the terminal in.

pub mod attach;
pub mod groups;
pub mod raw;
pub mod text;
pub mod view;
