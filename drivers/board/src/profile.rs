//! Board profiles: what a kind of board is made of and how far it may be
//! pushed. A profile bundles the chip model and count, the V/f table and CMOS
//! power model (shared with the simulator through `hearth-core`), the
//! operating limits, the thermal limits protection enforces, the fan tuning,
//! and where its peripherals sit (serial device, I2C addresses, GPIO lines).
//!
//! Figures marked *estimate* are not measured on hardware by this project;
//! see `docs/hardware.md` for the table of profiles and what each figure
//! rests on.

use crate::fan::FanTuning;
use hearth_bm13xx::ChipKind;
use hearth_core::opoint::FREQ_STEP_MHZ;
use hearth_core::{
    BoardId, BoardInfo, Celsius, FreqMhz, GhPerSec, Millivolts, OperatingPoint, Percent,
    PowerModel, VfPoint, VfTable, VfTableError, Watts,
};
use serde::{Deserialize, Serialize};

/// Serial device the Pi's primary UART (GPIO14/15) appears as.
pub const DEFAULT_SERIAL: &str = "/dev/serial0";
/// The Pi's header I2C bus (GPIO2/3).
pub const DEFAULT_I2C_BUS: &str = "/dev/i2c-1";
/// GPIO character device of the 40-pin header (Pi 4, and Pi 5 on current
/// kernels; older Pi 5 kernels call it `/dev/gpiochip4`).
pub const DEFAULT_GPIOCHIP: &str = "/dev/gpiochip0";
/// TPS546 core regulator on Bitaxe boards (PMBus).
pub const TPS546_ADDRESS: u8 = 0x24;
/// EMC2101 fan controller + ASIC diode on Bitaxe boards.
pub const EMC2101_ADDRESS: u8 = 0x4C;
/// TMP1075 board thermometer on Bitaxe boards that fit one.
pub const TMP1075_ADDRESS: u8 = 0x4A;
/// Baud rate the BM13xx chips come out of reset at (they actually run
/// 115,740 baud, within 0.5 % of this).
pub const RESET_BAUD: u32 = 115_200;
/// Operating baud rate of Bitaxe-class boards (ESP-Miner runs ~1 Mbaud).
pub const BITAXE_BAUD: u32 = 1_000_000;
/// Highest baud rate the Pi's PL011 reaches with its default 48 MHz UART
/// clock (clock / 16).
pub const MAX_BAUD: u32 = 3_000_000;

/// The profiles this crate knows, as named by `profile = "..."` in a
/// `[[hashboard]]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    /// Bitaxe Gamma: one BM1370.
    BitaxeGamma,
    /// Bitaxe Supra: one BM1368.
    BitaxeSupra,
    /// Bitaxe Ultra: one BM1366.
    BitaxeUltra,
    /// Any BM13xx chain on a serial device; chip model and count configured.
    Bm13xxUart,
    /// A 65 x BM1370 hashboard (S21 Pro class).
    #[serde(rename = "generic-bm1370-65")]
    GenericBm1370x65,
    /// A 108 x BM1368 hashboard (S21 class).
    #[serde(rename = "generic-bm1368-108")]
    GenericBm1368x108,
}

/// What sort of board a profile describes; decides which config keys apply
/// and which defaults protection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardClass {
    /// A single-chip Bitaxe-class board: TPS546 core regulator, EMC2101 fan
    /// controller, all on the Pi's I2C.
    Bitaxe,
    /// A generic chain on a serial device; peripherals as configured.
    Chain,
    /// A multi-chip hashboard on its own 12-15 V supply; fans on the Pi's
    /// PWM.
    Hashboard,
}

impl ProfileKind {
    /// Every profile, in the order docs and error messages list them.
    pub const ALL: [ProfileKind; 6] = [
        ProfileKind::BitaxeGamma,
        ProfileKind::BitaxeSupra,
        ProfileKind::BitaxeUltra,
        ProfileKind::Bm13xxUart,
        ProfileKind::GenericBm1370x65,
        ProfileKind::GenericBm1368x108,
    ];

    /// The name used in the config file.
    pub const fn name(self) -> &'static str {
        match self {
            ProfileKind::BitaxeGamma => "bitaxe-gamma",
            ProfileKind::BitaxeSupra => "bitaxe-supra",
            ProfileKind::BitaxeUltra => "bitaxe-ultra",
            ProfileKind::Bm13xxUart => "bm13xx-uart",
            ProfileKind::GenericBm1370x65 => "generic-bm1370-65",
            ProfileKind::GenericBm1368x108 => "generic-bm1368-108",
        }
    }

    /// The profile called `name` (exact, lower case).
    pub fn from_name(name: &str) -> Option<ProfileKind> {
        ProfileKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub const fn class(self) -> BoardClass {
        match self {
            ProfileKind::BitaxeGamma | ProfileKind::BitaxeSupra | ProfileKind::BitaxeUltra => {
                BoardClass::Bitaxe
            }
            ProfileKind::Bm13xxUart => BoardClass::Chain,
            ProfileKind::GenericBm1370x65 | ProfileKind::GenericBm1368x108 => BoardClass::Hashboard,
        }
    }

    /// Chip model and count fixed by the profile; `None` for `bm13xx-uart`,
    /// where both are configured.
    pub const fn fixed_chips(self) -> Option<(ChipKind, u32)> {
        match self {
            ProfileKind::BitaxeGamma => Some((ChipKind::Bm1370, 1)),
            ProfileKind::BitaxeSupra => Some((ChipKind::Bm1368, 1)),
            ProfileKind::BitaxeUltra => Some((ChipKind::Bm1366, 1)),
            ProfileKind::Bm13xxUart => None,
            ProfileKind::GenericBm1370x65 => Some((ChipKind::Bm1370, 65)),
            ProfileKind::GenericBm1368x108 => Some((ChipKind::Bm1368, 108)),
        }
    }

    /// One line for listings.
    pub const fn summary(self) -> &'static str {
        match self {
            ProfileKind::BitaxeGamma => "Bitaxe Gamma (1 x BM1370) on the Pi's UART and I2C",
            ProfileKind::BitaxeSupra => "Bitaxe Supra (1 x BM1368) on the Pi's UART and I2C",
            ProfileKind::BitaxeUltra => "Bitaxe Ultra (1 x BM1366) on the Pi's UART and I2C",
            ProfileKind::Bm13xxUart => "any BM1366/BM1368/BM1370/BM1397 chain on a serial device",
            ProfileKind::GenericBm1370x65 => "65 x BM1370 hashboard (S21 Pro class)",
            ProfileKind::GenericBm1368x108 => "108 x BM1368 hashboard (S21 class)",
        }
    }
}

