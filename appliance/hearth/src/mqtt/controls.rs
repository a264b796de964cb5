//! The appliance-wide settings Home Assistant can change: the site power
//! limit (`number`), the heat-source strategy (`select`) and the mining
//! switch (`switch`). Pure: their discovery entities, their state document
//! and the parsing of their commands. Changing them goes through the same
//! functions as the HTTP API (`api_control::set_site_limit`, `set_policy`,
//! `set_mining`), called from `mod.rs`.

use super::commands::MAX_COMMAND_BYTES;
use super::entities::{Entity, Platform};
use super::topics::Topics;
use serde_json::{json, Map, Value};

/// Highest site limit the API accepts (`PUT /api/v1/control/site`).
pub const MAX_SITE_LIMIT_W: f64 = 1e6;

/// The heat-source strategy the `select` offers: the policy's own named
/// rule sets (`hearth_control::Strategy`, documented there).
pub use hearth_control::Strategy;

/// What the control entities show, read from the control settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlsView {
    pub site_limit_w: Option<f64>,
    pub strategy: Strategy,
    pub mining_enabled: bool,
}

impl ControlsView {
    pub fn from_settings(s: &crate::house_control::ControlSettings) -> ControlsView {
        ControlsView {
            site_limit_w: s.site_limit_w,
            strategy: s.policy.strategy(),
            mining_enabled: s.mining_enabled,
        }
    }

