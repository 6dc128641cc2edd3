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

/// crew's version, kept in the binary as one searchable string. Every process (supervisor,
/// hosts, clients) reports the build it runs from these bytes, so after an upgrade `daemon
/// status` tells hosts still running the old binary apart, and a test can make an "upgraded"
/// binary by patching them instead of building crew twice.
// mux is versioned with the crew package.
static VERSION_MARK: &str = concat!("crew-version:", env!("CARGO_PKG_VERSION"));

/// The version of the running binary (e.g. `0.1.0`).
pub fn version() -> &'static str {
    // Read at run time: folded at compile time, a patched binary would still say the old one.
    let mark = std::hint::black_box(VERSION_MARK);
    mark.strip_prefix("crew-version:").unwrap_or(mark)
}
