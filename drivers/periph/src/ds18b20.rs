//! Maxim DS18B20 1-wire thermometers through the Linux `w1` sysfs
//! (Raspberry Pi OS with `dtoverlay=w1-gpio`).
//!
//! Each probe appears as `<base>/28-<serial>/` (family code 0x28), where
//! `<base>` is normally `/sys/bus/w1/devices`; it is a constructor argument
//! so tests can use a temporary directory. Two files can be read:
//!
//! * `w1_slave` (all kernels): two lines, the 9 scratchpad bytes and the
//!   kernel's CRC verdict, then the bytes again and the temperature in
//!   millidegrees:
//!   ```text
//!   72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//!   72 01 4b 46 7f ff 0e 10 57 t=23125
//!   ```
//! * `temperature` (newer kernels): just the millidegrees, `23125`.
//!
//! `w1_slave` is preferred because it carries the CRC verdict, which this
//! driver also recomputes (Dallas/Maxim CRC-8) as a second opinion; an
//! all-zero scratchpad has a valid CRC of 0 and is treated as a
//! disconnected probe. `temperature` is used only when `w1_slave` is absent.
//!
//! Rejected readings:
//! * `crc=.. NO`, or a CRC that does not match the bytes → [`Error::CrcMismatch`];
//! * 85.000 °C, the power-on reset value of the scratchpad, when there is no
//!   earlier accepted reading near 85 °C (so always on the first read)
//!   → [`Error::PowerOnReset`];
//! * -127 °C (the "disconnected" convention) or an all-0x00 / all-0xFF
//!   scratchpad → [`Error::Disconnected`];
//! * anything outside -55..=125 °C → [`Error::Implausible`];
//! * a missing device directory or file → [`Error::Absent`].
//!
//! **Blocking.** The kernel starts a conversion on each read and the
//! `read()` system call sleeps until it is done: up to 750 ms at 12-bit
//! resolution, longer with several probes or parasite power. There is no
//! way to put a timeout on a sysfs read, so callers must run these reads on
//! a worker thread (or `spawn_blocking`), never on the control thread.

use crate::plausibility::{Plausibility, PlausibilityError};
use hearth_core::peripherals::{DeviceError, Thermometer};
use hearth_core::time::Timestamp;
use hearth_core::units::Celsius;
use std::io;
use std::path::{Path, PathBuf};

/// Where Raspberry Pi OS exposes 1-wire devices.
pub const DEFAULT_BASE: &str = "/sys/bus/w1/devices";
/// Directory-name prefix of DS18B20s (family code 0x28).
pub const FAMILY_PREFIX: &str = "28-";
/// The scratchpad's power-on value, in millidegrees.
pub const POWER_ON_RESET_MILLIDEGREES: i64 = 85_000;
/// The conventional "disconnected" value, in millidegrees.
pub const DISCONNECTED_MILLIDEGREES: i64 = -127_000;
/// The DS18B20's measurable range, °C.
pub const RANGE_C: (f64, f64) = (-55.0, 125.0);
/// An 85 °C reading is believed only if the last accepted reading was
/// within this many kelvin of it.
pub const POWER_ON_RESET_NEIGHBOURHOOD_K: f64 = 2.0;

/// DS18B20 errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not present: {0}")]
    Absent(PathBuf),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unexpected sysfs content: {0}")]
    Parse(String),
    #[error("CRC mismatch")]
    CrcMismatch,
    #[error("85.000 °C power-on reset value (no conversion happened)")]
    PowerOnReset,
    #[error("probe disconnected")]
    Disconnected,
    #[error(transparent)]
    Implausible(#[from] PlausibilityError),
}

impl From<Error> for DeviceError {
    fn from(e: Error) -> DeviceError {
        match e {
            Error::Absent(_) | Error::Disconnected => DeviceError::Absent,
            Error::Io { .. } | Error::CrcMismatch => DeviceError::Bus(e.to_string()),
            Error::Parse(_) | Error::PowerOnReset => DeviceError::Implausible(e.to_string()),
            Error::Implausible(p) => p.into(),
        }
    }
}

