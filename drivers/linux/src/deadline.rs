//! A deadline on reads that the kernel does not bound: the thermometer
//! runs on its own worker thread and each `read_temp` waits for its answer
//! for at most the deadline, then returns `DeviceError::Timeout`.
//!
//! At most one read is outstanding: while the worker is still stuck in an
//! earlier read, later calls return `Timeout` at once without queueing
//! another (the queue between caller and worker holds one request). When
//! the late answer finally arrives it is thrown away (it was for an earlier
//! `now`) and the next call starts a fresh read. Dropping the wrapper
//! closes the queue; the worker ends after the read it is in, if any.
//!
//! Used for DS18B20 probes, whose sysfs read sleeps in the kernel for the
//! conversion (~750 ms at 12 bits, longer with several probes or parasite
//! power) and has no timeout of its own.

use crate::error::LinuxError;
use hearth_core::peripherals::{DeviceError, Thermometer};
use hearth_core::time::Timestamp;
use hearth_core::units::Celsius;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Duration;

/// A thermometer read on a worker thread, with a deadline per read.
#[derive(Debug)]
pub struct DeadlineThermometer {
    name: String,
    deadline: Duration,
    requests: SyncSender<Timestamp>,
    results: Receiver<Result<Celsius, DeviceError>>,
    in_flight: bool,
}

impl DeadlineThermometer {
    /// Move `inner` onto a new worker thread named after it.
    pub fn spawn<T: Thermometer + 'static>(
        mut inner: T,
        deadline: Duration,
    ) -> Result<DeadlineThermometer, LinuxError> {
        let name = inner.name().to_string();
        let (requests, request_rx) = mpsc::sync_channel::<Timestamp>(1);
        let (result_tx, results) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(thread_name(&name))
            .spawn(move || {
                for now in request_rx {
                    if result_tx.send(inner.read_temp(now)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| LinuxError::Config(format!("cannot start a thread for {name}: {e}")))?;
        Ok(DeadlineThermometer {
            name,
            deadline,
            requests,
            results,
            in_flight: false,
        })
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// A read is still running past its deadline.
    pub fn is_stuck(&self) -> bool {
        self.in_flight
    }

    fn gone(&self) -> DeviceError {
        DeviceError::Fault(format!("{}: reader thread has ended", self.name))
    }
}

/// Linux limits thread names to 15 bytes.
fn thread_name(name: &str) -> String {
    let mut s = String::from("hth-");
    for c in name.chars() {
        if s.len() + c.len_utf8() > 15 {
            break;
        }
        s.push(c);
    }
    s
}

impl Thermometer for DeadlineThermometer {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_temp(&mut self, now: Timestamp) -> Result<Celsius, DeviceError> {
        if self.in_flight {
            match self.results.try_recv() {
                // The late answer to an earlier call: stale, drop it.
                Ok(_) => self.in_flight = false,
                Err(TryRecvError::Empty) => return Err(DeviceError::Timeout),
                Err(TryRecvError::Disconnected) => {
                    self.in_flight = false;
                    return Err(self.gone());
                }
            }
        }
        if self.requests.try_send(now).is_err() {
            // Full cannot happen with nothing in flight; disconnected means
            // the worker ended (the thermometer panicked).
            return Err(self.gone());
        }
        self.in_flight = true;
        match self.results.recv_timeout(self.deadline) {
            Ok(result) => {
                self.in_flight = false;
                result
            }
            Err(RecvTimeoutError::Timeout) => Err(DeviceError::Timeout),
            Err(RecvTimeoutError::Disconnected) => {
                self.in_flight = false;
                Err(self.gone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Answers `value + now_secs` after sleeping for whatever the shared
    /// delay says; panics on a negative delay.
    struct Slow {
        delay_ms: Arc<Mutex<i64>>,
        reads: Arc<Mutex<u32>>,
    }

    impl Thermometer for Slow {
        fn name(&self) -> &str {
            "a very slow probe name"
        }
        fn read_temp(&mut self, now: Timestamp) -> Result<Celsius, DeviceError> {
            let d = *self.delay_ms.lock().unwrap();
            if d < 0 {
                panic!("probe exploded");
            }
            std::thread::sleep(Duration::from_millis(d as u64));
            *self.reads.lock().unwrap() += 1;
            Ok(Celsius(20.0 + now.as_secs_f64()))
        }
    }

    fn slow(delay_ms: i64) -> (DeadlineThermometer, Arc<Mutex<i64>>, Arc<Mutex<u32>>) {
        slow_with(delay_ms, Duration::from_millis(100))
    }

    fn slow_with(
        delay_ms: i64,
        deadline: Duration,
    ) -> (DeadlineThermometer, Arc<Mutex<i64>>, Arc<Mutex<u32>>) {
        let delay = Arc::new(Mutex::new(delay_ms));
        let reads = Arc::new(Mutex::new(0));
        let t = DeadlineThermometer::spawn(
            Slow {
                delay_ms: delay.clone(),
                reads: reads.clone(),
            },
            deadline,
        )
        .unwrap();
        (t, delay, reads)
    }

    #[test]
    fn fast_reads_pass_through() {
        let (mut t, _, _) = slow(0);
        assert_eq!(t.name(), "a very slow probe name");
        assert_eq!(t.read_temp(Timestamp::from_secs(1)), Ok(Celsius(21.0)));
        assert_eq!(t.read_temp(Timestamp::from_secs(2)), Ok(Celsius(22.0)));
    }

    #[test]
    fn a_stuck_read_times_out_and_is_not_queued_twice() {
        let (mut t, delay, reads) = slow(400);
        let started = std::time::Instant::now();
        assert_eq!(
            t.read_temp(Timestamp::from_secs(1)),
            Err(DeviceError::Timeout)
        );
        assert!(started.elapsed() < Duration::from_millis(350));
        assert!(t.is_stuck());
        // Still stuck: immediate Timeout, no second request.
        let again = std::time::Instant::now();
        assert_eq!(
            t.read_temp(Timestamp::from_secs(2)),
            Err(DeviceError::Timeout)
        );
        assert!(again.elapsed() < Duration::from_millis(50));
        // Let it finish; the late (stale) answer is dropped and a fresh read
        // for the new `now` is made.
        *delay.lock().unwrap() = 0;
        std::thread::sleep(Duration::from_millis(450));
        assert_eq!(t.read_temp(Timestamp::from_secs(3)), Ok(Celsius(23.0)));
        assert_eq!(*reads.lock().unwrap(), 2);
        assert!(!t.is_stuck());
    }

    #[test]
    fn a_panicking_thermometer_is_a_fault_not_a_hang() {
        // A long deadline: the answer is the disconnect, not the deadline
        // (unwinding with RUST_BACKTRACE set can take a while).
        let (mut t, _delay, _) = slow_with(-1, Duration::from_secs(30));
        assert!(matches!(
            t.read_temp(Timestamp::from_secs(1)),
            Err(DeviceError::Fault(_))
        ));
        assert!(matches!(
            t.read_temp(Timestamp::from_secs(2)),
            Err(DeviceError::Fault(_))
        ));
    }

    #[test]
    fn thread_names_fit_linux() {
        assert_eq!(thread_name("28-0000075a1b2c"), "hth-28-0000075a");
        assert!(thread_name("ééééééééééé").len() <= 15);
    }
}