    /// The state document on `<base>/control/state`. A missing limit is
    /// `null`, which Home Assistant's number shows as unknown.
    pub fn state(&self) -> String {
        json!({
            "power_limit_w": self.site_limit_w,
            "strategy": self.strategy.as_str(),
            "mining": if self.mining_enabled { "ON" } else { "OFF" },
        })
        .to_string()
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The three control entities, in a stable order.
pub fn entities(topics: &Topics) -> Vec<Entity> {
    let node = topics.node();
    let state = topics.control_state();
    vec![
        Entity {
            platform: Platform::Number,
            id: format!("{node}_power_limit"),
            fields: object(json!({
                "name": "Power limit",
                "state_topic": state,
                // null renders as "None": Home Assistant's reset payload (no limit).
                "value_template": "{{ value_json.power_limit_w }}",
                "command_topic": topics.control_command("power_limit"),
                "min": 0,
                "max": MAX_SITE_LIMIT_W,
                "step": 10,
                "mode": "box",
                "unit_of_measurement": "W",
                "device_class": "power",
                "icon": "mdi:transmission-tower",
                "entity_category": "config",
                "optimistic": false,
                "qos": 1,
            })),
        },
        Entity {
            platform: Platform::Select,
            id: format!("{node}_strategy"),
            fields: object(json!({
                "name": "Heat-source strategy",
                "state_topic": state,
                "value_template": "{{ value_json.strategy }}",
                "command_topic": topics.control_command("strategy"),
                "options": Strategy::ALL.map(Strategy::as_str),
                "icon": "mdi:heat-pump",
                "entity_category": "config",
                "optimistic": false,
                "qos": 1,
            })),
        },
        Entity {
            platform: Platform::Switch,
            id: format!("{node}_mining"),
            fields: object(json!({
                "name": "Mining",
                "state_topic": state,
                "value_template": "{{ value_json.mining }}",
                "command_topic": topics.control_command("mining"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "state_on": "ON",
                "state_off": "OFF",
                "icon": "mdi:pickaxe",
                "optimistic": false,
                "qos": 1,
            })),
        },
    ]
}

/// A command for one of the control entities.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlCommand {
    /// `None` removes the limit.
    SetPowerLimit(Option<f64>),
    SetStrategy(Strategy),
    SetMining(bool),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlCommandError {
    #[error("not a control command topic")]
    NotACommand,
    #[error("unknown control {0:?}")]
    Unknown(String),
    #[error("payload longer than {MAX_COMMAND_BYTES} bytes")]
    TooLong,
    #[error("payload is not UTF-8")]
    NotText,
    #[error("{0:?} is not a power in W (or \"none\" for no limit)")]
    NotAPower(String),
    #[error("{0:?} is not a strategy; expected one of \"economic\", \"heat_pump_first\", \"miner_first\", \"pv_only\"")]
    BadStrategy(String),
    #[error("{0:?} is not ON or OFF")]
    NotOnOff(String),
}

/// Parses one message on `<base>/control/<what>/set`. Ranges are checked
/// by the API's functions, not here.
pub fn parse(
    topics: &Topics,
    topic: &str,
    payload: &[u8],
) -> Result<ControlCommand, ControlCommandError> {
    let what = topics
        .parse_control_command(topic)
        .ok_or(ControlCommandError::NotACommand)?;
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(ControlCommandError::TooLong);
    }
    let text = std::str::from_utf8(payload)
        .map_err(|_| ControlCommandError::NotText)?
        .trim();
    match what {
        "power_limit" => {
            if text.eq_ignore_ascii_case("none") {
                return Ok(ControlCommand::SetPowerLimit(None));
            }
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|w| ControlCommand::SetPowerLimit(Some(w)))
                .ok_or_else(|| ControlCommandError::NotAPower(text.to_string()))
        }
        "strategy" => Strategy::parse(text)
            .map(ControlCommand::SetStrategy)
            .ok_or_else(|| ControlCommandError::BadStrategy(text.to_string())),
        "mining" => match text {
            "ON" => Ok(ControlCommand::SetMining(true)),
            "OFF" => Ok(ControlCommand::SetMining(false)),
            _ => Err(ControlCommandError::NotOnOff(text.to_string())),
        },
        other => Err(ControlCommandError::Unknown(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_control::PolicySettings;

    fn t() -> Topics {
        Topics::new("hearth", "homeassistant", "hearth")
    }

    #[test]
    fn commands_parse_and_bad_ones_are_refused_with_a_reason() {
        let ok = [
            (
                "power_limit",
                "1500",
                ControlCommand::SetPowerLimit(Some(1500.0)),
            ),
            (
                "power_limit",
                " None\n",
                ControlCommand::SetPowerLimit(None),
            ),
            (
                "strategy",
                "heat_pump_first",
                ControlCommand::SetStrategy(Strategy::HeatPumpFirst),
            ),
            (
                "strategy",
                "miner_first",
                ControlCommand::SetStrategy(Strategy::MinerFirst),
            ),
            (
                "strategy",
                "pv_only",
                ControlCommand::SetStrategy(Strategy::PvOnly),
            ),
            ("mining", "OFF", ControlCommand::SetMining(false)),
            ("mining", "ON", ControlCommand::SetMining(true)),
        ];
        for (what, payload, want) in ok {
            let topic = t().control_command(what);
            assert_eq!(parse(&t(), &topic, payload.as_bytes()), Ok(want), "{topic}");
        }
        let bad: [(&str, &[u8], ControlCommandError); 7] = [
            (
                "power_limit",
                b"lots",
                ControlCommandError::NotAPower("lots".into()),
            ),
            (
                "power_limit",
                b"NaN",
                ControlCommandError::NotAPower("NaN".into()),
            ),
            (
                "strategy",
                b"cheapest",
                ControlCommandError::BadStrategy("cheapest".into()),
            ),
            ("mining", b"on", ControlCommandError::NotOnOff("on".into())),
            ("mining", &[0xff], ControlCommandError::NotText),
            ("mining", &[b'O'; 65], ControlCommandError::TooLong),
            ("fan", b"1", ControlCommandError::Unknown("fan".into())),
        ];
        for (what, payload, want) in bad {
            let topic = t().control_command(what);
            assert_eq!(parse(&t(), &topic, payload), Err(want), "{topic}");
        }
        assert_eq!(
            parse(&t(), "hearth/zone/a/mode/set", b"off"),
            Err(ControlCommandError::NotACommand)
        );
    }

    #[test]
    fn a_strategy_changes_the_strategy_and_nothing_else() {
        let base = PolicySettings {
            pv_soak: false,
            cheap_preheat: true,
            ..PolicySettings::default()
        };
        assert_eq!(base.strategy(), Strategy::Economic);
        let hp = Strategy::HeatPumpFirst.applied_to(&base);
        assert!(!hp.economic_switch);
        assert_eq!(hp.strategy(), Strategy::HeatPumpFirst);
        assert_eq!(
            PolicySettings {
                economic_switch: true,
                strategy: None,
                ..hp.clone()
            },
            base
        );
        let mf = Strategy::MinerFirst.applied_to(&hp);
        assert_eq!(mf.strategy(), Strategy::MinerFirst);
        assert_eq!(
            PolicySettings {
                strategy: Some(Strategy::HeatPumpFirst),
                ..mf
            },
            hp
        );
        assert_eq!(
            Strategy::Economic.applied_to(&hp),
            PolicySettings {
                strategy: Some(Strategy::Economic),
                ..base
            }
        );
    }

    #[test]
    fn entities_and_state_agree() {
        let ents = entities(&t());
        let ids: Vec<_> = ents.iter().map(|e| (e.platform, e.id.as_str())).collect();
        assert_eq!(
            ids,
            vec![
                (Platform::Number, "hearth_power_limit"),
                (Platform::Select, "hearth_strategy"),
                (Platform::Switch, "hearth_mining"),
            ]
        );
        for e in &ents {
            assert_eq!(e.fields["state_topic"], "hearth/control/state");
            let cmd = e.fields["command_topic"].as_str().expect("command topic");
            assert!(t().parse_control_command(cmd).is_some(), "{cmd}");
        }
        assert_eq!(
            ents[1].fields["options"],
            json!(["economic", "heat_pump_first", "miner_first", "pv_only"])
        );
        let view = ControlsView {
            site_limit_w: None,
            strategy: Strategy::HeatPumpFirst,
            mining_enabled: false,
        };
        let doc: Value = serde_json::from_str(&view.state()).expect("json");
        assert_eq!(
            doc,
            json!({"power_limit_w": null, "strategy": "heat_pump_first", "mining": "OFF"})
        );
    }
}
