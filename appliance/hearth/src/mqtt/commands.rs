//! Commands from Home Assistant, parsed and checked before anything changes.
//! Range checks are the control crate's (the same as the HTTP API's); this
//! module only turns a topic and payload into a typed request or a reason.

use super::topics::Topics;
use hearth_control::{Preset, ZoneMode};

/// Longest command payload accepted; anything longer is refused unread.
pub const MAX_COMMAND_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    SetSetpoint { zone: String, setpoint_c: f64 },
    SetMode { zone: String, mode: ZoneMode },
    SetPreset { zone: String, preset: Preset },
}

impl Command {
    pub fn zone(&self) -> &str {
        match self {
            Command::SetSetpoint { zone, .. }
            | Command::SetMode { zone, .. }
            | Command::SetPreset { zone, .. } => zone,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("not a command topic")]
    NotACommand,
    #[error("unknown command {0:?}")]
    Unknown(String),
    #[error("payload longer than {MAX_COMMAND_BYTES} bytes")]
    TooLong,
    #[error("payload is not UTF-8")]
    NotText,
    #[error("{0:?} is not a temperature")]
    NotANumber(String),
    #[error("{0:?} is not a mode; expected \"off\" or \"heat\"")]
    BadMode(String),
    #[error("{0:?} is not a preset; expected comfort, eco, away, boost or frost")]
    BadPreset(String),
}

/// Parses one message on a command topic. The zone is not checked here: the
/// appliance refuses unknown zones with the same error the API gives.
pub fn parse(topics: &Topics, topic: &str, payload: &[u8]) -> Result<Command, CommandError> {
    let (zone, what) = topics
        .parse_zone_command(topic)
        .ok_or(CommandError::NotACommand)?;
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(CommandError::TooLong);
    }
    let text = std::str::from_utf8(payload)
        .map_err(|_| CommandError::NotText)?
        .trim();
    match what {
        "setpoint" => {
            let setpoint_c = text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| CommandError::NotANumber(text.to_string()))?;
            Ok(Command::SetSetpoint {
                zone: zone.to_string(),
                setpoint_c,
            })
        }
        "mode" => {
            let mode = match text {
                "off" => ZoneMode::Off,
                "heat" => ZoneMode::Heat,
                _ => return Err(CommandError::BadMode(text.to_string())),
            };
            Ok(Command::SetMode {
                zone: zone.to_string(),
                mode,
            })
        }
        "preset" => Preset::parse(text)
            .map(|preset| Command::SetPreset {
                zone: zone.to_string(),
                preset,
            })
            .ok_or_else(|| CommandError::BadPreset(text.to_string())),
        other => Err(CommandError::Unknown(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Topics {
        Topics::new("hearth", "homeassistant", "hearth")
    }

    #[test]
    fn good_commands_parse() {
        assert_eq!(
            parse(&t(), "hearth/zone/office/setpoint/set", b" 22.5\n"),
            Ok(Command::SetSetpoint {
                zone: "office".into(),
                setpoint_c: 22.5
            })
        );
        assert_eq!(
            parse(&t(), "hearth/zone/office/mode/set", b"off"),
            Ok(Command::SetMode {
                zone: "office".into(),
                mode: ZoneMode::Off
            })
        );
        assert_eq!(
            parse(&t(), "hearth/zone/office/preset/set", b"eco"),
            Ok(Command::SetPreset {
                zone: "office".into(),
                preset: Preset::Eco
            })
        );
    }

    #[test]
    fn bad_commands_are_refused_with_a_reason() {
        let cases: [(&str, &[u8], CommandError); 9] = [
            (
                "hearth/zone/o/preset/set",
                b"none",
                CommandError::BadPreset("none".into()),
            ),
            (
                "hearth/zone/o/preset/set",
                b"Eco",
                CommandError::BadPreset("Eco".into()),
            ),
            (
                "hearth/zone/o/setpoint/set",
                b"warm",
                CommandError::NotANumber("warm".into()),
            ),
            (
                "hearth/zone/o/setpoint/set",
                b"NaN",
                CommandError::NotANumber("NaN".into()),
            ),
            (
                "hearth/zone/o/setpoint/set",
                b"inf",
                CommandError::NotANumber("inf".into()),
            ),
            (
                "hearth/zone/o/mode/set",
                b"cool",
                CommandError::BadMode("cool".into()),
            ),
            (
                "hearth/zone/o/mode/set",
                &[0xff, 0xfe],
                CommandError::NotText,
            ),
            ("hearth/zone/o/mode/set", &[b'h'; 65], CommandError::TooLong),
            (
                "hearth/zone/o/fan/set",
                b"1",
                CommandError::Unknown("fan".into()),
            ),
        ];
        for (topic, payload, want) in cases {
            assert_eq!(parse(&t(), topic, payload), Err(want), "{topic}");
        }
        assert_eq!(
            parse(&t(), "hearth/state", b"1"),
            Err(CommandError::NotACommand)
        );
    }
}
