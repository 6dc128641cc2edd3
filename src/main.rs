//! The `crew` command line: one small file per command. Every command prints one
//! `crew: …` line and exits 1 when it fails; clap handles usage errors (exit 2).

mod agents;
mod attach;
mod bg;
mod connect;
mod daemon;
mod demo;
mod logs;
mod ls;
mod new;
mod peek;
mod pin;
mod rename;
mod reply;
mod report;
mod respawn;
mod rm;
mod stop;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "crew",
    version = mux::version(),
    about = "Run many coding-agent sessions in the background and see them all at once",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Dispatch a background session and print `<id> <name>`.
    #[arg(long)]
    bg: bool,
    #[command(flatten)]
    dispatch: DispatchArgs,
    /// The prompt (or, for the shell profile, the command) to run.
    #[arg(requires = "bg")]
    prompt: Option<String>,
}

/// Flags shared by `--bg` and `new`.
#[derive(Args, Clone, Default)]
pub struct DispatchArgs {
    /// Session name (default: from the prompt's first words).
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// Agent profile (default: `default_agent`, else the first installed agent, else shell).
    #[arg(long, value_name = "A")]
    pub agent: Option<String>,
    /// Model to ask the agent for.
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Directory to run in (default: the current one).
    #[arg(short = 'C', value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
    /// Run in the directory itself, not in a new git worktree.
    #[arg(long)]
    pub no_worktree: bool,
    /// A loop: run the prompt again this long after each run ends (e.g. 30s, 10m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_every)]
    pub every: Option<u64>,
    /// Dispatch the skill NAME: the prompt in .crew/skills/NAME.md (project) or
    /// CREW_HOME/skills/NAME.md, with the prompt given here appended.
    #[arg(long, value_name = "NAME")]
    pub skill: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// The full-screen agent view (also `crew` alone).
    Agents(agents::AgentsArgs),
    /// Dispatch a few scripted demo sessions that show every state, then open the view.
    Demo,
    /// Attach this terminal to a session (detach with ctrl-\).
    Attach(attach::AttachArgs),
    /// Dispatch a session and attach to it; detaching leaves it running.
    New {
        #[command(flatten)]
        dispatch: DispatchArgs,
        /// The detach key, e.g. ctrl-\ (the default), ctrl-] or ctrl-a.
        #[arg(long, value_name = "KEY")]
        detach_key: Option<String>,
        /// The prompt (or, for the shell profile, the command); none starts it interactively.
        prompt: Option<String>,
    },
    /// Show a session's recent output as rendered text.
    Logs(logs::LogsArgs),
    /// Show what the session's screen shows now, or the question it waits on.
    Peek {
        /// Session id, id prefix or name.
        id: String,
    },
    /// Type text and Enter into a session.
    Reply { id: String, text: String },
    /// List sessions, grouped as in the agent view.
    Ls(ls::LsArgs),
    /// Stop a session (SIGHUP, then SIGTERM, then SIGKILL after a grace period).
    #[command(alias = "kill")]
    Stop { id: String },
    /// Restart stopped or ended sessions, their transcripts kept.
    Respawn(respawn::RespawnArgs),
    /// Stop a session if it runs and remove it from the list.
    Rm {
        id: String,
        /// Remove even if its worktree has uncommitted changes (they are saved first).
        #[arg(long)]
        force: bool,
    },
    /// Rename a session.
    Rename { id: String, name: String },
    /// Pin a session to the top of the list.
    Pin { id: String },
    /// Unpin a session.
    Unpin { id: String },
    /// Report this session's state (for agents and their hooks, from inside a session).
    Report(report::ReportArgs),
    /// Control the supervisor.
    Daemon {
        #[command(subcommand)]
        command: daemon::DaemonCommand,
    },
    #[command(name = "__host", hide = true)]
    Host {
        #[arg(required_unless_present = "standby")]
        id: Option<String>,
        #[arg(long)]
        respawn: bool,
        #[arg(long, conflicts_with_all = ["id", "respawn"])]
        standby: bool,
    },
    #[command(name = "__supervisor", hide = true)]
    Supervisor,
}

fn main() {
    let cli = Cli::parse();
    let home = mux::store::Home::from_env();
    let result = match cli.command {
        None if cli.bg => bg::run(&home, &cli.dispatch, cli.prompt),
        None => agents::run(&home, &agents::AgentsArgs::default()),
        Some(command) => run(&home, command),
    };
    if let Err(message) = result {
        eprintln!("crew: {message}");
        std::process::exit(1);
    }
}

fn run(home: &mux::store::Home, command: Command) -> Result<(), String> {
    match command {
        Command::Agents(args) => agents::run(home, &args),
        Command::Demo => demo::run(home),
        Command::Attach(args) => attach::run(home, &args),
        Command::New {
            dispatch,
            detach_key,
            prompt,
        } => new::run(home, &dispatch, detach_key.as_deref(), prompt),
        Command::Logs(args) => logs::run(home, &args),
        Command::Peek { id } => peek::run(home, &id),
        Command::Reply { id, text } => reply::run(home, &id, &text),
        Command::Ls(args) => ls::run(home, &args),
        Command::Stop { id } => stop::run(home, &id),
        Command::Respawn(args) => respawn::run(home, &args),
        Command::Rm { id, force } => rm::run(home, &id, force),
        Command::Rename { id, name } => rename::run(home, &id, &name),
        Command::Pin { id } => pin::run(home, &id, true),
        Command::Unpin { id } => pin::run(home, &id, false),
        Command::Report(args) => report::run(&args),
        Command::Daemon { command } => daemon::run(home, command),
        Command::Host {
            id,
            respawn,
            standby,
        } => {
            init_log("info");
            let start = match id {
                Some(id) if !standby => mux::host::Start::Session { id, respawn },
                _ => mux::host::Start::Standby,
            };
            std::process::exit(mux::host::run(home.clone(), start));
        }
        Command::Supervisor => daemon::serve_detached(home),
    }
}

/// `--every`: a non-zero duration, in whole seconds.
fn parse_every(s: &str) -> Result<u64, String> {
    let d = mux::profile::parse_duration(s)?;
    match d.as_secs() {
        0 => Err(format!("'{s}' is too short for a loop: at least 1s")),
        n => Ok(n),
    }
}

/// Logging for the background processes (their stderr is their log file); `CREW_LOG`
/// overrides the level.
pub fn init_log(default: &str) {
    let env = env_logger::Env::new().filter_or("CREW_LOG", default);
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .try_init();
}
