//! The entity table: what Hearth shows in Home Assistant, and the discovery
//! payloads (device-based and per-entity) that announce it. Pure: built from
//! the configuration, no broker, no clock.
//!
//! Each sensor-like entity is one row of a table ([`DEVICE_ROWS`],
//! [`ZONE_ROWS`], [`BOARD_ROWS`]); the row carries both its discovery fields
//! and the function that computes its value from the status snapshot, so the
//! state JSON and the discovery can never disagree. Adding an entity when
//! the daemon grows a figure (earnings, shares, heat-only mode) is one row.

use super::topics::Topics;
use crate::state::{BoardView, Status, ZoneView};
use hearth_control::{Economics, ZoneLimits};
use serde_json::{json, Map, Value};

/// Home Assistant's MQTT platforms Hearth uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Platform {
    Climate,
    Sensor,
    BinarySensor,
    Number,
    Select,
    Switch,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Climate => "climate",
            Platform::Sensor => "sensor",
            Platform::BinarySensor => "binary_sensor",
            Platform::Number => "number",
            Platform::Select => "select",
            Platform::Switch => "switch",
        }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        [
            Platform::Climate,
            Platform::Sensor,
            Platform::BinarySensor,
            Platform::Number,
            Platform::Select,
            Platform::Switch,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// What the daemon is configured with, as far as entities go.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// Device name shown in Home Assistant.
    pub device_name: String,
    pub sw_version: String,
    pub zones: Vec<CatalogZone>,
    pub boards: Vec<CatalogBoard>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogZone {
    pub id: String,
    pub name: String,
    pub limits: ZoneLimits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogBoard {
    pub id: String,
    pub zone: String,
    pub profile: String,
}

impl Catalog {
    pub fn from_config(config: &crate::config::Validated) -> Catalog {
        Catalog {
            device_name: "Hearth".into(),
            sw_version: env!("CARGO_PKG_VERSION").into(),
            zones: config
                .zones
                .iter()
                .map(|z| CatalogZone {
                    id: z.id.to_string(),
                    name: z.name.clone(),
                    limits: z.limits,
                })
                .collect(),
            boards: config
                .raw
                .hashboards
                .iter()
                .map(|b| CatalogBoard {
                    id: b.id.clone(),
                    zone: b.zone.clone(),
                    profile: b.profile.clone(),
                })
                .collect(),
        }
    }
}

/// Energy counters the MQTT side integrates from power (see `energy`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EnergyKwh {
    pub electricity_kwh: f64,
}

/// How a device-level row computes its value.
/// How a device-level row computes its value; the economics are the
/// policy's running totals since the daemon started (`None`: not known).
pub type DeviceValue = fn(&Status, EnergyKwh, Option<&Economics>) -> Value;
/// How a zone row computes its value.
pub type ZoneValue = fn(&ZoneView) -> Value;
/// How a board row computes its value.
pub type BoardValue = fn(&BoardView, EnergyKwh) -> Value;

/// One sensor-like entity: discovery fields plus how to compute its value.
#[derive(Debug)]
pub struct Row<F> {
    /// Stable key: part of the component id and the JSON state's key. Never rename.
    pub key: &'static str,
    pub name: &'static str,
    pub platform: Platform,
    /// Extra discovery fields (unit, device_class, state_class, ...).
    pub fields: fn() -> Value,
    pub diagnostic: bool,
    pub value: F,
}

fn on_off(b: bool) -> Value {
    Value::from(if b { "ON" } else { "OFF" })
}

fn round(x: f64, places: i32) -> Value {
    let f = 10f64.powi(places);
    json!((x * f).round() / f)
}

fn opt(x: Option<f64>, places: i32) -> Value {
    x.map_or(Value::Null, |v| round(v, places))
}

fn power_fields() -> Value {
    json!({"unit_of_measurement": "W", "device_class": "power", "state_class": "measurement"})
}
fn energy_fields() -> Value {
    json!({"unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing", "suggested_display_precision": 3})
}
fn temp_fields() -> Value {
    json!({"unit_of_measurement": "°C", "device_class": "temperature", "state_class": "measurement"})
}
fn hashrate_fields() -> Value {
    json!({"unit_of_measurement": "TH/s", "state_class": "measurement", "icon": "mdi:pickaxe"})
}

/// The whole appliance: power, energy, hashrate, faults, the work
/// pipeline's heat-only mode, shares and earnings, the policy's economics.
pub const DEVICE_ROWS: &[Row<DeviceValue>] = &[
    Row {
        key: "power",
        name: "Power",
        platform: Platform::Sensor,
        fields: power_fields,
        diagnostic: false,
        value: |s, _, _| round(s.boards.iter().map(|b| b.power_w).sum(), 1),
    },
    Row {
        key: "energy",
        name: "Energy",
        platform: Platform::Sensor,
        fields: energy_fields,
        diagnostic: false,
        value: |_, e, _| round(e.electricity_kwh, 4),
    },
    // Every watt a hashboard draws ends up as heat in the zone it sits in.
    Row {
        key: "heat_delivered",
        name: "Heat delivered",
        platform: Platform::Sensor,
        fields: energy_fields,
        diagnostic: false,
        value: |_, e, _| round(e.electricity_kwh, 4),
    },
    Row {
        key: "hashrate",
        name: "Hashrate",
        platform: Platform::Sensor,
        fields: hashrate_fields,
        diagnostic: false,
        value: |s, _, _| {
            round(
                s.boards.iter().map(|b| b.hashrate_ghs).sum::<f64>() / 1000.0,
                3,
            )
        },
    },
    Row {
        key: "fault",
        name: "Fault",
        platform: Platform::BinarySensor,
        fields: || json!({"device_class": "problem"}),
        diagnostic: false,
        value: |s, _, _| on_off(s.boards.iter().any(board_faulted)),
    },
    // The work pipeline (status.work); null until the work service runs.
    Row {
        key: "heat_only",
        name: "Heat-only mode",
        platform: Platform::BinarySensor,
        fields: || json!({"icon": "mdi:radiator"}),
        diagnostic: false,
        value: |s, _, _| {
            s.work.as_ref().map_or(Value::Null, |w| {
                on_off(matches!(w.mode, hearth_work::WorkMode::HeatOnly { .. }))
            })
        },
    },
    Row {
        key: "shares_accepted",
        name: "Shares accepted",
        platform: Platform::Sensor,
        fields: || json!({"state_class": "total_increasing", "icon": "mdi:check-decagram"}),
        diagnostic: false,
        value: |s, _, _| {
            s.work.as_ref().map_or(Value::Null, |w| {
                json!(w
                    .sources
                    .iter()
                    .map(|x| x.stats.counters.accepted)
                    .sum::<u64>())
            })
        },
    },
    // What the active source is expected to pay at the boards' hashrate.
    Row {
        key: "estimated_earnings",
        name: "Estimated earnings",
        platform: Platform::Sensor,
        fields: || json!({"unit_of_measurement": "sat/d", "state_class": "measurement", "icon": "mdi:bitcoin"}),
        diagnostic: false,
        value: |s, _, _| {
            let active = s
                .work
                .as_ref()
                .and_then(|w| w.sources.iter().find(|x| x.active));
            opt(active.and_then(|x| x.stats.expected_sat_per_day), 0)
        },
    },
    // Money since the daemon started, in the tariff's currency (Hearth is
    // not told which, so no unit and no `monetary` class); `total`, not
    // `total_increasing`: the net cost falls while mining earns.
    Row {
        key: "net_heat_cost",
        name: "Net heat cost",
        platform: Platform::Sensor,
        fields: || json!({"state_class": "total", "icon": "mdi:cash-minus"}),
        diagnostic: false,
        value: |_, _, e| opt(e.map(Economics::net_cost), 4),
    },
    Row {
        key: "electricity_cost",
        name: "Electricity cost",
        platform: Platform::Sensor,
        fields: || json!({"state_class": "total", "icon": "mdi:cash"}),
        diagnostic: false,
        value: |_, _, e| opt(e.map(|e| e.electricity_cost), 4),
    },
    Row {
        key: "mining_revenue",
        name: "Mining revenue",
        platform: Platform::Sensor,
        fields: || json!({"state_class": "total", "icon": "mdi:cash-plus"}),
        diagnostic: false,
        value: |_, _, e| opt(e.map(|e| e.revenue), 4),
    },
];

/// One row per zone value (the zone's climate entity is built separately).
pub const ZONE_ROWS: &[Row<ZoneValue>] = &[
    // What the controller asks of the zone's boards; they follow within a tick or a ramp.
    Row {
        key: "power_target",
        name: "power target",
        platform: Platform::Sensor,
        fields: power_fields,
        diagnostic: true,
        value: |z| round(z.power_w, 1),
    },
    // Safety mode: heating wanted but the zone's temperature is unknown
    // (stale or failed sensor), so the controller runs on its safe fallback.
    Row {
        key: "safety_mode",
        name: "safety mode",
        platform: Platform::BinarySensor,
        fields: || json!({"device_class": "problem"}),
        diagnostic: false,
        value: |z| on_off(z.mode != hearth_control::ZoneMode::Off && z.temperature_c.is_none()),
    },
    Row {
        key: "heating",
        name: "heating",
        platform: Platform::BinarySensor,
        fields: || json!({"device_class": "heat"}),
        diagnostic: false,
        value: |z| on_off(z.action == "heating"),
    },
    Row {
        key: "hold_reason",
        name: "hold reason",
        platform: Platform::Sensor,
        fields: || json!({"icon": "mdi:information-outline"}),
        diagnostic: true,
        value: |z| Value::from(z.hold_reason.clone().unwrap_or_else(|| "none".into())),
    },
];

pub const BOARD_ROWS: &[Row<BoardValue>] = &[
    Row {
        key: "power",
        name: "power",
        platform: Platform::Sensor,
        fields: power_fields,
        diagnostic: false,
        value: |b, _| round(b.power_w, 1),
    },
    Row {
        key: "energy",
        name: "energy",
        platform: Platform::Sensor,
        fields: energy_fields,
        diagnostic: false,
        value: |_, e| round(e.electricity_kwh, 4),
    },
    Row {
        key: "hashrate",
        name: "hashrate",
        platform: Platform::Sensor,
        fields: hashrate_fields,
        diagnostic: true,
        value: |b, _| round(b.hashrate_ghs / 1000.0, 3),
    },
    Row {
        key: "chip_temp",
        name: "chip temperature",
        platform: Platform::Sensor,
        fields: temp_fields,
        diagnostic: true,
        value: |b, _| opt(b.chip_temp_c, 1),
    },
    Row {
        key: "board_temp",
        name: "board temperature",
        platform: Platform::Sensor,
        fields: temp_fields,
        diagnostic: true,
        value: |b, _| opt(b.regulator_temp_c, 1),
    },
    Row {
        key: "fan",
        name: "fan",
        platform: Platform::Sensor,
        fields: || json!({"unit_of_measurement": "%", "state_class": "measurement", "icon": "mdi:fan"}),
        diagnostic: true,
        value: |b, _| round(b.fan_duty_percent, 0),
    },
    Row {
        key: "frequency",
        name: "frequency",
        platform: Platform::Sensor,
        fields: || json!({"unit_of_measurement": "MHz", "device_class": "frequency", "state_class": "measurement"}),
        diagnostic: true,
        value: |b, _| opt(b.freq_mhz, 2),
    },
    Row {
        key: "state",
        name: "state",
        platform: Platform::Sensor,
        fields: || json!({"device_class": "enum", "options": ["idle", "ramping", "running", "tripped", "stopped", "fault"]}),
        diagnostic: true,
        value: |b, _| board_state_str(b),
    },
    Row {
        key: "fault",
        name: "fault",
        platform: Platform::BinarySensor,
        fields: || json!({"device_class": "problem"}),
        diagnostic: false,
        value: |b, _| on_off(board_faulted(b)),
    },
];

fn board_faulted(b: &BoardView) -> bool {
    matches!(
        b.state,
        hearth_core::BoardState::Fault | hearth_core::BoardState::Tripped
    )
}

fn board_state_str(b: &BoardView) -> Value {
    serde_json::to_value(b.state).unwrap_or(Value::Null)
}

/// One announced entity, ready for either discovery style.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub platform: Platform,
    /// Stable component id; also the object id and the unique id's tail.
    pub id: String,
    /// The platform's discovery fields (no device, origin or availability).
    pub fields: Map<String, Value>,
}

