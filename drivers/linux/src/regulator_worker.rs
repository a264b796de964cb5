//! A regulator whose commands run on its own worker thread, so a driver
//! that must wait after a command (the Bitmain PIC needs 100 ms after
//! SET_VOLTAGE, 500 ms after a reset) never stalls the caller: the board
//! task on the daemon's async executor keeps reading the chain, taking
//! commands and publishing telemetry while the rail settles.
//!
//! How the calls behave (every one bounded):
//! * `set_vout` / `set_enabled(true)` are queued (at most [`QUEUE`]
//!   commands) and return at once. The voltage is range-checked first, on
//!   the caller's side, so a value the driver would refuse is refused
//!   synchronously with nothing queued. A command that later fails on the
//!   bus is reported by the next call (and the driver itself switches its
//!   rail off, as `bitmain_pic` does). A full queue means the worker is
//!   stuck on the bus: `DeviceError::Timeout`.
//! * `set_enabled(false)` is always queued, even behind a failure, and then
//!   waits up to [`OFF_WAIT`] for the worker to have applied it, so a trip
//!   or a stop learns whether the rail really went off. (Switching off has
//!   no settle wait of its own; this waits only for commands ahead of it.)
//! * `read` asks for a fresh reading and waits up to [`READ_WAIT`] for it
//!   when the worker is idle; while commands are pending it returns the last
//!   reading at once. No reading yet is `DeviceError::Timeout`.
//! * [`Regulator::pending`] is true while accepted commands are not yet
//!   applied; the board runtime releases the chips' reset and raises the
//!   clock only after it turns false.
//!
//! Dropping the wrapper closes the queue and waits up to [`DROP_WAIT`] for
//! the worker to finish what was queued (the rail-off of a stop is among
//! it), so a daemon that exits does not leave the last command unsent.

use crate::error::LinuxError;
use hearth_core::peripherals::{DeviceError, Regulator, RegulatorReading};
use hearth_core::time::Timestamp;
use hearth_core::units::Millivolts;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Commands that may wait for the worker.
pub const QUEUE: usize = 8;
/// How long `set_enabled(false)` waits for the rail to be off.
pub const OFF_WAIT: Duration = Duration::from_millis(1500);
/// How long `read` waits for a fresh reading from an idle worker.
pub const READ_WAIT: Duration = Duration::from_millis(20);
/// How long dropping the wrapper waits for the queued commands.
pub const DROP_WAIT: Duration = Duration::from_secs(2);

/// Range check run on the caller's side before a voltage is queued.
pub type VoutCheck = Box<dyn Fn(Millivolts) -> Result<(), DeviceError> + Send>;

enum Request {
    Vout(Millivolts, Timestamp),
    Enabled(bool, Timestamp),
    Read(Timestamp),
}

#[derive(Default)]
struct Shared {
    /// Accepted commands not yet applied.
    outstanding: usize,
    /// The first failure since the caller last heard of one.
    failed: Option<DeviceError>,
    /// Rail-off commands applied so far (for `set_enabled(false)`'s wait).
    offs_done: u64,
    /// The outcome of the last rail-off.
    last_off: Option<Result<(), DeviceError>>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A [`Regulator`] moved onto a worker thread (see the module docs).
pub struct RegulatorWorker {
    name: String,
    requests: Option<SyncSender<Request>>,
    readings: Receiver<Result<RegulatorReading, DeviceError>>,
    offs: Receiver<u64>,
    shared: Arc<Mutex<Shared>>,
    check: VoutCheck,
    read_in_flight: bool,
    offs_sent: u64,
    last_reading: Option<RegulatorReading>,
    done: Receiver<()>,
}

impl std::fmt::Debug for RegulatorWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegulatorWorker")
            .field("name", &self.name)
            .field("pending", &self.pending())
            .finish()
    }
}