/// Every profile name, comma-separated, for error messages.
pub fn profile_names() -> String {
    ProfileKind::ALL.map(ProfileKind::name).join(", ")
}

/// The chip's marketing name ("BM1370").
pub const fn chip_name(chip: ChipKind) -> &'static str {
    match chip {
        ChipKind::Bm1366 => "BM1366",
        ChipKind::Bm1368 => "BM1368",
        ChipKind::Bm1370 => "BM1370",
        ChipKind::Bm1397 => "BM1397",
    }
}

/// Parse a chip name, case-insensitively ("BM1370", "bm1370").
pub fn parse_chip(name: &str) -> Option<ChipKind> {
    ChipKind::ALL
        .into_iter()
        .find(|c| chip_name(*c).eq_ignore_ascii_case(name.trim()))
}

/// Frequency and core-voltage bounds. Every operating point the crate hands
/// out lies inside them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingLimits {
    pub min_freq_mhz: FreqMhz,
    pub max_freq_mhz: FreqMhz,
    pub min_voltage_mv: Millivolts,
    pub max_voltage_mv: Millivolts,
}

impl OperatingLimits {
    pub fn contains(&self, op: OperatingPoint) -> bool {
        op.freq_mhz >= self.min_freq_mhz
            && op.freq_mhz <= self.max_freq_mhz
            && op.voltage_mv >= self.min_voltage_mv
            && op.voltage_mv <= self.max_voltage_mv
    }

    /// `op` with each coordinate clamped into the limits.
    pub fn clamp(&self, op: OperatingPoint) -> OperatingPoint {
        OperatingPoint {
            freq_mhz: op.freq_mhz.clamp(self.min_freq_mhz, self.max_freq_mhz),
            voltage_mv: op
                .voltage_mv
                .clamp(self.min_voltage_mv, self.max_voltage_mv),
        }
    }

    /// The lowest corner: where repeated protection trips stop stepping down.
    pub fn floor(&self) -> OperatingPoint {
        OperatingPoint {
            freq_mhz: self.min_freq_mhz,
            voltage_mv: self.min_voltage_mv,
        }
    }

    fn check(&self) -> Result<(), String> {
        let vals = [
            self.min_freq_mhz.get(),
            self.max_freq_mhz.get(),
            self.min_voltage_mv.get(),
            self.max_voltage_mv.get(),
        ];
        if vals.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return Err("limits must be positive numbers".into());
        }
        if self.max_freq_mhz.get() - self.min_freq_mhz.get() < FREQ_STEP_MHZ {
            return Err(format!(
                "frequency range {}..{} MHz is narrower than one {FREQ_STEP_MHZ} MHz step",
                self.min_freq_mhz.get(),
                self.max_freq_mhz.get()
            ));
        }
        if self.max_voltage_mv < self.min_voltage_mv {
            return Err("maximum voltage is below the minimum".into());
        }
        Ok(())
    }
}

/// What driver-level thermal protection enforces (see [`crate::protection`]).
/// Temperatures in °C, times in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThermalLimits {
    /// Trip when the hottest valid chip reading exceeds this.
    pub chip_trip_c: f64,
    /// Recover only once every valid chip reading is below this.
    pub chip_recover_c: f64,
    /// Trip when the regulator exceeds this (TPS546 over-temperature warning).
    pub regulator_trip_c: f64,
    /// Recover only once the regulator is below this.
    pub regulator_recover_c: f64,
    /// Stay tripped at least this long.
    pub min_cooldown_s: f64,
    /// After a trip, the frequency cap is this much below the point that tripped.
    pub step_down_mhz: f64,
    /// After a trip, the voltage cap is this much below the point that tripped
    /// (never below the V/f table's stable voltage for the capped frequency).
    pub step_down_mv: f64,
    /// Running this long without a trip raises the cap one step again.
    pub step_up_after_s: f64,
    /// ...provided the hottest chip is at least this far below the trip limit.
    pub step_up_margin_k: f64,
    /// This many consecutive trips already at the floor operating point latch
    /// the board into a fault an operator must clear.
    pub latch_after_floor_trips: u32,
    /// Consecutive steps without any valid chip reading tolerated; one more trips.
    pub max_bad_reads: u32,
    /// No valid chip reading for this long trips, however many steps that was.
    pub stale_after_s: f64,
    /// Chip readings outside `chip_plausible_min_c..=chip_plausible_max_c` are invalid.
    pub chip_plausible_min_c: f64,
    pub chip_plausible_max_c: f64,
    /// A chip reading further than `chip_max_slew_k_per_s * dt + chip_slew_noise_k`
    /// from that sensor's last accepted reading is physically impossible and
    /// invalid.
    pub chip_max_slew_k_per_s: f64,
    pub chip_slew_noise_k: f64,
    /// Fan stall: duty at or above this...
    pub fan_stall_min_duty_percent: f64,
    /// ...but the tach below this...
    pub fan_stall_rpm: f64,
    /// ...for this long trips.
    pub fan_stall_after_s: f64,
    /// ...or at once, while the hottest chip is within this of
    /// `chip_trip_c`: the delay filters tach glitches on a cool board, but a
    /// loaded board without airflow gains several kelvin a second, so from
    /// this close it would cross the trip inside the delay, and a chip over
    /// its trip with no airflow sheds that heat slowly once unpowered.
    #[serde(default = "default_fan_stall_hot_margin_k")]
    pub fan_stall_hot_margin_k: f64,
}

/// The margin of [`ThermalLimits::fan_stall_hot_margin_k`]: the fan target
/// of the stock tunings sits 10 K below the trip, so a board running at its
/// target is just outside it and keeps the glitch filter.
fn default_fan_stall_hot_margin_k() -> f64 {
    10.0
}

impl ThermalLimits {
    /// Bitaxe practice (ESP-Miner): chips 75 °C, regulator 105 °C; back at
    /// chips < 45 °C and regulator < 95 °C after at least 30 s, 100 MHz and
    /// 100 mV lower.
    pub fn bitaxe() -> ThermalLimits {
        ThermalLimits {
            chip_trip_c: 75.0,
            chip_recover_c: 45.0,
            regulator_trip_c: 105.0,
            regulator_recover_c: 95.0,
            min_cooldown_s: 30.0,
            step_down_mhz: 100.0,
            step_down_mv: 100.0,
            step_up_after_s: 1800.0,
            step_up_margin_k: 10.0,
            latch_after_floor_trips: 3,
            max_bad_reads: 3,
            stale_after_s: 10.0,
            chip_plausible_min_c: -40.0,
            chip_plausible_max_c: 150.0,
            chip_max_slew_k_per_s: 15.0,
            chip_slew_noise_k: 5.0,
            fan_stall_min_duty_percent: 30.0,
            fan_stall_rpm: 500.0,
            fan_stall_after_s: 10.0,
            fan_stall_hot_margin_k: default_fan_stall_hot_margin_k(),
        }
    }