/// Ids Home Assistant accepts as object ids: `[a-z0-9_]`.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn row_entity<F>(node: &str, scope: &str, label: &str, state_topic: &str, row: &Row<F>) -> Entity {
    let id = if scope.is_empty() {
        format!("{node}_{}", row.key)
    } else {
        format!("{node}_{scope}_{}", row.key)
    };
    let mut fields = match (row.fields)() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let name = if label.is_empty() {
        row.name.to_string()
    } else {
        format!("{label} {}", row.name)
    };
    fields.insert("name".into(), name.into());
    fields.insert("state_topic".into(), state_topic.into());
    fields.insert(
        "value_template".into(),
        format!("{{{{ value_json.{} }}}}", row.key).into(),
    );
    if row.platform == Platform::BinarySensor {
        fields.insert("payload_on".into(), "ON".into());
        fields.insert("payload_off".into(), "OFF".into());
    }
    if row.diagnostic {
        fields.insert("entity_category".into(), "diagnostic".into());
    }
    Entity {
        platform: row.platform,
        id,
        fields,
    }
}

fn climate_entity(node: &str, topics: &Topics, zone: &CatalogZone) -> Entity {
    let state = topics.zone_state(&zone.id);
    let fields = json!({
        "name": zone.name,
        "modes": ["off", "heat"],
        "mode_state_topic": state,
        "mode_state_template": "{{ value_json.mode }}",
        "mode_command_topic": topics.zone_command(&zone.id, "mode"),
        "temperature_state_topic": state,
        "temperature_state_template": "{{ value_json.setpoint_c }}",
        "temperature_command_topic": topics.zone_command(&zone.id, "setpoint"),
        "current_temperature_topic": state,
        "current_temperature_template": "{{ value_json.temperature_c }}",
        "action_topic": state,
        "action_template": "{{ value_json.action }}",
        // The control crate's presets; `none` (no preset: a setpoint typed
        // by hand) is Home Assistant's own and never listed.
        "preset_modes": hearth_control::Preset::ALL.map(hearth_control::Preset::as_str),
        "preset_mode_state_topic": state,
        "preset_mode_value_template": "{{ value_json.preset }}",
        "preset_mode_command_topic": topics.zone_command(&zone.id, "preset"),
        "min_temp": zone.limits.min_setpoint_c.get(),
        "max_temp": zone.limits.max_setpoint_c.get(),
        "temp_step": 0.5,
        "precision": 0.1,
        "temperature_unit": "C",
        "optimistic": false,
        "qos": 1,
    });
    Entity {
        platform: Platform::Climate,
        id: format!("{node}_{}_climate", slug(&zone.id)),
        fields: match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    }
}

