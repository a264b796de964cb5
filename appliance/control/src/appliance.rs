//! One control tick over the seam traits. The daemon calls [`Appliance::tick`]
//! on a wall-clock interval, the scenario runner on a virtual one: same code,
//! same decisions, which is what makes simulation results mean something.

use crate::controller::{ControllerKind, ZoneController, ZoneInputs};
use crate::pi::PiGains;
use crate::policy::{Decision, MinerRole};
use crate::preset::{Preset, PresetTable, BOOST_FOR};
use crate::schedule::Schedule;
use crate::split::{BoardRange, Dwell, PowerSplitter};
use crate::window::{WindowDetector, WindowState};
use crate::zone::{SettingError, ZoneConfig, ZoneKind, ZoneMode, ZoneSettings};
use hearth_core::board::BoardPoll;
use hearth_core::{
    BoardEvent, BoardId, BoardTelemetry, Celsius, Hashboard, NonceFound, Thermometer, Timestamp,
    Watts, ZoneId,
};
use serde::Serialize;
use std::time::Duration;

/// After this long without a good reading a zone stops heating: better a cool
/// room than an unwatched heater. (The thermostat issue adds a low-power
/// safety mode for rooms.)
pub const SENSOR_STALE_AFTER: Duration = Duration::from_secs(300);

/// The devices that serve one zone.
pub struct ZoneHardware {
    pub thermometer: Box<dyn Thermometer>,
    pub boards: Vec<Box<dyn Hashboard>>,
}

