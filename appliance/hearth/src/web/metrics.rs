//! `/metrics` in the Prometheus text exposition format (0.0.4), rendered
//! from the latest status snapshot and the counters the [`Tracker`] keeps.
//! Rendering is a pure function; the handler only gathers its inputs.

use crate::state::Status;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Board states, as the API spells them (one 0/1 series each).
pub const BOARD_STATES: &[&str] = &["idle", "ramping", "running", "tripped", "stopped", "fault"];
/// Zone actions (Home Assistant's climate vocabulary).
pub const ZONE_ACTIONS: &[&str] = &["heating", "idle", "off"];
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

fn state_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".into(),
    }
}

impl Tracker {
    pub fn observe(&mut self, status: &Status) {
        let dt_ms = match self.last_time_ms {
            Some(t) if status.time_ms <= t => return,
            Some(t) => status.time_ms - t,
            None => 0,
        };
        self.last_time_ms = Some(status.time_ms);
        for b in &status.boards {
            if !self.boards.contains_key(&b.id) && self.boards.len() >= MAX_TRACKED_BOARDS {
                continue;
            }
            let c = self.boards.entry(b.id.clone()).or_default();
            if dt_ms <= MAX_INTEGRATION_GAP_MS {
                // Left rectangle: the power seen last held until now.
                c.energy_j += c.last_power_w * dt_ms as f64 / 1000.0;
            }
            c.last_power_w = b.power_w;
            let state = state_name(&b.state);
            if state == "tripped" && c.last_state != "tripped" {
                c.trips += 1;
            }
            c.last_state = state;
        }
    }
}

/// Reads one gauge of a board; `None` when the board does not know it.
type BoardGauge = fn(&crate::state::BoardView) -> Option<f64>;

/// Label values escaped as the format requires.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
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

