//! The heat-source policy and the control settings the API changes, wired
//! into `hearth run`: before every control tick the policy decides from the
//! house inputs (fed by the API and by
//! `mqtt::inputs::HouseInputs::feed_policy`) and the appliance applies
//! the decision; after it the boards' measured efficiency is kept for the
//! economic switch.
//!
//! Settings (policy, tariff, heat-pump COP curve, hashprice, schedules,
//! preset tables) live in `control.json` in the data directory, written
//! atomically (temporary file, fsync, rename) *before* a change is applied,
//! so an acknowledged change survives a crash and a failed write changes
//! nothing. The live house inputs and the economics totals live in
//! `control-live.json` beside it: a house input set through the API is
//! written there before it is acknowledged; MQTT-fed inputs and the totals
//! are written every [`LIVE_SAVE_EVERY`] and at shutdown. Each input keeps
//! its observation time, so after a restart a stale one still reads as
//! "unknown"; a live file that does not parse is ignored with a warning
//! (heating must not wait on a price or a kWh counter).

use crate::state::{lock, Shared};
use anyhow::{Context, Result};
use hearth_control::{
    Appliance, CopCurve, Decision, Economics, HouseInputs, Interval, Policy, PolicySettings,
    PresetTable, Schedule, ScheduleEntry, Tariff, TickReport,
};
use hearth_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const CONTROL_FILE: &str = "control.json";
pub const LIVE_FILE: &str = "control-live.json";
/// How often the control loop writes the live file (control time).
pub const LIVE_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// What `control-live.json` holds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveState {
    pub house: HouseInputs,
    pub economics: Economics,
}
/// Largest settings file accepted (a bound on what a restart reads).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Schedule entries per zone.
pub const MAX_SCHEDULE_ENTRIES: usize = 64;

fn default_tariff() -> Tariff {
    Tariff::Fixed { per_kwh: 0.30 }
}

/// Everything persisted about control besides each zone's setpoint and mode
/// (those stay in the SQLite store, as before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSettings {
    pub policy: PolicySettings,
    /// The tariff used while no live price is fresh.
    pub tariff: Tariff,
    /// The heat pump's COP against outdoor temperature; none: no heat pump.
    pub heat_pump_cop: Option<CopCurve>,
    /// Hashprice used while no live value is fresh, per TH/s per day.
    pub hashprice_per_th_day: f64,
    pub schedules: BTreeMap<String, Vec<ScheduleEntry>>,
    pub presets: BTreeMap<String, PresetTable>,
    /// Most power all boards together may draw, W; none: no limit.
    pub site_limit_w: Option<f64>,
    /// Mining on (default) or off ("heat only": the boards heat as the
    /// thermostat asks on local heat-only work, nothing is submitted).
    pub mining_enabled: bool,
}

impl Default for ControlSettings {
    fn default() -> ControlSettings {
        ControlSettings {
            policy: PolicySettings::default(),
            tariff: default_tariff(),
            heat_pump_cop: None,
            hashprice_per_th_day: 0.05,
            schedules: BTreeMap::new(),
            presets: BTreeMap::new(),
            site_limit_w: None,
            mining_enabled: true,
        }
    }
}

/// Checks a tariff: finite prices, a time-of-use table with 1..=48 entries
/// inside the day.
pub fn check_tariff(t: &Tariff) -> Result<(), String> {
    let price_ok = |p: f64| p.is_finite() && (-10.0..=100.0).contains(&p);
    match t {
        Tariff::Fixed { per_kwh } if price_ok(*per_kwh) => Ok(()),
        Tariff::Fixed { .. } => Err("tariff.per_kwh must be between -10 and 100".into()),
        Tariff::TimeOfUse { entries } => {
            if entries.is_empty() || entries.len() > 48 {
                return Err("tariff.entries needs 1 to 48 entries".into());
            }
            for (i, (at, p)) in entries.iter().enumerate() {
                if *at >= 86_400 || !price_ok(*p) {
                    return Err(format!(
                        "tariff.entries[{i}]: time must be within the day, price between -10 and 100"
                    ));
                }
                if i > 0 && *at <= entries[i - 1].0 {
                    return Err(format!("tariff.entries[{i}]: times must increase"));
                }
            }
            Ok(())
        }
    }
}

