//! systemd integration for `Type=notify` units, written against the
//! documented `sd_notify(3)` protocol: one datagram of `KEY=VALUE` lines to
//! the unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace).
//!
//! The daemon says `READY=1` once the HTTP listener is bound and the control
//! loop has ticked, then `WATCHDOG=1` at half of `$WATCHDOG_USEC` — but only
//! while the control loop's heartbeat is fresh. A wedged control loop thus
//! stops the pings and systemd restarts the service (`Restart=on-watchdog`),
//! which brings the boards back under control. Outside systemd (no
//! `$NOTIFY_SOCKET`) everything here is a no-op.

use crate::state::Shared;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long start-up may take before we stop waiting for the first tick to
/// say READY=1 (systemd's own `TimeoutStartSec=` decides what happens then).
const READY_WAIT_LIMIT: Duration = Duration::from_secs(120);
/// How often the READY wait looks at the heartbeat.
const READY_POLL: Duration = Duration::from_millis(100);
/// Below this the ping timer would spin; systemd's own floor is 1 s anyway.
const MIN_PING_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET is empty")]
    Empty,
    #[error("NOTIFY_SOCKET {0:?} is neither an absolute path nor an @abstract name")]
    Unsupported(String),
    #[error("NOTIFY_SOCKET {addr:?}: {source}")]
    Socket { addr: String, source: io::Error },
}

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; `Ok(None)` when not started by systemd.
    pub fn from_env() -> Result<Option<Notifier>, NotifyError> {
        match std::env::var_os("NOTIFY_SOCKET") {
            None => Ok(None),
            Some(v) => Notifier::new(&v.to_string_lossy()).map(Some),
        }
    }

    /// `addr` as systemd writes it: `/run/systemd/notify` or `@name`.
    pub fn new(addr: &str) -> Result<Notifier, NotifyError> {
        let socket_err = |source| NotifyError::Socket {
            addr: addr.to_string(),
            source,
        };
        let parsed = if addr.is_empty() {
            return Err(NotifyError::Empty);
        } else if let Some(name) = addr.strip_prefix('@') {
            abstract_addr(name).map_err(socket_err)?
        } else if addr.starts_with('/') {
            SocketAddr::from_pathname(addr).map_err(socket_err)?
        } else {
            // systemd also knows vsock: addresses; an appliance never gets them.
            return Err(NotifyError::Unsupported(addr.to_string()));
        };
        let socket = UnixDatagram::unbound().map_err(socket_err)?;
        // Never block the daemon on a busy service manager: a full socket
        // buffer drops this datagram and the next ping tries again.
        socket.set_nonblocking(true).map_err(socket_err)?;
        Ok(Notifier {
            socket,
            addr: parsed,
        })
    }

    /// Sends one state string (`"READY=1"`, `"WATCHDOG=1\nSTATUS=..."`).
    pub fn send(&self, state: &str) -> io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.addr)?;
        Ok(())
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &str) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &str) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}

/// The ping interval: half of `$WATCHDOG_USEC`, if the watchdog is meant for
/// this process (`$WATCHDOG_PID` unset or equal to `my_pid`). A malformed or
/// zero value means no watchdog, as in `sd_watchdog_enabled(3)`.
pub fn ping_interval(
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<&str>,
    my_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = watchdog_pid {
        if pid.trim().parse::<u32>().ok()? != my_pid {
            return None;
        }
    }
    let usec: u64 = watchdog_usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    Some((Duration::from_micros(usec) / 2).max(MIN_PING_INTERVAL))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Starts the systemd conversation for a running daemon: READY=1 after the
/// first control tick, WATCHDOG=1 while the heartbeat is fresh, STOPPING=1
/// when `stop` turns true. Returns the task, or `None` outside systemd.
pub fn spawn(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let notifier = match Notifier::from_env() {
        Ok(Some(n)) => n,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot talk to systemd; no READY or watchdog notifications");
            return None;
        }
    };
    let interval = ping_interval(
        env("WATCHDOG_USEC").as_deref(),
        env("WATCHDOG_PID").as_deref(),
        std::process::id(),
    );
    Some(tokio::spawn(async move {
        let waited = tokio::time::Instant::now();
        while !shared.heartbeat.alive() && waited.elapsed() < READY_WAIT_LIMIT {
            tokio::select! {
                _ = tokio::time::sleep(READY_POLL) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        if *stop.borrow() {
            let _ = notifier.send("STOPPING=1");
            return;
        }
        match notifier.send("READY=1\nSTATUS=heating under control") {
            Ok(()) => tracing::info!(watchdog = ?interval, "told systemd we are ready"),
            Err(e) => tracing::warn!(error = %e, "READY=1 to systemd failed"),
        }
        let Some(every) = interval else {
            let _ = stop.wait_for(|s| *s).await;
            let _ = notifier.send("STOPPING=1");
            return;
        };
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut withheld = false;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            // A stalled control loop must not be vouched for.
            if shared.heartbeat.alive() {
                if withheld {
                    tracing::info!("control loop ticking again; watchdog pings resumed");
                    withheld = false;
                }
                if let Err(e) = notifier.send("WATCHDOG=1") {
                    tracing::warn!(error = %e, "watchdog ping to systemd failed");
                }
            } else if !withheld {
                withheld = true;
                tracing::error!(
                    "control loop heartbeat is stale; withholding systemd watchdog pings"
                );
            }
        }
        let _ = notifier.send("STOPPING=1");
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_half_the_watchdog() {
        assert_eq!(
            ping_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            ping_interval(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
    }

    #[test]
    fn no_interval_when_not_ours_or_malformed() {
        assert_eq!(ping_interval(None, None, 7), None);
        assert_eq!(ping_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(ping_interval(Some("30000000"), Some("x"), 7), None);
        assert_eq!(ping_interval(Some("0"), None, 7), None);
        assert_eq!(ping_interval(Some("-5"), None, 7), None);
        assert_eq!(ping_interval(Some("30s"), None, 7), None);
    }

    #[test]
    fn tiny_watchdog_is_floored() {
        assert_eq!(ping_interval(Some("2"), None, 7), Some(MIN_PING_INTERVAL));
    }

    #[test]
    fn bad_addresses_are_refused() {
        assert!(matches!(Notifier::new(""), Err(NotifyError::Empty)));
        assert!(matches!(
            Notifier::new("relative/path"),
            Err(NotifyError::Unsupported(_))
        ));
        assert!(matches!(
            Notifier::new("vsock:2:1234"),
            Err(NotifyError::Unsupported(_))
        ));
    }

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.send("READY=1").unwrap();
        n.send("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_datagrams_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("hearth-sdnotify-test-{}", std::process::id());
        let server =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        n.send("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
    }

    #[test]
    fn missing_listener_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let n = Notifier::new(dir.path().join("nobody").to_str().unwrap()).unwrap();
        assert!(n.send("READY=1").is_err());
    }
}