impl RegulatorWorker {
    /// Move `inner` onto a new worker thread called after `name`. `check`
    /// refuses a voltage the driver would refuse, before it is queued.
    pub fn spawn<R: Regulator + 'static>(
        mut inner: R,
        name: &str,
        check: VoutCheck,
    ) -> Result<RegulatorWorker, LinuxError> {
        let (requests, request_rx) = mpsc::sync_channel::<Request>(QUEUE + 1);
        let (reading_tx, readings) = mpsc::sync_channel(1);
        let (off_tx, offs) = mpsc::sync_channel(QUEUE + 1);
        let (done_tx, done) = mpsc::sync_channel(1);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let worker_shared = shared.clone();
        std::thread::Builder::new()
            .name(thread_name(name))
            .spawn(move || {
                for request in request_rx {
                    match request {
                        Request::Read(now) => {
                            if reading_tx.send(inner.read(now)).is_err() {
                                break;
                            }
                        }
                        Request::Vout(v, now) => {
                            let r = inner.set_vout(v, now);
                            let mut s = lock(&worker_shared);
                            s.outstanding = s.outstanding.saturating_sub(1);
                            if let Err(e) = r {
                                s.failed.get_or_insert(e);
                            }
                        }
                        Request::Enabled(on, now) => {
                            let r = inner.set_enabled(on, now);
                            let mut s = lock(&worker_shared);
                            s.outstanding = s.outstanding.saturating_sub(1);
                            if on {
                                if let Err(e) = r {
                                    s.failed.get_or_insert(e);
                                }
                            } else {
                                s.offs_done += 1;
                                s.last_off = Some(r);
                                let n = s.offs_done;
                                drop(s);
                                let _ = off_tx.try_send(n);
                            }
                        }
                    }
                }
                let _ = done_tx.try_send(());
            })
            .map_err(|e| LinuxError::Config(format!("cannot start a thread for {name}: {e}")))?;
        Ok(RegulatorWorker {
            name: name.to_string(),
            requests: Some(requests),
            readings,
            offs,
            shared,
            check,
            read_in_flight: false,
            offs_sent: 0,
            last_reading: None,
            done,
        })
    }

    fn gone(&self) -> DeviceError {
        DeviceError::Fault(format!("{}: worker thread has ended", self.name))
    }

    /// Queue a command; counts it as outstanding.
    fn queue(&mut self, request: Request) -> Result<(), DeviceError> {
        let Some(tx) = &self.requests else {
            return Err(self.gone());
        };
        // Reads are not commands: the queue holds QUEUE commands plus one read.
        if lock(&self.shared).outstanding >= QUEUE {
            return Err(DeviceError::Timeout);
        }
        lock(&self.shared).outstanding += 1;
        match tx.try_send(request) {
            Ok(()) => Ok(()),
            Err(e) => {
                let mut s = lock(&self.shared);
                s.outstanding = s.outstanding.saturating_sub(1);
                drop(s);
                Err(match e {
                    TrySendError::Full(_) => DeviceError::Timeout,
                    TrySendError::Disconnected(_) => self.gone(),
                })
            }
        }
    }

    fn take_failure(&mut self) -> Result<(), DeviceError> {
        match lock(&self.shared).failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Wait until the `n`th rail-off is applied, or the deadline passes.
    fn wait_off(&mut self, n: u64) -> Result<(), DeviceError> {
        let deadline = std::time::Instant::now() + OFF_WAIT;
        loop {
            {
                let s = lock(&self.shared);
                if s.offs_done >= n {
                    return s.last_off.clone().unwrap_or(Ok(()));
                }
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.offs.recv_timeout(left) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Err(DeviceError::Timeout),
                Err(RecvTimeoutError::Disconnected) => return Err(self.gone()),
            }
        }
    }
}

/// Linux limits thread names to 15 bytes.
fn thread_name(name: &str) -> String {
    let mut s = String::from("hreg-");
    for c in name.chars() {
        if s.len() + c.len_utf8() > 15 {
            break;
        }
        s.push(c);
    }
    s
}

impl Regulator for RegulatorWorker {
    fn set_vout(&mut self, vout: Millivolts, now: Timestamp) -> Result<(), DeviceError> {
        (self.check)(vout)?;
        self.take_failure()?;
        self.queue(Request::Vout(vout, now))
    }

    fn set_enabled(&mut self, on: bool, now: Timestamp) -> Result<(), DeviceError> {
        if on {
            self.take_failure()?;
            return self.queue(Request::Enabled(true, now));
        }
        // Off wins: queued whatever failed before.
        let earlier = self.take_failure();
        self.queue(Request::Enabled(false, now))?;
        self.offs_sent += 1;
        let applied = self.wait_off(self.offs_sent);
        applied.and(earlier)
    }

    fn read(&mut self, now: Timestamp) -> Result<RegulatorReading, DeviceError> {
        if self.read_in_flight {
            match self.readings.try_recv() {
                Ok(r) => {
                    self.read_in_flight = false;
                    // An answer to an earlier call: a failure is reported
                    // now; a reading is kept and a fresh one asked below.
                    self.last_reading = Some(r?);
                }
                Err(mpsc::TryRecvError::Empty) => {
                    return self.last_reading.ok_or(DeviceError::Timeout)
                }
                Err(mpsc::TryRecvError::Disconnected) => return Err(self.gone()),
            }
        }
        let busy = self.pending();
        let Some(tx) = &self.requests else {
            return Err(self.gone());
        };
        match tx.try_send(Request::Read(now)) {
            Ok(()) => self.read_in_flight = true,
            Err(TrySendError::Full(_)) => return self.last_reading.ok_or(DeviceError::Timeout),
            Err(TrySendError::Disconnected(_)) => return Err(self.gone()),
        }
        if busy {
            return self.last_reading.ok_or(DeviceError::Timeout);
        }
        match self.readings.recv_timeout(READ_WAIT) {
            Ok(r) => {
                self.read_in_flight = false;
                if let Ok(reading) = &r {
                    self.last_reading = Some(*reading);
                }
                r
            }
            Err(RecvTimeoutError::Timeout) => self.last_reading.ok_or(DeviceError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone()),
        }
    }

    fn pending(&self) -> bool {
        lock(&self.shared).outstanding > 0
    }
}