/// The ids (`28-xxxxxxxxxxxx` directory names) of the DS18B20s under
/// `base`, sorted. A missing `base` (no w1 bus driver loaded) is
/// [`Error::Absent`]; an existing bus without probes is an empty list.
pub fn discover(base: &Path) -> Result<Vec<String>, Error> {
    let entries = std::fs::read_dir(base).map_err(|e| io_error(base, e))?;
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(base, e))?;
        if let Some(name) = entry.file_name().to_str() {
            if name.starts_with(FAMILY_PREFIX) {
                ids.push(name.to_owned());
            }
        }
    }
    ids.sort();
    Ok(ids)
}

fn io_error(path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::Absent(path.to_path_buf())
    } else {
        Error::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// Dallas/Maxim 1-wire CRC-8 (polynomial x^8 + x^5 + x^4 + 1, reflected).
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in bytes {
        let mut b = byte;
        for _ in 0..8 {
            let mix = (crc ^ b) & 1;
            crc >>= 1;
            if mix != 0 {
                crc ^= 0x8C;
            }
            b >>= 1;
        }
    }
    crc
}

fn parse_scratchpad(hex: &str) -> Result<[u8; 9], Error> {
    let mut out = [0u8; 9];
    let mut n = 0usize;
    for tok in hex.split_whitespace() {
        let slot = out
            .get_mut(n)
            .ok_or_else(|| Error::Parse(format!("more than 9 scratchpad bytes in {hex:?}")))?;
        *slot =
            u8::from_str_radix(tok, 16).map_err(|_| Error::Parse(format!("bad byte {tok:?}")))?;
        n += 1;
    }
    if n != 9 {
        return Err(Error::Parse(format!(
            "expected 9 scratchpad bytes, got {n}"
        )));
    }
    Ok(out)
}

/// Parse a `w1_slave` file into millidegrees, checking the CRC verdict,
/// the CRC itself and the all-zero / all-ones disconnected patterns.
pub fn parse_w1_slave(text: &str) -> Result<i64, Error> {
    let mut lines = text.lines();
    let first = lines
        .next()
        .ok_or_else(|| Error::Parse("empty w1_slave".into()))?
        .trim();
    let second = lines
        .next()
        .ok_or_else(|| Error::Parse("w1_slave has no temperature line".into()))?
        .trim();

    let (bytes_part, verdict_part) = first
        .split_once(':')
        .ok_or_else(|| Error::Parse(format!("no ':' in {first:?}")))?;
    let verdict = verdict_part.split_whitespace().last().unwrap_or_default();
    match verdict {
        "YES" => {}
        "NO" => return Err(Error::CrcMismatch),
        other => return Err(Error::Parse(format!("unknown CRC verdict {other:?}"))),
    }
    let scratchpad = parse_scratchpad(bytes_part)?;
    if scratchpad.iter().all(|&b| b == 0x00) || scratchpad.iter().all(|&b| b == 0xFF) {
        return Err(Error::Disconnected);
    }
    let (data, crc) = scratchpad.split_at(8);
    if crc.first().copied() != Some(crc8(data)) {
        return Err(Error::CrcMismatch);
    }

    let (_, t) = second
        .rsplit_once("t=")
        .ok_or_else(|| Error::Parse(format!("no t= in {second:?}")))?;
    t.trim()
        .parse::<i64>()
        .map_err(|_| Error::Parse(format!("bad temperature {t:?}")))
}

/// Parse a `temperature` file (millidegrees).
pub fn parse_temperature_file(text: &str) -> Result<i64, Error> {
    let t = text.trim();
    t.parse::<i64>()
        .map_err(|_| Error::Parse(format!("bad temperature {t:?}")))
}

/// One DS18B20 probe.
#[derive(Debug, Clone)]
pub struct Ds18b20 {
    dir: PathBuf,
    id: String,
    name: String,
    last_accepted_c: Option<f64>,
    plausibility: Plausibility,
}

impl Ds18b20 {
    /// The probe `id` (e.g. `28-0000075a1b2c`) under `base` (normally
    /// [`DEFAULT_BASE`]). No file access.
    pub fn new(base: impl AsRef<Path>, id: impl Into<String>) -> Ds18b20 {
        let id = id.into();
        Ds18b20 {
            dir: base.as_ref().join(&id),
            name: id.clone(),
            id,
            last_accepted_c: None,
            plausibility: Plausibility::for_range(RANGE_C.0, RANGE_C.1),
        }
    }