/// Every entity for this configuration, in a stable order.
pub fn entities(catalog: &Catalog, topics: &Topics) -> Vec<Entity> {
    let node = topics.node();
    let mut out = Vec::new();
    for row in DEVICE_ROWS {
        out.push(row_entity(node, "", "", &topics.device_state(), row));
    }
    out.extend(super::controls::entities(topics));
    for zone in &catalog.zones {
        out.push(climate_entity(node, topics, zone));
        let state = topics.zone_state(&zone.id);
        for row in ZONE_ROWS {
            out.push(row_entity(node, &slug(&zone.id), &zone.name, &state, row));
        }
    }
    for board in &catalog.boards {
        let state = topics.board_state(&board.id);
        for row in BOARD_ROWS {
            out.push(row_entity(node, &slug(&board.id), &board.id, &state, row));
        }
    }
    out
}

fn device_block(catalog: &Catalog, node: &str) -> Value {
    json!({
        "identifiers": [node],
        "name": catalog.device_name,
        "manufacturer": "Hearth",
        "model": "Hashboard heater",
        "sw_version": catalog.sw_version,
    })
}

fn origin_block(catalog: &Catalog) -> Value {
    json!({"name": "hearth", "sw_version": catalog.sw_version})
}

/// Per-entity discovery: one retained `(topic, payload)` per entity.
pub fn per_entity_discovery(
    catalog: &Catalog,
    topics: &Topics,
    entities: &[Entity],
) -> Vec<(String, String)> {
    entities
        .iter()
        .map(|e| {
            let mut m = e.fields.clone();
            m.insert("unique_id".into(), e.id.clone().into());
            m.insert("object_id".into(), e.id.clone().into());
            m.insert("availability_topic".into(), topics.availability().into());
            m.insert("device".into(), device_block(catalog, topics.node()));
            m.insert("origin".into(), origin_block(catalog));
            (
                topics.entity_config(e.platform, &e.id),
                Value::Object(m).to_string(),
            )
        })
        .collect()
}