    /// Multi-chip hashboards: a hard 80 °C chip limit (mujina), otherwise as
    /// [`ThermalLimits::bitaxe`].
    pub fn hashboard() -> ThermalLimits {
        ThermalLimits {
            chip_trip_c: 80.0,
            ..ThermalLimits::bitaxe()
        }
    }

    /// Consistency check; the reason names the field.
    pub fn check(&self) -> Result<(), String> {
        let fields = [
            ("chip_trip_c", self.chip_trip_c),
            ("chip_recover_c", self.chip_recover_c),
            ("regulator_trip_c", self.regulator_trip_c),
            ("regulator_recover_c", self.regulator_recover_c),
            ("min_cooldown_s", self.min_cooldown_s),
            ("step_down_mhz", self.step_down_mhz),
            ("step_down_mv", self.step_down_mv),
            ("step_up_after_s", self.step_up_after_s),
            ("step_up_margin_k", self.step_up_margin_k),
            ("stale_after_s", self.stale_after_s),
            ("chip_plausible_min_c", self.chip_plausible_min_c),
            ("chip_plausible_max_c", self.chip_plausible_max_c),
            ("chip_max_slew_k_per_s", self.chip_max_slew_k_per_s),
            ("chip_slew_noise_k", self.chip_slew_noise_k),
            (
                "fan_stall_min_duty_percent",
                self.fan_stall_min_duty_percent,
            ),
            ("fan_stall_rpm", self.fan_stall_rpm),
            ("fan_stall_after_s", self.fan_stall_after_s),
            ("fan_stall_hot_margin_k", self.fan_stall_hot_margin_k),
        ];
        for (name, v) in fields {
            if !v.is_finite() {
                return Err(format!("{name} must be a finite number"));
            }
        }
        if self.chip_recover_c >= self.chip_trip_c {
            return Err("chip_recover_c must be below chip_trip_c".into());
        }
        if self.regulator_recover_c >= self.regulator_trip_c {
            return Err("regulator_recover_c must be below regulator_trip_c".into());
        }
        if self.chip_plausible_min_c >= self.chip_recover_c
            || self.chip_plausible_max_c <= self.chip_trip_c
        {
            return Err("the chip plausible range must contain chip_recover_c..chip_trip_c".into());
        }
        if self.min_cooldown_s < 0.0 || self.stale_after_s <= 0.0 || self.fan_stall_after_s <= 0.0 {
            return Err(
                "min_cooldown_s must be >= 0, stale_after_s and fan_stall_after_s > 0".into(),
            );
        }
        if self.step_down_mhz < 0.0 || self.step_down_mv < 0.0 || self.step_up_after_s <= 0.0 {
            return Err("step_down_mhz and step_down_mv must be >= 0, step_up_after_s > 0".into());
        }
        if self.chip_max_slew_k_per_s <= 0.0
            || self.chip_slew_noise_k < 0.0
            || self.step_up_margin_k < 0.0
        {
            return Err(
                "chip_max_slew_k_per_s must be > 0, chip_slew_noise_k and step_up_margin_k >= 0"
                    .into(),
            );
        }
        if self.fan_stall_hot_margin_k < 0.0 {
            return Err("fan_stall_hot_margin_k must be >= 0".into());
        }
        if !(0.0..=100.0).contains(&self.fan_stall_min_duty_percent) || self.fan_stall_rpm < 0.0 {
            return Err("fan_stall_min_duty_percent must be 0..=100 and fan_stall_rpm >= 0".into());
        }
        if self.latch_after_floor_trips == 0 {
            return Err("latch_after_floor_trips must be at least 1".into());
        }
        Ok(())
    }
}

/// A part on the I2C bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum I2cPart {
    /// TI TPS546 buck regulator (core voltage), PMBus.
    Tps546,
    /// Microchip EMC2101 fan controller with the ASIC's diode.
    Emc2101,
    /// TI TMP1075 / TMP75 board thermometer.
    Tmp1075,
    /// Bitmain PIC voltage controller (S9-generation hashboards): sets the
    /// board's supply rail, which feeds `series_domains` voltage domains,
    /// so a chip sees about rail / domains.
    BitmainPic { series_domains: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct I2cDevice {
    pub part: I2cPart,
    /// 7-bit address.
    pub address: u8,
    /// `false`: the part may be missing (a TMP1075 some revisions omit).
    pub required: bool,
}

/// A GPIO line on a gpiochip character device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpioLine {
    pub chip: String,
    /// Line offset = BCM GPIO number on the header's chip.
    pub line: u32,
}

/// A fan driven from the Pi's hardware PWM (`dtoverlay=pwm-2chan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PwmFan {
    /// PWM channel 0 (GPIO18) or 1 (GPIO19) with the overlay's defaults.
    pub channel: u8,
    /// Fan tachometer input (open collector, pulled up to 3.3 V), if wired.
    pub tach_gpio: Option<u32>,
}

impl PwmFan {
    /// The header GPIO the channel drives with `pwm-2chan` defaults.
    pub const fn gpio(self) -> u32 {
        if self.channel == 0 {
            18
        } else {
            19
        }
    }
}

/// Where a board's peripherals are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peripherals {
    /// The chain's serial device.
    pub serial: String,
    /// Baud rate after enumeration (chips start at [`RESET_BAUD`]).
    pub baud: u32,
    /// I2C bus device, when the board has I2C parts.
    pub i2c_bus: Option<String>,
    /// Core-voltage regulator.
    pub regulator: Option<I2cDevice>,
    /// Fan controller (also reads the ASIC diode).
    pub fan_controller: Option<I2cDevice>,
    /// Extra board thermometer.
    pub board_thermometer: Option<I2cDevice>,
    /// Fan on the Pi's PWM (hashboards, chains without a fan controller).
    pub pwm_fan: Option<PwmFan>,
    /// Chip reset line (RST_N); low holds the chips in reset.
    pub reset: Option<GpioLine>,
    /// Power enable line (the board's supply or regulator enable).
    pub power_enable: Option<GpioLine>,
    /// DS18B20 probes (w1 ids, `28-...`) on the heatsink: chip-side
    /// readings for protection, read on the Pi's 1-wire bus.
    pub heatsink_probes: Vec<String>,
    /// `board_thermometer` sits on the hashboard next to the chips (a
    /// `generic-*` board's TMP75): protection watches it as a chip-side
    /// reading. On a Bitaxe it is a board reading only.
    pub board_thermometer_near_chips: bool,
}

