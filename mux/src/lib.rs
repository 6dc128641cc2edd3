//! crew's background side: everything that runs without a terminal.
//!
//! `protocol` holds what crosses a process boundary; `host` runs one session; `supervisor`
//! keeps the roster and the control plane; `store` owns the files under `CREW_HOME`;
//! `profile` reads agent profiles and `config.toml`.

pub mod client;
pub mod conn;
pub mod hooks;
pub mod host;
pub mod lookup;
pub mod process;
pub mod profile;
pub mod protocol;
pub mod prs;
pub mod screen;
pub mod security;
pub mod skills;
pub mod store;
pub mod supervisor;
pub mod worktree;
