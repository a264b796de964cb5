//! `/metrics` in the Prometheus text exposition format (0.0.4), rendered
//! from the latest status snapshot and the counters the [`Tracker`] keeps.
//! Rendering is a pure function; the handler only gathers its inputs.
//!
//! Both read the snapshot as JSON (the same document `/api/v1/status`
//! serves), not the Rust struct: other modules add fields to the status as
//! they grow, and a new series is one more line here, not a new coupling.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Board states, as the API spells them (one 0/1 series each).
pub const BOARD_STATES: &[&str] = &["idle", "ramping", "running", "tripped", "stopped", "fault"];
/// Zone actions (Home Assistant's climate vocabulary).
pub const ZONE_ACTIONS: &[&str] = &["heating", "idle", "off"];
pub const ZONE_MODES: &[&str] = &["heat", "auto", "off"];
/// Boards the tracker keeps counters for; configs have a handful.
const MAX_TRACKED_BOARDS: usize = 64;
/// A gap between snapshots longer than this is not integrated (the loop
/// stalled or the clock jumped); energy would otherwise be invented.
const MAX_INTEGRATION_GAP_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardCounters {
    pub energy_j: f64,
    pub trips: u64,
    last_state: String,
    last_power_w: f64,
}

/// Counters since the daemon started: energy by board (power integrated over
/// the snapshots' own clock, so a simulation at speed counts simulated
/// joules) and thermal trips (entries into `tripped`). Pure: fed snapshots.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub boards: BTreeMap<String, BoardCounters>,
    last_time_ms: Option<u64>,
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

impl Tracker {
    /// `status` is the `/api/v1/status` JSON.
    pub fn observe(&mut self, status: &Value) {
        let Some(now_ms) = status["time_ms"].as_u64() else {
            return;
        };
        let dt_ms = match self.last_time_ms {
            Some(t) if now_ms <= t => return,
            Some(t) => now_ms - t,
            None => 0,
        };
        self.last_time_ms = Some(now_ms);
        for b in list(&status["boards"]) {
            let id = text(&b["id"]);
            if !self.boards.contains_key(id) && self.boards.len() >= MAX_TRACKED_BOARDS {
                continue;
            }
            let c = self.boards.entry(id.to_string()).or_default();
            if dt_ms <= MAX_INTEGRATION_GAP_MS {
                // Left rectangle: the power seen last held until now.
                c.energy_j += c.last_power_w * dt_ms as f64 / 1000.0;
            }
            c.last_power_w = b["power_w"].as_f64().unwrap_or(0.0);
            let state = text(&b["state"]);
            if state == "tripped" && c.last_state != "tripped" {
                c.trips += 1;
            }
            c.last_state = state.to_string();
        }
    }
}

/// Label values escaped as the format requires.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) struct Out(pub(crate) String);