/// Checks a COP curve: 1..=32 points, increasing temperatures, COP 1..=10.
pub fn check_cop(c: &CopCurve) -> Result<(), String> {
    if c.0.is_empty() || c.0.len() > 32 {
        return Err("heat_pump_cop needs 1 to 32 [outdoor_c, cop] points".into());
    }
    for (i, [t, cop]) in c.0.iter().enumerate() {
        if !(t.is_finite() && cop.is_finite() && (1.0..=10.0).contains(cop)) {
            return Err(format!("heat_pump_cop[{i}]: COP must be between 1 and 10"));
        }
        if i > 0 && *t <= c.0[i - 1][0] {
            return Err(format!(
                "heat_pump_cop[{i}]: outdoor temperatures must increase"
            ));
        }
    }
    Ok(())
}

impl ControlSettings {
    /// Everything that does not need the zones.
    pub fn check(&self) -> Result<(), String> {
        self.policy.check().map_err(|e| format!("policy: {e}"))?;
        check_tariff(&self.tariff)?;
        if let Some(c) = &self.heat_pump_cop {
            check_cop(c)?;
        }
        if !(self.hashprice_per_th_day.is_finite()
            && (0.0..=100.0).contains(&self.hashprice_per_th_day))
        {
            return Err("hashprice_per_th_day must be between 0 and 100".into());
        }
        if self
            .site_limit_w
            .is_some_and(|w| !(w.is_finite() && (0.0..=1e6).contains(&w)))
        {
            return Err("site_limit_w must be between 0 and 1000000".into());
        }
        Ok(())
    }
}

/// The policy's state and what it last decided.
#[derive(Debug)]
pub struct ControlState {
    path: PathBuf,
    pub settings: ControlSettings,
    pub policy: Policy,
    pub house: HouseInputs,
    pub last_decision: Option<Decision>,
    /// The boards' measured efficiency, J/TH, from the last tick that hashed.
    pub miner_j_per_th: Option<f64>,
    /// Accumulated across restarts (the live file).
    pub economics: Economics,
    last_tick: Option<Timestamp>,
    /// The steady clock at the last tick: energy is counted over steady
    /// time, so a wall-clock step cannot book a year of heat at once.
    last_steady: Option<Timestamp>,
    live_path: PathBuf,
    last_live_save: Option<Timestamp>,
    /// Zones whose window contact came from `house.zone_window_open` (MQTT)
    /// or `house.zone_window_api`, so a contact that disappears from there
    /// is cleared in the appliance.
    fed_windows: std::collections::BTreeSet<String>,
    /// Which SG-Ready state the output relays may show (limits applied).
    pub sg_out: hearth_control::SgReadyOutput,
    relays: Option<Box<dyn crate::sg_relays::RelayPair>>,
    /// What the relays were last set to successfully.
    relays_written: Option<(bool, bool)>,
    relay_error: Option<String>,
    /// GPIO (or simulated) circulation inputs by zone: override MQTT and
    /// the API for their zone.
    circulation_inputs: crate::circulation_input::CirculationInputs,
    /// The last read error per zone (logged once, cleared on a good read).
    circulation_errors: BTreeMap<String, String>,
}

