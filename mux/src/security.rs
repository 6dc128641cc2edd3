//! Who may talk to a crew socket: only processes of the owner's uid.

use std::io;
use std::os::fd::AsRawFd;

/// The uid of the process at the other end of a connected Unix socket (`SO_PEERCRED`).
pub fn peer_uid(sock: &impl AsRawFd) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// Whether an accepted connection may be served; logs the refusal when not.
pub fn peer_allowed(sock: &impl AsRawFd, what: &str) -> bool {
    let me = unsafe { libc::getuid() };
    match peer_uid(sock) {
        Ok(uid) if uid == me => true,
        Ok(uid) => {
            log::warn!("{what}: refused a connection from uid {uid} (owner is uid {me})");
            false
        }
        Err(e) => {
            log::warn!("{what}: refused a connection whose credentials cannot be read: {e}");
            false
        }
    }
}

/// Accepts every pending connection (mio is edge-triggered: until `WouldBlock`) and keeps
/// those from our own uid.
pub fn accept_allowed(listener: &mio::net::UnixListener, what: &str) -> Vec<mio::net::UnixStream> {
    let mut accepted = Vec::new();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if peer_allowed(&stream, what) {
                    accepted.push(stream);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("{what}: accept failed: {e}");
                break;
            }
        }
    }
    accepted
}

/// Binds a listening socket that only the owner can use: created under umask 077 and set to
/// 0600. A stale socket file left by a dead process is replaced; a live one is an error.
pub fn bind_private(path: &std::path::Path) -> io::Result<mio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is already served by another process", path.display()),
        ));
    }
    let _ = std::fs::remove_file(path);
    let old = unsafe { libc::umask(0o077) };
    let listener = mio::net::UnixListener::bind(path);
    unsafe { libc::umask(old) };
    let listener = listener.map_err(|e| crate::store::with_path(e, "cannot listen on", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}
