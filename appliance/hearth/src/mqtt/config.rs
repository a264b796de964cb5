//! The `[mqtt]` configuration section: broker, identity, topics, discovery
//! style and the house inputs. Validated once at start-up; every error names
//! its key like the rest of the config file.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct MqttConfigError {
    pub key: String,
    pub reason: String,
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> MqttConfigError {
    MqttConfigError {
        key: format!("mqtt.{}", key.into()),
        reason: reason.into(),
    }
}

/// How discovery is announced to Home Assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryStyle {
    /// One retained `<prefix>/device/<node_id>/config` (Home Assistant 2024.11 and later).
    Device,
    /// One retained config per entity (`<prefix>/<component>/<node_id>/<object_id>/config`),
    /// for Home Assistant releases before 2024.11.
    PerEntity,
}

/// `Debug` leaves the password out (it must never reach a log).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Off unless set: Hearth heats without any broker.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// TLS to the broker, verified against this CA certificate (PEM).
    pub tls_ca_file: Option<PathBuf>,
    pub client_id: String,
    /// Where Hearth's own state and command topics live.
    pub base_topic: String,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    pub discovery: DiscoveryStyle,
    /// Seconds between keep-alive pings; the broker declares us gone
    /// (and publishes the last will) after 1.5 times this.
    pub keep_alive_s: u64,
    /// Seconds between state publications (only changed values are sent).
    pub state_interval_s: u64,
    /// Longest wait between reconnection attempts.
    pub max_backoff_s: u64,
    pub inputs: InputsConfig,
}

impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("client_id", &self.client_id)
            .field("base_topic", &self.base_topic)
            .field("discovery_prefix", &self.discovery_prefix)
            .field("discovery", &self.discovery)
            .field("keep_alive_s", &self.keep_alive_s)
            .field("state_interval_s", &self.state_interval_s)
            .field("max_backoff_s", &self.max_backoff_s)
            .field("inputs", &self.inputs)
            .finish()
    }
}

impl Default for MqttConfig {
    fn default() -> MqttConfig {
        MqttConfig {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 1883,
            username: None,
            password: None,
            tls_ca_file: None,
            client_id: "hearth".into(),
            base_topic: "hearth".into(),
            discovery_prefix: "homeassistant".into(),
            discovery: DiscoveryStyle::Device,
            keep_alive_s: 30,
            state_interval_s: 10,
            max_backoff_s: 60,
            inputs: InputsConfig::default(),
        }
    }
}

/// One input from the house: a state topic (a plain value, as Home
/// Assistant's MQTT statestream publishes it, or JSON with `json_key`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputTopic {
    pub topic: String,
    /// Take this key of a JSON object payload instead of the whole payload.
    #[serde(default)]
    pub json_key: Option<String>,
    /// A value older than this is stale and falls back safely.
    #[serde(default)]
    pub max_age_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputsConfig {
    /// Default staleness limit for inputs that set none.
    pub max_age_s: u64,
    pub outdoor_temp_c: Option<InputTopic>,
    /// Electricity price per kWh, in the house's currency.
    pub electricity_price_per_kwh: Option<InputTopic>,
    /// PV power that would otherwise be exported, W.
    pub pv_surplus_w: Option<InputTopic>,
    /// Heat pump running (on/off).
    pub heat_pump_running: Option<InputTopic>,
    /// SG Ready state: `10`/`00`/`01`/`11` (relay 1, relay 2) or 1..4.
    pub sg_ready: Option<InputTopic>,
    /// Someone at home (on/off, home/not_home).
    pub presence: Option<InputTopic>,
    /// Per zone id: another sensor's temperature and window contacts.
    pub zone: BTreeMap<String, ZoneInputs>,
}

