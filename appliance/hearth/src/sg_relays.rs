//! The two SG-Ready output relays: GPIO lines on the character device on
//! real hardware (`[sg_ready_output]` in the config file), a simulated pair
//! in `--sim`. Which relay state to show is decided by
//! `hearth_control::SgReadyOutput`; this only writes it. Both lines are
//! requested at "normal" (`00`, both released) and return to it when the
//! pair is dropped, so the heat pump is never left blocked by a daemon that
//! is gone.

use anyhow::{Context, Result};
use serde::Deserialize;

/// `[sg_ready_output]`: the two relay lines, `[CHIP:]OFFSET[:active-low]`
/// (e.g. `"gpiochip0:22"`). Both or neither.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgReadyOutputConfig {
    pub relay1: Option<String>,
    pub relay2: Option<String>,
}

impl SgReadyOutputConfig {
    /// Checks the pair (both lines or neither, each parses).
    pub fn check(&self) -> Result<(), String> {
        match (&self.relay1, &self.relay2) {
            (None, None) => Ok(()),
            (Some(a), Some(b)) => {
                for line in [a, b] {
                    line.parse::<hearth_linux::LineConfig>()
                        .map_err(|e| e.to_string())?;
                }
                if a == b {
                    return Err("relay1 and relay2 must be different lines".into());
                }
                Ok(())
            }
            _ => Err("set both relay1 and relay2, or neither".into()),
        }
    }
}

/// A pair of relay outputs. `set` must not block beyond a GPIO ioctl.
pub trait RelayPair: Send + std::fmt::Debug {
    fn set(&mut self, relay1: bool, relay2: bool) -> Result<()>;
    /// What is driven, for the API and the logs.
    fn describe(&self) -> String;
}

/// --sim: remembers what it was told.
#[derive(Debug, Default)]
pub struct SimRelays {
    pub state: (bool, bool),
    pub writes: u64,
}

impl RelayPair for SimRelays {
    fn set(&mut self, relay1: bool, relay2: bool) -> Result<()> {
        self.state = (relay1, relay2);
        self.writes += 1;
        Ok(())
    }

    fn describe(&self) -> String {
        "simulated relay pair".into()
    }
}

/// Two GPIO output lines; asserted = relay closed.
pub struct GpioRelays {
    lines: [hearth_linux::GpioOutput; 2],
    names: String,
}

impl std::fmt::Debug for GpioRelays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names)
    }
}

impl GpioRelays {
    /// Requests both lines, already released (SG-Ready "normal").
    pub fn open(cfg: &SgReadyOutputConfig) -> Result<Option<GpioRelays>> {
        let (Some(a), Some(b)) = (&cfg.relay1, &cfg.relay2) else {
            return Ok(None);
        };
        let open = |key: &str, line: &str| -> Result<hearth_linux::GpioOutput> {
            let config: hearth_linux::LineConfig = line
                .parse()
                .with_context(|| format!("config key `sg_ready_output.{key}`"))?;
            hearth_linux::GpioOutput::open(&config, &format!("hearth sg-ready {key}"), false)
                .with_context(|| format!("config key `sg_ready_output.{key}`: opening {line}"))
        };
        Ok(Some(GpioRelays {
            lines: [open("relay1", a)?, open("relay2", b)?],
            names: format!("GPIO relays {a} / {b}"),
        }))
    }
}

impl RelayPair for GpioRelays {
    fn set(&mut self, relay1: bool, relay2: bool) -> Result<()> {
        let [l1, l2] = &mut self.lines;
        l1.set_asserted(relay1).context("SG-Ready relay1")?;
        l2.set_asserted(relay2).context("SG-Ready relay2")?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.names.clone()
    }
}

impl Drop for GpioRelays {
    fn drop(&mut self) {
        // Normal at exit, before the lines are released.
        let _ = self.set(false, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_needs_both_lines_or_neither() {
        assert!(SgReadyOutputConfig::default().check().is_ok());
        let one = SgReadyOutputConfig {
            relay1: Some("gpiochip0:22".into()),
            relay2: None,
        };
        assert!(one.check().expect_err("refused").contains("both"));
        let same = SgReadyOutputConfig {
            relay1: Some("22".into()),
            relay2: Some("22".into()),
        };
        assert!(same.check().expect_err("refused").contains("different"));
        let bad = SgReadyOutputConfig {
            relay1: Some("gpiochip0:x".into()),
            relay2: Some("23".into()),
        };
        assert!(bad.check().expect_err("refused").contains("not a number"));
        let good = SgReadyOutputConfig {
            relay1: Some("gpiochip0:22".into()),
            relay2: Some("gpiochip0:23:active-low".into()),
        };
        assert!(good.check().is_ok());
        // No lines: no GPIO pair (and nothing opened).
        assert!(GpioRelays::open(&SgReadyOutputConfig::default())
            .expect("nothing to open")
            .is_none());
    }
}
