//! A pool's circulation-pump input from a GPIO line (`circulation_gpio` on
//! the pool zone): the pump's running contact on the GPIO character device
//! on real hardware, a settable simulated line in `--sim`. Read once per
//! control tick by `house_control`; a read error counts as "not running"
//! (no known flow, no heat). A configured line overrides MQTT and the API.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Highest line offset accepted (the Pi's header chip has 54 lines, the
/// RP1 on a Pi 5 fewer; the bound only catches typos).
const MAX_LINE: u32 = 1023;

/// `circulation_gpio = { chip = "/dev/gpiochip0", line = 17, active_low = false }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CirculationGpioConfig {
    #[serde(default = "default_chip")]
    pub chip: String,
    pub line: u32,
    /// Running = physically low (a contact to ground with a pull-up).
    #[serde(default)]
    pub active_low: bool,
}

fn default_chip() -> String {
    "/dev/gpiochip0".into()
}

impl CirculationGpioConfig {
    /// Checks the line; the result is what the GPIO reader opens.
    pub fn check(&self) -> Result<hearth_linux::LineConfig, String> {
        if !self.chip.starts_with("/dev/") || self.chip.len() <= "/dev/".len() {
            return Err(format!(
                "chip {:?} must be a GPIO character device path, e.g. \"/dev/gpiochip0\"",
                self.chip
            ));
        }
        if self.line > MAX_LINE {
            return Err(format!(
                "line {} is out of range (0..={MAX_LINE}; the BCM GPIO number on the Pi)",
                self.line
            ));
        }
        Ok(hearth_linux::LineConfig {
            chip: PathBuf::from(&self.chip),
            offset: self.line,
            active_low: self.active_low,
        })
    }
}

/// A pump's running input. `running` must not block beyond a GPIO ioctl.
pub trait CirculationInput: Send + std::fmt::Debug {
    fn running(&mut self) -> Result<bool>;
    /// What is read, for the logs.
    fn describe(&self) -> String;
    /// The simulated line behind it, if it is one (to set it in --sim).
    fn sim_line(&self) -> Option<SimLine> {
        None
    }
}

/// A settable simulated line: clones share one state.
#[derive(Debug, Clone)]
pub struct SimLine(Arc<AtomicBool>);

