//! `[[hashboard]]` tables of the daemon's TOML config: the serde type and
//! its validation into a [`BoardProfile`].
//!
//! ```toml
//! [[hashboard]]
//! id = "desk"
//! zone = "office"
//! profile = "bitaxe-gamma"
//! reset_gpio = 17          # optional: RST_N, so protection can hold the chip in reset
//!
//! [[hashboard]]
//! id = "chain-1"
//! zone = "office"
//! profile = "bm13xx-uart"
//! serial = "/dev/ttyAMA0"
//! chip = "BM1370"
//! chips = 4
//! baud = 1000000
//! ```
//!
//! Unknown keys are refused by serde (`deny_unknown_fields`); values are
//! checked by [`validate_hashboard`] / [`validate_hashboards`], whose errors
//! name the key (`hashboard[0].chips`) and the reason. Overrides may only
//! make a profile more conservative: limits can be lowered, never raised.
//! Whether `zone` names a configured zone is the daemon's check.

use crate::profile::{
    parse_chip, profile_names, BoardClass, BoardProfile, GpioLine, I2cDevice, I2cPart, ProfileKind,
    PwmFan, BITAXE_BAUD, DEFAULT_GPIOCHIP, DEFAULT_I2C_BUS, DEFAULT_SERIAL, MAX_BAUD, RESET_BAUD,
};
use hearth_core::BoardId;
use hearth_periph::bitmain_pic::{self, VoutRange};
use serde::{Deserialize, Serialize};

/// One `[[hashboard]]` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashboardConfig {
    /// Board id (a-z, 0-9, '-', '_').
    pub id: String,
    /// The zone this board heats.
    pub zone: String,
    /// Profile name; see [`ProfileKind`].
    pub profile: String,
    /// Serial device of the chain. Required for `bm13xx-uart`; default
    /// `/dev/serial0` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Operating baud rate after enumeration (115200..=3000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baud: Option<u32>,
    /// Chip model, `bm13xx-uart` only: "BM1366", "BM1368", "BM1370" or
    /// "BM1397".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<String>,
    /// Chip count, `bm13xx-uart` only: 1..=256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chips: Option<u32>,
    /// I2C bus device (default `/dev/i2c-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i2c_bus: Option<String>,
    /// TPS546 address (Bitaxe default 0x24), or the PIC's (default 0x50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regulator_address: Option<u8>,
    /// Which regulator `regulator_address` is: "tps546" (the default) or
    /// "bitmain-pic" (a hashboard's PIC voltage controller; `generic-*` and
    /// `bm13xx-uart` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regulator: Option<String>,
    /// Series voltage domains the PIC's rail feeds (`regulator =
    /// "bitmain-pic"` only, required there): per-chip mV x domains = rail mV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voltage_domains: Option<u8>,
    /// EMC2101 address (Bitaxe default 0x4C).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_address: Option<u8>,
    /// TMP1075/TMP75 address (Bitaxe default 0x4A, optional part). On a
    /// `generic-*` hashboard it is the sensor next to the chips and guards
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thermometer_address: Option<u8>,
    /// DS18B20 probes on the heatsink, by w1 id (`"28-0000075a1b2c"`):
    /// chip-side readings for protection (`generic-*` and `bm13xx-uart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heatsink_probes: Option<Vec<String>>,
    /// GPIO character device for the lines below (default `/dev/gpiochip0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpiochip: Option<String>,
    /// BCM GPIO wired to the chips' RST_N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_gpio: Option<u32>,
    /// BCM GPIO wired to the board's power/regulator enable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_gpio: Option<u32>,
    /// Pi hardware PWM channel for the fan: 0 (GPIO18) or 1 (GPIO19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_pwm_channel: Option<u8>,
    /// BCM GPIO wired to the fan's tachometer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_tach_gpio: Option<u32>,
    /// Lower the chip trip temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chip_temp_c: Option<f64>,
    /// Lower the maximum frequency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_freq_mhz: Option<f64>,
    /// Lower the maximum core voltage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_voltage_mv: Option<f64>,
    /// Chip temperature the fan loop holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_target_c: Option<f64>,
    /// Minimum fan duty while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_fan_percent: Option<f64>,
}

/// A bad `[[hashboard]]` value: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ProfileError {
    /// Full key path, e.g. `hashboard[0].chips`.
    pub key: String,
    pub reason: String,
}

/// A validated `[[hashboard]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredBoard {
    pub id: BoardId,
    /// The zone id as written; the daemon resolves it.
    pub zone: String,
    pub profile: BoardProfile,
}

/// GPIOs the daemon's other functions use on the 40-pin header.
fn reserved_gpio(line: u32) -> Option<&'static str> {
    match line {
        0 | 1 => Some("GPIO0/1 are the HAT ID EEPROM bus"),
        2 | 3 => Some("GPIO2/3 are I2C SDA/SCL"),
        4 => Some("GPIO4 is the 1-wire bus for DS18B20 probes"),
        14 | 15 => Some("GPIO14/15 are the UART TX/RX"),
        _ => None,
    }
}

fn i2c_key(part: I2cPart) -> &'static str {
    match part {
        I2cPart::Tps546 | I2cPart::BitmainPic { .. } => "regulator_address",
        I2cPart::Emc2101 => "fan_address",
        I2cPart::Tmp1075 => "thermometer_address",
    }
}

fn numbered_device(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

fn check_serial(path: &str) -> Result<(), String> {
    let ok = path.starts_with("/dev/")
        && path.len() > 5
        && path.len() <= 255
        && !path.contains("..")
        && path.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!("{path:?} is not a serial device path (e.g. \"/dev/serial0\", \"/dev/ttyAMA0\", \"/dev/ttyUSB0\")"))
    }
}