    /// One driver per probe found by [`discover`].
    pub fn discover_all(base: impl AsRef<Path>) -> Result<Vec<Ds18b20>, Error> {
        let base = base.as_ref();
        Ok(discover(base)?
            .into_iter()
            .map(|id| Ds18b20::new(base, id))
            .collect())
    }

    /// Set the name the `Thermometer` seam reports (default: the id).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replace the plausibility filter of the `Thermometer` seam.
    pub fn with_plausibility(mut self, plausibility: Plausibility) -> Self {
        self.plausibility = plausibility;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn device_dir(&self) -> &Path {
        &self.dir
    }

    /// The raw millidegrees: from `w1_slave` (CRC-checked) or, if that file
    /// does not exist, from `temperature`. Blocks for the conversion.
    pub fn read_millidegrees(&mut self) -> Result<i64, Error> {
        let slave = self.dir.join("w1_slave");
        match std::fs::read_to_string(&slave) {
            Ok(text) => parse_w1_slave(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let temp = self.dir.join("temperature");
                let text = std::fs::read_to_string(&temp).map_err(|e| io_error(&temp, e))?;
                parse_temperature_file(&text)
            }
            Err(e) => Err(io_error(&slave, e)),
        }
    }

    /// The temperature, with the 85 °C / -127 °C / range checks (not the
    /// rate check, which the `Thermometer` seam adds). Blocks.
    pub fn read_celsius(&mut self) -> Result<Celsius, Error> {
        let milli = self.read_millidegrees()?;
        let c = self.validate(milli)?;
        self.last_accepted_c = Some(c.get());
        Ok(c)
    }

    fn validate(&self, milli: i64) -> Result<Celsius, Error> {
        if milli == DISCONNECTED_MILLIDEGREES {
            return Err(Error::Disconnected);
        }
        if milli == POWER_ON_RESET_MILLIDEGREES {
            let near = self
                .last_accepted_c
                .is_some_and(|c| (c - 85.0).abs() <= POWER_ON_RESET_NEIGHBOURHOOD_K);
            if !near {
                return Err(Error::PowerOnReset);
            }
        }
        // i64 -> f64 is exact for every plausible value; a huge one is
        // rejected by the range check either way.
        let value = milli as f64 / 1000.0;
        if !(RANGE_C.0..=RANGE_C.1).contains(&value) {
            return Err(Error::Implausible(PlausibilityError::OutOfRange {
                value,
                min: RANGE_C.0,
                max: RANGE_C.1,
            }));
        }
        Ok(Celsius(value))
    }
}

impl Thermometer for Ds18b20 {
    fn name(&self) -> &str {
        &self.name
    }

    /// Blocks for the conversion (up to ~750 ms): call off the control thread.
    fn read_temp(&mut self, now: Timestamp) -> Result<Celsius, DeviceError> {
        let c = self.read_celsius()?;
        Ok(self.plausibility.check(c, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const ID: &str = "28-0000075a1b2c";

    fn w1(bytes: &str, verdict: &str, t: i64) -> String {
        let crc = bytes.split_whitespace().last().unwrap();
        format!("{bytes} : crc={crc} {verdict}\n{bytes} t={t}\n")
    }

    fn setup(files: &[(&str, &str)]) -> (tempfile::TempDir, Ds18b20) {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join(ID);
        fs::create_dir(&dev).unwrap();
        for (name, content) in files {
            fs::write(dev.join(name), content).unwrap();
        }
        let probe = Ds18b20::new(dir.path(), ID);
        (dir, probe)
    }

    fn write(dir: &tempfile::TempDir, name: &str, content: &str) {
        fs::write(dir.path().join(ID).join(name), content).unwrap();
    }

    const B_23125: &str = "72 01 4b 46 7f ff 0e 10 57";
    const B_21625: &str = "5a 01 4b 46 7f ff 0c 10 44";
    const B_POR: &str = "50 05 4b 46 7f ff 0c 10 1c";
    const B_NEG: &str = "5e fe 4b 46 7f ff 0c 10 57";

    #[test]
    fn crc8_known_vectors() {
        assert_eq!(
            crc8(&[0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10]),
            0x57
        );
        assert_eq!(
            crc8(&[0x50, 0x05, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10]),
            0x1c
        );
        assert_eq!(crc8(&[0; 8]), 0);
    }

    #[test]
    fn discover_lists_only_28_devices_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "28-000000000002",
            "w1_bus_master1",
            "28-000000000001",
            "10-000000000003",
        ] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        assert_eq!(
            discover(dir.path()).unwrap(),
            vec!["28-000000000001".to_string(), "28-000000000002".to_string()]
        );
        let probes = Ds18b20::discover_all(dir.path()).unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0].id(), "28-000000000001");
        assert_eq!(probes[0].device_dir(), dir.path().join("28-000000000001"));
    }

