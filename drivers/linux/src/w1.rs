//! Room, pool and greenhouse probes: DS18B20s on the Linux 1-wire bus
//! (`dtoverlay=w1-gpio,gpiopin=4`), through `hearth-periph`'s sysfs driver,
//! each read on a worker thread with a deadline ([`DeadlineThermometer`]).
//!
//! Listing the bus directory is a sysfs `readdir` and returns at once; only
//! the temperature read waits for a conversion, and that is what the
//! deadline bounds.

use crate::deadline::DeadlineThermometer;
use crate::error::{hint, LinuxError, W1_HINT};
use hearth_periph::ds18b20::{self, Ds18b20, FAMILY_PREFIX};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Where Raspberry Pi OS lists 1-wire devices.
pub const W1_DEVICES: &str = ds18b20::DEFAULT_BASE;
/// Default deadline for one DS18B20 read: a 12-bit conversion takes up to
/// 750 ms, plus the bus traffic of the read itself.
pub const DEFAULT_W1_DEADLINE: Duration = Duration::from_secs(2);

/// Which probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSelector {
    /// The first `28-*` probe in sorted order (for a bus with one probe).
    First,
    /// A probe by its sysfs id, e.g. `28-0000075a1b2c`.
    Id(String),
}

impl fmt::Display for ProbeSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeSelector::First => f.write_str("first"),
            ProbeSelector::Id(id) => f.write_str(id),
        }
    }
}

/// `"first"` (or `"auto"`), or an id: `28-` followed by 12 hex digits.
impl FromStr for ProbeSelector {
    type Err = LinuxError;

    fn from_str(s: &str) -> Result<ProbeSelector, LinuxError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("first") || s.eq_ignore_ascii_case("auto") {
            return Ok(ProbeSelector::First);
        }
        let serial = s.strip_prefix(FAMILY_PREFIX).unwrap_or("");
        if serial.len() == 12 && serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            // The kernel names devices in lower case.
            Ok(ProbeSelector::Id(s.to_ascii_lowercase()))
        } else {
            Err(LinuxError::Config(format!(
                "DS18B20 probe {s:?}: expected \"first\" or an id like \"28-0000075a1b2c\" \
                 (`ls {W1_DEVICES}` lists them)"
            )))
        }
    }
}

/// The ids of the DS18B20s under `base`, sorted.
pub fn discover_probes(base: &Path) -> Result<Vec<String>, LinuxError> {
    ds18b20::discover(base).map_err(|e| LinuxError::W1 {
        path: base.to_path_buf(),
        reason: e.to_string(),
        hint: hint(W1_HINT),
    })
}