/// Validate one `[[hashboard]]` table (`index` is its position, for keys).
pub fn validate_hashboard(
    index: usize,
    cfg: &HashboardConfig,
) -> Result<ConfiguredBoard, ProfileError> {
    let err = |k: &str, reason: String| ProfileError {
        key: format!("hashboard[{index}].{k}"),
        reason,
    };
    let id = BoardId::new(cfg.id.clone()).map_err(|e| err("id", e.to_string()))?;
    if cfg.zone.trim().is_empty() {
        return Err(err("zone", "must name a [[zone]]".into()));
    }
    let Some(kind) = ProfileKind::from_name(&cfg.profile) else {
        return Err(err(
            "profile",
            format!(
                "unknown profile {:?}; known profiles: {}",
                cfg.profile,
                profile_names()
            ),
        ));
    };
    let class = kind.class();
    let refuse = |present: bool, k: &str, why: &str| {
        if present {
            Err(err(
                k,
                format!("not used by profile {}: {why}", kind.name()),
            ))
        } else {
            Ok(())
        }
    };
    match class {
        BoardClass::Bitaxe | BoardClass::Hashboard => {
            let fixed =
                "its chip model and count are fixed (use profile bm13xx-uart to choose them)";
            refuse(cfg.chip.is_some(), "chip", fixed)?;
            refuse(cfg.chips.is_some(), "chips", fixed)?;
        }
        BoardClass::Chain => {}
    }
    if class == BoardClass::Bitaxe {
        let why = "its fan is driven by the EMC2101 (fan_address)";
        refuse(cfg.fan_pwm_channel.is_some(), "fan_pwm_channel", why)?;
        refuse(cfg.fan_tach_gpio.is_some(), "fan_tach_gpio", why)?;
        refuse(
            cfg.heatsink_probes.is_some(),
            "heatsink_probes",
            "its chip temperature is the EMC2101's ASIC diode",
        )?;
    }
    // Which core regulator, if one is named (see `pic_domains` below).
    let pic = match cfg.regulator.as_deref() {
        None | Some("tps546") => false,
        Some("bitmain-pic") if class == BoardClass::Bitaxe => {
            return Err(err(
                "regulator",
                format!(
                    "not used by profile {}: its regulator is the board's TPS546",
                    kind.name()
                ),
            ));
        }
        Some("bitmain-pic") => true,
        Some(other) => {
            return Err(err(
                "regulator",
                format!("unknown regulator {other:?}; known: \"tps546\", \"bitmain-pic\""),
            ));
        }
    };
    if class == BoardClass::Hashboard && cfg.regulator.as_deref() == Some("tps546") {
        return Err(err(
            "regulator",
            format!("not used by profile {}: a hashboard's core voltage comes from its PIC (\"bitmain-pic\")", kind.name()),
        ));
    }
    let pic_domains = match (pic, cfg.voltage_domains) {
        (true, Some(0)) => return Err(err("voltage_domains", "must be at least 1".into())),
        (true, Some(d)) => Some(d),
        (true, None) => {
            return Err(err(
                "voltage_domains",
                "required with regulator = \"bitmain-pic\": the number of series voltage domains the board's rail feeds".into(),
            ));
        }
        (false, Some(_)) => {
            return Err(err(
                "voltage_domains",
                "only used with regulator = \"bitmain-pic\"".into(),
            ));
        }
        (false, None) => None,
    };
    if class == BoardClass::Hashboard {
        let why = "its core voltage comes from its PIC (regulator = \"bitmain-pic\"); a TPS546 is not driven on this board";
        refuse(
            cfg.regulator_address.is_some() && !pic,
            "regulator_address",
            why,
        )?;
    }
    let probes =
        heatsink_probes(cfg.heatsink_probes.as_deref()).map_err(|r| err("heatsink_probes", r))?;
    // Chip-side sensors that read the heatsink or the board next to the
    // chips, never the die: protection trips that much earlier on them.
    let heatsink_class = !probes.is_empty()
        || (class == BoardClass::Hashboard
            && (cfg.fan_address.is_some() || cfg.thermometer_address.is_some()));

    let serial = match (&cfg.serial, class) {
        (Some(s), _) => {
            check_serial(s).map_err(|r| err("serial", r))?;
            s.clone()
        }
        (None, BoardClass::Chain) => {
            return Err(err(
                "serial",
                "required for profile bm13xx-uart (e.g. \"/dev/ttyAMA0\")".into(),
            ));
        }
        (None, _) => DEFAULT_SERIAL.to_string(),
    };
    let baud = match (cfg.baud, class) {
        (Some(b), _) => {
            if !(RESET_BAUD..=MAX_BAUD).contains(&b) {
                return Err(err(
                    "baud",
                    format!(
                        "must be between {RESET_BAUD} (the chips' reset rate) and {MAX_BAUD} (the Pi UART's limit), got {b}"
                    ),
                ));
            }
            b
        }
        (None, BoardClass::Bitaxe) => BITAXE_BAUD,
        (None, _) => RESET_BAUD,
    };

    let mut profile = if class == BoardClass::Chain {
        let Some(chip_name) = &cfg.chip else {
            return Err(err(
                "chip",
                "required for profile bm13xx-uart: \"BM1366\", \"BM1368\", \"BM1370\" or \"BM1397\"".into(),
            ));
        };
        let Some(chip) = parse_chip(chip_name) else {
            return Err(err(
                "chip",
                format!("unknown chip {chip_name:?}; supported: BM1366, BM1368, BM1370, BM1397"),
            ));
        };
        let Some(chips) = cfg.chips else {
            return Err(err(
                "chips",
                "required for profile bm13xx-uart: the number of chips on the chain".into(),
            ));
        };
        if !(1..=256).contains(&chips) {
            return Err(err(
                "chips",
                format!("must be between 1 and 256, got {chips}"),
            ));
        }
        BoardProfile::for_chain(chip, chips, &serial, baud).map_err(|r| err("chip", r))?
    } else {
        BoardProfile::builtin(kind).ok_or_else(|| {
            err(
                "profile",
                format!("profile {} failed its own consistency check", kind.name()),
            )
        })?
    };

    // Limits first: the fan target's bound depends on the trip temperature.
    if let Some(f) = cfg.max_freq_mhz {
        profile
            .restrict(Some(f), None)
            .map_err(|r| err("max_freq_mhz", r))?;
    }
    if let Some(v) = cfg.max_voltage_mv {
        profile
            .restrict(None, Some(v))
            .map_err(|r| err("max_voltage_mv", r))?;
    }
    if let Some(t) = cfg.max_chip_temp_c {
        profile
            .lower_chip_trip(t)
            .map_err(|r| err("max_chip_temp_c", r))?;
    }
    if heatsink_class {
        let die_trip = profile.thermal().chip_trip_c;
        profile
            .lower_chip_trip(die_trip - HEATSINK_MARGIN_K)
            .map_err(|r| {
                err(
                    "max_chip_temp_c",
                    format!(
                        "{die_trip} °C less the {HEATSINK_MARGIN_K} K heatsink-sensor margin is too low: {r}"
                    ),
                )
            })?;
    }
    if let Some(t) = cfg.fan_target_c {
        profile
            .set_fan_target(t)
            .map_err(|r| err("fan_target_c", r))?;
    }
    if let Some(p) = cfg.min_fan_percent {
        profile
            .set_min_fan(p)
            .map_err(|r| err("min_fan_percent", r))?;
    }

    // A PIC's rail covers only part of the per-chip range for a given
    // domain count: lower the ceiling to what it can give, refuse a floor
    // it cannot reach.
    if let Some(domains) = pic_domains {
        let limits = *profile.limits();
        let wanted = VoutRange::new(limits.min_voltage_mv, limits.max_voltage_mv)
            .map_err(|e| err("voltage_domains", e.to_string()))?;
        let (rail_lo, rail_hi) = bitmain_pic::rail_range_mv();
        let per_chip = |mv: f64| mv / f64::from(domains);
        let usable = bitmain_pic::usable_chip_range(domains, wanted)
            .filter(|u| u.min().get() <= limits.min_voltage_mv.get() + 0.5)
            .ok_or_else(|| {
                err(
                    "voltage_domains",
                    format!(
                        "with {domains} domains the PIC's rail ({rail_lo:.0}..={rail_hi:.0} mV) gives {:.0}..={:.0} mV per chip, which does not reach this profile's floor of {:.0} mV",
                        per_chip(rail_lo),
                        per_chip(rail_hi),
                        limits.min_voltage_mv.get()
                    ),
                )
            })?;
        if usable.max().get() < limits.max_voltage_mv.get() {
            profile
                .restrict(None, Some(usable.max().get().floor()))
                .map_err(|r| err("voltage_domains", r))?;
        }
    }

    let per = profile.peripherals_mut();
    per.serial = serial;
    per.baud = baud;

    // I2C parts.
    let regulator = match pic_domains {
        Some(series_domains) => (
            I2cPart::BitmainPic { series_domains },
            Some(cfg.regulator_address.unwrap_or(bitmain_pic::BASE_ADDRESS)),
        ),
        None => (I2cPart::Tps546, cfg.regulator_address),
    };
    let addresses = [
        regulator,
        (I2cPart::Emc2101, cfg.fan_address),
        (I2cPart::Tmp1075, cfg.thermometer_address),
    ];
    for (part, address) in addresses {
        let Some(address) = address else { continue };
        if !(0x08..=0x77).contains(&address) {
            return Err(err(
                i2c_key(part),
                format!("0x{address:02X} is not a usable 7-bit I2C address (0x08..=0x77)"),
            ));
        }
        let slot = match part {
            I2cPart::Tps546 | I2cPart::BitmainPic { .. } => &mut per.regulator,
            I2cPart::Emc2101 => &mut per.fan_controller,
            I2cPart::Tmp1075 => &mut per.board_thermometer,
        };
        // A hashboard's TMP75 may be its only chip-side sensor: required.
        let required = slot.map_or(
            part != I2cPart::Tmp1075 || class == BoardClass::Hashboard,
            |d| d.required,
        );
        *slot = Some(I2cDevice {
            part,
            address,
            required,
        });
    }
    per.board_thermometer_near_chips =
        class == BoardClass::Hashboard && per.board_thermometer.is_some();
    per.heatsink_probes = probes;
    let devices = per.i2c_devices();
    for (i, a) in devices.iter().enumerate() {
        if let Some(b) = devices[..i].iter().find(|b| b.address == a.address) {
            return Err(err(
                i2c_key(a.part),
                format!(
                    "0x{:02X} is already the address of {} ({})",
                    a.address,
                    i2c_key(b.part),
                    part_name(b.part)
                ),
            ));
        }
    }
    match (&cfg.i2c_bus, devices.is_empty()) {
        (Some(bus), false) => {
            if !numbered_device(bus, "/dev/i2c-") {
                return Err(err(
                    "i2c_bus",
                    format!("{bus:?} is not an I2C bus device (e.g. \"/dev/i2c-1\")"),
                ));
            }
            per.i2c_bus = Some(bus.clone());
        }
        (Some(_), true) => {
            return Err(err(
                "i2c_bus",
                "no I2C parts are configured (set regulator_address, fan_address or thermometer_address)".into(),
            ));
        }
        (None, false) => {
            per.i2c_bus = Some(
                per.i2c_bus
                    .clone()
                    .unwrap_or_else(|| DEFAULT_I2C_BUS.to_string()),
            )
        }
        (None, true) => per.i2c_bus = None,
    }

    // Fan on the Pi's PWM.
    if let Some(channel) = cfg.fan_pwm_channel {
        if channel > 1 {
            return Err(err(
                "fan_pwm_channel",
                format!("must be 0 (GPIO18) or 1 (GPIO19), got {channel}"),
            ));
        }
        let tach_gpio = per.pwm_fan.and_then(|f| f.tach_gpio);
        per.pwm_fan = Some(PwmFan { channel, tach_gpio });
    }
    if let Some(tach) = cfg.fan_tach_gpio {
        let Some(fan) = per.pwm_fan.as_mut() else {
            return Err(err(
                "fan_tach_gpio",
                "needs fan_pwm_channel: a tachometer belongs to a PWM-driven fan".into(),
            ));
        };
        fan.tach_gpio = Some(tach);
    }

    // GPIO lines.
    let chip = match &cfg.gpiochip {
        Some(c) if numbered_device(c, "/dev/gpiochip") => c.clone(),
        Some(c) => {
            return Err(err(
                "gpiochip",
                format!("{c:?} is not a GPIO chip device (e.g. \"/dev/gpiochip0\")"),
            ))
        }
        None => DEFAULT_GPIOCHIP.to_string(),
    };
    let mut used: Vec<(u32, &'static str)> = per
        .pwm_fan
        .map(|f| (f.gpio(), "fan_pwm_channel"))
        .into_iter()
        .collect();
    for (k, line) in [
        ("reset_gpio", cfg.reset_gpio),
        ("enable_gpio", cfg.enable_gpio),
        ("fan_tach_gpio", cfg.fan_tach_gpio),
    ] {
        let Some(line) = line else { continue };
        if line > 27 {
            return Err(err(
                k,
                format!("GPIO{line} is not on the 40-pin header (0..=27)"),
            ));
        }
        if let Some(why) = reserved_gpio(line) {
            return Err(err(k, format!("GPIO{line} is reserved: {why}")));
        }
        if let Some((_, other)) = used.iter().find(|(l, _)| *l == line) {
            return Err(err(k, format!("GPIO{line} is already used by {other}")));
        }
        used.push((line, k));
    }
    if cfg.gpiochip.is_some()
        && cfg.reset_gpio.is_none()
        && cfg.enable_gpio.is_none()
        && cfg.fan_tach_gpio.is_none()
    {
        return Err(err(
            "gpiochip",
            "no GPIO lines are configured (reset_gpio, enable_gpio, fan_tach_gpio)".into(),
        ));
    }
    per.reset = cfg.reset_gpio.map(|line| GpioLine {
        chip: chip.clone(),
        line,
    });
    per.power_enable = cfg.enable_gpio.map(|line| GpioLine {
        chip: chip.clone(),
        line,
    });

    Ok(ConfiguredBoard {
        id,
        zone: cfg.zone.clone(),
        profile,
    })
}

/// Degrees a heatsink or board sensor is assumed to read below the die at
/// full load: a judgement call (no vendor figure), so a board watched only
/// through such sensors trips this much earlier than its die limit.
pub const HEATSINK_MARGIN_K: f64 = 15.0;
/// At most this many heatsink probes per board.
pub const MAX_HEATSINK_PROBES: usize = 8;

/// `28-` and 12 hex digits, lower-cased like the kernel names them; no
/// duplicates; "first" is refused (the zones' room probes share the bus).
fn heatsink_probes(ids: Option<&[String]>) -> Result<Vec<String>, String> {
    let Some(ids) = ids else {
        return Ok(Vec::new());
    };
    if ids.is_empty() {
        return Err("must name at least one probe, or leave the key out".into());
    }
    if ids.len() > MAX_HEATSINK_PROBES {
        return Err(format!(
            "at most {MAX_HEATSINK_PROBES} probes, got {}",
            ids.len()
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let serial = id.strip_prefix("28-").unwrap_or("");
        if serial.len() != 12 || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{id:?} is not a DS18B20 id: expected \"28-\" and 12 hex digits, e.g. \"28-0000075a1b2c\" (`ls /sys/bus/w1/devices/` lists them)"
            ));
        }
        let id = id.to_ascii_lowercase();
        if out.contains(&id) {
            return Err(format!("{id} is listed twice"));
        }
        out.push(id);
    }
    Ok(out)
}