impl Default for InputsConfig {
    fn default() -> InputsConfig {
        InputsConfig {
            max_age_s: 900,
            outdoor_temp_c: None,
            electricity_price_per_kwh: None,
            pv_surplus_w: None,
            heat_pump_running: None,
            sg_ready: None,
            presence: None,
            zone: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoneInputs {
    pub temperature_c: Option<InputTopic>,
    /// Window/door contacts; any open one counts as open.
    pub windows: Vec<InputTopic>,
    /// A pool's circulation pump (on/off): the pool heats only while a
    /// fresh reading says on.
    pub circulation: Option<InputTopic>,
}

/// A topic segment Hearth builds into topics and ids: no wildcards, no
/// separators, nothing Home Assistant's object ids refuse.
fn check_segment(key: &str, value: &str) -> Result<(), MqttConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{value:?} must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"),
        ))
    }
}

/// A topic prefix: segments separated by '/', no wildcards.
fn check_prefix(key: &str, value: &str) -> Result<(), MqttConfigError> {
    if value.is_empty()
        || value.len() > 128
        || value.starts_with('/')
        || value.ends_with('/')
        || value.contains("//")
        || value.contains(['+', '#', '\0'])
    {
        return Err(invalid(
            key,
            format!("{value:?} must be a topic without wildcards or empty levels"),
        ));
    }
    Ok(())
}

fn check_input(key: &str, input: &InputTopic) -> Result<(), MqttConfigError> {
    let t = &input.topic;
    if t.is_empty() || t.len() > 256 || t.contains(['+', '#', '\0']) {
        return Err(invalid(
            format!("{key}.topic"),
            format!("{t:?} must be a topic without wildcards"),
        ));
    }
    if let Some(age) = input.max_age_s {
        if !(1..=7 * 86_400).contains(&age) {
            return Err(invalid(
                format!("{key}.max_age_s"),
                "must be between 1 and 604800 s",
            ));
        }
    }
    Ok(())
}

