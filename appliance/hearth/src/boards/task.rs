//! One task per board: pumps bytes between the port and the runtime, ticks
//! it, applies commands from the handle, and publishes what it observes.

use super::handle::{lock, BoardCommand, BoardHandle, Mailbox};
use super::port::ChainPort;
use hearth_board::runtime::{BoardRuntime, TICK};
use hearth_core::board::MAX_POLL_ITEMS;
use hearth_core::{Clock, CommandLease, Timestamp, Watts};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Commands waiting for the board task. The control loop sends at most one
/// power target per tick, so a full queue means the task is stuck.
const COMMAND_QUEUE: usize = 16;
/// A write to the UART that takes longer than this is a dead line.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The stale-heartbeat guard's lease for a control loop ticking every
/// `tick`: three missed ticks, never less than the default 30 s.
pub fn command_lease(tick: Duration) -> Duration {
    (tick * 3).max(hearth_core::lease::DEFAULT_LEASE)
}

/// Spawns the board task on the current tokio runtime and returns its handle,
/// **without** a command lease: a power target holds until replaced (for
/// tests and tools that set one and watch). The daemon uses
/// [`spawn_board_with_lease`].
pub fn spawn_board<P: ChainPort>(
    runtime: BoardRuntime,
    port: P,
    clock: Arc<dyn Clock>,
) -> BoardHandle {
    spawn_board_with_lease(runtime, port, clock, Duration::MAX)
}

/// Spawns the board task. The task is the board's stale-heartbeat guard: a
/// power target not renewed within `lease` (real time; the control loop
/// renews every board on every tick) is withdrawn and the board idles, so a
/// hung control loop cannot leave boards heating unwatched.
pub fn spawn_board_with_lease<P: ChainPort>(
    runtime: BoardRuntime,
    port: P,
    clock: Arc<dyn Clock>,
    lease: Duration,
) -> BoardHandle {
    let info = runtime.info().clone();
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let mailbox = Arc::new(Mutex::new(Mailbox::new()));
    tokio::spawn(run_board(runtime, port, clock, rx, mailbox.clone(), lease));
    BoardHandle::new(info, tx, mailbox)
}

/// Real (monotonic, tokio-paused-aware) milliseconds since `origin`, for the lease.
fn lease_now(origin: tokio::time::Instant) -> Timestamp {
    Timestamp::from_millis(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX))
}

/// Runs until the handle is dropped; then brings the board to a safe stop.
pub(crate) async fn run_board<P: ChainPort>(
    mut rt: BoardRuntime,
    mut port: P,
    clock: Arc<dyn Clock>,
    mut commands: mpsc::Receiver<BoardCommand>,
    mailbox: Arc<Mutex<Mailbox>>,
    lease: Duration,
) {
    let id = rt.info().id.to_string();
    let origin = tokio::time::Instant::now();
    let mut lease = CommandLease::new(lease);
    let mut buf = [0u8; 1024];
    let mut last_tick = clock.now();
    rt.tick(last_tick);
    let mut io_errors = 0u64;
    loop {
        flush(&mut rt, &mut port, &id, &mut io_errors).await;
        publish(&mut rt, &mailbox);
        let now = clock.now();
        let next = rt
            .next_deadline()
            .map_or(now.plus(TICK), |d| d.min(now.plus(TICK)));
        let wait = next.since(now).max(Duration::from_millis(1));
        tokio::select! {
            read = port.read(&mut buf) => match read {
                Ok(n) if n > 0 => rt.handle_rx(&buf[..n], clock.now()),
                Ok(_) => idle_after_error(&id, "serial port closed", &mut io_errors).await,
                Err(e) => idle_after_error(&id, &e.to_string(), &mut io_errors).await,
            },
            cmd = commands.recv() => match cmd {
                Some(BoardCommand::Power(w)) => {
                    lease.renew(lease_now(origin));
                    if let Err(e) = rt.set_power_target(w, clock.now()) {
                        tracing::debug!(board = %id, error = %e, "power target refused");
                    }
                }
                Some(BoardCommand::Job(job)) => {
                    if let Err(e) = rt.set_job(job, clock.now()) {
                        tracing::debug!(board = %id, error = %e, "job refused");
                    }
                }
                Some(BoardCommand::Stop(ack)) => {
                    let result = rt.stop_safely(clock.now());
                    flush(&mut rt, &mut port, &id, &mut io_errors).await;
                    publish(&mut rt, &mailbox);
                    let _ = ack.try_send(result);
                }
                None => {
                    // The handle is gone (daemon exiting): leave the board safe.
                    let _ = rt.stop_safely(clock.now());
                    flush(&mut rt, &mut port, &id, &mut io_errors).await;
                    publish(&mut rt, &mailbox);
                    return;
                }
            },
            _ = tokio::time::sleep(wait) => {}
        }
        if lease.expired(lease_now(origin)) {
            lease.clear();
            tracing::error!(
                board = %id,
                lease_s = lease.lease().as_secs(),
                "no power target from the control loop within the lease: idling the board"
            );
            let _ = rt.set_power_target(Watts::ZERO, clock.now());
        }
        let now = clock.now();
        if now.since(last_tick) >= TICK || rt.next_deadline().is_some_and(|d| d <= now) {
            rt.tick(now);
            last_tick = now;
        }
    }
}

/// Writes everything the runtime queued, switching the host's baud where a
/// chunk asks for it (after its bytes are out at the old rate).
async fn flush<P: ChainPort>(rt: &mut BoardRuntime, port: &mut P, id: &str, io_errors: &mut u64) {
    while let Some(chunk) = rt.poll_transmit() {
        let wrote = tokio::time::timeout(WRITE_TIMEOUT, async {
            port.write_all(&chunk.bytes).await?;
            port.flush().await
        })
        .await;
        match wrote {
            Ok(Ok(())) => {}
            Ok(Err(e)) => note_error(id, &format!("write failed: {e}"), io_errors),
            Err(_) => note_error(id, "write timed out", io_errors),
        }
        if let Some(baud) = chunk.then_set_baud {
            if let Err(e) = port.set_baud(baud) {
                note_error(
                    id,
                    &format!("could not switch to {baud} baud: {e}"),
                    io_errors,
                );
            }
        }
    }
}

fn publish(rt: &mut BoardRuntime, mailbox: &Mutex<Mailbox>) {
    for message in rt.drain_messages(64) {
        tracing::info!(board = %rt.info().id, "{message}");
    }
    let events = rt.drain_events(MAX_POLL_ITEMS);
    let nonces = rt.drain_nonces(MAX_POLL_ITEMS);
    let mut m = lock(mailbox);
    m.telemetry = rt.telemetry();
    for e in events {
        m.push_event(e);
    }
    for n in nonces {
        m.push_nonce(n);
    }
}

fn note_error(id: &str, what: &str, io_errors: &mut u64) {
    *io_errors += 1;
    // First error and then every hundredth: a dead line must not flood the log.
    if *io_errors % 100 == 1 {
        tracing::warn!(board = id, errors = *io_errors, "chain port: {what}");
    }
}

async fn idle_after_error(id: &str, what: &str, io_errors: &mut u64) {
    note_error(id, what, io_errors);
    tokio::time::sleep(Duration::from_millis(50)).await;
}