/// Device-based discovery: one retained payload listing every component.
/// `removed` are component ids announced before and gone now; they are sent
/// once with only their platform, which is how Home Assistant removes them.
pub fn device_discovery(
    catalog: &Catalog,
    topics: &Topics,
    entities: &[Entity],
    removed: &[(String, Platform)],
) -> (String, String) {
    let mut cmps = Map::new();
    for e in entities {
        let mut m = e.fields.clone();
        m.insert("platform".into(), e.platform.as_str().into());
        m.insert("unique_id".into(), e.id.clone().into());
        m.insert("object_id".into(), e.id.clone().into());
        cmps.insert(e.id.clone(), Value::Object(m));
    }
    for (id, platform) in removed {
        if !cmps.contains_key(id) {
            cmps.insert(id.clone(), json!({"platform": platform.as_str()}));
        }
    }
    let payload = json!({
        "device": device_block(catalog, topics.node()),
        "origin": origin_block(catalog),
        "availability_topic": topics.availability(),
        "qos": 1,
        "components": Value::Object(cmps),
    });
    (topics.device_config(), payload.to_string())
}

/// Components announced in a device discovery payload seen on the broker
/// (ours, retained from an earlier run), excluding ones already marked
/// removed (platform only). Bad payloads give none.
pub fn announced_components(payload: &[u8]) -> Vec<(String, Platform)> {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(payload) else {
        return Vec::new();
    };
    let cmps = doc.get("components").or_else(|| doc.get("cmps"));
    let Some(Value::Object(cmps)) = cmps else {
        return Vec::new();
    };
    cmps.iter()
        .filter_map(|(id, c)| {
            let c = c.as_object()?;
            if c.len() <= 1 {
                return None;
            }
            let p = c.get("platform").or_else(|| c.get("p"))?.as_str()?;
            Some((id.clone(), Platform::parse(p)?))
        })
        .collect()
}

