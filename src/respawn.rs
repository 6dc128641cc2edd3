//! `crew respawn <id>…` / `--all`: start stopped or ended sessions again, transcript kept.

use mux::protocol::SupervisorRequest;
use mux::store::Home;

use crate::connect;

#[derive(clap::Args)]
pub struct RespawnArgs {
    /// Session ids, id prefixes or names.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    ids: Vec<String>,
    /// Every session that was stopped or lost its host.
    #[arg(long)]
    all: bool,
}

pub fn run(home: &Home, args: &RespawnArgs) -> Result<(), String> {
    let request = SupervisorRequest::Respawn {
        ids: args.ids.clone(),
        env: connect::environment(),
    };
    for id in connect::done(connect::request(home, &request)?)? {
        println!("{id}");
    }
    Ok(())
}