impl ControlState {
    /// Reads `control.json` from `data_dir` (defaults when there is none).
    /// A file that does not parse or validate is an error: better to refuse
    /// to start than to heat on settings nobody chose.
    pub fn load(data_dir: &Path) -> Result<ControlState> {
        let path = data_dir.join(CONTROL_FILE);
        let settings = match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                anyhow::bail!("{} is larger than {MAX_FILE_BYTES} bytes", path.display())
            }
            Ok(_) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let s: ControlSettings = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?;
                s.check()
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                s
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ControlSettings::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let live_path = data_dir.join(LIVE_FILE);
        let live = read_live(&live_path);
        let sg_out = hearth_control::SgReadyOutput::with_min_switch(sg_min_switch(&settings));
        Ok(ControlState {
            policy: policy_from(&settings),
            path,
            settings,
            house: live.house,
            last_decision: None,
            miner_j_per_th: None,
            economics: live.economics,
            last_tick: None,
            last_steady: None,
            live_path,
            last_live_save: None,
            fed_windows: std::collections::BTreeSet::new(),
            sg_out,
            relays: None,
            relays_written: None,
            relay_error: None,
            circulation_inputs: Default::default(),
            circulation_errors: BTreeMap::new(),
        })
    }

    /// Applies the saved schedules and preset tables to the appliance;
    /// returns one warning per entry it had to skip (an unknown zone, a
    /// setpoint the zone's limits now refuse).
    pub fn restore(&self, app: &mut Appliance) -> Vec<String> {
        let mut warnings = Vec::new();
        for (zone, entries) in &self.settings.schedules {
            let result = validate_schedule(app, zone, entries.clone())
                .and_then(|s| app.set_schedule(zone, Some(s)).map_err(|e| e.to_string()));
            if let Err(e) = result {
                warnings.push(format!("schedule of {zone}: {e}"));
            }
        }
        if let Err(e) = app.set_site_limit(self.settings.site_limit_w.map(hearth_core::Watts)) {
            warnings.push(format!("site limit: {e}"));
        }
        for (zone, table) in &self.settings.presets {
            if let Err(e) = app.set_presets(zone, *table) {
                warnings.push(format!("presets of {zone}: {e}"));
            }
        }
        warnings
    }

    /// Persists `next` (atomically), then makes it the settings in force.
    pub fn commit(&mut self, next: ControlSettings) -> Result<()> {
        write_atomically(&self.path, &serde_json::to_vec_pretty(&next)?)?;
        // A new policy starts its PV-soak timers afresh, but keeps the
        // economic switch's dwell (see Policy::keep_economic_state_from).
        let mut policy = policy_from(&next);
        if let Some(now) = self.last_tick {
            policy.keep_economic_state_from(&self.policy, now);
        }
        self.policy = policy;
        self.sg_out.set_min_switch(sg_min_switch(&next));
        self.settings = next;
        Ok(())
    }

    /// The SG-Ready output relays (none: not wired, only decided).
    pub fn set_relays(&mut self, relays: Option<Box<dyn crate::sg_relays::RelayPair>>) {
        self.relays = relays;
        self.relays_written = None;
    }

    /// The pools' circulation inputs from `circulation_gpio`.
    pub fn set_circulation_inputs(&mut self, inputs: crate::circulation_input::CirculationInputs) {
        for (zone, input) in &inputs {
            tracing::info!(zone = %zone, input = %input.describe(), "circulation pump input");
        }
        self.circulation_inputs = inputs;
    }

    /// `zone`'s simulated circulation line (--sim with `circulation_gpio`).
    pub fn sim_circulation_line(&self, zone: &str) -> Option<crate::circulation_input::SimLine> {
        self.circulation_inputs.get(zone).and_then(|i| i.sim_line())
    }

    /// The circulation inputs for GET /api/v1/control.
    pub fn circulation_json(&self) -> serde_json::Value {
        self.circulation_inputs
            .iter()
            .map(|(zone, input)| {
                (
                    zone.clone(),
                    serde_json::json!({
                        "input": input.describe(),
                        "error": self.circulation_errors.get(zone),
                    }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Reads `zone`'s configured circulation input: `None` without one; a
    /// read error is "not running" (logged once until a good read).
    fn read_circulation(&mut self, zone: &str) -> Option<bool> {
        let input = self.circulation_inputs.get_mut(zone)?;
        match input.running() {
            Ok(running) => {
                if self.circulation_errors.remove(zone).is_some() {
                    tracing::info!(zone = %zone, "circulation input readable again");
                }
                Some(running)
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if self.circulation_errors.get(zone) != Some(&msg) {
                    tracing::warn!(zone = %zone, error = %msg, "could not read the circulation input; treating the pump as not running");
                }
                self.circulation_errors.insert(zone.to_string(), msg);
                Some(false)
            }
        }
    }

    /// Writes the output state to the relays if it changed (or the last
    /// write failed). A failed write is logged once and retried each tick.
    fn drive_relays(&mut self) {
        let wanted = hearth_control::sg_output::relays_of(self.sg_out.state());
        let Some(relays) = self.relays.as_mut() else {
            return;
        };
        if self.relays_written == Some(wanted) {
            return;
        }
        match relays.set(wanted.0, wanted.1) {
            Ok(()) => {
                tracing::info!(state = ?self.sg_out.state(), relay1 = wanted.0, relay2 = wanted.1, "SG-Ready outputs set");
                self.relays_written = Some(wanted);
                self.relay_error = None;
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if self.relay_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!(error = %msg, "could not set the SG-Ready outputs");
                }
                self.relays_written = None;
                self.relay_error = Some(msg);
            }
        }
    }

    /// At exit: normal now, whatever the switching time.
    pub fn release_relays(&mut self, now: Timestamp) {
        self.sg_out.release(now);
        self.drive_relays();
    }

    /// The outputs for GET /api/v1/control.
    pub fn sg_output_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.sg_out.view()).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "driver".into(),
                self.relays
                    .as_ref()
                    .map(|r| r.describe())
                    .map_or(serde_json::Value::Null, serde_json::Value::String),
            );
            obj.insert(
                "written".into(),
                serde_json::Value::Bool(
                    self.relays_written
                        == Some(hearth_control::sg_output::relays_of(self.sg_out.state())),
                ),
            );
            obj.insert(
                "error".into(),
                self.relay_error
                    .clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String),
            );
        }
        v
    }

    /// Where the live file is (for writing off the control lock).
    pub fn live_path(&self) -> PathBuf {
        self.live_path.clone()
    }

    /// The live inputs and totals as they are now.
    pub fn live(&self) -> LiveState {
        LiveState {
            house: self.house.clone(),
            economics: self.economics,
        }
    }

    /// Writes the live file now.
    pub fn save_live(&mut self, now: Timestamp) -> Result<()> {
        self.last_live_save = Some(now);
        write_live(&self.live_path, &self.live())
    }

    /// Hands each zone its external temperature and window contact from
    /// the house inputs (fresh ones; stale ones as `None`).
    fn feed_zones(&mut self, app: &mut Appliance, now: Timestamp) {
        let zones: Vec<String> = app.zone_configs().map(|z| z.id.to_string()).collect();
        for zone in &zones {
            // Known zone, finite value: cannot fail. The latest value goes
            // over whatever its age: the appliance judges freshness with the
            // simulator's rule, and must see a value stamped before a clock
            // step back to drop it for good (hearth_control::house::known_age).
            let latest = self
                .house
                .zone_temp_c
                .get(zone)
                .filter(|r| r.value.is_finite())
                .map(|r| (r.value, r.at));
            let _ = app.set_external_temperature(zone, latest);
            if self.house.zone_window_open.contains_key(zone) {
                let _ = app.set_window_contact(zone, self.house.zone_window_at(zone, now));
                self.fed_windows.insert(zone.clone());
            } else if self.house.zone_window_api.contains_key(zone) {
                // The API's contact, forgotten after API_WINDOW_MAX_AGE.
                let _ = app.set_window_contact(zone, self.house.zone_window_api_at(zone, now));
                self.fed_windows.insert(zone.clone());
            } else if self.fed_windows.remove(zone) {
                let _ = app.set_window_contact(zone, None);
            }
            // Precedence: a configured GPIO line, then MQTT, then the API
            // (which set the appliance directly and is left alone here).
            if let Some(running) = self.read_circulation(zone) {
                let _ = app.set_circulation(zone, Some(running));
            } else if let Some(running) = self.house.zone_circulation_at(zone, now) {
                let _ = app.set_circulation(zone, Some(running));
            }
        }
    }

    /// Before a tick: decide, and hand the decision to the appliance.
    pub fn before_tick(&mut self, app: &mut Appliance, now: Timestamp) {
        self.feed_zones(app, now);
        let house = self.house.at(now);
        app.set_outdoor(house.outdoor_c);
        app.set_presence(house.presence);
        let decision = self.policy.decide(&house, now, self.miner_j_per_th);
        if self.last_decision.as_ref().map(|d| d.rule) != Some(decision.rule) {
            tracing::info!(rule = ?decision.rule, why = decision.reason(), "heat-source policy");
        }
        app.apply_policy(&decision);
        self.sg_out.update(decision.sg_ready_out, now);
        self.drive_relays();
        self.last_decision = Some(decision);
    }

    /// After a tick: the boards' efficiency, for the economic switch, and
    /// the energy since the last tick (`steady_now`: the steady clock).
    pub fn after_tick(&mut self, report: &TickReport, steady_now: Timestamp) {
        let (w, ghs) = report.boards.iter().fold((0.0, 0.0), |(w, g), b| {
            (
                w + b.telemetry.power_w.get(),
                g + b.telemetry.hashrate_ghs.get(),
            )
        });
        if w > 0.0 && ghs > 0.0 {
            self.miner_j_per_th = Some(w / (ghs / 1000.0));
        }
        let now = report.now;
        let dt_s = self
            .last_steady
            .map_or(0.0, |t| steady_now.since(t).as_secs_f64());
        self.last_steady = Some(steady_now);
        self.last_tick = Some(now);
        let house = self.house.at(now);
        let (price, cop) = self
            .last_decision
            .as_ref()
            .map_or((self.settings.tariff.at(now), None), |d| {
                (d.price_per_kwh, d.cop)
            });
        self.economics.add(Interval {
            dt_s,
            board_w: w,
            hashrate_ths: ghs / 1000.0,
            price_per_kwh: price,
            hashprice_per_th_day: house
                .hashprice_per_th_day
                .unwrap_or(self.settings.hashprice_per_th_day),
            cop,
        });
        if self
            .last_live_save
            .is_none_or(|t| now.since(t) >= LIVE_SAVE_EVERY || t > now)
        {
            if let Err(e) = self.save_live(now) {
                tracing::warn!(error = %format!("{e:#}"), "could not save the live control state");
            }
        }
    }
}

