//! Bad input on the sockets (SPEC 11): random bytes, an unknown frame kind, an oversized
//! length, a payload that is not JSON and an unknown message type each close that one
//! connection, and the supervisor, the host and the session carry on as before.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::*;

/// Largest payload a frame may carry (mux/src/protocol/frame.rs).
const MAX_PAYLOAD: u32 = 1 << 20;

/// How long the server gets to close a connection or answer a request.
const PATIENCE: Duration = Duration::from_secs(5);

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Deterministic pseudo-random bytes (xorshift64). The first byte is never a valid frame
/// kind, so the stream cannot be mistaken for the start of a frame that is still arriving.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    if matches!(bytes[0], 1 | 2) {
        bytes[0] ^= 0x80;
    }
    bytes
}

/// The bad inputs, each sent on its own connection.
fn garbage() -> Vec<(&'static str, Vec<u8>)> {
    let mut oversized = vec![1u8];
    oversized.extend_from_slice(&(MAX_PAYLOAD + 1).to_le_bytes());
    let mut huge = vec![2u8];
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    vec![
        (
            "random bytes (seed 1)",
            random_bytes(0x9e37_79b9_7f4a_7c15, 4096),
        ),
        (
            "random bytes (seed 2)",
            random_bytes(0x0123_4567_89ab_cdef, 37),
        ),
        ("a frame of unknown kind 9", frame(9, br#"{"type":"list"}"#)),
        ("a JSON frame header claiming 1 MiB + 1", oversized),
        ("a data frame header claiming 4 GiB", huge),
        (
            "a JSON frame that is not JSON",
            frame(1, b"{\"type\": \"list\", oops"),
        ),
        (
            "a JSON frame that is binary",
            frame(1, &[0xff, 0xfe, 0x00, 0x7b]),
        ),
        (
            "an unknown message type",
            frame(1, br#"{"type":"make_coffee","cups":3}"#),
        ),
        ("a message that is not an object", frame(1, b"[1, 2, 3]")),
    ]
}

/// Sends `bytes` on a new connection and asserts that the server closes it (EOF or a reset)
/// instead of leaving it open.
fn assert_closed_after(sock: &Path, what: &str, bytes: &[u8]) {
    let mut s =
        UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    // The server may close while we are still writing: that is the expected outcome too.
    if let Err(e) = s.write_all(bytes) {
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{}: writing {what}: {e}",
            sock.display()
        );
    }
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            // An error message before closing is fine; keep reading until the close.
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
                "{}: after {what} the connection is still open {PATIENCE:?} later",
                sock.display()
            ),
            Err(e) => panic!(
                "{}: after {what}: unexpected read error {e}",
                sock.display()
            ),
        }
    }
}

/// One well-formed request on a new connection; returns the JSON reply.
fn request(sock: &Path, json: &str) -> Value {
    let mut s =
        UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(&frame(1, json.as_bytes())).unwrap();
    let mut header = [0u8; 5];
    s.read_exact(&mut header)
        .unwrap_or_else(|e| panic!("{}: no answer to {json}: {e}", sock.display()));
    assert_eq!(
        header[0],
        1,
        "{}: the answer to {json} is not a JSON frame",
        sock.display()
    );
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    assert!(len <= MAX_PAYLOAD, "answer of {len} bytes");
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).unwrap();
    serde_json::from_slice(&payload).unwrap_or_else(|e| panic!("answer to {json}: {e}"))
}

struct Setup {
    crew: Crew,
    id: String,
    pid: Value,
    host_pid: i64,
    supervisor: i32,
}

/// A session that printed `ready` and keeps running.
fn setup() -> Setup {
    let crew = Crew::new();
    let (id, _) = crew.bg(&["echo ready; sleep 60"]);
    wait_for("the session to print ready", || {
        crew.ok(&["logs", &id]).contains("ready")
    });
    let s = crew.session(&id);
    assert!(s["pid"].is_u64(), "{s}");
    let host_pid = s["host_pid"].as_i64().expect("host_pid");
    let supervisor = crew.supervisor_pid().expect("supervisor pid");
    Setup {
        pid: s["pid"].clone(),
        crew,
        id,
        host_pid,
        supervisor,
    }
}

impl Setup {
    fn host_sock(&self) -> PathBuf {
        self.crew.job(&self.id).join("host.sock")
    }

    fn supervisor_sock(&self) -> PathBuf {
        self.crew.home.join("daemon/supervisor.sock")
    }

    /// Everything still works after `what`: same supervisor, same host and agent, listing,
    /// logs, and fresh requests on both sockets.
    fn assert_carries_on(&self, what: &str) {
        let crew = &self.crew;
        assert!(
            alive(self.supervisor.into()),
            "the supervisor died after {what}"
        );
        assert!(alive(self.host_pid), "the host died after {what}");
        let s = crew.session(&self.id);
        assert_eq!(s["pid"], self.pid, "the agent changed after {what}: {s}");
        assert_eq!(
            s["host_pid"], self.host_pid,
            "the host changed after {what}: {s}"
        );
        assert_eq!(s["process"], "alive", "after {what}: {s}");
        assert_eq!(
            crew.supervisor_pid(),
            Some(self.supervisor),
            "the supervisor was replaced after {what}"
        );
        assert!(
            crew.ok(&["logs", &self.id]).contains("ready"),
            "logs after {what}"
        );
        let screen = request(&self.host_sock(), r#"{"type":"screen","history":false}"#);
        assert_eq!(
            screen["type"], "screen",
            "host answer after {what}: {screen}"
        );
        assert!(
            screen["text"].as_str().unwrap_or("").contains("ready"),
            "{screen}"
        );
        let list = request(&self.supervisor_sock(), r#"{"type":"list"}"#);
        assert_eq!(
            list["type"], "sessions",
            "supervisor answer after {what}: {list}"
        );
        let ids: Vec<&Value> = list["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| &s["id"])
            .collect();
        assert!(ids.iter().any(|i| **i == self.id), "{list}");
    }
}

#[test]
fn supervisor_socket_closes_bad_connections_and_carries_on() {
    let t = setup();
    let sock = t.supervisor_sock();
    // Raw terminal bytes mean nothing to the supervisor.
    let mut cases = garbage();
    cases.push(("a data frame", frame(2, b"ls\r")));
    for (what, bytes) in cases {
        assert_closed_after(&sock, what, &bytes);
        t.assert_carries_on(what);
    }
}

#[test]
fn host_socket_closes_bad_connections_and_carries_on() {
    let t = setup();
    let sock = t.host_sock();
    for (what, bytes) in garbage() {
        assert_closed_after(&sock, what, &bytes);
        t.assert_carries_on(what);
    }
}

#[test]
fn a_bad_connection_does_not_disturb_a_good_one_open_at_the_same_time() {
    let t = setup();
    for sock in [t.host_sock(), t.supervisor_sock()] {
        // A client connected first, quiet while another one misbehaves.
        let mut good = UnixStream::connect(&sock).unwrap();
        good.set_read_timeout(Some(PATIENCE)).unwrap();
        assert_closed_after(&sock, "a frame of unknown kind", &frame(9, b""));
        let json: &[u8] = if sock == t.host_sock() {
            br#"{"type":"screen","history":false}"#
        } else {
            br#"{"type":"status"}"#
        };
        good.write_all(&frame(1, json)).unwrap();
        let mut header = [0u8; 5];
        good.read_exact(&mut header).unwrap_or_else(|e| {
            panic!("{}: the good connection got no answer: {e}", sock.display())
        });
        assert_eq!(header[0], 1);
    }
    t.assert_carries_on("a bad connection next to a good one");
}
