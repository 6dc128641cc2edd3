//! The user's terminal in raw mode, restored on every way out: a normal return, an error,
//! a panic (through a hook) and a signal (the attach loop returns, and `Drop` runs).

use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;

/// What to put back: the terminal settings and the descriptor flags of stdin and stdout.
#[derive(Clone, Copy)]
struct Saved {
    termios: libc::termios,
    stdin_flags: i32,
    stdout_flags: i32,
}

/// For the panic hook, which cannot reach the `Raw` value on the stack.
static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

pub struct Raw {
    saved: Saved,
}

impl Raw {
    /// Puts stdin in raw mode and stdin/stdout in non-blocking mode (they usually share one
    /// open file description, so both are set and both restored).
    pub fn enter() -> io::Result<Raw> {
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(0, &mut termios) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = Saved {
            termios,
            stdin_flags: unsafe { libc::fcntl(0, libc::F_GETFL) },
            stdout_flags: unsafe { libc::fcntl(1, libc::F_GETFL) },
        };
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        install_panic_hook();
        let mut raw = termios;
        unsafe { libc::cfmakeraw(&mut raw) };
        if unsafe { libc::tcsetattr(0, libc::TCSADRAIN, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        unsafe {
            libc::fcntl(0, libc::F_SETFL, saved.stdin_flags | libc::O_NONBLOCK);
            libc::fcntl(1, libc::F_SETFL, saved.stdout_flags | libc::O_NONBLOCK);
        }
        Ok(Raw { saved })
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        restore(&self.saved);
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn restore(saved: &Saved) {
    unsafe {
        libc::fcntl(0, libc::F_SETFL, saved.stdin_flags);
        libc::fcntl(1, libc::F_SETFL, saved.stdout_flags);
        libc::tcsetattr(0, libc::TCSADRAIN, &saved.termios);
    }
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(saved) = *SAVED.lock().unwrap_or_else(|e| e.into_inner()) {
                restore(&saved);
            }
            previous(info);
        }));
    });
}

/// The size of the terminal on stdout (else stdin, else stderr) as (rows, cols).
pub fn size() -> Option<(u16, u16)> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    [1, 0, 2].into_iter().find_map(|fd| {
        let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0;
        (ok && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
    })
}

pub fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Bytes for the terminal on a non-blocking stdout: queued, written as far as the terminal
/// takes them, and the rest kept for its next writable event. The attach client and the
/// view both draw through one.
#[derive(Default)]
pub struct Output {
    buf: Vec<u8>,
    sent: usize,
    /// The last write would have blocked; wait for a writable event.
    pub blocked: bool,
}

impl Output {
    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// The queue, to append to.
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Writes until done or the terminal is full. A terminal that is gone loses the queue;
    /// the caller finds out from stdin.
    pub fn write(&mut self) {
        while !self.blocked && self.sent < self.buf.len() {
            match write_fd(1, &self.buf[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.blocked = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.discard(),
            }
        }
        if self.sent == self.buf.len() {
            self.discard();
        }
    }

    pub fn discard(&mut self) {
        self.buf.clear();
        self.sent = 0;
    }

    /// The last words on the way out: stdout goes back to blocking, and whatever is queued
    /// is written, then `tail`.
    pub fn finish(&mut self, tail: &[u8]) {
        use std::io::Write;
        unsafe {
            libc::fcntl(
                1,
                libc::F_SETFL,
                libc::fcntl(1, libc::F_GETFL) & !libc::O_NONBLOCK,
            );
        }
        let mut stdout = io::stdout();
        let _ = stdout.write_all(&self.buf[self.sent..]);
        let _ = stdout.write_all(tail);
        let _ = stdout.flush();
        self.discard();
    }
}