/// The settings behind the control entities and the climates' presets.
pub struct SettingsNow<'a> {
    pub view: super::controls::ControlsView,
    /// The preset a zone holds now (`None`: a setpoint set by hand).
    pub zone_preset: &'a dyn Fn(&str) -> Option<hearth_control::Preset>,
}

impl std::fmt::Debug for SettingsNow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsNow")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

/// The JSON state documents: `(topic, payload)` for the device, each zone
/// and each board, computed by the same rows that announced them.
pub fn states(
    catalog: &Catalog,
    topics: &Topics,
    status: &Status,
    device_energy: EnergyKwh,
    board_energy: &dyn Fn(&str) -> EnergyKwh,
    economics: Option<&Economics>,
    controls: &SettingsNow<'_>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut doc = Map::new();
    for row in DEVICE_ROWS {
        doc.insert(
            row.key.into(),
            (row.value)(status, device_energy, economics),
        );
    }
    out.push((topics.device_state(), Value::Object(doc).to_string()));
    out.push((topics.control_state(), controls.view.state()));
    for zone in &catalog.zones {
        let Some(z) = status.zones.iter().find(|z| z.id == zone.id) else {
            continue;
        };
        let mut doc = Map::new();
        doc.insert("mode".into(), z.mode.as_str().into());
        doc.insert("setpoint_c".into(), round(z.setpoint_c, 2));
        // null renders as "None" in Home Assistant's templates: no reading.
        doc.insert("temperature_c".into(), opt(z.temperature_c, 2));
        doc.insert("action".into(), z.action.into());
        let preset = (controls.zone_preset)(&zone.id);
        doc.insert(
            "preset".into(),
            preset.map_or("none", hearth_control::Preset::as_str).into(),
        );
        for row in ZONE_ROWS {
            doc.insert(row.key.into(), (row.value)(z));
        }
        out.push((topics.zone_state(&zone.id), Value::Object(doc).to_string()));
    }
    for board in &catalog.boards {
        let Some(b) = status.boards.iter().find(|b| b.id == board.id) else {
            continue;
        };
        let energy = board_energy(&board.id);
        let mut doc = Map::new();
        for row in BOARD_ROWS {
            doc.insert(row.key.into(), (row.value)(b, energy));
        }
        out.push((
            topics.board_state(&board.id),
            Value::Object(doc).to_string(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_core::Celsius;

    fn catalog(boards: &[&str]) -> Catalog {
        Catalog {
            device_name: "Hearth".into(),
            sw_version: "0.1.0".into(),
            zones: vec![CatalogZone {
                id: "living-room".into(),
                name: "Living room".into(),
                limits: ZoneLimits {
                    min_setpoint_c: Celsius(5.0),
                    max_setpoint_c: Celsius(28.0),
                    hard_max_c: Celsius(30.0),
                },
            }],
            boards: boards
                .iter()
                .map(|b| CatalogBoard {
                    id: (*b).into(),
                    zone: "living-room".into(),
                    profile: "generic-bm1370-65".into(),
                })
                .collect(),
        }
    }

    fn topics() -> Topics {
        Topics::new("hearth", "homeassistant", "hearth")
    }

    #[test]
    fn device_discovery_lists_every_component_with_stable_ids() {
        let c = catalog(&["board-0"]);
        let t = topics();
        let ents = entities(&c, &t);
        assert_eq!(
            ents.len(),
            DEVICE_ROWS.len() + 3 + 1 + ZONE_ROWS.len() + BOARD_ROWS.len()
        );
        let (topic, payload) = device_discovery(&c, &t, &ents, &[]);
        assert_eq!(topic, "homeassistant/device/hearth/config");
        let doc: Value = serde_json::from_str(&payload).expect("json");
        assert_eq!(doc["availability_topic"], "hearth/status");
        assert_eq!(doc["device"]["identifiers"][0], "hearth");
        assert_eq!(doc["origin"]["name"], "hearth");
        let cmps = doc["components"].as_object().expect("components");
        let climate = &cmps["hearth_living_room_climate"];
        assert_eq!(climate["platform"], "climate");
        assert_eq!(climate["modes"], json!(["off", "heat"]));
        assert_eq!(
            climate["temperature_command_topic"],
            "hearth/zone/living-room/setpoint/set"
        );
        assert_eq!(climate["max_temp"], 28.0);
        assert_eq!(
            climate["preset_modes"],
            json!(["comfort", "eco", "away", "boost", "frost"])
        );
        assert_eq!(
            climate["preset_mode_command_topic"],
            "hearth/zone/living-room/preset/set"
        );
        assert_eq!(cmps["hearth_mining"]["platform"], "switch");
        assert_eq!(cmps["hearth_strategy"]["platform"], "select");
        assert_eq!(cmps["hearth_power_limit"]["platform"], "number");
        let energy = &cmps["hearth_energy"];
        assert_eq!(energy["device_class"], "energy");
        assert_eq!(energy["state_class"], "total_increasing");
        assert_eq!(energy["unit_of_measurement"], "kWh");
        assert_eq!(
            cmps["hearth_board_0_chip_temp"]["entity_category"],
            "diagnostic"
        );
        assert!(cmps["hearth_power"].get("entity_category").is_none());
        for (id, c) in cmps {
            assert_eq!(c["unique_id"], id.as_str());
        }
        // What we announced is read back as announced.
        let mut back = announced_components(payload.as_bytes());
        back.sort();
        let mut want: Vec<(String, Platform)> =
            ents.iter().map(|e| (e.id.clone(), e.platform)).collect();
        want.sort();
        assert_eq!(back, want);
    }

    #[test]
    fn a_removed_board_is_sent_with_its_platform_only_once() {
        let t = topics();
        let before = device_discovery(
            &catalog(&["b1", "b2"]),
            &t,
            &entities(&catalog(&["b1", "b2"]), &t),
            &[],
        )
        .1;
        let now = catalog(&["b1"]);
        let ents = entities(&now, &t);
        let removed: Vec<_> = announced_components(before.as_bytes())
            .into_iter()
            .filter(|(id, _)| !ents.iter().any(|e| &e.id == id))
            .collect();
        assert_eq!(removed.len(), BOARD_ROWS.len());
        assert!(removed.iter().all(|(id, _)| id.starts_with("hearth_b2_")));
        let after = device_discovery(&now, &t, &ents, &removed).1;
        let doc: Value = serde_json::from_str(&after).expect("json");
        assert_eq!(
            doc["components"]["hearth_b2_power"],
            json!({"platform": "sensor"})
        );
        // Platform-only entries are not "announced": no removal loop.
        assert_eq!(announced_components(after.as_bytes()).len(), ents.len());
        assert!(announced_components(b"not json").is_empty());
    }

    #[test]
    fn per_entity_topics_and_payloads() {
        let c = catalog(&["board-0"]);
        let t = topics();
        let msgs = per_entity_discovery(&c, &t, &entities(&c, &t));
        let (topic, payload) = msgs
            .iter()
            .find(|(topic, _)| topic.contains("/binary_sensor/"))
            .expect("a binary sensor");
        assert!(
            topic.starts_with("homeassistant/binary_sensor/hearth/"),
            "{topic}"
        );
        let doc: Value = serde_json::from_str(payload).expect("json");
        assert_eq!(doc["payload_on"], "ON");
        assert_eq!(doc["device"]["name"], "Hearth");
        assert_eq!(doc["availability_topic"], "hearth/status");
    }
}