impl Peripherals {
    /// The I2C devices that are configured, in bus order of importance.
    pub fn i2c_devices(&self) -> Vec<I2cDevice> {
        [self.regulator, self.fan_controller, self.board_thermometer]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// A complete, consistent description of one board. Built by
/// [`BoardProfile::builtin`], [`BoardProfile::for_chain`], or from a
/// `[[hashboard]]` table by [`crate::config::validate_hashboard`].
#[derive(Debug, Clone, PartialEq)]
pub struct BoardProfile {
    kind: ProfileKind,
    chip: ChipKind,
    chips: u32,
    power: PowerModel,
    /// Already clipped to `limits`.
    vf_table: VfTable,
    limits: OperatingLimits,
    thermal: ThermalLimits,
    fan: FanTuning,
    default_point: OperatingPoint,
    peripherals: Peripherals,
    estimates: &'static str,
}

/// Per-chip figures for one chip model (power model per chip, V/f table,
/// limits, default point).
struct ChipFigures {
    c_dyn: f64,
    leak: f64,
    table: &'static [(f64, f64)],
    limits: (f64, f64, f64, f64),
    default_point: (f64, f64),
}

/// Bitaxe-class figures per chip. V/f rows are *estimates* built around
/// ESP-Miner's defaults (which sit on the table); power constants: BM1370
/// as the simulator's fit, BM1368 fitted to the measured Supra (667 GH/s at
/// 13.1 W), BM1366 to ~11.5 W at its default (*estimate*).
fn bitaxe_figures(chip: ChipKind) -> Option<ChipFigures> {
    match chip {
        ChipKind::Bm1370 => Some(ChipFigures {
            c_dyn: 0.023,
            leak: 0.8,
            table: &[
                (400.0, 1000.0),
                (450.0, 1050.0),
                (525.0, 1150.0),
                (575.0, 1200.0),
                (625.0, 1250.0),
            ],
            limits: (400.0, 625.0, 1000.0, 1300.0),
            default_point: (525.0, 1150.0),
        }),
        ChipKind::Bm1368 => Some(ChipFigures {
            c_dyn: 0.0147,
            leak: 0.5,
            table: &[
                (400.0, 1060.0),
                (450.0, 1110.0),
                (490.0, 1166.0),
                (525.0, 1200.0),
                (575.0, 1250.0),
            ],
            limits: (400.0, 575.0, 1000.0, 1300.0),
            default_point: (490.0, 1166.0),
        }),
        ChipKind::Bm1366 => Some(ChipFigures {
            c_dyn: 0.0119,
            leak: 0.5,
            table: &[
                (400.0, 1100.0),
                (450.0, 1150.0),
                (485.0, 1200.0),
                (525.0, 1250.0),
                (575.0, 1300.0),
            ],
            limits: (400.0, 575.0, 1000.0, 1300.0),
            default_point: (485.0, 1200.0),
        }),
        // S17/S17 Pro generation (Bitaxe Max). ESP-Miner's default is
        // 425 MHz at 1400 mV; the other rows are *estimates* rising ~50 mV
        // per 75 MHz. Power constants are an *estimate* fitted to the S17 Pro
        // spec class (~40 J/TH at the wall) and ~16 W per chip at 650 MHz /
        // 1.4 V: 0.012 x f x V^2 + 0.5 x V^2 gives ~11 W (~38 J/TH) at the
        // default and ~16 W at 650 MHz / 1.4 V.
        ChipKind::Bm1397 => Some(ChipFigures {
            c_dyn: 0.012,
            leak: 0.5,
            table: &[
                (350.0, 1300.0),
                (400.0, 1350.0),
                (425.0, 1400.0),
                (500.0, 1450.0),
                (575.0, 1500.0),
            ],
            limits: (350.0, 575.0, 1200.0, 1500.0),
            default_point: (425.0, 1400.0),
        }),
    }
}

fn rows(table: &[(f64, f64)]) -> Vec<VfPoint> {
    table
        .iter()
        .map(|&(f, v)| VfPoint {
            freq_mhz: f,
            min_voltage_mv: v,
        })
        .collect()
}

fn limits_of((f0, f1, v0, v1): (f64, f64, f64, f64)) -> OperatingLimits {
    OperatingLimits {
        min_freq_mhz: FreqMhz(f0),
        max_freq_mhz: FreqMhz(f1),
        min_voltage_mv: Millivolts(v0),
        max_voltage_mv: Millivolts(v1),
    }
}

fn op((f, v): (f64, f64)) -> OperatingPoint {
    OperatingPoint {
        freq_mhz: FreqMhz(f),
        voltage_mv: Millivolts(v),
    }
}

fn bitaxe_peripherals() -> Peripherals {
    Peripherals {
        serial: DEFAULT_SERIAL.into(),
        baud: BITAXE_BAUD,
        i2c_bus: Some(DEFAULT_I2C_BUS.into()),
        regulator: Some(I2cDevice {
            part: I2cPart::Tps546,
            address: TPS546_ADDRESS,
            required: true,
        }),
        fan_controller: Some(I2cDevice {
            part: I2cPart::Emc2101,
            address: EMC2101_ADDRESS,
            required: true,
        }),
        board_thermometer: Some(I2cDevice {
            part: I2cPart::Tmp1075,
            address: TMP1075_ADDRESS,
            required: false,
        }),
        pwm_fan: None,
        reset: None,
        power_enable: None,
        heatsink_probes: Vec::new(),
        board_thermometer_near_chips: false,
    }
}

fn hashboard_peripherals() -> Peripherals {
    Peripherals {
        serial: DEFAULT_SERIAL.into(),
        baud: RESET_BAUD,
        i2c_bus: None,
        regulator: None,
        fan_controller: None,
        board_thermometer: None,
        pwm_fan: Some(PwmFan {
            channel: 0,
            tach_gpio: None,
        }),
        reset: None,
        power_enable: None,
        heatsink_probes: Vec::new(),
        board_thermometer_near_chips: false,
    }
}

const BITAXE_ESTIMATES: &str =
    "V/f rows other than the default point, the 1300 mV ceiling, power-model constants";
const HASHBOARD_ESTIMATES: &str =
    "all electrical figures (V/f table, power model, limits); voltages are per-chip model voltages, not the board rail";

/// The largest frequency whose stable voltage is at most `v`, by inverse
/// interpolation of the table; `None` when even the first row needs more.
fn max_freq_for_voltage(table: &VfTable, v: Millivolts) -> Option<f64> {
    let pts = table.points();
    let first = pts.first()?;
    if first.min_voltage_mv > v.get() {
        return None;
    }
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.min_voltage_mv > v.get() {
            if b.min_voltage_mv <= a.min_voltage_mv {
                return Some(a.freq_mhz);
            }
            let t = (v.get() - a.min_voltage_mv) / (b.min_voltage_mv - a.min_voltage_mv);
            return Some(a.freq_mhz + t * (b.freq_mhz - a.freq_mhz));
        }
    }
    pts.last().map(|p| p.freq_mhz)
}

/// `table` restricted to what `limits` allow: frequencies inside the limits
/// (and no higher than the maximum voltage can hold), voltages raised to
/// the minimum. The table is never extrapolated beyond its own rows.
pub fn clip_table(table: &VfTable, limits: &OperatingLimits) -> Result<VfTable, String> {
    let lo = limits.min_freq_mhz.get().max(table.min_freq().get());
    let mut hi = limits.max_freq_mhz.get().min(table.max_freq().get());
    let Some(f_at_vmax) = max_freq_for_voltage(table, limits.max_voltage_mv) else {
        return Err(format!(
            "maximum voltage {} mV is below the lowest stable voltage {} mV",
            limits.max_voltage_mv.get(),
            table.min_voltage(table.min_freq()).get()
        ));
    };
    if f_at_vmax < hi {
        // An interpolated edge: snap down onto the PLL grid.
        hi = (f_at_vmax / FREQ_STEP_MHZ).floor() * FREQ_STEP_MHZ;
    }
    if hi - lo < FREQ_STEP_MHZ {
        return Err(format!(
            "allowed frequency range {lo}..{hi} MHz is narrower than one {FREQ_STEP_MHZ} MHz step"
        ));
    }
    let point = |f: f64| VfPoint {
        freq_mhz: f,
        min_voltage_mv: table
            .min_voltage(FreqMhz(f))
            .get()
            .max(limits.min_voltage_mv.get()),
    };
    let mut out = vec![point(lo)];
    out.extend(
        table
            .points()
            .iter()
            .filter(|p| p.freq_mhz > lo && p.freq_mhz < hi)
            .map(|p| point(p.freq_mhz)),
    );
    out.push(point(hi));
    VfTable::new(out).map_err(|e: VfTableError| e.to_string())
}

impl BoardProfile {
    /// A profile with all of its figures fixed: every kind except
    /// `bm13xx-uart`, which needs [`BoardProfile::for_chain`].
    pub fn builtin(kind: ProfileKind) -> Option<BoardProfile> {
        match kind {
            ProfileKind::BitaxeGamma | ProfileKind::BitaxeSupra | ProfileKind::BitaxeUltra => {
                let (chip, _) = kind.fixed_chips()?;
                let fig = bitaxe_figures(chip)?;
                let power = PowerModel {
                    chips: 1,
                    cores_per_chip: chip.small_core_count(),
                    c_dyn_w_per_mhz_v2: fig.c_dyn,
                    leak_w_per_v2: fig.leak,
                    regulator_efficiency: 0.90,
                    overhead_w: 1.5,
                };
                BoardProfile::assemble(
                    kind,
                    chip,
                    power,
                    rows(fig.table),
                    limits_of(fig.limits),
                    ThermalLimits::bitaxe(),
                    FanTuning::bitaxe(),
                    op(fig.default_point),
                    bitaxe_peripherals(),
                    BITAXE_ESTIMATES,
                )
                .ok()
            }
            ProfileKind::Bm13xxUart => None,
            ProfileKind::GenericBm1370x65 => BoardProfile::assemble(
                kind,
                ChipKind::Bm1370,
                // The simulator's 65-chip board (hearth-sim `SimBoardParams::bm1370_65`):
                // keep these figures in step so the sim and the profile agree.
                PowerModel {
                    chips: 65,
                    cores_per_chip: ChipKind::Bm1370.small_core_count(),
                    c_dyn_w_per_mhz_v2: 0.023,
                    leak_w_per_v2: 0.8,
                    regulator_efficiency: 0.92,
                    overhead_w: 30.0,
                },
                rows(&[
                    (200.0, 1000.0),
                    (300.0, 1030.0),
                    (400.0, 1080.0),
                    (500.0, 1140.0),
                    (600.0, 1220.0),
                ]),
                limits_of((200.0, 600.0, 1000.0, 1250.0)),
                ThermalLimits::hashboard(),
                FanTuning::hashboard(),
                op((500.0, 1140.0)),
                hashboard_peripherals(),
                HASHBOARD_ESTIMATES,
            )
            .ok(),
            ProfileKind::GenericBm1368x108 => BoardProfile::assemble(
                kind,
                ChipKind::Bm1368,
                // Per-chip constants of the Supra fit; ~1.25 kW at 490 MHz,
                // near an S21's ~1.17 kW per board (*estimate*).
                PowerModel {
                    chips: 108,
                    cores_per_chip: ChipKind::Bm1368.small_core_count(),
                    c_dyn_w_per_mhz_v2: 0.0147,
                    leak_w_per_v2: 0.5,
                    regulator_efficiency: 0.92,
                    overhead_w: 30.0,
                },
                rows(&[
                    (300.0, 1040.0),
                    (400.0, 1100.0),
                    (490.0, 1166.0),
                    (550.0, 1220.0),
                ]),
                limits_of((300.0, 550.0, 1000.0, 1250.0)),
                ThermalLimits::hashboard(),
                FanTuning::hashboard(),
                op((490.0, 1166.0)),
                hashboard_peripherals(),
                HASHBOARD_ESTIMATES,
            )
            .ok(),
        }
    }