impl Out {
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", esc(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", fmt_value(value));
    }
    pub(crate) fn one_of(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        key: &str,
        choices: &[&str],
        actual: &str,
    ) {
        for c in choices {
            let mut l = labels.to_vec();
            l.push((key, c));
            self.sample(name, &l, if *c == actual { 1.0 } else { 0.0 });
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// (name, help, JSON key, scale) of a per-zone gauge.
const ZONE_GAUGES: &[(&str, &str, &str, f64)] = &[
    (
        "hearth_zone_temperature_celsius",
        "Zone temperature.",
        "temperature_c",
        1.0,
    ),
    (
        "hearth_zone_setpoint_celsius",
        "Zone setpoint.",
        "setpoint_c",
        1.0,
    ),
    (
        "hearth_zone_power_target_watts",
        "Power the controller asks of the zone's boards.",
        "power_w",
        1.0,
    ),
    (
        "hearth_zone_demand_ratio",
        "Controller demand, 0 to 1.",
        "demand",
        1.0,
    ),
];

/// (name, help, JSON key, scale) of a per-board gauge.
const BOARD_GAUGES: &[(&str, &str, &str, f64)] = &[
    (
        "hearth_board_power_watts",
        "Board power drawn.",
        "power_w",
        1.0,
    ),
    (
        "hearth_board_power_target_watts",
        "Board power target.",
        "power_target_w",
        1.0,
    ),
    (
        "hearth_board_hashrate_gigahashes_per_second",
        "Board hashrate.",
        "hashrate_ghs",
        1.0,
    ),
    (
        "hearth_board_chip_temperature_celsius",
        "Hottest chip temperature.",
        "chip_temp_c",
        1.0,
    ),
    (
        "hearth_board_regulator_temperature_celsius",
        "Voltage regulator temperature.",
        "regulator_temp_c",
        1.0,
    ),
    (
        "hearth_board_fan_duty_ratio",
        "Fan duty, 0 to 1.",
        "fan_duty_percent",
        0.01,
    ),
    ("hearth_board_fan_rpm", "Fan speed.", "fan_rpm", 1.0),
    (
        "hearth_board_frequency_megahertz",
        "Chip clock.",
        "freq_mhz",
        1.0,
    ),
    (
        "hearth_board_voltage_volts",
        "Core voltage.",
        "voltage_mv",
        0.001,
    ),
];

/// The whole exposition from the `/api/v1/status` JSON. Series whose value
/// is unknown (no sensor reading, no snapshot yet) are left out rather than
/// reported as zero.
pub fn render(status: Option<&Value>, tracker: &Tracker, loop_alive: bool) -> String {
    let mut o = Out(String::new());
    o.family("hearth_up", "gauge", "1 while the control loop ticks.");
    o.sample("hearth_up", &[], if loop_alive { 1.0 } else { 0.0 });
    let Some(s) = status else {
        return o.0;
    };
    o.family(
        "hearth_simulated",
        "gauge",
        "1 when running against the simulator.",
    );
    o.sample(
        "hearth_simulated",
        &[],
        if s["simulated"] == true { 1.0 } else { 0.0 },
    );
    if let Some(t) = s["outdoor_temp_c"].as_f64() {
        o.family(
            "hearth_outdoor_temperature_celsius",
            "gauge",
            "Outdoor temperature.",
        );
        o.sample("hearth_outdoor_temperature_celsius", &[], t);
    }
    let zones = list(&s["zones"]);
    for (name, help, key, scale) in ZONE_GAUGES {
        o.family(name, "gauge", help);
        for z in zones {
            if let Some(v) = z[*key].as_f64() {
                o.sample(name, &[("zone", text(&z["id"]))], v * scale);
            }
        }
    }
    o.family(
        "hearth_zone_action",
        "gauge",
        "1 for the zone's current action.",
    );
    for z in zones {
        let l = [("zone", text(&z["id"]))];
        o.one_of(
            "hearth_zone_action",
            &l,
            "action",
            ZONE_ACTIONS,
            text(&z["action"]),
        );
    }
    o.family("hearth_zone_mode", "gauge", "1 for the zone's mode.");
    for z in zones {
        let l = [("zone", text(&z["id"]))];
        o.one_of("hearth_zone_mode", &l, "mode", ZONE_MODES, text(&z["mode"]));
    }
    o.family(
        "hearth_zone_rule_info",
        "gauge",
        "The rule in charge of the zone and why (reason empty when the controller runs freely).",
    );
    for z in zones {
        let reason = z["hold_reason"].as_str();
        let rule = if reason.is_some() {
            "hold"
        } else {
            "controller"
        };
        o.sample(
            "hearth_zone_rule_info",
            &[
                ("zone", text(&z["id"])),
                ("rule", rule),
                ("reason", reason.unwrap_or("")),
            ],
            1.0,
        );
    }
    let boards = list(&s["boards"]);
    for (name, help, key, scale) in BOARD_GAUGES {
        o.family(name, "gauge", help);
        for b in boards {
            if let Some(v) = b[*key].as_f64() {
                let l = [("board", text(&b["id"])), ("zone", text(&b["zone"]))];
                o.sample(name, &l, v * scale);
            }
        }
    }
    o.family("hearth_board_state", "gauge", "1 for the board's state.");
    for b in boards {
        let l = [("board", text(&b["id"]))];
        o.one_of(
            "hearth_board_state",
            &l,
            "state",
            BOARD_STATES,
            text(&b["state"]),
        );
    }
    o.family(
        "hearth_board_energy_joules_total",
        "counter",
        "Energy drawn since the daemon started.",
    );
    for (id, c) in &tracker.boards {
        o.sample(
            "hearth_board_energy_joules_total",
            &[("board", id)],
            c.energy_j,
        );
    }
    o.family(
        "hearth_board_trips_total",
        "counter",
        "Thermal trips since the daemon started.",
    );
    for (id, c) in &tracker.boards {
        o.sample("hearth_board_trips_total", &[("board", id)], c.trips as f64);
    }
    super::metrics_work::render_work(&mut o, &s["work"]);
    o.0
}

/// `render` plus the heat-source policy's rule in charge (`decision` as
/// `GET /api/v1/control` shows it; it is not part of the status).
pub fn render_with_policy(
    status: Option<&Value>,
    tracker: &Tracker,
    loop_alive: bool,
    decision: &Value,
) -> String {
    let mut o = Out(render(status, tracker, loop_alive));
    if status.is_some() {
        super::metrics_work::render_policy(&mut o, decision);
    }
    o.0
}

/// `render_with_policy` plus the sharechain node's height, peers and sync
/// (`chain` as `GET /api/v1/sharechain` shows it; `null` when no node runs).
pub fn render_all(
    status: Option<&Value>,
    tracker: &Tracker,
    loop_alive: bool,
    decision: &Value,
    chain: &Value,
) -> String {
    let mut o = Out(render_with_policy(status, tracker, loop_alive, decision));
    super::metrics_work::render_sharechain(&mut o, chain);
    o.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn status(time_ms: u64, power_w: f64, state: &str) -> Value {
        serde_json::json!({
            "time_ms": time_ms,
            "simulated": true,
            "outdoor_temp_c": -2.5,
            "zones": [{
                "id": "living-room", "name": "Living \"room\"", "kind": "room",
                "temperature_c": 19.25, "setpoint_c": 21.0, "mode": "heat", "action": "heating",
                "power_w": power_w, "demand": 0.5, "hold_reason": "sensor \"stale\"\nfor 30 s",
            }],
            "boards": [{
                "id": "board-0", "zone": "living-room", "model": "m", "state": state,
                "power_w": power_w, "power_target_w": power_w, "hashrate_ghs": 1000.0,
                "chip_temp_c": 60.0, "regulator_temp_c": null, "fan_duty_percent": 40.0,
                "fan_rpm": null, "freq_mhz": 500.0, "voltage_mv": 1250.0,
            }],
        })
    }

    #[test]
    fn energy_and_trips_are_counted() {
        let (running, tripped) = ("running", "tripped");
        let mut t = Tracker::default();
        t.observe(&status(0, 1000.0, running));
        t.observe(&status(10_000, 500.0, running)); // 1000 W for 10 s
        t.observe(&status(10_000, 9999.0, tripped)); // same instant: ignored
        t.observe(&status(12_000, 0.0, tripped)); // 500 W for 2 s
        t.observe(&status(13_000, 0.0, tripped));
        t.observe(&status(14_000, 0.0, running));
        t.observe(&status(15_000, 0.0, tripped));
        let c = &t.boards["board-0"];
        assert_eq!(c.energy_j, 11_000.0);
        assert_eq!(c.trips, 2);
    }

    #[test]
    fn exposition_has_units_labels_and_escapes() {
        let mut t = Tracker::default();
        let s = status(0, 800.0, "running");
        t.observe(&s);
        let text = render(Some(&s), &t, true);
        assert!(text.contains("hearth_up 1\n"));
        assert!(text.contains("hearth_zone_temperature_celsius{zone=\"living-room\"} 19.25\n"));
        assert!(text
            .contains("hearth_board_voltage_volts{board=\"board-0\",zone=\"living-room\"} 1.25\n"));
        assert!(text.contains("hearth_board_state{board=\"board-0\",state=\"running\"} 1\n"));
        assert!(text.contains("hearth_board_state{board=\"board-0\",state=\"tripped\"} 0\n"));
        assert!(text.contains("reason=\"sensor \\\"stale\\\"\\nfor 30 s\""));
        assert!(
            !text.contains("hearth_board_regulator_temperature_celsius{"),
            "unknown values are left out"
        );
        // Every sample line belongs to a declared family.
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(families.contains(&name), "{line}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn before_the_first_tick_only_up_is_reported() {
        let text = render(None, &Tracker::default(), false);
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 1);
        assert!(text.contains("hearth_up 0"));
    }
}