impl SimLine {
    pub fn new(running: bool) -> SimLine {
        SimLine(Arc::new(AtomicBool::new(running)))
    }
    pub fn set(&self, running: bool) {
        self.0.store(running, Ordering::Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// --sim: the simulated pool's pump, as `zone.sim.circulation_running`
/// starts it and [`SimLine::set`] changes it.
#[derive(Debug)]
pub struct SimCirculation {
    pub line: SimLine,
}

impl CirculationInput for SimCirculation {
    fn running(&mut self) -> Result<bool> {
        Ok(self.line.get())
    }
    fn describe(&self) -> String {
        "simulated circulation line".into()
    }
    fn sim_line(&self) -> Option<SimLine> {
        Some(self.line.clone())
    }
}

/// The pump's contact on a GPIO input line; asserted = running.
#[derive(Debug)]
pub struct GpioCirculation {
    input: hearth_linux::GpioInput,
}

impl GpioCirculation {
    pub fn open(zone: &str, cfg: &CirculationGpioConfig) -> Result<GpioCirculation> {
        let line = cfg
            .check()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("zone {zone}: circulation_gpio"))?;
        let input = hearth_linux::GpioInput::open(&line, &format!("hearth {zone} circulation"))
            .with_context(|| format!("zone {zone}: opening circulation_gpio {line}"))?;
        Ok(GpioCirculation { input })
    }
}

impl CirculationInput for GpioCirculation {
    fn running(&mut self) -> Result<bool> {
        self.input.is_asserted().map_err(|e| anyhow::anyhow!("{e}"))
    }
    fn describe(&self) -> String {
        format!("GPIO input {}", self.input.config())
    }
}

/// Every configured input, by zone id.
pub type CirculationInputs = std::collections::BTreeMap<String, Box<dyn CirculationInput>>;

/// One input per zone with `circulation_gpio`: the GPIO line, or in
/// simulation a [`SimCirculation`] starting at `zone.sim.circulation_running`.
pub fn open_all(config: &crate::config::Validated, simulate: bool) -> Result<CirculationInputs> {
    let mut inputs = CirculationInputs::new();
    for zone in &config.zones {
        let Some(cfg) = &zone.circulation_gpio else {
            continue;
        };
        let input: Box<dyn CirculationInput> = if simulate {
            Box::new(SimCirculation {
                line: SimLine::new(zone.sim.circulation_running),
            })
        } else {
            Box::new(GpioCirculation::open(zone.id.as_str(), cfg)?)
        };
        inputs.insert(zone.id.to_string(), input);
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CirculationGpioConfig, String> {
        #[derive(Deserialize)]
        struct W {
            c: CirculationGpioConfig,
        }
        toml::from_str::<W>(&format!("c = {text}"))
            .map(|w| w.c)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_line_config_is_checked_with_clear_errors() {
        let c = parse("{ line = 17 }").expect("defaults");
        let line = c.check().expect("valid");
        assert_eq!(line.chip, PathBuf::from("/dev/gpiochip0"));
        assert_eq!((line.offset, line.active_low), (17, false));
        let c = parse(r#"{ chip = "/dev/gpiochip4", line = 5, active_low = true }"#).expect("ok");
        assert!(c.check().expect("valid").active_low);
        let e = parse(r#"{ chip = "gpiochip0", line = 5 }"#)
            .expect("parses")
            .check()
            .expect_err("not a path");
        assert!(
            e.contains("\"gpiochip0\"") && e.contains("/dev/gpiochip0"),
            "{e}"
        );
        let e = parse("{ line = 5000 }")
            .expect("parses")
            .check()
            .expect_err("too high");
        assert!(e.contains("5000"), "{e}");
        assert!(parse("{ line = -1 }").is_err());
        assert!(parse("{ line = 3, pin = 4 }")
            .expect_err("unknown key")
            .contains("pin"));
        assert!(parse("{ chip = \"/dev/gpiochip0\" }")
            .expect_err("no line")
            .contains("line"));
    }

    #[test]
    fn the_zone_config_accepts_it_on_pools_only() {
        use crate::config::Config;
        let pool = "[[zone]]\nid = \"pool\"\nkind = \"pool\"\nsetpoint_c = 28\n";
        let v = Config::from_toml(
            &format!("{pool}circulation_gpio = {{ line = 17, active_low = true }}\n"),
            std::path::Path::new("t.toml"),
        )
        .expect("valid");
        assert_eq!(
            v.zones[0]
                .circulation_gpio
                .as_ref()
                .map(|c| (c.line, c.active_low)),
            Some((17, true))
        );
        let room = "[[zone]]\nid = \"r\"\ncirculation_gpio = { line = 17 }\n";
        let e = Config::from_toml(room, std::path::Path::new("t.toml"))
            .expect_err("a room has no pump")
            .to_string();
        assert!(
            e.contains("zone[0].circulation_gpio") && e.contains("pool"),
            "{e}"
        );
        let e = Config::from_toml(
            &format!("{pool}circulation_gpio = {{ chip = \"x\", line = 17 }}\n"),
            std::path::Path::new("t.toml"),
        )
        .expect_err("bad chip")
        .to_string();
        assert!(
            e.contains("zone[0].circulation_gpio") && e.contains("\"x\""),
            "{e}"
        );
        // In simulation every configured line becomes a simulated one.
        let v = Config::from_toml(
            &format!("{pool}circulation_gpio = {{ line = 17 }}\n[zone.sim]\ncirculation_running = false\n"),
            std::path::Path::new("t.toml"),
        )
        .expect("valid");
        let mut inputs = open_all(&v, true).expect("sim inputs");
        let input = inputs.get_mut("pool").expect("the pool's input");
        assert!(!input.running().expect("sim"));
        assert!(input.sim_line().is_some());
    }

    #[test]
    fn a_missing_chip_is_refused_at_open_with_the_zone_and_path() {
        let cfg = CirculationGpioConfig {
            chip: "/dev/gpiochip97".into(),
            line: 17,
            active_low: false,
        };
        let e = format!(
            "{:#}",
            GpioCirculation::open("pool", &cfg).expect_err("no chip")
        );
        assert!(e.contains("pool") && e.contains("/dev/gpiochip97"), "{e}");
    }

    #[test]
    fn the_simulated_line_is_shared_and_settable() {
        let mut input = SimCirculation {
            line: SimLine::new(true),
        };
        assert!(input.running().expect("sim"));
        input.sim_line().expect("a sim line").set(false);
        assert!(!input.running().expect("sim"));
    }
}