    /// The built-in profile called `name`.
    pub fn by_name(name: &str) -> Option<BoardProfile> {
        ProfileKind::from_name(name).and_then(BoardProfile::builtin)
    }

    /// A `bm13xx-uart` profile: `chips` x `chip` on `serial` at `baud`,
    /// with the Bitaxe per-chip figures of that model, Bitaxe thermal limits
    /// (the cooling is unknown, so the stricter 75 °C) and no I2C parts.
    pub fn for_chain(
        chip: ChipKind,
        chips: u32,
        serial: &str,
        baud: u32,
    ) -> Result<BoardProfile, String> {
        let Some(fig) = bitaxe_figures(chip) else {
            return Err(format!("{} has no per-chip figures", chip_name(chip)));
        };
        if !(1..=256).contains(&chips) {
            return Err("chip count must be between 1 and 256".into());
        }
        let power = PowerModel {
            chips,
            cores_per_chip: chip.small_core_count(),
            c_dyn_w_per_mhz_v2: fig.c_dyn,
            leak_w_per_v2: fig.leak,
            regulator_efficiency: 0.90,
            overhead_w: 2.0,
        };
        let peripherals = Peripherals {
            serial: serial.to_string(),
            baud,
            i2c_bus: None,
            regulator: None,
            fan_controller: None,
            board_thermometer: None,
            pwm_fan: None,
            reset: None,
            power_enable: None,
            heatsink_probes: Vec::new(),
            board_thermometer_near_chips: false,
        };
        BoardProfile::assemble(
            ProfileKind::Bm13xxUart,
            chip,
            power,
            rows(fig.table),
            limits_of(fig.limits),
            ThermalLimits::bitaxe(),
            FanTuning::bitaxe(),
            op(fig.default_point),
            peripherals,
            "all figures: per-chip Bitaxe estimates scaled by the chip count",
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        kind: ProfileKind,
        chip: ChipKind,
        power: PowerModel,
        table: Vec<VfPoint>,
        limits: OperatingLimits,
        thermal: ThermalLimits,
        fan: FanTuning,
        default_point: OperatingPoint,
        peripherals: Peripherals,
        estimates: &'static str,
    ) -> Result<BoardProfile, String> {
        limits.check()?;
        thermal.check()?;
        fan.check()?;
        let table = VfTable::new(table).map_err(|e| e.to_string())?;
        let vf_table = clip_table(&table, &limits)?;
        let chips = power.chips;
        let mut profile = BoardProfile {
            kind,
            chip,
            chips,
            power,
            vf_table,
            limits,
            thermal,
            fan,
            default_point,
            peripherals,
            estimates,
        };
        profile.default_point = profile.clamp_to_table(default_point);
        Ok(profile)
    }

    /// `op` clamped into the limits and the (clipped) table's frequency range,
    /// with its voltage at least the table's stable voltage.
    fn clamp_to_table(&self, op: OperatingPoint) -> OperatingPoint {
        let f = op
            .freq_mhz
            .clamp(self.vf_table.min_freq(), self.vf_table.max_freq());
        let v = op.voltage_mv.max(self.vf_table.min_voltage(f));
        self.limits.clamp(OperatingPoint {
            freq_mhz: f,
            voltage_mv: v,
        })
    }

    pub fn kind(&self) -> ProfileKind {
        self.kind
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    pub fn class(&self) -> BoardClass {
        self.kind.class()
    }

    pub fn chip(&self) -> ChipKind {
        self.chip
    }

    pub fn chips(&self) -> u32 {
        self.chips
    }

    pub fn power_model(&self) -> &PowerModel {
        &self.power
    }

    /// The V/f table, already clipped to [`BoardProfile::limits`].
    pub fn vf_table(&self) -> &VfTable {
        &self.vf_table
    }

    pub fn limits(&self) -> &OperatingLimits {
        &self.limits
    }

    pub fn thermal(&self) -> &ThermalLimits {
        &self.thermal
    }

    pub fn fan_tuning(&self) -> &FanTuning {
        &self.fan
    }

    pub fn peripherals(&self) -> &Peripherals {
        &self.peripherals
    }

    /// The point the board runs at when nothing else is asked (the
    /// ESP-Miner default for Bitaxe-class boards).
    pub fn default_point(&self) -> OperatingPoint {
        self.default_point
    }

    /// Which of this profile's figures are estimates, in words.
    pub fn estimates(&self) -> &'static str {
        self.estimates
    }

    /// Everything a board driver needs, in one borrow: power model, V/f
    /// table, operating limits, thermal limits and peripheral addresses.
    pub fn parts(
        &self,
    ) -> (
        &PowerModel,
        &VfTable,
        &OperatingLimits,
        &ThermalLimits,
        &Peripherals,
    ) {
        (
            &self.power,
            &self.vf_table,
            &self.limits,
            &self.thermal,
            &self.peripherals,
        )
    }

    /// Lowest and highest wall power along the V/f table.
    pub fn power_range(&self) -> (Watts, Watts) {
        self.power.power_range(&self.vf_table)
    }

    pub fn hashrate(&self, freq: FreqMhz) -> GhPerSec {
        self.power.hashrate(freq)
    }

    /// The static facts the control layer sees.
    pub fn board_info(&self, id: BoardId) -> BoardInfo {
        let (min_power_w, max_power_w) = self.power_range();
        BoardInfo {
            id,
            model: self.name().to_string(),
            chips: self.chips,
            min_power_w,
            max_power_w,
        }
    }

    /// Lower the maximum frequency and/or voltage (config overrides). Raising
    /// them above the profile's is refused.
    pub fn restrict(
        &mut self,
        max_freq_mhz: Option<f64>,
        max_voltage_mv: Option<f64>,
    ) -> Result<(), String> {
        let mut limits = self.limits;
        if let Some(f) = max_freq_mhz {
            if !f.is_finite()
                || f > self.limits.max_freq_mhz.get()
                || f < self.limits.min_freq_mhz.get() + FREQ_STEP_MHZ
            {
                return Err(format!(
                    "frequency ceiling must be between {} and {} MHz for this profile (limits may be lowered, never raised)",
                    self.limits.min_freq_mhz.get() + FREQ_STEP_MHZ,
                    self.limits.max_freq_mhz.get()
                ));
            }
            limits.max_freq_mhz = FreqMhz(f);
        }
        if let Some(v) = max_voltage_mv {
            if !v.is_finite()
                || v > self.limits.max_voltage_mv.get()
                || v < self.limits.min_voltage_mv.get()
            {
                return Err(format!(
                    "voltage ceiling must be between {} and {} mV for this profile (limits may be lowered, never raised)",
                    self.limits.min_voltage_mv.get(),
                    self.limits.max_voltage_mv.get()
                ));
            }
            limits.max_voltage_mv = Millivolts(v);
        }
        self.vf_table = clip_table(&self.vf_table, &limits)?;
        self.limits = limits;
        self.default_point = self.clamp_to_table(self.default_point);
        Ok(())
    }

    /// Lower the chip trip temperature (never raise it). Recovery stays at
    /// least 10 K below the trip.
    pub fn lower_chip_trip(&mut self, trip_c: f64) -> Result<(), String> {
        let max = self.thermal.chip_trip_c;
        if !trip_c.is_finite() || trip_c > max || trip_c < 50.0 {
            return Err(format!("must be between 50 and {max} °C (the profile's limit may be lowered, never raised)"));
        }
        self.thermal.chip_trip_c = trip_c;
        self.thermal.chip_recover_c = self.thermal.chip_recover_c.min(trip_c - 10.0);
        if self.fan.target_c > trip_c - 5.0 {
            self.fan.target_c = trip_c - 5.0;
        }
        if self.fan.full_duty_above_c > trip_c {
            self.fan.full_duty_above_c = trip_c;
        }
        Ok(())
    }

    pub(crate) fn set_fan_target(&mut self, target_c: f64) -> Result<(), String> {
        let hi = self.thermal.chip_trip_c - 5.0;
        if !target_c.is_finite() || !(30.0..=hi).contains(&target_c) {
            return Err(format!(
                "must be between 30 and {hi} °C (5 K below the chip trip limit)"
            ));
        }
        let gap = self.fan.full_duty_above_c - self.fan.target_c;
        self.fan.target_c = target_c;
        self.fan.full_duty_above_c = (target_c + gap).min(self.thermal.chip_trip_c);
        Ok(())
    }

    pub(crate) fn set_min_fan(&mut self, percent: f64) -> Result<(), String> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err("must be between 0 and 100 %".into());
        }
        self.fan.min_duty = Percent::new(percent);
        Ok(())
    }