    #[test]
    fn discover_empty_bus_and_missing_bus() {
        let dir = tempfile::tempdir().unwrap();
        assert!(discover(dir.path()).unwrap().is_empty());
        assert!(matches!(
            discover(&dir.path().join("nope")),
            Err(Error::Absent(_))
        ));
    }

    #[test]
    fn reads_w1_slave() {
        let (_d, mut p) = setup(&[("w1_slave", &w1(B_23125, "YES", 23125))]);
        assert_eq!(p.read_millidegrees().unwrap(), 23125);
        assert_eq!(p.read_celsius().unwrap(), Celsius(23.125));
    }

    #[test]
    fn reads_negative_temperature() {
        let (_d, mut p) = setup(&[("w1_slave", &w1(B_NEG, "YES", -26125))]);
        assert_eq!(p.read_celsius().unwrap(), Celsius(-26.125));
    }

    #[test]
    fn crc_no_is_an_error() {
        let (_d, mut p) = setup(&[("w1_slave", &w1(B_23125, "NO", 23125))]);
        assert!(matches!(p.read_celsius(), Err(Error::CrcMismatch)));
    }

    #[test]
    fn crc_recomputed_even_when_kernel_says_yes() {
        // Byte 0 corrupted, CRC byte unchanged.
        let bad = "73 01 4b 46 7f ff 0e 10 57";
        let (_d, mut p) = setup(&[("w1_slave", &w1(bad, "YES", 23125))]);
        assert!(matches!(p.read_celsius(), Err(Error::CrcMismatch)));
    }

    #[test]
    fn all_zero_or_all_ones_scratchpad_is_disconnected() {
        let zeros = "00 00 00 00 00 00 00 00 00";
        let (d, mut p) = setup(&[("w1_slave", &w1(zeros, "YES", 0))]);
        assert!(matches!(p.read_celsius(), Err(Error::Disconnected)));
        let ones = "ff ff ff ff ff ff ff ff ff";
        write(&d, "w1_slave", &w1(ones, "YES", -62));
        assert!(matches!(p.read_celsius(), Err(Error::Disconnected)));
    }

    #[test]
    fn minus_127_is_disconnected() {
        let (_d, mut p) = setup(&[("temperature", "-127000\n")]);
        assert!(matches!(p.read_celsius(), Err(Error::Disconnected)));
    }

    #[test]
    fn power_on_reset_rejected_on_first_read_and_far_from_85() {
        let (d, mut p) = setup(&[("w1_slave", &w1(B_POR, "YES", 85000))]);
        assert!(matches!(p.read_celsius(), Err(Error::PowerOnReset)));
        write(&d, "w1_slave", &w1(B_21625, "YES", 21625));
        assert_eq!(p.read_celsius().unwrap(), Celsius(21.625));
        // Probe browned out mid-run: 85 right after 21.6 is still rejected.
        write(&d, "w1_slave", &w1(B_POR, "YES", 85000));
        assert!(matches!(p.read_celsius(), Err(Error::PowerOnReset)));
    }

    #[test]
    fn eighty_five_accepted_when_previous_reading_was_near() {
        let (d, mut p) = setup(&[("temperature", "84500\n")]);
        assert_eq!(p.read_celsius().unwrap(), Celsius(84.5));
        write(&d, "temperature", "85000\n");
        assert_eq!(p.read_celsius().unwrap(), Celsius(85.0));
    }