/// Open one probe under `base` (normally [`W1_DEVICES`]), reporting as
/// `name`, with a deadline per read. A missing bus directory, an empty bus
/// and an unknown id are errors naming the path; an unknown id also lists
/// the probes that are there.
pub fn open_ds18b20(
    base: &Path,
    which: &ProbeSelector,
    name: &str,
    deadline: Duration,
) -> Result<DeadlineThermometer, LinuxError> {
    let found = discover_probes(base)?;
    let id = match which {
        ProbeSelector::First => found.first().cloned().ok_or_else(|| LinuxError::W1 {
            path: base.to_path_buf(),
            reason: format!("no DS18B20 ({FAMILY_PREFIX}*) probes found"),
            hint: hint(W1_HINT),
        })?,
        ProbeSelector::Id(id) => {
            if !found.contains(id) {
                return Err(LinuxError::W1 {
                    path: base.join(id),
                    reason: if found.is_empty() {
                        "no such probe; no DS18B20 probes are on the bus".into()
                    } else {
                        format!("no such probe; found {}", found.join(", "))
                    },
                    hint: hint(W1_HINT),
                });
            }
            id.clone()
        }
    };
    let probe = Ds18b20::new(base, id).with_name(name);
    DeadlineThermometer::spawn(probe, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_core::peripherals::{DeviceError, Thermometer};
    use hearth_core::time::Timestamp;
    use hearth_core::units::Celsius;
    use std::fs;
    use std::io::Write;

    const A: &str = "28-0000075a1b2c";
    const B: &str = "28-00000b0b0b0b";
    const W1_23_125: &str =
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";

    fn bus(probes: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        // The bus master is listed too and must be ignored.
        fs::create_dir(dir.path().join("w1_bus_master1")).unwrap();
        for (id, text) in probes {
            fs::create_dir(dir.path().join(id)).unwrap();
            fs::write(dir.path().join(id).join("w1_slave"), text).unwrap();
        }
        dir
    }

    #[test]
    fn selector_parsing() {
        assert_eq!(
            "first".parse::<ProbeSelector>().unwrap(),
            ProbeSelector::First
        );
        assert_eq!(
            "AUTO".parse::<ProbeSelector>().unwrap(),
            ProbeSelector::First
        );
        assert_eq!(
            "28-0000075A1B2C".parse::<ProbeSelector>().unwrap(),
            ProbeSelector::Id(A.into())
        );
        for bad in ["", "28-", "28-xyz", "10-0000075a1b2c", "28-0000075a1b2c0"] {
            let err = bad.parse::<ProbeSelector>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn first_found_reads_through_the_worker() {
        let dir = bus(&[(B, "garbage"), (A, W1_23_125)]);
        let mut t = open_ds18b20(
            dir.path(),
            &ProbeSelector::First,
            "pool water",
            DEFAULT_W1_DEADLINE,
        )
        .unwrap();
        assert_eq!(t.name(), "pool water");
        // Sorted: A (…075a…) before B (…0b0b…).
        assert_eq!(t.read_temp(Timestamp::from_secs(1)), Ok(Celsius(23.125)));
    }

    #[test]
    fn by_id() {
        let dir = bus(&[(A, "garbage"), (B, W1_23_125)]);
        let mut t = open_ds18b20(
            dir.path(),
            &ProbeSelector::Id(B.into()),
            "greenhouse air",
            DEFAULT_W1_DEADLINE,
        )
        .unwrap();
        assert_eq!(t.read_temp(Timestamp::from_secs(1)), Ok(Celsius(23.125)));
    }

    #[test]
    fn unknown_id_lists_what_is_there() {
        let dir = bus(&[(A, W1_23_125)]);
        let err = open_ds18b20(
            dir.path(),
            &ProbeSelector::Id(B.into()),
            "x",
            DEFAULT_W1_DEADLINE,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(B) && msg.contains(A), "{msg}");
    }

    #[test]
    fn empty_and_missing_buses_name_the_path_and_the_overlay() {
        let dir = bus(&[]);
        let err =
            open_ds18b20(dir.path(), &ProbeSelector::First, "x", DEFAULT_W1_DEADLINE).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("w1-gpio"), "{msg}");

        let missing = dir.path().join("no-such-bus");
        let err =
            open_ds18b20(&missing, &ProbeSelector::First, "x", DEFAULT_W1_DEADLINE).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no-such-bus"), "{msg}");
        assert!(msg.contains("w1-gpio"), "{msg}");
    }

    #[test]
    fn a_probe_that_vanishes_is_absent() {
        let dir = bus(&[(A, W1_23_125)]);
        let mut t =
            open_ds18b20(dir.path(), &ProbeSelector::First, "x", DEFAULT_W1_DEADLINE).unwrap();
        fs::remove_dir_all(dir.path().join(A)).unwrap();
        assert_eq!(
            t.read_temp(Timestamp::from_secs(1)),
            Err(DeviceError::Absent)
        );
    }

    /// A read the kernel never finishes: `w1_slave` is a FIFO nobody
    /// writes, so `open()` blocks like a hung conversion would.
    #[test]
    fn a_blocked_sysfs_read_times_out_then_recovers() {
        let dir = bus(&[]);
        let dev = dir.path().join(A);
        fs::create_dir(&dev).unwrap();
        let fifo = dev.join("w1_slave");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let mut t = open_ds18b20(
            dir.path(),
            &ProbeSelector::First,
            "x",
            Duration::from_millis(150),
        )
        .unwrap();
        assert_eq!(
            t.read_temp(Timestamp::from_secs(1)),
            Err(DeviceError::Timeout)
        );
        assert_eq!(
            t.read_temp(Timestamp::from_secs(2)),
            Err(DeviceError::Timeout)
        );
        // The "kernel" finally answers: the stuck read completes (and is
        // dropped as stale); the FIFO is replaced by a plain file for the
        // next read.
        let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        w.write_all(W1_23_125.as_bytes()).unwrap();
        drop(w);
        fs::remove_file(&fifo).unwrap();
        fs::write(&fifo, W1_23_125).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(t.read_temp(Timestamp::from_secs(3)), Ok(Celsius(23.125)));
    }

    /// Needs a Raspberry Pi with `dtoverlay=w1-gpio,gpiopin=4` and at least
    /// one DS18B20 on GPIO4 (4.7 kOhm pull-up to 3.3 V). Set
    /// HEARTH_TEST_DS18B20 to an id to test a particular probe.
    #[test]
    #[ignore = "needs hardware"]
    fn hw_ds18b20_reads_a_room_temperature() {
        let which: ProbeSelector = std::env::var("HEARTH_TEST_DS18B20")
            .unwrap_or("first".into())
            .parse()
            .unwrap();
        let mut t = open_ds18b20(
            Path::new(W1_DEVICES),
            &which,
            "hw test",
            DEFAULT_W1_DEADLINE,
        )
        .unwrap();
        let c = t.read_temp(Timestamp::from_secs(1)).unwrap();
        assert!((-10.0..=50.0).contains(&c.get()), "{c:?}");
    }
}