impl std::fmt::Debug for ZoneHardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneHardware")
            .field("thermometer", &self.thermometer.name())
            .field(
                "boards",
                &self
                    .boards
                    .iter()
                    .map(|b| b.info().id.clone())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What a zone is doing right now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneStatus {
    pub id: ZoneId,
    pub name: String,
    pub kind: ZoneKind,
    pub temperature_c: Option<Celsius>,
    pub setpoint_c: Celsius,
    pub mode: ZoneMode,
    /// Heat demand 0..=1 from the controller.
    pub demand: f64,
    pub power_target_w: Watts,
    /// "heating", "idle" or "off", in Home Assistant's climate vocabulary.
    pub action: &'static str,
    /// Why the zone is not heating although it could, if it isn't.
    pub hold_reason: Option<String>,
    /// The heat-source policy's rule and reason in force, if a policy runs.
    pub policy: Option<String>,
    /// The preset last picked, until the setpoint is changed by hand.
    pub preset: Option<Preset>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardStatus {
    pub id: BoardId,
    pub zone: ZoneId,
    pub model: String,
    #[serde(flatten)]
    pub telemetry: BoardTelemetry,
}

/// Everything one tick observed and decided.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    pub now: Timestamp,
    pub zones: Vec<ZoneStatus>,
    pub boards: Vec<BoardStatus>,
    pub events: Vec<(BoardId, BoardEvent)>,
    pub nonces: Vec<NonceFound>,
}

#[derive(Debug)]
struct ZoneRuntime {
    config: ZoneConfig,
    hw: ZoneHardware,
    controller: Box<dyn ZoneController>,
    schedule: Option<Schedule>,
    /// Start of the schedule entry last applied, so a manual change holds
    /// until the next entry.
    schedule_applied: Option<Timestamp>,
    last_good: Option<(Celsius, Timestamp)>,
    last_tick: Option<Timestamp>,
    splitter: PowerSplitter,
    presets: PresetTable,
    preset: Option<Preset>,
    /// While boosting: until when, and the setpoint to return to.
    boost: Option<(Timestamp, Celsius)>,
    window: WindowDetector,
    /// A fresh window-contact state, if the zone has a contact.
    contact: Option<bool>,
    /// Pool circulation pump running, as last reported (`None`: unknown).
    circulation: Option<bool>,
    /// A fresh temperature from outside the zone's own sensor (API, MQTT)
    /// and when it was observed; preferred to the sensor while it is fresh.
    external_temp: Option<(Celsius, Timestamp)>,
    /// The zone's own sensor's reading this tick while an external value
    /// steers: the hard limit is checked against it too, so a wrong or
    /// hostile external value can never heat past the limit the zone's own
    /// sensor sees.
    own_reading: Option<Celsius>,
    /// Stuck-reading detection and the demand it is judged against.
    stuck: crate::stuck::StuckWatch,
    /// The same for the external value: a Home Assistant sensor that froze
    /// keeps being republished with fresh stamps, so freshness alone cannot
    /// tell (the harsh campaign's seeds 1000475 and 1001580: an MQTT-fed
    /// room at full heat on a frozen value, up to 34.3 °C).
    external_stuck: crate::stuck::StuckWatch,
    /// The stamp of an external value dropped because the clock stepped
    /// back after it was stamped: a front end that hands the same reading
    /// again (the daemon re-feeds its house inputs every tick) must not
    /// revive it once the clock has caught up with its stamp.
    undatable_external: Option<Timestamp>,
    sensor_stuck: bool,
    last_demand: f64,
    /// The power that held the setpoint, for heat while blind.
    blind: crate::blind::BlindHeat,
}

/// What the heat-source policy asks of every zone's miner control.
#[derive(Debug, Clone, PartialEq, Default)]
struct PolicyAdjust {
    offset_k: f64,
    blocked: bool,
    note: Option<String>,
    /// Someone at home (fresh), if a presence input exists.
    presence: Option<bool>,
}

/// All zones with their devices, and the controller state.
#[derive(Debug)]
pub struct Appliance {
    zones: Vec<ZoneRuntime>,
    stopped: bool,
    outdoor: Option<Celsius>,
    adjust: PolicyAdjust,
    /// Most power all zones together may draw (a fuse, a contract).
    site_limit: Option<Watts>,
}

impl Appliance {
    /// All zones with Hearth's own controller.
    pub fn new(zones: Vec<(ZoneConfig, ZoneHardware)>, gains: PiGains) -> Appliance {
        Appliance::with_controller(zones, ControllerKind::Hearth(gains))
    }

    /// All zones with the given kind of controller (the benchmark compares them).
    pub fn with_controller(
        zones: Vec<(ZoneConfig, ZoneHardware)>,
        kind: ControllerKind,
    ) -> Appliance {
        let zones = zones
            .into_iter()
            .map(|(config, hw)| ZoneRuntime {
                hw,
                controller: kind.build(),
                schedule: None,
                schedule_applied: None,
                last_good: None,
                last_tick: None,
                splitter: PowerSplitter::new(kind.dwell()),
                presets: PresetTable::defaults(config.kind),
                preset: None,
                boost: None,
                window: WindowDetector::default(),
                contact: None,
                circulation: None,
                external_temp: None,
                own_reading: None,
                stuck: crate::stuck::StuckWatch::for_kind(config.kind),
                external_stuck: crate::stuck::StuckWatch::for_kind(config.kind),
                undatable_external: None,
                sensor_stuck: false,
                last_demand: 0.0,
                blind: crate::blind::BlindHeat::default(),
                config,
            })
            .collect();
        Appliance {
            zones,
            stopped: false,
            outdoor: None,
            adjust: PolicyAdjust::default(),
            site_limit: None,
        }
    }

    /// The outdoor temperature the controllers may use (feed-forward, TPI's
    /// outdoor term); `None` when there is no source.
    pub fn set_outdoor(&mut self, outdoor: Option<Celsius>) {
        self.outdoor = outdoor.filter(|o| o.is_finite());
    }

    /// Gives `zone` a setpoint schedule (or removes it). From the next tick the
    /// zone takes each entry's setpoint when the entry starts; a setpoint the
    /// zone's limits refuse is skipped.
    pub fn set_schedule(
        &mut self,
        zone: &str,
        schedule: Option<Schedule>,
    ) -> Result<(), SettingError> {
        let z = self.zone_mut(zone)?;
        z.schedule = schedule;
        z.schedule_applied = None;
        Ok(())
    }

    /// Applies a heat-source policy decision from the next tick: the miner
    /// aims at setpoint + `setpoint_offset_k` (kept within each zone's
    /// setpoint range), or does not heat at all when the policy says off.
    pub fn apply_policy(&mut self, decision: &Decision) {
        let offset = decision.setpoint_offset_k;
        self.adjust = PolicyAdjust {
            offset_k: if offset.is_finite() {
                offset.clamp(-5.0, 5.0)
            } else {
                0.0
            },
            blocked: decision.miner == MinerRole::Off,
            note: Some(format!("{:?}: {}", decision.rule, decision.reason())),
            presence: self.adjust.presence,
        };
    }

    /// The most power all boards together may draw, or `None`. Zones are
    /// served in configuration order; the limit is hard: a zone whose boards
    /// cannot fit in what is left (their lowest point or a minimum on time
    /// above it) gets nothing that tick.
    pub fn set_site_limit(&mut self, limit: Option<Watts>) -> Result<(), SettingError> {
        if limit.is_some_and(|w| !(w.is_finite() && w.get() >= 0.0)) {
            return Err(SettingError::Invalid(
                "site power limit must be a finite number of watts, at least 0".into(),
            ));
        }
        self.site_limit = limit;
        Ok(())
    }

    /// Presence (fresh), or `None` without a presence input: when nobody is
    /// home, zones aim no higher than their away preset.
    pub fn set_presence(&mut self, presence: Option<bool>) {
        self.adjust.presence = presence;
    }

    /// A zone's window contact (fresh), or `None`: then the temperature
    /// slope detects open windows.
    pub fn set_window_contact(
        &mut self,
        zone: &str,
        open: Option<bool>,
    ) -> Result<(), SettingError> {
        self.zone_mut(zone)?.contact = open;
        Ok(())
    }

    /// A temperature for `zone` from outside its own sensor (the API, an
    /// MQTT state topic) with the time it was observed, or `None`. While it
    /// is no older than [`crate::house::ZONE_TEMP_MAX_AGE`] the zone
    /// controls on it; after that it falls back to its own sensor (and from
    /// there to the stale-sensor safety mode). A non-finite value is
    /// refused.
    pub fn set_external_temperature(
        &mut self,
        zone: &str,
        reading: Option<(Celsius, Timestamp)>,
    ) -> Result<(), SettingError> {
        if reading.is_some_and(|(t, _)| !t.is_finite()) {
            return Err(SettingError::Invalid(
                "external temperature must be a finite number".into(),
            ));
        }
        let z = self.zone_mut(zone)?;
        z.external_temp = reading.filter(|(_, at)| z.undatable_external != Some(*at));
        Ok(())
    }

    /// The fast-drop window rule for `zone`: K/h, or `None` to switch it
    /// off (the default; see [`crate::window`]).
    pub fn set_window_drop_rule(
        &mut self,
        zone: &str,
        drop_k_per_h: Option<f64>,
    ) -> Result<(), SettingError> {
        if drop_k_per_h.is_some_and(|k| !(k.is_finite() && (0.5..=50.0).contains(&k))) {
            return Err(SettingError::Invalid(
                "window drop rule must be between 0.5 and 50 K/h".into(),
            ));
        }
        self.zone_mut(zone)?.window.drop_k_per_h = drop_k_per_h;
        Ok(())
    }

    /// A pool's circulation pump state; a pool never heats unless it is
    /// known to run.
    pub fn set_circulation(
        &mut self,
        zone: &str,
        running: Option<bool>,
    ) -> Result<(), SettingError> {
        self.zone_mut(zone)?.circulation = running;
        Ok(())
    }

    /// Replaces a zone's preset table after checking it against the
    /// zone's limits.
    pub fn set_presets(&mut self, zone: &str, table: PresetTable) -> Result<(), SettingError> {
        let z = self.zone_mut(zone)?;
        table
            .check(&z.config.limits)
            .map_err(SettingError::Invalid)?;
        z.presets = table;
        Ok(())
    }

    pub fn presets(&self, zone: &str) -> Option<(PresetTable, Option<Preset>)> {
        self.zones
            .iter()
            .find(|z| z.config.id.as_str() == zone)
            .map(|z| (z.presets, z.preset))
    }

    /// The settings a preset would give `zone` (validated, not applied), so
    /// the caller can persist them first.
    pub fn preset_settings(
        &self,
        zone: &str,
        preset: Preset,
    ) -> Result<ZoneSettings, SettingError> {
        let z = self
            .zones
            .iter()
            .find(|z| z.config.id.as_str() == zone)
            .ok_or_else(|| SettingError::UnknownZone(zone.to_string()))?;
        let setpoint_c = z
            .config
            .limits
            .validate_setpoint(z.presets.setpoint(preset).get())?;
        // A preset turns an off zone on; in auto it holds until the next
        // schedule entry, like a setpoint typed by hand.
        let mode = match z.config.settings.mode {
            ZoneMode::Off => ZoneMode::Heat,
            m => m,
        };
        Ok(ZoneSettings { setpoint_c, mode })
    }

    /// Applies a preset: its setpoint in heat mode; a boost lasts
    /// [`BOOST_FOR`] and then returns to the setpoint from before.
    pub fn apply_preset(
        &mut self,
        zone: &str,
        preset: Preset,
        now: Timestamp,
    ) -> Result<ZoneSettings, SettingError> {
        let settings = self.preset_settings(zone, preset)?;
        let z = self.zone_mut(zone)?;
        let before = z.boost.map_or(z.config.settings.setpoint_c, |(_, b)| b);
        if settings.mode != z.config.settings.mode {
            z.controller.reset();
        }
        z.config.settings = settings;
        z.preset = Some(preset);
        z.boost = (preset == Preset::Boost).then(|| (now.plus(BOOST_FOR), before));
        Ok(settings)
    }

    /// Minimum on and off times for boards that switch off entirely
    /// (default 5 min each), for every zone.
    pub fn set_dwell(&mut self, dwell: Dwell) {
        for z in &mut self.zones {
            z.splitter.set_dwell(dwell);
        }
    }

    pub fn zone_configs(&self) -> impl Iterator<Item = &ZoneConfig> {
        self.zones.iter().map(|z| &z.config)
    }

    fn zone_mut(&mut self, id: &str) -> Result<&mut ZoneRuntime, SettingError> {
        self.zones
            .iter_mut()
            .find(|z| z.config.id.as_str() == id)
            .ok_or_else(|| SettingError::UnknownZone(id.to_string()))
    }

    /// Current settings of `zone`.
    pub fn settings(&self, zone: &str) -> Option<ZoneSettings> {
        self.zones
            .iter()
            .find(|z| z.config.id.as_str() == zone)
            .map(|z| z.config.settings)
    }

    /// Validates a setpoint for `zone` without applying it (callers persist
    /// first, then apply, so an acknowledged change survives a crash).
    pub fn validate_setpoint(&self, zone: &str, value: f64) -> Result<Celsius, SettingError> {
        let z = self
            .zones
            .iter()
            .find(|z| z.config.id.as_str() == zone)
            .ok_or_else(|| SettingError::UnknownZone(zone.to_string()))?;
        z.config.limits.validate_setpoint(value)
    }

    /// Applies already validated settings.
    pub fn apply_settings(
        &mut self,
        zone: &str,
        settings: ZoneSettings,
    ) -> Result<(), SettingError> {
        let z = self.zone_mut(zone)?;
        z.config
            .limits
            .validate_setpoint(settings.setpoint_c.get())?;
        if settings.mode != z.config.settings.mode {
            z.controller.reset();
        }
        if settings.setpoint_c != z.config.settings.setpoint_c {
            // A number typed by hand is no preset any more.
            z.preset = None;
            z.boost = None;
        }
        z.config.settings = settings;
        Ok(())
    }

    /// Read, decide, command, observe. Never fails: a broken device shows up
    /// in the report and makes its zone stop heating, it does not stop the loop.
    pub fn tick(&mut self, now: Timestamp) -> TickReport {
        let mut report = TickReport {
            now,
            zones: Vec::new(),
            boards: Vec::new(),
            events: Vec::new(),
            nonces: Vec::new(),
        };
        let (stopped, outdoor) = (self.stopped, self.outdoor);
        let mut budget = self.site_limit;
        for zone in &mut self.zones {
            let status = zone.step(now, stopped, outdoor, &self.adjust, &mut budget);
            for board in &mut zone.hw.boards {
                let BoardPoll {
                    telemetry,
                    events,
                    nonces,
                } = board.poll(now);
                let info = board.info();
                report
                    .events
                    .extend(events.into_iter().map(|e| (info.id.clone(), e)));
                report.nonces.extend(nonces);
                report.boards.push(BoardStatus {
                    id: info.id.clone(),
                    zone: zone.config.id.clone(),
                    model: info.model.clone(),
                    telemetry,
                });
            }
            report.zones.push(status);
        }
        report
    }

    /// Brings every board to a safe idle. After this, ticks keep observing
    /// but command no power.
    pub fn stop_all(&mut self, now: Timestamp) -> Vec<(BoardId, String)> {
        self.stopped = true;
        let mut failures = Vec::new();
        for zone in &mut self.zones {
            for board in &mut zone.hw.boards {
                if let Err(e) = board.stop_safely(now) {
                    failures.push((board.info().id.clone(), e.to_string()));
                }
            }
        }
        failures
    }
}

impl ZoneRuntime {
    fn max_power(&self) -> Watts {
        self.hw.boards.iter().map(|b| b.info().max_power_w).sum()
    }

    fn read_temperature(&mut self, now: Timestamp) -> (Option<Celsius>, Option<String>) {
        let max_power = self.max_power();
        self.sensor_stuck = false;
        self.own_reading = None;
        // Why an external value the zone has is not used, if it is not.
        let mut external_problem = self
            .undatable_external
            .filter(|_| self.external_temp.is_none())
            .map(|_| "external temperature dropped (the clock stepped back after it came)".into());
        if let Some((t, at)) = self.external_temp.filter(|(t, _)| t.is_finite()) {
            if !crate::house::zone_temp_fresh(now, at) {
                external_problem = Some(crate::house::known_age(now, at).map_or_else(
                    || "external temperature stamped ahead of the clock (it stepped back)".into(),
                    |age| format!("external temperature {:.0} s old", age.as_secs_f64()),
                ));
            } else if self
                .external_stuck
                .observe(t, self.last_demand, max_power, now)
            {
                // Ignored like a frozen probe; the zone's own sensor, if it
                // has one, takes over. The learned losses were fooled too.
                self.sensor_stuck = true;
                if self.last_good.is_some_and(|(g, _)| g == t) {
                    self.last_good = None;
                }
                external_problem = Some(format!(
                    "external temperature stuck ({t} unchanged under the heat given)"
                ));
            } else {
                // The external value stands in for the sensor while fresh;
                // its age counts from when it was observed, not from now.
                self.last_good = Some((t, at));
                // The zone's own sensor still holds the hard limit; if it
                // has failed, say so: the external value then steers alone
                // (docs/security.md, "Feeding a fake room temperature").
                let own = self.hw.thermometer.read_temp(now);
                let problem = match &own {
                    Ok(v) if v.is_finite() => None,
                    Ok(_) => Some("reads not a number".to_string()),
                    Err(e) => Some(e.to_string()),
                }
                .map(|e| {
                    format!(
                        "own sensor failed ({}: {e}); the external temperature steers alone \
                         and judges the hard limit",
                        self.hw.thermometer.name()
                    )
                });
                self.own_reading = own.ok().filter(|v| v.is_finite());
                return (Some(t), problem);
            }
        }
        let (temperature, problem) = match self.hw.thermometer.read_temp(now) {
            Ok(t) if t.is_finite() && self.stuck.observe(t, self.last_demand, max_power, now) => {
                self.sensor_stuck = true;
                (
                    None,
                    Some(format!(
                        "temperature sensor stuck ({}: {t} unchanged under full demand)",
                        self.hw.thermometer.name(),
                    )),
                )
            }
            Ok(t) if t.is_finite() => {
                self.last_good = Some((t, now));
                (Some(t), None)
            }
            Ok(_) => self.fallback(now, "temperature reading is not a number".into()),
            Err(e) => self.fallback(now, format!("{}: {e}", self.hw.thermometer.name())),
        };
        // A zone without a temperature runs blind: say why, external first.
        let problem = match (problem, external_problem) {
            (Some(p), Some(e)) if temperature.is_none() => Some(format!("running blind: {e}; {p}")),
            (p, _) => p,
        };
        (temperature, problem)
    }

    /// The clock stepped back since the last tick: every stamp taken before
    /// the step is now indistinguishable from one taken after it, so the
    /// readings it dates are dropped (the harsh campaign's seed 1000643: a
    /// value stamped 1,383 s ahead looked 3 s old once the clock caught up,
    /// 1,379 s after it arrived). The zone's own sensor is read again at
    /// once; an MQTT-fed zone waits for the next publish.
    fn forget_undatable(&mut self) {
        if let Some((_, at)) = self.external_temp.take() {
            self.undatable_external = Some(at);
        }
        self.last_good = None;
    }

    /// Keep using the last good reading for a while; after that, no reading.
    /// A reading stamped ahead of the clock (it stepped back) cannot be
    /// dated and is not used.
    fn fallback(&self, now: Timestamp, why: String) -> (Option<Celsius>, Option<String>) {
        match self.last_good {
            Some((t, at))
                if crate::house::known_age(now, at).is_some_and(|a| a < SENSOR_STALE_AFTER) =>
            {
                (Some(t), None)
            }
            _ => (None, Some(format!("temperature sensor stale ({why})"))),
        }
    }

    /// Takes the setpoint of a schedule entry that started since the last one
    /// applied.
    fn follow_schedule(&mut self, now: Timestamp) -> Option<(Timestamp, Celsius)> {
        if self.config.settings.mode != ZoneMode::Auto {
            // Paused: when auto resumes, the entry in force is taken again.
            self.schedule_applied = None;
            return None;
        }
        let schedule = self.schedule.as_ref()?;
        if let Some((at, sp)) = schedule.active_at(now) {
            if self.schedule_applied != Some(at) {
                self.schedule_applied = Some(at);
                if let Ok(sp) = self.config.limits.validate_setpoint(sp.get()) {
                    self.config.settings.setpoint_c = sp;
                    // A schedule entry ends a preset (and a boost) like a
                    // manual change does.
                    self.preset = None;
                    self.boost = None;
                }
            }
        }
        schedule.next_after(now)
    }

    fn step(
        &mut self,
        now: Timestamp,
        stopped: bool,
        outdoor: Option<Celsius>,
        adjust: &PolicyAdjust,
        budget: &mut Option<Watts>,
    ) -> ZoneStatus {
        let dt_s = self.last_tick.map_or(0.0, |t| now.since(t).as_secs_f64());
        if self
            .last_tick
            .is_some_and(|t| t.since(now) > crate::house::CLOCK_SKEW_TOLERANCE)
        {
            self.forget_undatable();
        }
        self.last_tick = Some(now);
        self.end_boost(now);
        let next_setpoint = self.follow_schedule(now);
        let (temperature, sensor_problem) = self.read_temperature(now);
        if temperature.is_none() {
            self.blind.blind_tick(dt_s);
        }
        let settings = self.config.settings;
        let mut hold_reason = sensor_problem;
        let mut demand = 0.0;
        let max_power = self.max_power();

        // The policy's offset moves what the miner aims at, never the
        // user's setpoint, and never outside the zone's setpoint range.
        let limits = self.config.limits;
        let shifted = |c: Celsius| {
            Celsius(
                (c.get() + adjust.offset_k)
                    .clamp(limits.min_setpoint_c.get(), limits.max_setpoint_c.get()),
            )
        };
        let away_c = self.presets.away_c;
        let frost_c = self.presets.frost_c;
        // Nobody home: no more than the away preset.
        let absent = |c: Celsius| {
            if adjust.presence == Some(false) {
                c.min(away_c)
            } else {
                c
            }
        };
        let mut aim = absent(shifted(settings.setpoint_c));
        let next_setpoint = next_setpoint.map(|(at, c)| (at, absent(shifted(c))));
        let window = self.window.observe(temperature, self.contact, now);
        // Reasons to hold heat that frost protection still overrides.
        let soft_hold = if adjust.blocked {
            adjust.note.clone()
        } else {
            match window {
                WindowState::Closed => None,
                WindowState::ContactOpen => Some("window open (contact)".to_string()),
                WindowState::FastDrop(rate) => Some(format!(
                    "window open (temperature falling {:.1} K/h)",
                    rate.abs()
                )),
            }
        };
        // A pool heats only while its circulation pump runs: no flow, no heat.
        let no_flow = self.config.kind == ZoneKind::Pool && self.circulation != Some(true);
        let mut held = false;
        if stopped {
            hold_reason = Some("shutting down".into());
            held = true;
        } else if settings.mode == ZoneMode::Off {
            self.controller.reset();
            held = true;
        } else if temperature.is_some_and(|t| t >= self.config.limits.hard_max_c) {
            self.controller.reset();
            hold_reason = Some(format!(
                "at or above the hard limit {}",
                self.config.limits.hard_max_c
            ));
            held = true;
        } else if let Some(own) = self
            .own_reading
            .filter(|t| *t >= self.config.limits.hard_max_c)
        {
            self.controller.reset();
            hold_reason = Some(format!(
                "the zone's own sensor reads {own}, at or above the hard limit {}, \
                 whatever the external temperature says",
                self.config.limits.hard_max_c
            ));
            held = true;
        } else if no_flow {
            self.controller.reset();
            hold_reason = Some("the pool's circulation pump is not running".into());
            held = true;
        } else if let Some(t) = temperature {
            if let Some(why) = &soft_hold {
                if t < frost_c {
                    aim = frost_c;
                    hold_reason = Some(format!("{why}; frost protection at {frost_c}"));
                } else {
                    self.controller.reset();
                    hold_reason = Some(why.clone());
                    held = true;
                }
            }
            if !held {
                let inputs = ZoneInputs {
                    temperature: t,
                    setpoint: aim,
                    outdoor,
                    next_setpoint: next_setpoint.filter(|_| soft_hold.is_none()),
                    max_power,
                    dt_s,
                };
                demand = self.controller.step(&inputs, now);
            }
        } else if soft_hold.is_some() {
            hold_reason = soft_hold.clone();
            held = true;
        } else {
            // Stale sensor: the controller's safety demand (none unless it has
            // learned the zone's losses and knows the outdoor temperature).
            demand = self
                .controller
                .fallback_demand(aim, outdoor, max_power)
                .clamp(0.0, 1.0);
            // A stuck reading fooled the loss learning too (full heat that
            // seemed to warm nothing): no learned safety heat then.
            if self.sensor_stuck {
                demand = 0.0;
            }
            // Or a falling share of the power that last held the setpoint,
            // when that is more (the learned losses can be low, and need an
            // outdoor temperature). Not in a greenhouse: its sun, which no
            // one sees without a sensor, can take it near its hard limit by
            // itself, and the power that held it at night would add to it.
            let blind = self.blind.demand(aim, max_power).filter(|b| {
                self.controller.blind_heat()
                    && self.config.kind != ZoneKind::Greenhouse
                    && b.demand > demand
            });
            if let Some(b) = blind {
                demand = b.demand;
                let why = hold_reason
                    .take()
                    .unwrap_or_else(|| "no temperature".into());
                hold_reason = Some(format!(
                    "{why}; blind heat at {:.0} % ({:.0} % of the {:.0} W that held the setpoint; \
                     blind {:.1} h)",
                    demand * 100.0,
                    b.fraction * 100.0,
                    b.held_w.get(),
                    b.blind_s / 3600.0
                ));
            } else if demand > 0.0 {
                if let Some(why) = hold_reason.take() {
                    hold_reason = Some(format!(
                        "{why}; safety mode at {:.0} % from the learned losses",
                        demand * 100.0
                    ));
                }
            }
        }

        self.last_demand = demand;
        // Heat stops at once (no minimum on time) when it must: shutdown,
        // mode off, no flow, the hard limit, a policy block or an open
        // window, a stale sensor without a safety demand.
        let must_stop = held || (temperature.is_none() && demand <= 0.0);
        let mut target = max_power * demand;
        if let Some(left) = *budget {
            if target > left {
                target = left;
                hold_reason.get_or_insert_with(|| format!("site power limit ({left} left)"));
            }
        }
        let commanded = if must_stop {
            let zeros = self.splitter.force_off(self.hw.boards.len(), now);
            self.command(&zeros, now)
        } else {
            match self.plan(target, now) {
                shares
                    if budget.is_some_and(|left| shares.iter().copied().sum::<Watts>() > left) =>
                {
                    hold_reason = Some("site power limit: no room for this zone's boards".into());
                    let zeros = self.splitter.force_off(self.hw.boards.len(), now);
                    self.command(&zeros, now)
                }
                shares => self.command(&shares, now),
            }
        };
        if let Some(left) = budget.as_mut() {
            *left = (*left - commanded).max(Watts::ZERO);
        }
        if let Some(t) = temperature {
            // What held the zone, unless it was held off for a reason of
            // its own (mode, limit, window, policy, no flow).
            let steered = !held && soft_hold.is_none();
            self.blind
                .observe(t, aim, steered.then_some(commanded), dt_s);
        }
        let action = match settings.mode {
            ZoneMode::Off => "off",
            ZoneMode::Heat | ZoneMode::Auto if commanded.get() > 0.0 => "heating",
            ZoneMode::Heat | ZoneMode::Auto => "idle",
        };
        ZoneStatus {
            id: self.config.id.clone(),
            name: self.config.name.clone(),
            kind: self.config.kind,
            temperature_c: temperature,
            setpoint_c: settings.setpoint_c,
            mode: settings.mode,
            demand,
            power_target_w: commanded,
            action,
            hold_reason,
            policy: adjust.note.clone(),
            preset: self.preset,
        }
    }

    /// A boost ends after [`BOOST_FOR`]: back to the setpoint from before.
    fn end_boost(&mut self, now: Timestamp) {
        if let Some((until, before)) = self.boost {
            if now >= until {
                self.config.settings.setpoint_c = before;
                self.boost = None;
                self.preset = None;
            }
        }
    }

    /// Splits `target` over the boards (see [`crate::split`]).
    fn plan(&mut self, target: Watts, now: Timestamp) -> Vec<Watts> {
        let ranges: Vec<BoardRange> = self
            .hw
            .boards
            .iter()
            .map(|b| BoardRange {
                min_w: b.info().min_power_w,
                max_w: b.info().max_power_w,
            })
            .collect();
        self.splitter.split(target, &ranges, now)
    }

    fn command(&mut self, shares: &[Watts], now: Timestamp) -> Watts {
        let mut commanded = Watts::ZERO;
        for (board, &give) in self.hw.boards.iter_mut().zip(shares) {
            // A refused command is visible in the board's telemetry (its
            // target stays where it was); the loop carries on with the others.
            if board.set_power_target(give, now).is_ok() {
                commanded = commanded + give;
            }
        }
        commanded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{ZoneLimits, ZoneSettings};
    use hearth_core::board::BoardPoll;
    use hearth_core::{BoardInfo, BoardState, DeviceError, GhPerSec, HashboardError, Job, Percent};
    use std::sync::{Arc, Mutex};

    /// A thermometer that reads whatever the test puts in the cell.
    struct Probe(Arc<Mutex<Option<f64>>>);

    impl Thermometer for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn read_temp(&mut self, _now: Timestamp) -> Result<Celsius, DeviceError> {
            self.0
                .lock()
                .map_err(|_| DeviceError::Timeout)?
                .map(Celsius)
                .ok_or(DeviceError::Timeout)
        }
    }

    /// A board that records its power target.
    struct Recorder {
        info: BoardInfo,
        target: Arc<Mutex<Watts>>,
        stopped: bool,
    }

    impl Hashboard for Recorder {
        fn info(&self) -> &BoardInfo {
            &self.info
        }
        fn set_power_target(
            &mut self,
            target: Watts,
            _now: Timestamp,
        ) -> Result<(), HashboardError> {
            if self.stopped {
                return Err(HashboardError::Stopped);
            }
            *self.target.lock().map_err(|_| HashboardError::Busy)? = target;
            Ok(())
        }
        fn set_job(&mut self, _job: Job, _now: Timestamp) -> Result<(), HashboardError> {
            Ok(())
        }
        fn poll(&mut self, _now: Timestamp) -> BoardPoll {
            let power = self.target.lock().map(|t| *t).unwrap_or(Watts::ZERO);
            BoardPoll {
                telemetry: BoardTelemetry {
                    state: if self.stopped {
                        BoardState::Stopped
                    } else {
                        BoardState::Running
                    },
                    power_w: power,
                    power_target_w: power,
                    hashrate_ghs: GhPerSec::ZERO,
                    chip_temp_c: None,
                    regulator_temp_c: None,
                    fan_duty: Percent::ZERO,
                    fan_rpm: None,
                    operating_point: None,
                },
                events: vec![],
                nonces: vec![],
            }
        }
        fn stop_safely(&mut self, _now: Timestamp) -> Result<(), HashboardError> {
            self.stopped = true;
            if let Ok(mut t) = self.target.lock() {
                *t = Watts::ZERO;
            }
            Ok(())
        }
    }

    struct Rig {
        app: Appliance,
        temp: Arc<Mutex<Option<f64>>>,
        targets: Vec<Arc<Mutex<Watts>>>,
    }

    fn rig(kind: ZoneKind, boards: usize) -> Rig {
        let temp = Arc::new(Mutex::new(Some(15.0)));
        let targets: Vec<_> = (0..boards)
            .map(|_| Arc::new(Mutex::new(Watts::ZERO)))
            .collect();
        let hw = ZoneHardware {
            thermometer: Box::new(Probe(temp.clone())),
            boards: targets
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Box::new(Recorder {
                        info: BoardInfo {
                            id: BoardId::new(format!("b{i}")).unwrap_or_else(|_| unreachable!()),
                            model: "test".into(),
                            chips: 1,
                            min_power_w: Watts(400.0),
                            max_power_w: Watts(1000.0),
                        },
                        target: t.clone(),
                        stopped: false,
                    }) as Box<dyn Hashboard>
                })
                .collect(),
        };
        let config = ZoneConfig {
            id: ZoneId::new("z").unwrap_or_else(|_| unreachable!()),
            name: "z".into(),
            kind,
            limits: kind.default_limits(),
            settings: ZoneSettings {
                setpoint_c: Celsius(21.0),
                mode: ZoneMode::Heat,
            },
        };
        Rig {
            app: Appliance::new(vec![(config, hw)], PiGains::default()),
            temp,
            targets,
        }
    }

    fn set_temp(r: &Rig, t: Option<f64>) {
        if let Ok(mut cell) = r.temp.lock() {
            *cell = t;
        }
    }

    fn target(r: &Rig, i: usize) -> f64 {
        r.targets[i].lock().map(|t| t.get()).unwrap_or(f64::NAN)
    }

    #[test]
    fn cold_zone_runs_all_boards_flat_out() {
        let mut r = rig(ZoneKind::Room, 2);
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(target(&r, 0), 1000.0);
        assert_eq!(target(&r, 1), 1000.0);
        assert_eq!(rep.zones[0].action, "heating");
        assert_eq!(rep.boards.len(), 2);
    }

    #[test]
    fn partial_demand_fills_boards_in_order_and_skips_tiny_shares() {
        let mut r = rig(ZoneKind::Room, 2);
        // 0.5 K below setpoint: P-term 0.4 of 2000 W = 800 W.
        set_temp(&r, Some(20.5));
        r.app.tick(Timestamp::from_secs(0));
        assert!((target(&r, 0) - 800.0).abs() < 1.0, "{}", target(&r, 0));
        assert_eq!(target(&r, 1), 0.0);
    }

    #[test]
    fn nothing_heats_at_or_above_the_hard_limit_whatever_the_setpoint() {
        let mut r = rig(ZoneKind::Pool, 1);
        let limits: ZoneLimits = ZoneKind::Pool.default_limits();
        r.app
            .apply_settings(
                "z",
                ZoneSettings {
                    setpoint_c: limits.max_setpoint_c,
                    mode: ZoneMode::Heat,
                },
            )
            .expect("valid");
        set_temp(&r, Some(limits.hard_max_c.get()));
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(target(&r, 0), 0.0);
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("hard limit"));
    }

    #[test]
    fn a_stale_sensor_stops_heat_after_the_grace_period() {
        let mut r = rig(ZoneKind::Room, 1);
        r.app.tick(Timestamp::from_secs(0));
        assert!(target(&r, 0) > 0.0);
        set_temp(&r, None);
        // Within the grace period the last good reading is used.
        let rep = r.app.tick(Timestamp::from_secs(60));
        assert!(target(&r, 0) > 0.0);
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(15.0)));
        let rep = r.app.tick(Timestamp::from_secs(301));
        assert_eq!(target(&r, 0), 0.0);
        assert_eq!(rep.zones[0].temperature_c, None);
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("stale"));
        // It recovers as soon as readings return.
        set_temp(&r, Some(15.0));
        r.app.tick(Timestamp::from_secs(310));
        assert!(target(&r, 0) > 0.0);
    }

    #[test]
    fn an_external_temperature_steers_while_fresh_then_the_sensor_takes_over() {
        let mut r = rig(ZoneKind::Room, 1);
        // The own sensor says 15 °C (cold); the external value says 23 °C.
        r.app
            .set_external_temperature("z", Some((Celsius(23.0), Timestamp::from_secs(0))))
            .expect("known zone");
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(23.0)));
        assert_eq!(target(&r, 0), 0.0, "warm by the external value: no heat");
        let rep = r.app.tick(Timestamp::from_secs(300));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(23.0)));
        // Stale: back to the zone's own sensor, which is cold.
        let rep = r.app.tick(Timestamp::from_secs(301));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(15.0)));
        assert!(target(&r, 0) > 0.0);
        // With the sensor dead too, the stale external value is no grace:
        // the last good reading was observed at 301 s (the sensor's).
        set_temp(&r, None);
        let rep = r.app.tick(Timestamp::from_secs(700));
        assert_eq!(rep.zones[0].temperature_c, None);
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("stale"));
        // Refused: NaN, an unknown zone.
        assert!(r
            .app
            .set_external_temperature("z", Some((Celsius(f64::NAN), Timestamp::from_secs(0))))
            .is_err());
        assert!(r.app.set_external_temperature("nope", None).is_err());
    }

    #[test]
    fn an_mqtt_only_zone_drops_its_value_when_the_clock_steps_back() {
        // No sensor of its own: the zone lives on the external value.
        let mut r = rig(ZoneKind::Room, 1);
        set_temp(&r, None);
        let t = Timestamp::from_secs;
        let cold = Some((Celsius(15.0), t(100_000)));
        r.app
            .set_external_temperature("z", cold)
            .expect("known zone");
        let rep = r.app.tick(t(100_000));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(15.0)));
        assert!(target(&r, 0) > 0.0, "cold by the value: heat");
        // The clock steps back an hour (the broker is gone, no new value).
        // Before: the stamp from the future read as fresh and the zone kept
        // heating on it for an hour and five minutes.
        let rep = r.app.tick(t(96_410));
        assert_eq!(rep.zones[0].temperature_c, None);
        assert_eq!(target(&r, 0), 0.0, "blind without learned losses: no heat");
        let why = rep.zones[0].hold_reason.clone().unwrap_or_default();
        assert!(why.contains("running blind"), "{why}");
        // A front end re-feeding the same reading (the daemon does, every
        // tick) does not revive it, not even once the clock has caught up
        // with its stamp.
        for now in [96_420, 100_000, 100_010] {
            r.app
                .set_external_temperature("z", cold)
                .expect("known zone");
            let rep = r.app.tick(t(now));
            assert_eq!(rep.zones[0].temperature_c, None, "{now}");
            assert_eq!(target(&r, 0), 0.0, "{now}");
        }
        // The next value, stamped on the stepped clock, steers again.
        r.app
            .set_external_temperature("z", Some((Celsius(15.5), t(100_020))))
            .expect("known zone");
        let rep = r.app.tick(t(100_020));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(15.5)));
        assert!(target(&r, 0) > 0.0);
        // A stamp a few seconds ahead (the MQTT task stamped just after the
        // tick read the clock) is no clock step.
        r.app
            .set_external_temperature("z", Some((Celsius(15.6), t(100_033))))
            .expect("known zone");
        let rep = r.app.tick(t(100_030));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(15.6)));
    }

    /// A one-node room: 5 MJ/K, 60 W/K to 5 °C outdoors, so 960 W holds
    /// 21 °C. Steps it by `dt_s` with the boards' power; returns the new
    /// temperature.
    fn room_step(r: &Rig, temp_c: f64, dt_s: f64) -> f64 {
        let power_w: f64 = (0..r.targets.len()).map(|i| target(r, i)).sum();
        temp_c + dt_s * (power_w - 60.0 * (temp_c - 5.0)) / 5.0e6
    }

    /// Two boards in [`room_step`]'s room, six hours of control from
    /// 20 °C: it settles at 21 °C on ~960 W. The rig and the room's
    /// temperature then.
    fn held_at_21(kind: ZoneKind) -> (Rig, f64) {
        let mut r = rig(kind, 2);
        let mut room_c = 20.0;
        for s in (0..6 * 3600).step_by(10) {
            set_temp(&r, Some(room_c));
            r.app.tick(Timestamp::from_secs(s));
            room_c = room_step(&r, room_c, 10.0);
        }
        assert!((room_c - 21.0).abs() < 0.2, "{room_c}");
        (r, room_c)
    }

    #[test]
    fn a_blind_zone_without_outdoor_keeps_a_falling_share_of_the_heat_that_held_it() {
        let (mut r, mut room_c) = held_at_21(ZoneKind::Room);
        // The sensor dies. No outdoor temperature, so no learned losses to
        // go on: before, no heat at all (the room fell toward 5 °C).
        set_temp(&r, None);
        let mut log = Vec::new();
        for s in (6 * 3600..54 * 3600).step_by(10) {
            let rep = r.app.tick(Timestamp::from_secs(s));
            room_c = room_step(&r, room_c, 10.0);
            log.push((s, rep.zones[0].demand, room_c));
            if s == 6 * 3600 + 600 {
                let why = rep.zones[0].hold_reason.clone().unwrap_or_default();
                assert!(why.contains("blind heat at"), "{why}");
                assert!(why.contains("W that held the setpoint"), "{why}");
            }
        }
        let at = |h: u64| {
            log.iter()
                .find(|(s, _, _)| *s >= 6 * 3600 + h * 3600)
                .copied()
                .unwrap_or((0, f64::NAN, f64::NAN))
        };
        // Five minutes on the last good reading, then 80 % of 960 W of
        // the 2 kW the zone has...
        assert!((at(1).1 - 0.8 * 960.0 / 2000.0).abs() < 0.03, "{:?}", at(1));
        // ...halving over twelve hours to the 40 % floor, and staying there.
        assert!(
            (at(13).1 - 0.4 * 960.0 / 2000.0).abs() < 0.02,
            "{:?}",
            at(13)
        );
        assert!((at(47).1 - at(13).1).abs() < 1e-9, "{:?}", at(47));
        // Never above the setpoint, and far warmer than unheated (5 °C).
        let warmest = log.iter().map(|x| x.2).fold(f64::MIN, f64::max);
        assert!(warmest < 21.2, "{warmest}");
        assert!(at(47).2 > 5.0 + 0.35 * 16.0, "{:?}", at(47));
        // The sensor returns: the controller steers again at once.
        set_temp(&r, Some(15.0));
        let rep = r.app.tick(Timestamp::from_secs(54 * 3600));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(15.0)));
        assert_eq!(rep.zones[0].hold_reason, None);
        assert!(rep.zones[0].demand > 0.9, "{:?}", rep.zones[0]);
    }

    #[test]
    fn a_blind_greenhouse_gets_no_blind_heat() {
        // The same hold as above, in a greenhouse: its unseen sun could
        // add to the held power past the hard limit.
        let (mut r, _) = held_at_21(ZoneKind::Greenhouse);
        set_temp(&r, None);
        for s in (6 * 3600..8 * 3600).step_by(10) {
            let rep = r.app.tick(Timestamp::from_secs(s));
            if s >= 6 * 3600 + 600 {
                assert_eq!(rep.zones[0].demand, 0.0, "{:?}", rep.zones[0]);
                assert_eq!(target(&r, 0) + target(&r, 1), 0.0);
            }
        }
    }

    #[test]
    fn a_blind_mqtt_only_zone_heats_below_its_learned_loss_and_says_so() {
        // 25 minutes of steering on a fresh external value a little under
        // the setpoint, with an outdoor temperature: the controller learns
        // the zone's losses (and blind heat has not held long enough to
        // know better, `blind::MIN_LEARNED_S`). Then the values stop.
        let mut r = rig(ZoneKind::Room, 2);
        set_temp(&r, None);
        r.app.set_outdoor(Some(Celsius(6.0)));
        let mut steering = 0.0;
        for s in (0..1500).step_by(10) {
            let now = Timestamp::from_secs(s);
            let t = Celsius(20.9 + if (s / 10) % 2 == 0 { 0.0 } else { 0.01 });
            r.app
                .set_external_temperature("z", Some((t, now)))
                .expect("known zone");
            let rep = r.app.tick(now);
            steering = rep.zones[0].demand;
        }
        assert!(steering > 0.02, "{steering}");
        let rep = r.app.tick(Timestamp::from_secs(1490 + 301));
        let zone = &rep.zones[0];
        assert_eq!(zone.temperature_c, None);
        // Bounded: 90 % of the learned loss at the setpoint, never more
        // than what held the zone just under it.
        assert!(zone.demand > 0.0 && zone.demand < steering, "{zone:?}");
        let why = zone.hold_reason.clone().unwrap_or_default();
        assert!(
            why.starts_with("running blind: external temperature"),
            "{why}"
        );
        assert!(why.contains("safety mode at"), "{why}");
    }

    #[test]
    fn a_frozen_external_value_under_heat_is_not_trusted() {
        // Home Assistant's sensor froze at 15 °C and keeps being published
        // with fresh stamps: freshness alone would heat forever.
        let mut r = rig(ZoneKind::Room, 2);
        set_temp(&r, None);
        let mut stopped_at = None;
        for s in (0..3600).step_by(10) {
            let now = Timestamp::from_secs(s);
            r.app
                .set_external_temperature("z", Some((Celsius(15.0), now)))
                .expect("known zone");
            let rep = r.app.tick(now);
            if rep.zones[0].temperature_c.is_none() {
                let why = rep.zones[0].hold_reason.clone().unwrap_or_default();
                assert!(why.contains("external temperature stuck"), "{why}");
                assert!(why.contains("running blind"), "{why}");
                assert_eq!(target(&r, 0) + target(&r, 1), 0.0);
                stopped_at = Some(s);
                break;
            }
            assert!(target(&r, 0) > 0.0, "{s}");
        }
        // 900 kJ at 2 kW: 450 s.
        assert_eq!(stopped_at, Some(450));
        // A value that moves is trusted again at once.
        let now = Timestamp::from_secs(460);
        r.app
            .set_external_temperature("z", Some((Celsius(15.1), now)))
            .expect("known zone");
        let rep = r.app.tick(now);
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(15.1)));
        assert!(target(&r, 0) > 0.0);
    }

    #[test]
    fn the_own_sensor_holds_the_hard_limit_whatever_an_external_value_says() {
        let mut r = rig(ZoneKind::Room, 1);
        let hard = r.app.zones[0].config.limits.hard_max_c.get();
        // A hostile or broken Home Assistant keeps saying the room is cold
        // while the zone's own sensor reads the hard limit.
        set_temp(&r, Some(hard));
        r.app
            .set_external_temperature("z", Some((Celsius(5.0), Timestamp::from_secs(0))))
            .expect("known zone");
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(5.0)));
        assert_eq!(target(&r, 0), 0.0, "no heat at the own sensor's hard limit");
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("own sensor"));
        // Below the limit the external value steers again and heats.
        set_temp(&r, Some(hard - 5.0));
        r.app.tick(Timestamp::from_secs(60));
        assert!(target(&r, 0) > 0.0);
    }

    #[test]
    fn a_failed_own_sensor_behind_an_external_value_is_reported_not_silent() {
        let mut r = rig(ZoneKind::Room, 1);
        r.app
            .set_external_temperature("z", Some((Celsius(18.0), Timestamp::from_secs(0))))
            .expect("known zone");
        set_temp(&r, Some(18.0));
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(
            rep.zones[0].hold_reason, None,
            "both sensors fine: nothing to say"
        );
        // The probe dies: Home Assistant's value still steers (heat goes
        // on), and the zone says it steers alone.
        set_temp(&r, None);
        let rep = r.app.tick(Timestamp::from_secs(60));
        assert_eq!(rep.zones[0].temperature_c, Some(Celsius(18.0)));
        assert!(target(&r, 0) > 0.0, "still heating on the external value");
        let why = rep.zones[0].hold_reason.clone().unwrap_or_default();
        assert!(
            why.contains("own sensor failed") && why.contains("steers alone"),
            "{why}"
        );
    }

    #[test]
    fn mode_off_and_unknown_zones() {
        let mut r = rig(ZoneKind::Room, 1);
        r.app
            .apply_settings(
                "z",
                ZoneSettings {
                    setpoint_c: Celsius(21.0),
                    mode: ZoneMode::Off,
                },
            )
            .expect("ok");
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(target(&r, 0), 0.0);
        assert_eq!(rep.zones[0].action, "off");
        assert_eq!(
            r.app.validate_setpoint("nope", 20.0),
            Err(SettingError::UnknownZone("nope".into()))
        );
        assert!(r
            .app
            .apply_settings(
                "z",
                ZoneSettings {
                    setpoint_c: Celsius(99.0),
                    mode: ZoneMode::Heat
                }
            )
            .is_err());
        assert_eq!(
            r.app.settings("z").map(|s| s.mode),
            Some(ZoneMode::Off),
            "refused change left settings alone"
        );
    }

    #[test]
    fn stop_all_idles_boards_and_later_ticks_command_nothing() {
        let mut r = rig(ZoneKind::Room, 2);
        r.app.tick(Timestamp::from_secs(0));
        assert!(r.app.stop_all(Timestamp::from_secs(1)).is_empty());
        let rep = r.app.tick(Timestamp::from_secs(2));
        assert_eq!(target(&r, 0), 0.0);
        assert!(rep
            .boards
            .iter()
            .all(|b| b.telemetry.state == BoardState::Stopped));
        assert_eq!(rep.zones[0].hold_reason.as_deref(), Some("shutting down"));
    }

    fn decision(miner: MinerRole, offset_k: f64) -> Decision {
        Decision {
            miner,
            setpoint_offset_k: offset_k,
            sg_ready_out: None,
            rule: crate::policy::Rule::UtilityBlock,
            why: vec!["because".into()],
            price_per_kwh: 0.3,
            revenue_per_kwh: 0.1,
            cop: None,
        }
    }

    #[test]
    fn a_policy_block_stops_heat_and_says_why_and_an_offset_moves_the_aim() {
        let mut r = rig(ZoneKind::Room, 1);
        r.app.apply_policy(&decision(MinerRole::Off, 0.0));
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(target(&r, 0), 0.0);
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("because"));
        assert_eq!(
            rep.zones[0].setpoint_c,
            Celsius(21.0),
            "user setpoint untouched"
        );
        // Backup stage 0.3 K below: at 20.8 °C (0.2 K under the setpoint) the
        // miner does not heat; without the offset it would.
        set_temp(&r, Some(20.8));
        r.app.apply_policy(&decision(MinerRole::Backup, -0.3));
        r.app.tick(Timestamp::from_secs(10));
        assert_eq!(target(&r, 0), 0.0);
        r.app.apply_policy(&decision(MinerRole::Primary, 0.0));
        r.app.tick(Timestamp::from_secs(20));
        assert!(target(&r, 0) > 0.0);
    }

    #[test]
    fn shares_spread_over_boards_at_partial_load() {
        let mut r = rig(ZoneKind::Room, 2);
        // 1 K below: P-term 0.8 of 2000 W = 1600 W, over both boards.
        set_temp(&r, Some(20.0));
        r.app.tick(Timestamp::from_secs(0));
        assert!((target(&r, 0) - 800.0).abs() < 1.0, "{}", target(&r, 0));
        assert!((target(&r, 1) - 800.0).abs() < 1.0, "{}", target(&r, 1));
    }

    #[test]
    fn a_pool_heats_only_while_its_circulation_pump_runs() {
        let mut r = rig(ZoneKind::Pool, 1);
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(target(&r, 0), 0.0, "pump state unknown: no heat");
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("circulation"));
        r.app.set_circulation("z", Some(true)).expect("zone");
        r.app.tick(Timestamp::from_secs(10));
        assert!(target(&r, 0) > 0.0);
        r.app.set_circulation("z", Some(false)).expect("zone");
        r.app.tick(Timestamp::from_secs(20));
        assert_eq!(target(&r, 0), 0.0, "pump stopped: heat stops at once");
    }

    #[test]
    fn an_open_window_holds_heat_except_for_frost_protection() {
        let mut r = rig(ZoneKind::Room, 1);
        r.app.set_window_contact("z", Some(true)).expect("zone");
        let rep = r.app.tick(Timestamp::from_secs(0));
        assert_eq!(target(&r, 0), 0.0);
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("window"));
        // Below frost protection it heats anyway.
        set_temp(&r, Some(5.0));
        let rep = r.app.tick(Timestamp::from_secs(10));
        assert!(target(&r, 0) > 0.0);
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("frost"));
        // The same for a policy block.
        r.app.set_window_contact("z", Some(false)).expect("zone");
        r.app.apply_policy(&decision(MinerRole::Off, 0.0));
        r.app.tick(Timestamp::from_secs(20));
        assert!(target(&r, 0) > 0.0, "frost first");
        set_temp(&r, Some(15.0));
        r.app.tick(Timestamp::from_secs(30));
        assert_eq!(target(&r, 0), 0.0);
    }

    #[test]
    fn a_fast_temperature_drop_is_an_open_window() {
        let mut r = rig(ZoneKind::Room, 1);
        assert!(r.app.set_window_drop_rule("z", Some(f64::NAN)).is_err());
        r.app.set_window_drop_rule("z", Some(3.0)).expect("valid");
        // Just under setpoint, holding; then 6 K/h down.
        let mut held = false;
        for s in (0..1800).step_by(10) {
            let t = if s < 600 {
                20.9
            } else {
                20.9 - 6.0 * (s - 600) as f64 / 3600.0
            };
            set_temp(&r, Some(t));
            let rep = r.app.tick(Timestamp::from_secs(s));
            if rep.zones[0]
                .hold_reason
                .as_deref()
                .unwrap_or("")
                .contains("window open")
            {
                held = true;
                assert_eq!(target(&r, 0), 0.0);
            }
        }
        assert!(held, "never detected");
    }

    #[test]
    fn presets_set_the_setpoint_and_boost_returns_after_an_hour() {
        let mut r = rig(ZoneKind::Room, 1);
        let s = r
            .app
            .apply_preset("z", Preset::Eco, Timestamp::from_secs(0))
            .expect("ok");
        assert_eq!(s.setpoint_c, Celsius(19.0));
        r.app
            .apply_preset("z", Preset::Boost, Timestamp::from_secs(0))
            .expect("ok");
        let rep = r.app.tick(Timestamp::from_secs(10));
        assert_eq!(rep.zones[0].setpoint_c, Celsius(23.0));
        assert_eq!(rep.zones[0].preset, Some(Preset::Boost));
        let rep = r.app.tick(Timestamp::from_secs(3600));
        assert_eq!(
            rep.zones[0].setpoint_c,
            Celsius(19.0),
            "back to eco's setpoint"
        );
        assert_eq!(rep.zones[0].preset, None);
        // A preset table the limits refuse changes nothing.
        let mut t = PresetTable::defaults(ZoneKind::Room);
        t.comfort_c = Celsius(29.5);
        assert!(r.app.set_presets("z", t).is_err());
        assert_eq!(
            r.app.presets("z").map(|p| p.0.comfort_c),
            Some(Celsius(21.0))
        );
        assert!(r
            .app
            .apply_preset("nope", Preset::Eco, Timestamp::from_secs(0))
            .is_err());
    }

    #[test]
    fn nobody_home_aims_no_higher_than_away() {
        let mut r = rig(ZoneKind::Room, 1);
        set_temp(&r, Some(17.0));
        r.app.set_presence(Some(false));
        r.app.tick(Timestamp::from_secs(0));
        assert_eq!(target(&r, 0), 0.0, "17 °C is above away (16 °C)");
        r.app.set_presence(Some(true));
        r.app.tick(Timestamp::from_secs(10));
        assert!(target(&r, 0) > 0.0);
    }

    #[test]
    fn the_site_power_limit_is_never_exceeded() {
        let mut r = rig(ZoneKind::Room, 2);
        assert!(r.app.set_site_limit(Some(Watts(f64::NAN))).is_err());
        r.app.set_site_limit(Some(Watts(1500.0))).expect("valid");
        let rep = r.app.tick(Timestamp::from_secs(0));
        let total = target(&r, 0) + target(&r, 1);
        assert!(total <= 1500.0 + 1e-9 && total > 1000.0, "{total}");
        assert!(rep.zones[0]
            .hold_reason
            .as_deref()
            .unwrap_or("")
            .contains("site power limit"));
        // Below one board's lowest point nothing fits: no heat at all.
        r.app.set_site_limit(Some(Watts(300.0))).expect("valid");
        r.app.tick(Timestamp::from_secs(10));
        assert_eq!(target(&r, 0) + target(&r, 1), 0.0);
        r.app.set_site_limit(None).expect("valid");
        r.app.tick(Timestamp::from_secs(20));
        assert_eq!(target(&r, 0) + target(&r, 1), 2000.0);
    }

    #[test]
    fn only_auto_follows_the_schedule() {
        use crate::schedule::{ScheduleEntry, ALL_DAYS};
        let mut r = rig(ZoneKind::Room, 1);
        let entry = ScheduleEntry {
            days: ALL_DAYS,
            at_s: 0,
            setpoint_c: Celsius(18.0),
        };
        let schedule = Schedule::new(vec![entry]).expect("valid");
        r.app.set_schedule("z", Some(schedule)).expect("zone");
        let rep = r.app.tick(Timestamp::from_secs(3600));
        assert_eq!(
            rep.zones[0].setpoint_c,
            Celsius(21.0),
            "heat: schedule paused"
        );
        let auto = ZoneSettings {
            setpoint_c: Celsius(21.0),
            mode: ZoneMode::Auto,
        };
        r.app.apply_settings("z", auto).expect("valid");
        let rep = r.app.tick(Timestamp::from_secs(3610));
        assert_eq!(
            rep.zones[0].setpoint_c,
            Celsius(18.0),
            "auto: the entry in force"
        );
        assert_ne!(rep.zones[0].action, "off");
    }
}