impl Drop for RegulatorWorker {
    fn drop(&mut self) {
        // Closing the queue ends the worker after what it holds.
        self.requests = None;
        let _ = self.done.recv_timeout(DROP_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A regulator that takes `wait` per command, like the PIC, and logs.
    struct Slow {
        wait: Duration,
        log: Arc<Mutex<Vec<String>>>,
        fail_vout: bool,
        vout: Option<Millivolts>,
    }

    impl Regulator for Slow {
        fn set_vout(&mut self, vout: Millivolts, _now: Timestamp) -> Result<(), DeviceError> {
            std::thread::sleep(self.wait);
            self.log
                .lock()
                .unwrap()
                .push(format!("vout {}", vout.get()));
            if self.fail_vout {
                return Err(DeviceError::Fault("nack".into()));
            }
            self.vout = Some(vout);
            Ok(())
        }
        fn set_enabled(&mut self, on: bool, _now: Timestamp) -> Result<(), DeviceError> {
            self.log.lock().unwrap().push(format!("enabled {on}"));
            Ok(())
        }
        fn read(&mut self, _now: Timestamp) -> Result<RegulatorReading, DeviceError> {
            Ok(RegulatorReading {
                vout_mv: self.vout,
                ..RegulatorReading::default()
            })
        }
    }

    fn slow(wait_ms: u64, fail_vout: bool) -> (RegulatorWorker, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let inner = Slow {
            wait: Duration::from_millis(wait_ms),
            log: log.clone(),
            fail_vout,
            vout: None,
        };
        let check: VoutCheck = Box::new(|v| {
            if v.get() > 1300.0 {
                Err(DeviceError::Fault(format!(
                    "{} mV is out of range",
                    v.get()
                )))
            } else {
                Ok(())
            }
        });
        (RegulatorWorker::spawn(inner, "test", check).unwrap(), log)
    }

    #[test]
    fn commands_return_at_once_and_run_in_order_on_the_worker() {
        let (mut r, log) = slow(100, false);
        let t = Instant::now();
        r.set_vout(Millivolts(1150.0), Timestamp(0)).unwrap();
        r.set_enabled(true, Timestamp(0)).unwrap();
        assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
        assert!(r.pending());
        // While it settles, a read answers at once with what it had (none yet).
        assert!(matches!(r.read(Timestamp(0)), Err(DeviceError::Timeout)));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!r.pending());
        assert_eq!(
            r.read(Timestamp(1)).unwrap().vout_mv,
            Some(Millivolts(1150.0))
        );
        r.set_enabled(false, Timestamp(2)).unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            ["vout 1150", "enabled true", "enabled false"]
        );
    }

    #[test]
    fn an_out_of_range_voltage_is_refused_before_it_is_queued() {
        let (mut r, log) = slow(0, false);
        assert!(r.set_vout(Millivolts(1400.0), Timestamp(0)).is_err());
        assert!(!r.pending());
        drop(r);
        assert!(log.lock().unwrap().is_empty());
    }

    #[test]
    fn a_failure_on_the_bus_is_reported_by_the_next_call_and_off_still_goes_out() {
        let (mut r, log) = slow(10, true);
        r.set_vout(Millivolts(1150.0), Timestamp(0)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(matches!(
            r.set_enabled(true, Timestamp(1)),
            Err(DeviceError::Fault(_))
        ));
        // Reported once; the next command goes through.
        r.set_vout(Millivolts(1100.0), Timestamp(2)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Off is sent even though a failure is waiting, and reports it.
        assert!(r.set_enabled(false, Timestamp(3)).is_err());
        assert_eq!(log.lock().unwrap().last().unwrap(), "enabled false");
    }

    #[test]
    fn off_waits_for_the_commands_ahead_of_it() {
        let (mut r, log) = slow(100, false);
        r.set_vout(Millivolts(1150.0), Timestamp(0)).unwrap();
        let t = Instant::now();
        r.set_enabled(false, Timestamp(0)).unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(80),
            "{:?}",
            t.elapsed()
        );
        assert!(!r.pending());
        assert_eq!(log.lock().unwrap().last().unwrap(), "enabled false");
    }

    #[test]
    fn a_stuck_worker_fills_the_queue_and_then_times_out() {
        let (mut r, _log) = slow(300, false);
        for _ in 0..QUEUE {
            r.set_vout(Millivolts(1150.0), Timestamp(0)).unwrap();
        }
        assert!(matches!(
            r.set_vout(Millivolts(1150.0), Timestamp(0)),
            Err(DeviceError::Timeout)
        ));
        // Dropping waits at most DROP_WAIT, not for all 8 x 300 ms.
        let t = Instant::now();
        drop(r);
        assert!(t.elapsed() <= DROP_WAIT + Duration::from_millis(200));
    }

    #[test]
    fn dropping_sends_what_was_queued() {
        let (mut r, log) = slow(50, false);
        r.set_vout(Millivolts(1150.0), Timestamp(0)).unwrap();
        drop(r);
        assert_eq!(*log.lock().unwrap(), ["vout 1150"]);
    }
}