    #[test]
    fn falls_back_to_temperature_file() {
        let (_d, mut p) = setup(&[("temperature", "21562\n")]);
        assert_eq!(p.read_celsius().unwrap(), Celsius(21.562));
    }

    #[test]
    fn prefers_w1_slave_over_temperature() {
        let (_d, mut p) = setup(&[
            ("w1_slave", &w1(B_23125, "YES", 23125)),
            ("temperature", "99999\n"),
        ]);
        assert_eq!(p.read_millidegrees().unwrap(), 23125);
    }

    #[test]
    fn missing_files_are_absent() {
        let (_d, mut p) = setup(&[]);
        assert!(matches!(p.read_celsius(), Err(Error::Absent(_))));
        let mut gone = Ds18b20::new("/nonexistent-w1-base", ID);
        assert!(matches!(gone.read_celsius(), Err(Error::Absent(_))));
        assert_eq!(gone.read_temp(Timestamp(0)), Err(DeviceError::Absent));
    }

    #[test]
    fn out_of_range_is_implausible() {
        let (d, mut p) = setup(&[("temperature", "125500\n")]);
        assert!(matches!(p.read_celsius(), Err(Error::Implausible(_))));
        write(&d, "temperature", "-60000\n");
        assert!(matches!(p.read_celsius(), Err(Error::Implausible(_))));
        write(&d, "temperature", "99999999999999\n");
        assert!(matches!(p.read_celsius(), Err(Error::Implausible(_))));
    }

    #[test]
    fn malformed_content_is_a_parse_error() {
        for bad in [
            "",
            "garbage",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE\nx t=1\n",
            "72 01 4b 46 7f ff 0e 10 : crc=10 YES\nx t=1\n",
            "72 01 4b 46 7f ff 0e 10 57 00 : crc=00 YES\nx t=1\n",
            "zz 01 4b 46 7f ff 0e 10 57 : crc=57 YES\nx t=1\n",
            "72 01 4b 46 7f ff 0e 10 57 crc=57 YES\nx t=1\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\nx t=abc\n",
        ] {
            assert!(
                matches!(parse_w1_slave(bad), Err(Error::Parse(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(parse_temperature_file(""), Err(Error::Parse(_))));
        assert!(matches!(
            parse_temperature_file("21.5"),
            Err(Error::Parse(_))
        ));
    }

    #[test]
    fn io_error_other_than_not_found() {
        // A directory where the file should be: reading it fails with an
        // error that is not NotFound.
        let (d, mut p) = setup(&[]);
        fs::create_dir(d.path().join(ID).join("w1_slave")).unwrap();
        assert!(matches!(p.read_celsius(), Err(Error::Io { .. })));
        assert!(matches!(
            p.read_temp(Timestamp(0)),
            Err(DeviceError::Bus(_))
        ));
    }

    #[test]
    fn thermometer_seam_applies_rate_check_and_maps_errors() {
        let (d, p) = setup(&[("temperature", "21000\n")]);
        let mut p = p.with_name("pool water");
        assert_eq!(Thermometer::name(&p), "pool water");
        assert_eq!(p.read_temp(Timestamp::from_secs(0)).unwrap(), Celsius(21.0));
        write(&d, "temperature", "60000\n");
        assert!(matches!(
            p.read_temp(Timestamp::from_secs(1)),
            Err(DeviceError::Implausible(_))
        ));
        write(&d, "temperature", "85000\n");
        assert!(matches!(
            p.read_temp(Timestamp::from_secs(2)),
            Err(DeviceError::Implausible(_))
        ));
        write(&d, "w1_slave", &w1(B_23125, "NO", 23125));
        assert!(matches!(
            p.read_temp(Timestamp::from_secs(3)),
            Err(DeviceError::Bus(_))
        ));
        write(&d, "w1_slave", &w1(B_21625, "YES", 21625));
        assert_eq!(
            p.read_temp(Timestamp::from_secs(4)).unwrap(),
            Celsius(21.625)
        );
    }

    #[test]
    fn default_name_is_id() {
        let p = Ds18b20::new(DEFAULT_BASE, ID);
        assert_eq!(Thermometer::name(&p), ID);
        assert_eq!(
            p.device_dir(),
            Path::new("/sys/bus/w1/devices/28-0000075a1b2c")
        );
    }
}