    pub(crate) fn peripherals_mut(&mut self) -> &mut Peripherals {
        &mut self.peripherals
    }

    /// The chip trip limit as a temperature.
    pub fn chip_trip(&self) -> Celsius {
        Celsius(self.thermal.chip_trip_c)
    }
}

/// The operating point for a wall-power target: the highest frequency on
/// the profile's V/f table whose lowest stable voltage keeps the board's
/// modelled power at or below `power_target` (delegated to
/// [`PowerModel::point_for_power`]), clamped to the profile's limits.
///
/// `None` when the target is not a positive finite number or is below the
/// board's lowest point: the caller must then idle (or duty-cycle).
pub fn operating_point_for(profile: &BoardProfile, power_target: Watts) -> Option<OperatingPoint> {
    if !power_target.is_finite() || power_target <= Watts::ZERO {
        return None;
    }
    let op = profile
        .power
        .point_for_power(&profile.vf_table, power_target)?;
    Some(profile.limits.clamp(op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_builtin() -> Vec<BoardProfile> {
        ProfileKind::ALL
            .into_iter()
            .filter_map(BoardProfile::builtin)
            .collect()
    }

    #[test]
    fn names_round_trip_and_every_fixed_profile_builds() {
        for kind in ProfileKind::ALL {
            assert_eq!(ProfileKind::from_name(kind.name()), Some(kind));
            let built = BoardProfile::builtin(kind);
            assert_eq!(built.is_some(), kind != ProfileKind::Bm13xxUart, "{kind:?}");
        }
        assert_eq!(ProfileKind::from_name("s9000"), None);
        assert_eq!(all_builtin().len(), 5);
        assert!(profile_names().contains("generic-bm1370-65"));
    }

    #[test]
    fn bitaxe_defaults_follow_the_reference() {
        let cases = [
            ("bitaxe-gamma", ChipKind::Bm1370, 525.0, 1150.0),
            ("bitaxe-supra", ChipKind::Bm1368, 490.0, 1166.0),
            ("bitaxe-ultra", ChipKind::Bm1366, 485.0, 1200.0),
        ];
        for (name, chip, f, v) in cases {
            let p = BoardProfile::by_name(name).unwrap();
            assert_eq!(p.chip(), chip);
            assert_eq!(p.chips(), 1);
            assert_eq!(p.default_point(), op((f, v)), "{name}");
            // The default point sits on the V/f table.
            assert_eq!(
                p.vf_table().min_voltage(FreqMhz(f)),
                Millivolts(v),
                "{name}"
            );
            let per = p.peripherals();
            assert_eq!(per.serial, "/dev/serial0");
            assert_eq!(per.i2c_bus.as_deref(), Some("/dev/i2c-1"));
            assert_eq!(per.regulator.map(|d| d.address), Some(0x24));
            assert_eq!(per.fan_controller.map(|d| d.address), Some(0x4C));
            assert_eq!(
                per.board_thermometer.map(|d| (d.address, d.required)),
                Some((0x4A, false))
            );
            assert_eq!(p.thermal().chip_trip_c, 75.0);
            assert_eq!(p.limits().max_voltage_mv, Millivolts(1300.0));
            assert_eq!(p.limits().min_voltage_mv, Millivolts(1000.0));
        }
    }

    #[test]
    fn supra_power_model_matches_the_measurement() {
        let p = BoardProfile::by_name("bitaxe-supra").unwrap();
        let w = p.power_model().power(p.default_point());
        assert!((w.get() - 13.1).abs() < 0.3, "{w}");
    }

    #[test]
    fn generic_bm1370_65_matches_the_simulator() {
        let p = BoardProfile::by_name("generic-bm1370-65").unwrap();
        let m = p.power_model();
        assert_eq!(
            (
                m.chips,
                m.cores_per_chip,
                m.c_dyn_w_per_mhz_v2,
                m.leak_w_per_v2,
                m.regulator_efficiency,
                m.overhead_w
            ),
            (65, 2040, 0.023, 0.8, 0.92, 30.0)
        );
        let t: Vec<(f64, f64)> = p
            .vf_table()
            .points()
            .iter()
            .map(|r| (r.freq_mhz, r.min_voltage_mv))
            .collect();
        assert_eq!(
            t,
            vec![
                (200.0, 1000.0),
                (300.0, 1030.0),
                (400.0, 1080.0),
                (500.0, 1140.0),
                (600.0, 1220.0)
            ]
        );
        assert_eq!(p.thermal().chip_trip_c, 80.0);
        let (lo, hi) = p.power_range();
        assert!(lo.get() > 350.0 && lo.get() < 450.0, "{lo}");
        assert!(hi.get() > 1500.0 && hi.get() < 1600.0, "{hi}");
    }

    #[test]
    fn every_profile_is_self_consistent() {
        let mut profiles = all_builtin();
        for chip in ChipKind::ALL {
            profiles.push(BoardProfile::for_chain(chip, 4, "/dev/ttyAMA0", RESET_BAUD).unwrap());
        }
        for p in profiles {
            let (_, t, limits, thermal, _) = p.parts();
            assert!(thermal.check().is_ok());
            assert!(limits.contains(p.default_point()), "{}", p.name());
            for row in t.points() {
                assert!(
                    limits.contains(op((row.freq_mhz, row.min_voltage_mv))),
                    "{}: {row:?}",
                    p.name()
                );
            }
            let (lo, hi) = p.power_range();
            assert!(lo < hi);
            assert_eq!(p.board_info(BoardId::new("b0").unwrap()).max_power_w, hi);
        }
    }

    #[test]
    fn chain_profile_takes_bm1397_and_refuses_bad_counts() {
        let p = BoardProfile::for_chain(ChipKind::Bm1397, 4, "/dev/serial0", RESET_BAUD).unwrap();
        assert_eq!(p.chip(), ChipKind::Bm1397);
        // ~11 W per chip at the 425 MHz / 1.4 V default (estimate), 90 %
        // regulator, 2 W overhead.
        let wall = p.power_model().power(p.default_point()).0;
        assert!((45.0..56.0).contains(&wall), "{wall} W");
        assert!(BoardProfile::for_chain(ChipKind::Bm1370, 0, "/dev/serial0", RESET_BAUD).is_err());
        assert!(
            BoardProfile::for_chain(ChipKind::Bm1370, 257, "/dev/serial0", RESET_BAUD).is_err()
        );
        let p = BoardProfile::for_chain(ChipKind::Bm1370, 12, "/dev/ttyUSB0", 1_000_000).unwrap();
        assert_eq!(p.power_model().chips, 12);
        assert_eq!(
            p.hashrate(FreqMhz(500.0)),
            GhPerSec(500.0 * 2040.0 * 12.0 / 1000.0)
        );
    }

    #[test]
    fn chip_names_parse_case_insensitively() {
        assert_eq!(parse_chip("BM1370"), Some(ChipKind::Bm1370));
        assert_eq!(parse_chip("bm1366"), Some(ChipKind::Bm1366));
        assert_eq!(parse_chip(" Bm1368 "), Some(ChipKind::Bm1368));
        assert_eq!(parse_chip("BM1387"), None);
        for c in ChipKind::ALL {
            assert_eq!(parse_chip(chip_name(c)), Some(c));
        }
    }

    #[test]
    fn restrict_lowers_and_clips_the_table() {
        let mut p = BoardProfile::by_name("generic-bm1370-65").unwrap();
        p.restrict(Some(450.0), None).unwrap();
        assert_eq!(p.vf_table().max_freq(), FreqMhz(450.0));
        assert_eq!(p.vf_table().min_voltage(FreqMhz(450.0)), Millivolts(1110.0));
        assert_eq!(p.default_point().freq_mhz, FreqMhz(450.0));
        // A voltage ceiling cuts the table where the stable voltage reaches it,
        // snapped down to the PLL grid.
        let mut p = BoardProfile::by_name("generic-bm1370-65").unwrap();
        p.restrict(None, Some(1100.0)).unwrap();
        let top = p.vf_table().max_freq().get();
        assert!(top <= 433.34 && top > 425.0, "{top}");
        assert!(p.vf_table().min_voltage(FreqMhz(top)) <= Millivolts(1100.0));
        assert!(p.limits().contains(p.default_point()));
        // Raising is refused; so is a ceiling below the first row.
        let mut p = BoardProfile::by_name("bitaxe-gamma").unwrap();
        assert!(p.restrict(Some(700.0), None).is_err());
        assert!(p.restrict(None, Some(1400.0)).is_err());
        let mut p = BoardProfile::by_name("bitaxe-ultra").unwrap();
        assert!(p
            .restrict(None, Some(1050.0))
            .unwrap_err()
            .contains("lowest stable voltage"));
    }

    #[test]
    fn lowering_the_trip_keeps_recovery_and_fan_below_it() {
        let mut p = BoardProfile::by_name("generic-bm1370-65").unwrap();
        assert!(p.lower_chip_trip(85.0).is_err());
        assert!(p.lower_chip_trip(40.0).is_err());
        p.lower_chip_trip(52.0).unwrap();
        assert_eq!(p.thermal().chip_recover_c, 42.0);
        assert!(p.fan_tuning().target_c <= 47.0);
        assert!(p.thermal().check().is_ok());
    }

    #[test]
    fn operating_point_follows_power_within_limits() {
        let p = BoardProfile::by_name("generic-bm1370-65").unwrap();
        assert_eq!(operating_point_for(&p, Watts(0.0)), None);
        assert_eq!(operating_point_for(&p, Watts(-5.0)), None);
        assert_eq!(operating_point_for(&p, Watts(f64::NAN)), None);
        assert_eq!(operating_point_for(&p, Watts(100.0)), None);
        let top = operating_point_for(&p, Watts(1e6)).unwrap();
        assert_eq!(top, op((600.0, 1220.0)));
        let mid = operating_point_for(&p, Watts(1000.0)).unwrap();
        assert!(p.power_model().power(mid) <= Watts(1000.0));
        assert_eq!(mid.voltage_mv, p.vf_table().min_voltage(mid.freq_mhz));
        // A lowered ceiling is respected.
        let mut p = BoardProfile::by_name("generic-bm1370-65").unwrap();
        p.restrict(Some(400.0), Some(1100.0)).unwrap();
        let top = operating_point_for(&p, Watts(1e6)).unwrap();
        assert!(
            top.freq_mhz <= FreqMhz(400.0) && top.voltage_mv <= Millivolts(1100.0),
            "{top:?}"
        );
    }

    proptest! {
        #[test]
        fn chosen_points_stay_inside_limits_and_under_target(
            kind in 0usize..6, target in 0.0f64..3000.0, cap_f in 0.0f64..1.0, cap_v in 0.0f64..1.0,
        ) {
            let Some(mut p) = BoardProfile::builtin(ProfileKind::ALL[kind]) else { return Ok(()) };
            let l = *p.limits();
            let f = l.min_freq_mhz.get() + 10.0 + cap_f * (l.max_freq_mhz.get() - l.min_freq_mhz.get() - 10.0);
            let v = l.min_voltage_mv.get() + cap_v * (l.max_voltage_mv.get() - l.min_voltage_mv.get());
            if p.restrict(Some(f), Some(v)).is_err() {
                return Ok(());
            }
            if let Some(op) = operating_point_for(&p, Watts(target)) {
                prop_assert!(p.limits().contains(op));
                prop_assert!(p.power_model().power(op) <= Watts(target + 1e-9));
            }
        }
    }
}