impl MqttConfig {
    /// Checks every key; `zone_ids` are the configured zones.
    pub fn validate(&self, zone_ids: &[&str]) -> Result<(), MqttConfigError> {
        if self.host.trim().is_empty() || self.host.len() > 253 {
            return Err(invalid("host", "must be a host name or address"));
        }
        if self.port == 0 {
            return Err(invalid("port", "must be between 1 and 65535"));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(invalid("password", "a password needs a username"));
        }
        if let Some(ca) = &self.tls_ca_file {
            if !ca.is_file() {
                return Err(invalid(
                    "tls_ca_file",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        check_segment("client_id", &self.client_id)?;
        check_prefix("base_topic", &self.base_topic)?;
        check_prefix("discovery_prefix", &self.discovery_prefix)?;
        if !(5..=3600).contains(&self.keep_alive_s) {
            return Err(invalid("keep_alive_s", "must be between 5 and 3600 s"));
        }
        if !(1..=3600).contains(&self.state_interval_s) {
            return Err(invalid("state_interval_s", "must be between 1 and 3600 s"));
        }
        if !(1..=3600).contains(&self.max_backoff_s) {
            return Err(invalid("max_backoff_s", "must be between 1 and 3600 s"));
        }
        let inputs = &self.inputs;
        if !(1..=7 * 86_400).contains(&inputs.max_age_s) {
            return Err(invalid(
                "inputs.max_age_s",
                "must be between 1 and 604800 s",
            ));
        }
        for (name, input) in [
            ("outdoor_temp_c", &inputs.outdoor_temp_c),
            (
                "electricity_price_per_kwh",
                &inputs.electricity_price_per_kwh,
            ),
            ("pv_surplus_w", &inputs.pv_surplus_w),
            ("heat_pump_running", &inputs.heat_pump_running),
            ("sg_ready", &inputs.sg_ready),
            ("presence", &inputs.presence),
        ] {
            if let Some(input) = input {
                check_input(&format!("inputs.{name}"), input)?;
            }
        }
        for (zone, z) in &inputs.zone {
            if !zone_ids.contains(&zone.as_str()) {
                return Err(invalid(
                    format!("inputs.zone.{zone}"),
                    "no [[zone]] with this id",
                ));
            }
            if let Some(t) = &z.temperature_c {
                check_input(&format!("inputs.zone.{zone}.temperature_c"), t)?;
            }
            if let Some(t) = &z.circulation {
                check_input(&format!("inputs.zone.{zone}.circulation"), t)?;
            }
            if z.windows.len() > 16 {
                return Err(invalid(
                    format!("inputs.zone.{zone}.windows"),
                    "at most 16 contacts",
                ));
            }
            for (i, w) in z.windows.iter().enumerate() {
                check_input(&format!("inputs.zone.{zone}.windows[{i}]"), w)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> MqttConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn defaults_are_valid_and_off() {
        let c = MqttConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.validate(&["a"]), Ok(()));
        assert_eq!(c.discovery, DiscoveryStyle::Device);
    }

    #[test]
    fn full_section_parses() {
        let c = parse(
            r#"
            enabled = true
            host = "broker.lan"
            port = 8883
            username = "hearth"
            password = "secret"
            client_id = "hearth-cellar"
            base_topic = "house/hearth"
            discovery_prefix = "ha"
            discovery = "per_entity"
            [inputs]
            outdoor_temp_c = { topic = "homeassistant/sensor/outdoor/state" }
            sg_ready = { topic = "heatpump/sg", max_age_s = 120 }
            [inputs.zone.office]
            temperature_c = { topic = "zigbee/office", json_key = "temperature" }
            windows = [{ topic = "homeassistant/binary_sensor/office_window/state" }]
            "#,
        );
        assert_eq!(c.validate(&["office"]), Ok(()));
        assert_eq!(c.discovery, DiscoveryStyle::PerEntity);
        assert_eq!(c.port, 8883);
        assert_eq!(c.inputs.zone["office"].windows.len(), 1);
    }

    #[test]
    fn bad_values_are_named() {
        let cases: [(&str, &str); 9] = [
            ("client_id = \"hearth/x\"", "mqtt.client_id"),
            ("base_topic = \"hearth/#\"", "mqtt.base_topic"),
            ("discovery_prefix = \"\"", "mqtt.discovery_prefix"),
            ("port = 0", "mqtt.port"),
            ("password = \"x\"", "mqtt.password"),
            ("keep_alive_s = 1", "mqtt.keep_alive_s"),
            ("tls_ca_file = \"/nonexistent/ca.pem\"", "mqtt.tls_ca_file"),
            (
                "[inputs]\npresence = { topic = \"house/+/presence\" }",
                "mqtt.inputs.presence.topic",
            ),
            (
                "[inputs.zone.cellar]\ntemperature_c = { topic = \"t\" }",
                "mqtt.inputs.zone.cellar",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).validate(&["office"]).unwrap_err();
            assert_eq!(err.key, key, "{text}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<MqttConfig>("hots = \"x\"").unwrap_err();
        assert!(err.to_string().contains("hots"), "{err}");
        let err =
            toml::from_str::<MqttConfig>("[inputs]\noutdoor = { topic = \"x\" }").unwrap_err();
        assert!(err.to_string().contains("outdoor"), "{err}");
    }

    #[test]
    fn the_daemon_config_file_checks_the_section() {
        use crate::config::Config;
        let path = std::path::Path::new("test.toml");
        let base = "[[zone]]\nid = \"office\"\n";
        let ok = Config::from_toml(
            &format!("{base}[mqtt]\nenabled = true\nhost = \"ha.lan\"\n"),
            path,
        )
        .expect("valid");
        assert!(ok.raw.mqtt.enabled);
        assert_eq!(ok.raw.mqtt.host, "ha.lan");
        assert!(
            !Config::from_toml(base, path)
                .expect("valid")
                .raw
                .mqtt
                .enabled
        );
        let err = Config::from_toml(&format!("{base}[mqtt]\nclient_id = \"a b\"\n"), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mqtt.client_id"), "{err}");
        let err = Config::from_toml(
            &format!("{base}[mqtt.inputs.zone.attic]\nwindows = []\n"),
            path,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mqtt.inputs.zone.attic"), "{err}");
    }
}
