//! `crew logs`: a session's output as rendered text (scrollback + screen), or the raw
//! transcript with `--raw`; `-f` follows until the session ends.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use mux::protocol::{HostRequest, Reply, Session};
use mux::store::{self, Home};

use crate::connect;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Session id, id prefix or name.
    id: String,
    /// Keep printing new output until the session ends.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last LINES lines.
    #[arg(short = 'n', long = "lines", value_name = "LINES")]
    lines: Option<usize>,
    /// The raw bytes the agent wrote, escape sequences and all.
    #[arg(long)]
    raw: bool,
}

pub fn run(home: &Home, args: &LogsArgs) -> Result<(), String> {
    let session = connect::find(home, &args.id)?;
    match (args.raw, args.follow) {
        (true, false) => raw(home, &session, args.lines),
        (true, true) => follow_raw(home, &session, args.lines),
        (false, false) => rendered(home, &session, args.lines),
        (false, true) => follow_rendered(home, &session, args.lines),
    }
}

fn rendered(home: &Home, session: &Session, lines: Option<usize>) -> Result<(), String> {
    let text = connect::screen(home, session, true)?;
    print_tail(text.lines(), lines);
    Ok(())
}

fn print_tail<'a>(all: impl Iterator<Item = &'a str>, n: Option<usize>) {
    let all: Vec<&str> = all.collect();
    let start = n.map_or(0, |n| all.len().saturating_sub(n));
    let mut out = std::io::stdout().lock();
    for l in &all[start..] {
        let _ = writeln!(out, "{l}");
    }
}

fn raw(home: &Home, session: &Session, lines: Option<usize>) -> Result<(), String> {
    let bytes = store::read_transcript(home, &session.id)
        .map_err(|e| format!("cannot read the transcript: {e}"))?;
    let _ = std::io::stdout().write_all(raw_tail(&bytes, lines));
    Ok(())
}

/// The last `n` newline-terminated lines of raw bytes.
fn raw_tail(bytes: &[u8], n: Option<usize>) -> &[u8] {
    let Some(n) = n else { return bytes };
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i + 1);
    if n == 0 {
        return &bytes[bytes.len()..];
    }
    &bytes[start..]
}

/// Follows finished lines as the host pushes them; ends when the agent ends.
fn follow_rendered(home: &Home, session: &Session, lines: Option<usize>) -> Result<(), String> {
    let Some(mut c) = connect::host(home, session) else {
        return rendered(home, session, lines);
    };
    c.set_timeout(None).map_err(|e| e.to_string())?;
    c.send(&HostRequest::Follow { from: 0 })
        .map_err(|e| e.to_string())?;
    let mut first = true;
    loop {
        match c.recv() {
            Ok(Reply::Lines {
                lines: batch,
                ended,
                ..
            }) => {
                let n = if first { lines } else { None };
                first = false;
                print_tail(batch.iter().map(String::as_str), n);
                let _ = std::io::stdout().flush();
                if ended {
                    return Ok(());
                }
            }
            Ok(_) => {}
            // The host exited (stopped): what it showed last is on disk.
            Err(_) => return Ok(()),
        }
    }
}

/// Follows the transcript files like `tail -F`: the open file is drained before switching
/// to its successor, so a rotation loses and repeats nothing.
fn follow_raw(home: &Home, session: &Session, lines: Option<usize>) -> Result<(), String> {
    let bytes = store::read_transcript(home, &session.id)
        .map_err(|e| format!("cannot read the transcript: {e}"))?;
    let mut out = std::io::stdout();
    let _ = out.write_all(raw_tail(&bytes, lines));
    let _ = out.flush();
    let path = home.transcript_path(&session.id);
    let open = || std::fs::File::open(&path).ok();
    let mut file = open();
    // Continue from where the bytes already printed end in the current file.
    let mut pos = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map_or(0, |m| m.len().min(bytes.len() as u64));
    let mut buf = vec![0u8; 64 * 1024];
    // Set once the agent is seen gone; one more pass then reads what was written meanwhile.
    let mut ended = false;
    loop {
        let mut progressed = false;
        if let Some(f) = file.as_mut() {
            let _ = f.seek(std::io::SeekFrom::Start(pos));
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = out.write_all(&buf[..n]);
                pos += n as u64;
                progressed = true;
            }
            let _ = out.flush();
        }
        let current_ino = std::fs::metadata(&path).ok().map(|m| m.ino());
        let open_ino = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.ino());
        if current_ino.is_some() && current_ino != open_ino {
            file = open();
            pos = 0;
            continue;
        }
        if !progressed {
            if ended {
                return Ok(());
            }
            ended = connect::live_session(home, session).is_none_or(|s| s.pid.is_none());
            if !ended {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::raw_tail;

    #[test]
    fn raw_tail_takes_last_lines() {
        assert_eq!(raw_tail(b"a\nb\nc\n", Some(2)), b"b\nc\n");
        assert_eq!(raw_tail(b"a\nb\nc", Some(1)), b"c");
        assert_eq!(raw_tail(b"a\nb\n", Some(5)), b"a\nb\n");
        assert_eq!(raw_tail(b"a\nb\n", None), b"a\nb\n");
    }
}
