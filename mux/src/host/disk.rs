//! The host's disk writer: a helper thread so the event loop never waits on the disk.
//!
//! It appends raw output to the transcript (rotating into `transcript.1` when the current file
//! reaches half the limit, so both together stay bounded and nothing is ever copied), and
//! writes `state.json` and `screen.txt` atomically, coalescing state writes that pile up.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::store::{self, Home};

enum Job {
    Append(Vec<u8>),
    State(Vec<u8>),
    Screen(String),
    /// Answered once everything queued before it is on disk.
    Sync(Sender<()>),
}

pub struct Disk {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Disk {
    pub fn start(home: &Home, id: &str) -> Disk {
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            transcript: home.transcript_path(id),
            old: home.transcript_old_path(id),
            state: home.state_path(id),
            screen: home.screen_path(id),
            file: None,
            size: 0,
        };
        let thread = std::thread::Builder::new()
            .name("disk".into())
            .stack_size(128 * 1024)
            .spawn(move || writer.run(rx))
            .expect("cannot start the disk thread");
        Disk {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn append(&self, bytes: Vec<u8>) {
        self.send(Job::Append(bytes));
    }

    pub fn write_state(&self, bytes: Vec<u8>) {
        self.send(Job::State(bytes));
    }

    pub fn write_screen(&self, text: String) {
        self.send(Job::Screen(text));
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// Waits until everything queued so far is on disk (for answers that others will check
    /// against the files, such as a new name).
    pub fn sync(&self) {
        let (tx, rx) = mpsc::channel();
        self.send(Job::Sync(tx));
        let _ = rx.recv();
    }

    /// Waits until everything queued is on disk (for a host about to exit).
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Writer {
    transcript: std::path::PathBuf,
    old: std::path::PathBuf,
    state: std::path::PathBuf,
    screen: std::path::PathBuf,
    file: Option<File>,
    size: u64,
}

impl Writer {
    fn run(mut self, rx: Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut state = None;
            let mut screen = None;
            let mut job = Some(first);
            // Take everything already queued so a burst of state changes is one write.
            while let Some(j) = job {
                match j {
                    Job::Append(bytes) => self.append(&bytes),
                    Job::State(bytes) => state = Some(bytes),
                    Job::Screen(text) => screen = Some(text),
                    Job::Sync(done) => {
                        self.write_files(screen.take(), state.take());
                        let _ = done.send(());
                    }
                }
                job = rx.try_recv().ok();
            }
            self.write_files(screen, state);
        }
        if let Some(f) = &self.file {
            let _ = f.sync_data();
        }
    }

    fn write_files(&self, screen: Option<String>, state: Option<Vec<u8>>) {
        if let Some(text) = screen {
            if let Err(e) = store::write_atomic(&self.screen, text.as_bytes()) {
                log::error!("{e}");
            }
        }
        if let Some(bytes) = state {
            if let Err(e) = store::write_atomic(&self.state, &bytes) {
                log::error!("{e}");
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.file.is_none() {
            match OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.transcript)
            {
                Ok(f) => {
                    self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
                    self.file = Some(f);
                }
                Err(e) => {
                    log::error!("cannot open {}: {e}", self.transcript.display());
                    return;
                }
            }
        }
        let Some(f) = self.file.as_mut() else { return };
        if let Err(e) = f.write_all(bytes) {
            log::error!("cannot append to {}: {e}", self.transcript.display());
            return;
        }
        self.size += bytes.len() as u64;
        if self.size >= store::TRANSCRIPT_LIMIT / 2 {
            // The older half is dropped by the rename; readers holding it open finish it.
            if let Err(e) = fs::rename(&self.transcript, &self.old) {
                log::error!("cannot rotate {}: {e}", self.transcript.display());
            }
            self.file = None;
            self.size = 0;
        }
    }
}