/// The whole exposition. Series whose value is unknown (no sensor reading,
/// no snapshot yet) are left out rather than reported as zero.
pub fn render(status: Option<&Status>, tracker: &Tracker, loop_alive: bool) -> String {
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
    o.sample("hearth_simulated", &[], if s.simulated { 1.0 } else { 0.0 });
    if let Some(t) = s.outdoor_temp_c {
        o.family(
            "hearth_outdoor_temperature_celsius",
            "gauge",
            "Outdoor temperature.",
        );
        o.sample("hearth_outdoor_temperature_celsius", &[], t);
    }

    o.family(
        "hearth_zone_temperature_celsius",
        "gauge",
        "Zone temperature.",
    );
    for z in &s.zones {
        if let Some(t) = z.temperature_c {
            o.sample("hearth_zone_temperature_celsius", &[("zone", &z.id)], t);
        }
    }
    o.family("hearth_zone_setpoint_celsius", "gauge", "Zone setpoint.");
    for z in &s.zones {
        o.sample(
            "hearth_zone_setpoint_celsius",
            &[("zone", &z.id)],
            z.setpoint_c,
        );
    }
    o.family(
        "hearth_zone_power_target_watts",
        "gauge",
        "Power the controller asks of the zone's boards.",
    );
    for z in &s.zones {
        o.sample(
            "hearth_zone_power_target_watts",
            &[("zone", &z.id)],
            z.power_w,
        );
    }
    o.family(
        "hearth_zone_demand_ratio",
        "gauge",
        "Controller demand, 0 to 1.",
    );
    for z in &s.zones {
        o.sample("hearth_zone_demand_ratio", &[("zone", &z.id)], z.demand);
    }
    o.family(
        "hearth_zone_action",
        "gauge",
        "1 for the zone's current action.",
    );
    for z in &s.zones {
        for a in ZONE_ACTIONS {
            let v = if z.action == *a { 1.0 } else { 0.0 };
            o.sample("hearth_zone_action", &[("zone", &z.id), ("action", a)], v);
        }
    }
    o.family("hearth_zone_mode", "gauge", "1 for the zone's mode.");
    for z in &s.zones {
        let mode = state_name(&z.mode);
        for m in ["heat", "off"] {
            let v = if mode == m { 1.0 } else { 0.0 };
            o.sample("hearth_zone_mode", &[("zone", &z.id), ("mode", m)], v);
        }
    }
    o.family(
        "hearth_zone_rule_info",
        "gauge",
        "The rule in charge of the zone and why (reason empty when the controller runs freely).",
    );
    for z in &s.zones {
        let rule = if z.hold_reason.is_some() {
            "hold"
        } else {
            "controller"
        };
        let reason = z.hold_reason.as_deref().unwrap_or("");
        o.sample(
            "hearth_zone_rule_info",
            &[("zone", &z.id), ("rule", rule), ("reason", reason)],
            1.0,
        );
    }

    let board_gauges: [(&str, &str, BoardGauge); 9] = [
        ("hearth_board_power_watts", "Board power drawn.", |b| {
            Some(b.power_w)
        }),
        (
            "hearth_board_power_target_watts",
            "Board power target.",
            |b| Some(b.power_target_w),
        ),
        (
            "hearth_board_hashrate_gigahashes_per_second",
            "Board hashrate.",
            |b| Some(b.hashrate_ghs),
        ),
        (
            "hearth_board_chip_temperature_celsius",
            "Hottest chip temperature.",
            |b| b.chip_temp_c,
        ),
        (
            "hearth_board_regulator_temperature_celsius",
            "Voltage regulator temperature.",
            |b| b.regulator_temp_c,
        ),
        ("hearth_board_fan_duty_ratio", "Fan duty, 0 to 1.", |b| {
            Some(b.fan_duty_percent / 100.0)
        }),
        ("hearth_board_fan_rpm", "Fan speed.", |b| b.fan_rpm),
        ("hearth_board_frequency_megahertz", "Chip clock.", |b| {
            b.freq_mhz
        }),
        ("hearth_board_voltage_volts", "Core voltage.", |b| {
            b.voltage_mv.map(|mv| mv / 1000.0)
        }),
    ];
    for (name, help, get) in board_gauges {
        o.family(name, "gauge", help);
        for b in &s.boards {
            if let Some(v) = get(b) {
                o.sample(name, &[("board", &b.id), ("zone", &b.zone)], v);
            }
        }
    }
    o.family("hearth_board_state", "gauge", "1 for the board's state.");
    for b in &s.boards {
        let state = state_name(&b.state);
        for st in BOARD_STATES {
            let v = if state == *st { 1.0 } else { 0.0 };
            o.sample("hearth_board_state", &[("board", &b.id), ("state", st)], v);
        }
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
    o.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::state::{BoardView, ZoneView};

    fn status(time_ms: u64, power_w: f64, state: hearth_core::BoardState) -> Status {
        Status {
            time_ms,
            simulated: true,
            outdoor_temp_c: Some(-2.5),
            zones: vec![ZoneView {
                id: "living-room".into(),
                name: "Living \"room\"".into(),
                kind: hearth_control::ZoneKind::Room,
                temperature_c: Some(19.25),
                setpoint_c: 21.0,
                mode: hearth_control::ZoneMode::Heat,
                action: "heating",
                power_w,
                demand: 0.5,
                hold_reason: Some("sensor \"stale\"\nfor 30 s".into()),
            }],
            boards: vec![BoardView {
                id: "board-0".into(),
                zone: "living-room".into(),
                model: "m".into(),
                state,
                power_w,
                power_target_w: power_w,
                hashrate_ghs: 1000.0,
                chip_temp_c: Some(60.0),
                regulator_temp_c: None,
                fan_duty_percent: 40.0,
                fan_rpm: None,
                freq_mhz: Some(500.0),
                voltage_mv: Some(1250.0),
            }],
        }
    }

    #[test]
    fn energy_and_trips_are_counted() {
        use hearth_core::BoardState::{Running, Tripped};
        let mut t = Tracker::default();
        t.observe(&status(0, 1000.0, Running));
        t.observe(&status(10_000, 500.0, Running)); // 1000 W for 10 s
        t.observe(&status(10_000, 9999.0, Tripped)); // same instant: ignored
        t.observe(&status(12_000, 0.0, Tripped)); // 500 W for 2 s
        t.observe(&status(13_000, 0.0, Tripped));
        t.observe(&status(14_000, 0.0, Running));
        t.observe(&status(15_000, 0.0, Tripped));
        let c = &t.boards["board-0"];
        assert_eq!(c.energy_j, 11_000.0);
        assert_eq!(c.trips, 2);
    }

    #[test]
    fn exposition_has_units_labels_and_escapes() {
        let mut t = Tracker::default();
        let s = status(0, 800.0, hearth_core::BoardState::Running);
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
