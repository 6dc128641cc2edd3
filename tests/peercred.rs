//! Who may talk to crew's sockets (SPEC 1, 11): the directories and sockets are private,
//! and even when their permissions are opened up, `SO_PEERCRED` refuses (and logs) a peer
//! of another uid on every accept.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// The throwaway uid and gid the foreign peer runs as (`nobody` on Debian).
const OTHER: u32 = 65534;

/// Connects to `$ARGV[0]`, sends `$ARGV[1]` as one JSON frame, and says whether any byte
/// came back (`answered`) or the server closed the connection without answering (`closed`).
const PEER: &str = r#"
use strict;
use IO::Socket::UNIX;
use Socket;
$| = 1;
my ($path, $json) = @ARGV;
print "uid=$< ";
$SIG{PIPE} = 'IGNORE';
$SIG{ALRM} = sub { print "timeout\n"; exit 0 };
alarm 5;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path)
    or do { print "connect failed: $!\n"; exit 0 };
syswrite($s, pack("CV", 1, length($json)) . $json);
my $n = sysread($s, my $buf, 1);
print((defined $n && $n > 0) ? "answered\n" : "closed\n");
"#;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// Runs the peer script as uid 65534 against `sock`; returns its one line of output.
fn as_other_uid(sock: &Path, json: &str) -> String {
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={OTHER}"),
            &format!("--regid={OTHER}"),
            "--clear-groups",
            "perl",
            "-e",
            PEER,
        ])
        .arg(sock)
        .arg(json)
        .output()
        .expect("setpriv runs");
    assert!(
        out.status.success(),
        "setpriv/perl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_peer_of_another_uid_is_refused_and_logged_on_both_sockets() {
    if unsafe { libc::getuid() } != 0 {
        println!(
            "skipped: connecting as another uid needs root (switching to uid {OTHER} with setpriv), \
             and this test runs as uid {}",
            unsafe { libc::getuid() }
        );
        return;
    }
    let crew = Crew::new();
    let (id, _) = crew.bg(&["echo ready; sleep 60"]);
    wait_for("the session to print ready", || {
        crew.ok(&["logs", &id]).contains("ready")
    });
    let before = crew.session(&id);
    let supervisor_sock = crew.home.join("daemon/supervisor.sock");
    let host_sock = crew.job(&id).join("host.sock");

    // Open up the permissions so that only SO_PEERCRED stands in the way.
    let dirs: Vec<PathBuf> = vec![
        crew.home.clone(),
        crew.home.join("daemon"),
        crew.home.join("jobs"),
        crew.job(&id),
    ];
    let saved: Vec<(PathBuf, u32)> = dirs
        .iter()
        .chain([&supervisor_sock, &host_sock])
        .map(|p| (p.clone(), mode(p)))
        .collect();
    for d in &dirs {
        chmod(d, 0o755);
    }
    chmod(&supervisor_sock, 0o666);
    chmod(&host_sock, 0o666);

    let sup = as_other_uid(&supervisor_sock, r#"{"type":"list"}"#);
    let host = as_other_uid(&host_sock, r#"{"type":"screen","history":false}"#);
    assert_eq!(
        sup,
        format!("uid={OTHER} closed"),
        "supervisor.sock served a peer of uid {OTHER}"
    );
    assert_eq!(
        host,
        format!("uid={OTHER} closed"),
        "host.sock served a peer of uid {OTHER}"
    );

    let refused = |log: &Path| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("refus") && l.contains("65534"))
    };
    let sup_log = crew.home.join("daemon/supervisor.log");
    let host_log = crew.job(&id).join("host.log");
    wait_for("supervisor.log to record the refusal of uid 65534", || {
        refused(&sup_log)
    });
    wait_for("host.log to record the refusal of uid 65534", || {
        refused(&host_log)
    });

    for (path, m) in &saved {
        chmod(path, *m);
    }
    // Our own uid is still served, by the same supervisor and host.
    assert!(crew.ok(&["logs", &id]).contains("ready"));
    let after = crew.session(&id);
    assert_eq!(after["pid"], before["pid"]);
    assert_eq!(after["host_pid"], before["host_pid"]);
    assert_eq!(after["process"], "alive");
}

#[test]
fn crew_creates_private_directories_sockets_and_state_files() {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["echo ready; sleep 60"]);
    wait_for("the session to print ready", || {
        crew.ok(&["logs", &id]).contains("ready")
    });
    let daemon = crew.home.join("daemon");
    let job = crew.job(&id);
    let expect = [
        (daemon.clone(), 0o700),
        (job.clone(), 0o700),
        (daemon.join("supervisor.sock"), 0o600),
        (job.join("host.sock"), 0o600),
        (job.join("state.json"), 0o600),
    ];
    for (path, want) in expect {
        assert_eq!(
            mode(&path),
            want,
            "mode of {} is {:o}, not {want:o}",
            path.display(),
            mode(&path)
        );
    }
    // The files written later (atomically, through a temporary file) stay private too.
    assert_eq!(
        mode(&daemon.join("roster.json")) & 0o077,
        0,
        "roster.json is readable by others"
    );
    assert_eq!(
        mode(&daemon.join("supervisor.pid")) & 0o077,
        0,
        "supervisor.pid is readable by others"
    );
}
