//! `crew demo`: a handful of scripted sessions that show every state, then the view. The
//! scripts are plain `sh` run by the `shell` profile, shipped in the binary, so the demo
//! works on a machine with nothing but crew installed.

use mux::store::Home;

use crate::{agents, bg, DispatchArgs};

/// (name, script). Each one lands in a different state within a few seconds.
const SESSIONS: &[(&str, &str)] = &[
    // Working: steady, changing output.
    (
        "demo-build",
        r#"i=0; while [ $i -lt 100000 ]; do i=$((i+1)); printf '\033[36mcompiling\033[0m module %d of 400 \033[2m(%ds)\033[0m\n' $i $((i/3)); sleep 0.3; done"#,
    ),
    // Needs input: a question, raised as a terminal notification; a reply finishes it.
    (
        "demo-migrate",
        r#"echo 'Planning the database migration...'; echo '3 tables change, 1 column is dropped.'; printf '\033]9;Apply the migration to staging? (yes/no)\007'; printf 'Apply the migration to staging? (yes/no) '; read answer; echo "You said: $answer"; echo 'Applying...'; sleep 1; echo 'Migration applied.'"#,
    ),
    // Completed.
    (
        "demo-tests",
        r#"echo 'running 42 tests'; i=0; while [ $i -lt 42 ]; do i=$((i+1)); printf 'test case_%02d ... \033[32mok\033[0m\n' $i; done; echo; printf 'test result: \033[32mok\033[0m. 42 passed; 0 failed\n'"#,
    ),
    // Failed.
    (
        "demo-deploy",
        r#"echo 'Deploying to production...'; echo 'Uploading build artifacts'; printf '\033[31merror:\033[0m connection to deploy.example.com refused\n'; exit 3"#,
    ),
    // A loop: runs every 20 s and sleeps in between (`crew --bg --every 20s`).
    (
        "demo-nightly",
        r#"echo "Checking for dependency updates ($(date +%H:%M:%S))"; echo 'All 37 dependencies are up to date.'"#,
    ),
    // Prints a pull-request URL, as an agent does when it opens one.
    (
        "demo-pr",
        r#"echo 'Pushed branch crew/fix-login to origin.'; echo 'Opened a pull request:'; echo 'https://github.com/example/crew-demo/pull/12'"#,
    ),
];

pub fn run(home: &Home) -> Result<(), String> {
    agents::refuse_if_disabled(home, "the demo")?;
    for (name, script) in SESSIONS {
        let args = DispatchArgs {
            every: (*name == "demo-nightly").then_some(20),
            name: Some(name.to_string()),
            agent: Some("shell".into()),
            no_worktree: true,
            ..DispatchArgs::default()
        };
        bg::dispatch(home, &args, Some(script.to_string()))?;
    }
    agents::run(home, &agents::AgentsArgs::default())
}