fn part_name(part: I2cPart) -> &'static str {
    match part {
        I2cPart::Tps546 => "TPS546",
        I2cPart::Emc2101 => "EMC2101",
        I2cPart::Tmp1075 => "TMP1075",
        I2cPart::BitmainPic { .. } => "Bitmain PIC",
    }
}

/// Validate every `[[hashboard]]` table, then what they share: ids, serial
/// devices, I2C addresses on the same bus, GPIO lines and PWM channels must
/// not collide between boards.
pub fn validate_hashboards(cfgs: &[HashboardConfig]) -> Result<Vec<ConfiguredBoard>, ProfileError> {
    let mut boards: Vec<ConfiguredBoard> = Vec::with_capacity(cfgs.len());
    for (i, cfg) in cfgs.iter().enumerate() {
        let board = validate_hashboard(i, cfg)?;
        let err = |k: &str, reason: String| ProfileError {
            key: format!("hashboard[{i}].{k}"),
            reason,
        };
        let p = board.profile.peripherals();
        for (j, other) in boards.iter().enumerate() {
            let q = other.profile.peripherals();
            if other.id == board.id {
                return Err(err(
                    "id",
                    format!("duplicate board id {:?} (also hashboard[{j}])", cfg.id),
                ));
            }
            if q.serial == p.serial {
                return Err(err(
                    "serial",
                    format!("{} is already used by hashboard[{j}]", p.serial),
                ));
            }
            if let (Some(bus), Some(other_bus)) = (&p.i2c_bus, &q.i2c_bus) {
                if bus == other_bus {
                    for d in p.i2c_devices() {
                        if q.i2c_devices().iter().any(|e| e.address == d.address) {
                            return Err(err(
                                i2c_key(d.part),
                                format!(
                                    "0x{:02X} on {bus} is already used by hashboard[{j}]; a second Bitaxe needs its own I2C bus (i2c_bus)",
                                    d.address
                                ),
                            ));
                        }
                    }
                }
            }
            let lines = |x: &crate::profile::Peripherals| -> Vec<(String, u32, &'static str)> {
                let mut v = Vec::new();
                if let Some(l) = &x.reset {
                    v.push((l.chip.clone(), l.line, "reset_gpio"));
                }
                if let Some(l) = &x.power_enable {
                    v.push((l.chip.clone(), l.line, "enable_gpio"));
                }
                if let Some(f) = x.pwm_fan {
                    v.push((DEFAULT_GPIOCHIP.to_string(), f.gpio(), "fan_pwm_channel"));
                    if let Some(t) = f.tach_gpio {
                        v.push((DEFAULT_GPIOCHIP.to_string(), t, "fan_tach_gpio"));
                    }
                }
                v
            };
            if let Some(id) = p
                .heatsink_probes
                .iter()
                .find(|id| q.heatsink_probes.contains(id))
            {
                // One probe on one heatsink: another board's reading would
                // guard the wrong chips.
                return Err(err(
                    "heatsink_probes",
                    format!("{id} is already a heatsink probe of hashboard[{j}]"),
                ));
            }
            let theirs = lines(q);
            for (chip, line, key) in lines(p) {
                if theirs.iter().any(|(c, l, _)| *c == chip && *l == line) {
                    let what = if key == "fan_pwm_channel" {
                        format!("PWM channel on GPIO{line} is already driven by hashboard[{j}]; the Pi has two PWM channels")
                    } else {
                        format!("GPIO{line} is already used by hashboard[{j}]")
                    };
                    return Err(err(key, what));
                }
            }
        }
        boards.push(board);
    }
    Ok(boards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::TMP1075_ADDRESS;
    use hearth_bm13xx::ChipKind;

    fn parse(text: &str) -> Result<Vec<ConfiguredBoard>, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            hashboard: Vec<HashboardConfig>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        validate_hashboards(&file.hashboard).map_err(|e| e.to_string())
    }

    fn one(body: &str) -> Result<ConfiguredBoard, String> {
        parse(&format!(
            "[[hashboard]]\nid = \"b0\"\nzone = \"office\"\n{body}"
        ))
        .map(|mut v| v.remove(0))
    }

    #[test]
    fn bitaxe_defaults() {
        let b = one("profile = \"bitaxe-gamma\"\n").unwrap();
        assert_eq!(b.id.as_str(), "b0");
        assert_eq!(b.zone, "office");
        let p = b.profile.peripherals();
        assert_eq!(p.serial, "/dev/serial0");
        assert_eq!(p.baud, 1_000_000);
        assert_eq!(p.i2c_bus.as_deref(), Some("/dev/i2c-1"));
        assert_eq!(p.regulator.map(|d| d.address), Some(0x24));
        assert_eq!(p.fan_controller.map(|d| d.address), Some(0x4C));
        assert_eq!(
            p.board_thermometer.map(|d| d.address),
            Some(TMP1075_ADDRESS)
        );
        assert_eq!(p.reset, None);
        assert_eq!(b.profile.chip(), ChipKind::Bm1370);
    }

    #[test]
    fn bitaxe_with_overrides() {
        let b = one(
            "profile = \"bitaxe-supra\"\nserial = \"/dev/ttyAMA0\"\ni2c_bus = \"/dev/i2c-3\"\nthermometer_address = 0x48\n\
             reset_gpio = 17\nenable_gpio = 27\ngpiochip = \"/dev/gpiochip4\"\nmax_chip_temp_c = 70\nmax_freq_mhz = 500\n\
             max_voltage_mv = 1200\nfan_target_c = 55\nmin_fan_percent = 30\n",
        )
        .unwrap();
        let p = b.profile.peripherals();
        assert_eq!(p.serial, "/dev/ttyAMA0");
        assert_eq!(p.i2c_bus.as_deref(), Some("/dev/i2c-3"));
        assert_eq!(
            p.board_thermometer.map(|d| (d.address, d.required)),
            Some((0x48, false))
        );
        assert_eq!(
            p.reset,
            Some(GpioLine {
                chip: "/dev/gpiochip4".into(),
                line: 17
            })
        );
        assert_eq!(p.power_enable.as_ref().map(|l| l.line), Some(27));
        assert_eq!(b.profile.thermal().chip_trip_c, 70.0);
        assert_eq!(b.profile.limits().max_freq_mhz.get(), 500.0);
        assert_eq!(b.profile.limits().max_voltage_mv.get(), 1200.0);
        assert_eq!(b.profile.fan_tuning().target_c, 55.0);
        assert_eq!(b.profile.fan_tuning().min_duty.get(), 30.0);
    }

    #[test]
    fn a_hashboard_names_its_pic_regulator() {
        let b = one("profile = \"generic-bm1370-65\"\nserial = \"/dev/ttyUSB1\"\nregulator = \"bitmain-pic\"\nvoltage_domains = 8\n")
            .unwrap();
        let p = b.profile.peripherals();
        assert_eq!(
            p.regulator,
            Some(I2cDevice {
                part: I2cPart::BitmainPic { series_domains: 8 },
                address: 0x50,
                required: true,
            })
        );
        assert_eq!(p.i2c_bus.as_deref(), Some("/dev/i2c-1"));
        // 8 domains: the rail's 9,438 mV top is 1,179 mV per chip, below the
        // profile's 1,250 mV ceiling, so the ceiling comes down; the floor stays.
        let limits = b.profile.limits();
        assert_eq!(limits.max_voltage_mv.get(), 1179.0);
        assert_eq!(limits.min_voltage_mv.get(), 1000.0);
        assert!(b
            .profile
            .vf_table()
            .points()
            .iter()
            .all(|p| p.min_voltage_mv <= 1179.0));
        // Another slot, another bus.
        let b = one("profile = \"generic-bm1368-108\"\nregulator = \"bitmain-pic\"\nvoltage_domains = 8\nregulator_address = 0x52\ni2c_bus = \"/dev/i2c-3\"\n")
            .unwrap();
        let p = b.profile.peripherals();
        assert_eq!(p.regulator.map(|d| d.address), Some(0x52));
        assert_eq!(p.i2c_bus.as_deref(), Some("/dev/i2c-3"));
        // A chain on a serial adapter may name one too.
        let b = one("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\nchip = \"BM1366\"\nchips = 8\nregulator = \"bitmain-pic\"\nvoltage_domains = 8\n")
            .unwrap();
        assert!(matches!(
            b.profile.peripherals().regulator.map(|d| d.part),
            Some(I2cPart::BitmainPic { series_domains: 8 })
        ));
    }

    #[test]
    fn pic_regulator_errors_name_the_key() {
        let hb = "profile = \"generic-bm1370-65\"\n";
        for (body, want) in [
            ("regulator = \"bitmain-pic\"\n", "hashboard[0].voltage_domains: required"),
            ("regulator = \"bitmain-pic\"\nvoltage_domains = 0\n", "hashboard[0].voltage_domains: must be at least 1"),
            // 13 domains: 7,941 mV / 13 = 611 mV .. 726 mV per chip, nowhere near 1,000 mV.
            ("regulator = \"bitmain-pic\"\nvoltage_domains = 13\n", "hashboard[0].voltage_domains: with 13 domains the PIC's rail (7942..=9438 mV) gives 611..=726 mV per chip"),
            // 7 domains: the lowest rail is 1,134 mV per chip, above the 1,000 mV floor.
            ("regulator = \"bitmain-pic\"\nvoltage_domains = 7\n", "does not reach this profile's floor of 1000 mV"),
            ("voltage_domains = 8\n", "hashboard[0].voltage_domains: only used with regulator"),
            ("regulator = \"tps546\"\n", "hashboard[0].regulator: not used by profile generic-bm1370-65"),
            ("regulator = \"ltc3880\"\n", "hashboard[0].regulator: unknown regulator \"ltc3880\""),
            ("regulator = \"bitmain-pic\"\nvoltage_domains = 8\nregulator_address = 0x03\n", "hashboard[0].regulator_address: 0x03 is not a usable"),
            ("regulator_address = 0x24\n", "hashboard[0].regulator_address: not used by profile generic-bm1370-65"),
            ("regulator = \"bitmain-pic\"\nvoltage_domains = 8\nthermometer_address = 0x50\n", "hashboard[0].thermometer_address: 0x50 is already the address of regulator_address"),
        ] {
            let e = one(&format!("{hb}{body}")).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        let e =
            one("profile = \"bitaxe-gamma\"\nregulator = \"bitmain-pic\"\nvoltage_domains = 8\n")
                .unwrap_err();
        assert!(
            e.contains("hashboard[0].regulator: not used by profile bitaxe-gamma"),
            "{e}"
        );
        // A lowered ceiling below what the PIC gives is kept as written.
        let b = one(&format!(
            "{hb}regulator = \"bitmain-pic\"\nvoltage_domains = 8\nmax_voltage_mv = 1150\n"
        ))
        .unwrap();
        assert_eq!(b.profile.limits().max_voltage_mv.get(), 1150.0);
    }

    #[test]
    fn a_hashboard_names_its_sensors_and_trips_earlier_on_them() {
        let b = one("profile = \"generic-bm1370-65\"\nregulator = \"bitmain-pic\"\nvoltage_domains = 8\n\
                     thermometer_address = 0x48\nfan_address = 0x4C\nheatsink_probes = [\"28-0000075A1B2C\", \"28-0316a2799cff\"]\n")
            .unwrap();
        let p = b.profile.peripherals();
        assert_eq!(
            p.board_thermometer,
            Some(I2cDevice {
                part: I2cPart::Tmp1075,
                address: 0x48,
                // The board's only chip-side I2C reading: it must answer.
                required: true,
            })
        );
        assert!(p.board_thermometer_near_chips);
        assert_eq!(
            p.fan_controller.map(|d| (d.address, d.required)),
            Some((0x4C, true))
        );
        assert_eq!(p.heatsink_probes, ["28-0000075a1b2c", "28-0316a2799cff"]);
        assert_eq!(p.i2c_bus.as_deref(), Some("/dev/i2c-1"));
        // Heatsink-class sensors: the die's 80 °C less the margin, and the
        // fan loop's target below that.
        let t = b.profile.thermal();
        assert_eq!(t.chip_trip_c, 80.0 - HEATSINK_MARGIN_K);
        assert!(t.chip_recover_c <= t.chip_trip_c - 10.0);
        assert!(b.profile.fan_tuning().target_c <= t.chip_trip_c - 5.0);
        // Without a PIC too (the daemon refuses it later for want of a
        // regulator, not for its sensors); the user's lower die limit
        // counts before the margin.
        let b = one(
            "profile = \"generic-bm1368-108\"\nthermometer_address = 0x48\nmax_chip_temp_c = 75\n",
        )
        .unwrap();
        assert_eq!(b.profile.thermal().chip_trip_c, 75.0 - HEATSINK_MARGIN_K);
        // A chain with a heatsink probe; no I2C bus without I2C parts.
        let b = one("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\nchip = \"BM1370\"\nchips = 4\nheatsink_probes = [\"28-00000aaaaaaa\"]\n").unwrap();
        assert_eq!(b.profile.thermal().chip_trip_c, 75.0 - HEATSINK_MARGIN_K);
        assert_eq!(b.profile.peripherals().i2c_bus, None);
        assert!(!b.profile.peripherals().board_thermometer_near_chips);
        // No sensors named: the die limit as before.
        let b = one("profile = \"generic-bm1370-65\"\n").unwrap();
        assert_eq!(b.profile.thermal().chip_trip_c, 80.0);
        // A chain's TMP1075 stays a board reading, as on a Bitaxe.
        let b = one("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\nchip = \"BM1370\"\nchips = 4\nthermometer_address = 0x48\n").unwrap();
        assert!(!b.profile.peripherals().board_thermometer_near_chips);
        assert_eq!(b.profile.thermal().chip_trip_c, 75.0);
    }

    #[test]
    fn heatsink_probe_errors_name_the_key() {
        let hb = "profile = \"generic-bm1370-65\"\n";
        for (body, want) in [
            ("heatsink_probes = [\"first\"]\n", "hashboard[0].heatsink_probes: \"first\" is not a DS18B20 id"),
            ("heatsink_probes = [\"28-0000075a1b2\"]\n", "is not a DS18B20 id"),
            ("heatsink_probes = [\"10-0000075a1b2c\"]\n", "is not a DS18B20 id"),
            ("heatsink_probes = [\"28-0000075a1b2c\", \"28-0000075A1B2C\"]\n", "28-0000075a1b2c is listed twice"),
            ("heatsink_probes = []\n", "must name at least one probe"),
            ("heatsink_probes = [\"28-000000000001\", \"28-000000000002\", \"28-000000000003\", \"28-000000000004\", \"28-000000000005\", \"28-000000000006\", \"28-000000000007\", \"28-000000000008\", \"28-000000000009\"]\n", "at most 8 probes, got 9"),
            // 80 - 15 = 65; a die limit of 60 leaves 45 for the heatsink, below the 50 °C floor.
            ("thermometer_address = 0x48\nmax_chip_temp_c = 60\n", "hashboard[0].max_chip_temp_c: 60 °C less the 15 K heatsink-sensor margin is too low"),
        ] {
            let e = one(&format!("{hb}{body}")).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        let two = "[[hashboard]]\nid = \"a\"\nzone = \"z\"\nprofile = \"generic-bm1370-65\"\nserial = \"/dev/ttyUSB0\"\nheatsink_probes = [\"28-0000075a1b2c\"]\n\
                   [[hashboard]]\nid = \"b\"\nzone = \"z\"\nprofile = \"generic-bm1370-65\"\nserial = \"/dev/ttyUSB1\"\nfan_pwm_channel = 1\nheatsink_probes = [\"28-00000b0b0b0b\", \"28-0000075a1b2c\"]\n";
        let e = parse(two).unwrap_err();
        assert!(
            e.contains("hashboard[1].heatsink_probes: 28-0000075a1b2c is already a heatsink probe of hashboard[0]"),
            "{e}"
        );
        let e = one("profile = \"bitaxe-gamma\"\nheatsink_probes = [\"28-0000075a1b2c\"]\n")
            .unwrap_err();
        assert!(
            e.contains("hashboard[0].heatsink_probes: not used by profile bitaxe-gamma"),
            "{e}"
        );
    }

    #[test]
    fn generic_chain() {
        let b = one("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\nchip = \"bm1368\"\nchips = 12\nbaud = 1000000\n")
            .unwrap();
        assert_eq!(b.profile.chip(), ChipKind::Bm1368);
        assert_eq!(b.profile.chips(), 12);
        let p = b.profile.peripherals();
        assert_eq!((p.serial.as_str(), p.baud), ("/dev/ttyUSB0", 1_000_000));
        assert_eq!(p.i2c_bus, None);
        assert!(p.i2c_devices().is_empty());
        // With a fan controller and a PWM-less chain.
        let b = one("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyAMA0\"\nchip = \"BM1370\"\nchips = 1\nfan_address = 0x4C\n")
            .unwrap();
        assert_eq!(
            b.profile.peripherals().i2c_bus.as_deref(),
            Some("/dev/i2c-1")
        );
        assert_eq!(b.profile.peripherals().baud, 115_200);
        // BM1397 chains (S17 generation, Bitaxe Max).
        let b = one("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyUSB0\"\nchip = \"BM1397\"\nchips = 4\nbaud = 1000000\n")
            .unwrap();
        assert_eq!(b.profile.chip(), ChipKind::Bm1397);
        assert_eq!(b.profile.chips(), 4);
    }

    #[test]
    fn hashboard_defaults_and_fan() {
        let b = one("profile = \"generic-bm1370-65\"\nfan_pwm_channel = 1\nfan_tach_gpio = 24\n")
            .unwrap();
        let p = b.profile.peripherals();
        assert_eq!(
            p.pwm_fan,
            Some(PwmFan {
                channel: 1,
                tach_gpio: Some(24)
            })
        );
        assert_eq!(p.pwm_fan.map(PwmFan::gpio), Some(19));
        assert_eq!(p.i2c_bus, None);
        let b = one("profile = \"generic-bm1368-108\"\n").unwrap();
        assert_eq!(b.profile.peripherals().pwm_fan.map(PwmFan::gpio), Some(18));
    }

    #[test]
    fn errors_name_the_key_and_the_reason() {
        let cases = [
            ("profile = \"s9000\"\n", "hashboard[0].profile: unknown profile \"s9000\"; known profiles: bitaxe-gamma"),
            ("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyAMA0\"\nchip = \"BM1370\"\nchips = 0\n", "hashboard[0].chips: must be between 1 and 256"),
            ("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyAMA0\"\nchip = \"BM1370\"\nchips = 300\n", "hashboard[0].chips: must be between 1 and 256"),
            ("profile = \"bm13xx-uart\"\nchip = \"BM1370\"\nchips = 2\n", "hashboard[0].serial: required"),
            ("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyAMA0\"\nchips = 2\n", "hashboard[0].chip: required"),
            ("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyAMA0\"\nchip = \"BM1370\"\n", "hashboard[0].chips: required"),
            ("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyAMA0\"\nchip = \"BM1387\"\nchips = 2\n", "hashboard[0].chip: unknown chip"),
            ("profile = \"bitaxe-gamma\"\nchips = 2\n", "hashboard[0].chips: not used by profile bitaxe-gamma"),
            ("profile = \"bitaxe-gamma\"\nfan_pwm_channel = 0\n", "hashboard[0].fan_pwm_channel: not used"),
            ("profile = \"generic-bm1370-65\"\nregulator_address = 0x24\n", "hashboard[0].regulator_address: not used"),
            ("profile = \"bitaxe-gamma\"\nserial = \"ttyAMA0\"\n", "hashboard[0].serial: \"ttyAMA0\" is not a serial device"),
            ("profile = \"bitaxe-gamma\"\nbaud = 9600\n", "hashboard[0].baud: must be between 115200"),
            ("profile = \"bitaxe-gamma\"\nbaud = 4000000\n", "hashboard[0].baud"),
            ("profile = \"bitaxe-gamma\"\ni2c_bus = \"/dev/spidev0.0\"\n", "hashboard[0].i2c_bus"),
            ("profile = \"bitaxe-gamma\"\nregulator_address = 0x03\n", "hashboard[0].regulator_address: 0x03 is not a usable"),
            ("profile = \"bitaxe-gamma\"\nthermometer_address = 0x24\n", "hashboard[0].thermometer_address: 0x24 is already the address of regulator_address"),
            ("profile = \"bitaxe-gamma\"\nreset_gpio = 14\n", "hashboard[0].reset_gpio: GPIO14 is reserved"),
            ("profile = \"bitaxe-gamma\"\nreset_gpio = 40\n", "hashboard[0].reset_gpio: GPIO40 is not on the 40-pin header"),
            ("profile = \"bitaxe-gamma\"\nreset_gpio = 17\nenable_gpio = 17\n", "hashboard[0].enable_gpio: GPIO17 is already used by reset_gpio"),
            ("profile = \"generic-bm1370-65\"\nreset_gpio = 18\n", "hashboard[0].reset_gpio: GPIO18 is already used by fan_pwm_channel"),
            ("profile = \"generic-bm1370-65\"\nfan_pwm_channel = 2\n", "hashboard[0].fan_pwm_channel: must be 0 (GPIO18) or 1 (GPIO19)"),
            ("profile = \"bm13xx-uart\"\nserial = \"/dev/ttyAMA0\"\nchip = \"BM1370\"\nchips = 2\nfan_tach_gpio = 5\n", "hashboard[0].fan_tach_gpio: needs fan_pwm_channel"),
            ("profile = \"bitaxe-gamma\"\ngpiochip = \"/dev/gpiochip0\"\n", "hashboard[0].gpiochip: no GPIO lines"),
            ("profile = \"bitaxe-gamma\"\ngpiochip = \"gpiochip0\"\nreset_gpio = 17\n", "hashboard[0].gpiochip"),
            ("profile = \"bitaxe-gamma\"\nmax_chip_temp_c = 90\n", "hashboard[0].max_chip_temp_c: must be between 50 and 75"),
            ("profile = \"bitaxe-gamma\"\nmax_freq_mhz = 700\n", "hashboard[0].max_freq_mhz: frequency ceiling must be between 406.25 and 625 MHz"),
            ("profile = \"bitaxe-gamma\"\nmax_voltage_mv = 1400\n", "hashboard[0].max_voltage_mv: voltage ceiling must be between 1000 and 1300 mV"),
            ("profile = \"bitaxe-ultra\"\nmax_voltage_mv = 1050\n", "hashboard[0].max_voltage_mv: maximum voltage 1050 mV is below the lowest stable voltage 1100 mV"),
            ("profile = \"bitaxe-gamma\"\nfan_target_c = 72\n", "hashboard[0].fan_target_c: must be between 30 and 70"),
            ("profile = \"bitaxe-gamma\"\nmin_fan_percent = 120\n", "hashboard[0].min_fan_percent"),
            ("profile = \"bitaxe-gamma\"\nmax_chip_temp_c = nan\n", "hashboard[0].max_chip_temp_c"),
        ];
        for (body, expected) in cases {
            let e = one(body).unwrap_err();
            assert!(
                e.starts_with(expected) || e.contains(expected),
                "{body:?}\n  gave {e}\n  want {expected}"
            );
        }
        let e =
            parse("[[hashboard]]\nid = \"Desk One\"\nzone = \"a\"\nprofile = \"bitaxe-gamma\"\n")
                .unwrap_err();
        assert!(e.starts_with("hashboard[0].id:"), "{e}");
        let e = parse("[[hashboard]]\nid = \"d\"\nzone = \" \"\nprofile = \"bitaxe-gamma\"\n")
            .unwrap_err();
        assert!(e.starts_with("hashboard[0].zone:"), "{e}");
    }

    #[test]
    fn unknown_and_mistyped_keys_are_refused_by_serde() {
        let e = one("profile = \"bitaxe-gamma\"\nchip_count = 1\n").unwrap_err();
        assert!(
            e.contains("unknown field") && e.contains("chip_count"),
            "{e}"
        );
        let e = one("profile = \"bitaxe-gamma\"\nregulator_address = 300\n").unwrap_err();
        assert!(e.contains("regulator_address"), "{e}");
        let e = parse("[[hashboard]]\nid = \"b0\"\nprofile = \"bitaxe-gamma\"\n").unwrap_err();
        assert!(e.contains("zone"), "{e}");
    }

    #[test]
    fn boards_must_not_share_devices() {
        let two = |a: &str, b: &str| {
            parse(&format!(
                "[[hashboard]]\nid = \"b0\"\nzone = \"z\"\n{a}[[hashboard]]\nid = \"b1\"\nzone = \"z\"\n{b}"
            ))
        };
        let bitaxe = "profile = \"bitaxe-gamma\"\n";
        let e = two(bitaxe, bitaxe).unwrap_err();
        assert!(
            e.starts_with("hashboard[1].serial: /dev/serial0 is already used by hashboard[0]"),
            "{e}"
        );
        let e = two(
            bitaxe,
            "profile = \"bitaxe-gamma\"\nserial = \"/dev/ttyAMA2\"\n",
        )
        .unwrap_err();
        assert!(e.starts_with("hashboard[1].regulator_address: 0x24 on /dev/i2c-1 is already used by hashboard[0]"), "{e}");
        let ok = two(
            bitaxe,
            "profile = \"bitaxe-gamma\"\nserial = \"/dev/ttyAMA2\"\ni2c_bus = \"/dev/i2c-3\"\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let e = parse(
            "[[hashboard]]\nid = \"b0\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\n\
             [[hashboard]]\nid = \"b0\"\nzone = \"z\"\nprofile = \"bitaxe-gamma\"\nserial = \"/dev/ttyAMA2\"\n",
        )
        .unwrap_err();
        assert!(e.starts_with("hashboard[1].id: duplicate board id"), "{e}");
        let e = two(
            "profile = \"generic-bm1370-65\"\n",
            "profile = \"generic-bm1370-65\"\nserial = \"/dev/ttyAMA2\"\n",
        )
        .unwrap_err();
        assert!(e.starts_with("hashboard[1].fan_pwm_channel"), "{e}");
        let ok = two(
            "profile = \"generic-bm1370-65\"\nreset_gpio = 17\n",
            "profile = \"generic-bm1370-65\"\nserial = \"/dev/ttyAMA2\"\nfan_pwm_channel = 1\nreset_gpio = 22\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let e = two(
            "profile = \"generic-bm1370-65\"\nreset_gpio = 17\n",
            "profile = \"generic-bm1370-65\"\nserial = \"/dev/ttyAMA2\"\nfan_pwm_channel = 1\nreset_gpio = 17\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("hashboard[1].reset_gpio: GPIO17 is already used by hashboard[0]"),
            "{e}"
        );
    }

    #[test]
    fn the_pic_example_in_docs_hardware_md_is_valid() {
        let doc = include_str!("../../../docs/hardware.md");
        let section = doc.find("### The PIC voltage controller").unwrap();
        let start = section + doc[section..].find("```toml\n").unwrap() + "```toml\n".len();
        let len = doc[start..].find("```").unwrap();
        let boards = parse(&doc[start..start + len]).unwrap();
        assert!(matches!(
            boards[0]
                .profile
                .peripherals()
                .regulator
                .map(|d| (d.part, d.address)),
            Some((I2cPart::BitmainPic { series_domains: 8 }, 0x50))
        ));
    }

    #[test]
    fn the_sensor_example_in_docs_hardware_md_is_valid() {
        let doc = include_str!("../../../docs/hardware.md");
        let section = doc.find("## Chip temperatures").unwrap();
        let start = section + doc[section..].find("```toml\n").unwrap() + "```toml\n".len();
        let len = doc[start..].find("```").unwrap();
        let boards = parse(&doc[start..start + len]).unwrap();
        let p = boards[0].profile.peripherals();
        assert!(p.board_thermometer_near_chips);
        assert_eq!(p.heatsink_probes, ["28-0000075a1b2c"]);
        assert_eq!(
            boards[0].profile.thermal().chip_trip_c,
            80.0 - HEATSINK_MARGIN_K
        );
    }

    #[test]
    fn the_example_in_docs_hardware_md_is_valid() {
        let doc = include_str!("../../../docs/hardware.md");
        let start = doc
            .find("```toml\n[[hashboard]]")
            .map(|i| i + "```toml\n".len())
            .unwrap();
        let len = doc[start..].find("```").unwrap();
        let boards = parse(&doc[start..start + len]).unwrap();
        let names: Vec<&str> = boards.iter().map(|b| b.profile.name()).collect();
        assert_eq!(
            names,
            vec!["bitaxe-gamma", "bm13xx-uart", "generic-bm1370-65"]
        );
    }

    #[test]
    fn config_round_trips_through_toml() {
        let cfg = HashboardConfig {
            id: "b0".into(),
            zone: "office".into(),
            profile: "bm13xx-uart".into(),
            serial: Some("/dev/ttyAMA0".into()),
            chip: Some("BM1370".into()),
            chips: Some(4),
            ..HashboardConfig::default()
        };
        let text = toml::to_string(&cfg).unwrap();
        let back: HashboardConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        assert!(validate_hashboard(0, &back).is_ok());
    }
}
