//! Every MQTT topic Hearth uses, derived from the configured base topic,
//! discovery prefix and client id in one place.

use super::entities::{slug, Platform};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
    prefix: String,
    node: String,
}

impl Topics {
    pub fn new(base: &str, prefix: &str, client_id: &str) -> Topics {
        Topics {
            base: base.to_string(),
            prefix: prefix.to_string(),
            node: slug(client_id),
        }
    }

    /// The node id in discovery topics and the prefix of every object id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// `online` / `offline` (retained; `offline` is also the last will).
    pub fn availability(&self) -> String {
        format!("{}/status", self.base)
    }

    /// Home Assistant's own birth/last-will topic.
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    pub fn device_state(&self) -> String {
        format!("{}/state", self.base)
    }

    /// What Hearth makes of the house inputs (`HouseSnapshot` as JSON).
    pub fn inputs(&self) -> String {
        format!("{}/inputs", self.base)
    }

    pub fn zone_state(&self, zone: &str) -> String {
        format!("{}/zone/{zone}/state", self.base)
    }

    pub fn board_state(&self, board: &str) -> String {
        format!("{}/board/{board}/state", self.base)
    }

    /// A LAN miner's state (`mqtt/lan_workers.rs`).
    pub fn lan_worker_state(&self, worker: &str) -> String {
        format!("{}/lan/{worker}/state", self.base)
    }

    /// `<base>/zone/<id>/<what>/set`.
    pub fn zone_command(&self, zone: &str, what: &str) -> String {
        format!("{}/zone/{zone}/{what}/set", self.base)
    }

    /// The subscription that catches every zone command.
    pub fn zone_command_filter(&self) -> String {
        format!("{}/zone/+/+/set", self.base)
    }

    /// `(zone, what)` of a zone command topic, if it is one.
    pub fn parse_zone_command<'a>(&self, topic: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = topic
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/zone/")?;
        let rest = rest.strip_suffix("/set")?;
        let (zone, what) = rest.split_once('/')?;
        if zone.is_empty() || what.is_empty() || what.contains('/') {
            return None;
        }
        Some((zone, what))
    }

    /// The appliance-wide settings (site limit, strategy, mining), JSON.
    pub fn control_state(&self) -> String {
        format!("{}/control/state", self.base)
    }

    /// `<base>/control/<what>/set`.
    pub fn control_command(&self, what: &str) -> String {
        format!("{}/control/{what}/set", self.base)
    }

    pub fn control_command_filter(&self) -> String {
        format!("{}/control/+/set", self.base)
    }

    /// `what` of a control command topic, if it is one.
    pub fn parse_control_command<'a>(&self, topic: &'a str) -> Option<&'a str> {
        let what = topic
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/control/")?
            .strip_suffix("/set")?;
        (!what.is_empty() && !what.contains('/')).then_some(what)
    }

    pub fn entity_config(&self, platform: Platform, object_id: &str) -> String {
        format!(
            "{}/{}/{}/{object_id}/config",
            self.prefix,
            platform.as_str(),
            self.node
        )
    }

    /// Matches every per-entity config of this node, so stale ones are found.
    pub fn entity_config_filter(&self) -> String {
        format!("{}/+/{}/+/config", self.prefix, self.node)
    }

    /// `(platform, object_id)` of one of our per-entity config topics.
    pub fn parse_entity_config<'a>(&self, topic: &'a str) -> Option<(Platform, &'a str)> {
        let rest = topic
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('/')?;
        let mut parts = rest.split('/');
        let platform = Platform::parse(parts.next()?)?;
        if parts.next()? != self.node {
            return None;
        }
        let object_id = parts.next()?;
        (parts.next()? == "config" && parts.next().is_none()).then_some((platform, object_id))
    }

    pub fn device_config(&self) -> String {
        format!("{}/device/{}/config", self.prefix, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_built_and_parsed_back() {
        let t = Topics::new("house/hearth", "homeassistant", "Hearth-1");
        assert_eq!(t.node(), "hearth_1");
        assert_eq!(t.availability(), "house/hearth/status");
        let cmd = t.zone_command("living-room", "setpoint");
        assert_eq!(cmd, "house/hearth/zone/living-room/setpoint/set");
        assert_eq!(
            t.parse_zone_command(&cmd),
            Some(("living-room", "setpoint"))
        );
        assert_eq!(t.parse_zone_command("house/hearth/zone/a/b/c/set"), None);
        assert_eq!(t.parse_zone_command("other/zone/a/mode/set"), None);
        let cfg = t.entity_config(Platform::BinarySensor, "hearth_1_fault");
        assert_eq!(
            cfg,
            "homeassistant/binary_sensor/hearth_1/hearth_1_fault/config"
        );
        assert_eq!(
            t.parse_entity_config(&cfg),
            Some((Platform::BinarySensor, "hearth_1_fault"))
        );
        assert_eq!(
            t.parse_entity_config("homeassistant/sensor/other/x/config"),
            None
        );
        assert_eq!(t.device_config(), "homeassistant/device/hearth_1/config");
        let ctl = t.control_command("mining");
        assert_eq!(ctl, "house/hearth/control/mining/set");
        assert_eq!(t.parse_control_command(&ctl), Some("mining"));
        assert_eq!(
            t.parse_control_command("house/hearth/control/a/b/set"),
            None
        );
        assert_eq!(t.parse_control_command("house/hearth/control/state"), None);
        assert_eq!(t.parse_zone_command(&ctl), None);
    }
}