/// Reads the live file; missing, too large or unreadable: empty (warned).
fn read_live(path: &Path) -> LiveState {
    let read = || -> Result<Option<LiveState>> {
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                anyhow::bail!("larger than {MAX_FILE_BYTES} bytes")
            }
            Ok(_) => {
                let text = std::fs::read_to_string(path)?;
                Ok(Some(serde_json::from_str(&text)?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    match read() {
        Ok(Some(live)) => {
            tracing::info!(path = %path.display(), "restored live house inputs and economics");
            live
        }
        Ok(None) => LiveState::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "ignoring the live control state");
            LiveState::default()
        }
    }
}

/// Writes `live` to `path` atomically.
pub fn write_live(path: &Path, live: &LiveState) -> Result<()> {
    write_atomically(path, &serde_json::to_vec(live)?)
}

/// The SG-Ready outputs' minimum switching time from the policy settings.
fn sg_min_switch(s: &ControlSettings) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(s.policy.sg_ready_min_switch_s))
}

fn policy_from(s: &ControlSettings) -> Policy {
    Policy::new(
        s.policy.clone(),
        s.tariff.clone(),
        s.heat_pump_cop.clone(),
        s.hashprice_per_th_day,
    )
}

/// A schedule for `zone`: entries valid on their own ([`Schedule::new`]), at
/// most [`MAX_SCHEDULE_ENTRIES`], every setpoint within the zone's limits.
pub fn validate_schedule(
    app: &Appliance,
    zone: &str,
    entries: Vec<ScheduleEntry>,
) -> Result<Schedule, String> {
    if entries.len() > MAX_SCHEDULE_ENTRIES {
        return Err(format!("at most {MAX_SCHEDULE_ENTRIES} schedule entries"));
    }
    for (i, e) in entries.iter().enumerate() {
        app.validate_setpoint(zone, e.setpoint_c.get())
            .map_err(|err| format!("entry {i}: {err}"))?;
    }
    Schedule::new(entries)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    if let Some(dir) = path.parent() {
        // The rename itself must reach the disk too.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The control loop's hook before each tick (locks control, then the
/// appliance: the same order as every API handler).
pub fn before_tick(shared: &Shared, now: Timestamp) {
    let mut control = lock(&shared.control);
    let mut app = lock(&shared.appliance);
    control.before_tick(&mut app, now);
}

/// A measured outdoor temperature (the simulated world's in --sim) as the
/// policy's outdoor input, timestamped now.
pub fn feed_outdoor(shared: &Shared, outdoor: hearth_core::Celsius, now: Timestamp) {
    lock(&shared.control).house.outdoor_c = Some(hearth_control::house::Reading::new(outdoor, now));
}

/// The control loop's hook after each tick.
pub fn after_tick(shared: &Shared, report: &TickReport) {
    let steady_now = shared.steady_clock.now();
    lock(&shared.control).after_tick(report, steady_now);
}

/// At shutdown: the SG-Ready outputs back to normal.
pub fn release_relays(shared: &Shared, now: Timestamp) {
    lock(&shared.control).release_relays(now);
}

/// At shutdown: the live inputs and totals to disk once more.
pub fn save_live(shared: &Shared, now: Timestamp) {
    if let Err(e) = lock(&shared.control).save_live(now) {
        tracing::warn!(error = %format!("{e:#}"), "could not save the live control state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_step_books_no_energy_only_the_steady_time_does() {
        use hearth_core::{BoardId, BoardState, BoardTelemetry, GhPerSec, Percent, Watts, ZoneId};
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = ControlState::load(dir.path()).expect("defaults");
        let report = |now: Timestamp| TickReport {
            now,
            zones: Vec::new(),
            boards: vec![hearth_control::BoardStatus {
                id: BoardId::new("b").expect("id"),
                zone: ZoneId::new("z").expect("id"),
                model: "S19".into(),
                telemetry: BoardTelemetry {
                    state: BoardState::Running,
                    power_w: Watts(3600.0),
                    power_target_w: Watts(3600.0),
                    hashrate_ghs: GhPerSec(100_000.0),
                    chip_temp_c: None,
                    regulator_temp_c: None,
                    fan_duty: Percent::new(50.0),
                    fan_rpm: None,
                    operating_point: None,
                },
            }],
            events: Vec::new(),
            nonces: Vec::new(),
        };
        let wall = Timestamp::from_secs(1_748_736_000);
        let steady = Timestamp::from_secs(100);
        c.after_tick(&report(wall), steady);
        c.after_tick(
            &report(wall.plus(std::time::Duration::from_secs(1))),
            steady.plus(std::time::Duration::from_secs(1)),
        );
        // NTP steps the wall clock a year ahead between two 1 s ticks.
        let year: u64 = 365 * 86_400;
        c.after_tick(
            &report(wall.plus(std::time::Duration::from_secs(2 + year))),
            steady.plus(std::time::Duration::from_secs(2)),
        );
        // 3.6 kW for 2 s of steady time: 2 Wh, not a year of heat.
        let kwh = c.economics.heat_kwh;
        assert!((kwh - 0.002).abs() < 1e-9, "{kwh} kWh");
        // And a step back books nothing either.
        c.after_tick(
            &report(wall),
            steady.plus(std::time::Duration::from_secs(3)),
        );
        assert!((c.economics.heat_kwh - 0.003).abs() < 1e-9);
    }

    #[test]
    fn settings_round_trip_through_the_file_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = ControlState::load(dir.path()).expect("defaults without a file");
        assert_eq!(c.settings, ControlSettings::default());
        let mut next = c.settings.clone();
        next.policy.balance_point_c = -8.0;
        next.heat_pump_cop = Some(CopCurve(vec![[-7.0, 2.5], [7.0, 4.5]]));
        c.commit(next.clone()).expect("commit");
        let again = ControlState::load(dir.path()).expect("reload");
        assert_eq!(again.settings, next);
        std::fs::write(
            dir.path().join(CONTROL_FILE),
            "{\"policy\": {\"balance_point_c\": 99}}",
        )
        .expect("write");
        let err = ControlState::load(dir.path()).expect_err("refused");
        assert!(format!("{err:#}").contains("balance_point_c"), "{err:#}");
    }

    #[test]
    fn a_commit_keeps_the_economic_dwell() {
        // Threshold at 7 °C: 0.30 x (1 - 1/4.5) = 0.2333/kWh; at the default
        // 17.5 J/TH a hashprice h earns h * 1000 / 24 / 17.5 per kWh.
        let earns = |per_kwh: f64| per_kwh * 24.0 * 17.5 / 1000.0;
        let at = Timestamp::from_secs;
        let house = hearth_control::HouseNow {
            outdoor_c: Some(hearth_core::Celsius(7.0)),
            ..hearth_control::HouseNow::default()
        };
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = ControlState::load(dir.path()).expect("defaults");
        let mut next = c.settings.clone();
        next.tariff = Tariff::Fixed { per_kwh: 0.30 };
        next.heat_pump_cop = Some(CopCurve(vec![[-20.0, 1.6], [-7.0, 2.5], [7.0, 4.5]]));
        next.hashprice_per_th_day = earns(0.2443);
        c.commit(next.clone()).expect("commit");
        let d = c.policy.decide(&house, at(0), None);
        assert_eq!(d.rule, hearth_control::Rule::EconomicMiner, "{d:?}");
        // Ten minutes on, the hashprice drops below the threshold and the
        // user edits an unrelated setting: the 30-min dwell still holds.
        c.last_tick = Some(at(600));
        next.policy.pv_start_w = 900.0;
        next.hashprice_per_th_day = earns(0.2300);
        c.commit(next).expect("commit");
        let d = c.policy.decide(&house, at(600), None);
        assert_eq!(d.rule, hearth_control::Rule::EconomicMiner, "{d:?}");
        assert!(d.reason().contains("minimum dwell"), "{d:?}");
        let d = c.policy.decide(&house, at(1800), None);
        assert_eq!(d.rule, hearth_control::Rule::EconomicHeatPump, "{d:?}");
    }

    #[derive(Debug)]
    struct NoProbe;
    impl hearth_core::Thermometer for NoProbe {
        fn name(&self) -> &str {
            "none"
        }
        fn read_temp(
            &mut self,
            _now: Timestamp,
        ) -> Result<hearth_core::Celsius, hearth_core::DeviceError> {
            Err(hearth_core::DeviceError::Timeout)
        }
    }

    #[test]
    fn an_mqtt_value_from_before_a_clock_step_back_is_not_revived() {
        use hearth_control::{ZoneConfig, ZoneHardware, ZoneKind, ZoneMode, ZoneSettings};
        use hearth_core::{Celsius, ZoneId};
        let at = Timestamp::from_secs;
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = ControlState::load(dir.path()).expect("defaults");
        let kind = ZoneKind::Room;
        let config = ZoneConfig {
            id: ZoneId::new("z").expect("id"),
            name: "z".into(),
            kind,
            limits: kind.default_limits(),
            settings: ZoneSettings {
                setpoint_c: Celsius(21.0),
                mode: ZoneMode::Heat,
            },
        };
        let hw = ZoneHardware {
            thermometer: Box::new(NoProbe),
            boards: Vec::new(),
        };
        let mut app = Appliance::new(vec![(config, hw)], hearth_control::PiGains::default());
        // The MQTT task's last value, then the broker goes quiet.
        c.house.zone_temp_c.insert(
            "z".into(),
            hearth_control::house::Reading::new(Celsius(15.0), at(100_000)),
        );
        let temp = |c: &mut ControlState, app: &mut Appliance, s: u64| {
            c.feed_zones(app, at(s));
            app.tick(at(s)).zones[0].temperature_c
        };
        assert_eq!(temp(&mut c, &mut app, 100_000), Some(Celsius(15.0)));
        // NTP steps the clock back an hour: the value cannot be dated.
        assert_eq!(temp(&mut c, &mut app, 96_400), None);
        // Once the clock has caught up with its stamp it would look 2 s
        // old; it is still the value from before the step.
        assert_eq!(temp(&mut c, &mut app, 100_002), None);
        // A new value on the stepped clock steers.
        c.house.zone_temp_c.insert(
            "z".into(),
            hearth_control::house::Reading::new(Celsius(15.5), at(100_010)),
        );
        assert_eq!(temp(&mut c, &mut app, 100_010), Some(Celsius(15.5)));
    }

    #[derive(Debug)]
    struct BrokenLine;
    impl crate::circulation_input::CirculationInput for BrokenLine {
        fn running(&mut self) -> Result<bool> {
            anyhow::bail!("ioctl failed")
        }
        fn describe(&self) -> String {
            "broken".into()
        }
    }

    #[test]
    fn a_circulation_read_error_is_not_running_and_no_input_is_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = ControlState::load(dir.path()).expect("defaults");
        let mut inputs = crate::circulation_input::CirculationInputs::new();
        inputs.insert("pool".into(), Box::new(BrokenLine));
        let line = crate::circulation_input::SimLine::new(true);
        inputs.insert(
            "spa".into(),
            Box::new(crate::circulation_input::SimCirculation { line: line.clone() }),
        );
        c.set_circulation_inputs(inputs);
        assert_eq!(c.read_circulation("pool"), Some(false));
        assert!(c.circulation_errors.contains_key("pool"));
        assert_eq!(c.read_circulation("spa"), Some(true));
        line.set(false);
        assert_eq!(c.read_circulation("spa"), Some(false));
        assert_eq!(c.read_circulation("room"), None);
        assert!(c.sim_circulation_line("spa").is_some());
        let view = c.circulation_json();
        assert!(
            view["pool"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("ioctl failed")),
            "{view}"
        );
        assert_eq!(view["spa"]["input"], "simulated circulation line", "{view}");
        assert!(view["spa"]["error"].is_null(), "{view}");
        assert!(c.sim_circulation_line("pool").is_none());
    }

    #[test]
    fn tariffs_and_cop_curves_are_checked() {
        assert!(check_tariff(&Tariff::Fixed { per_kwh: f64::NAN }).is_err());
        assert!(check_tariff(&Tariff::TimeOfUse { entries: vec![] }).is_err());
        assert!(check_tariff(&Tariff::TimeOfUse {
            entries: vec![(3600, 0.1), (0, 0.3)]
        })
        .is_err());
        assert!(check_tariff(&Tariff::TimeOfUse {
            entries: vec![(0, 0.1), (25_200, 0.3)]
        })
        .is_ok());
        assert!(check_cop(&CopCurve(vec![[7.0, 4.5], [-7.0, 2.5]])).is_err());
        assert!(check_cop(&CopCurve(vec![[7.0, 0.5]])).is_err());
    }
}
