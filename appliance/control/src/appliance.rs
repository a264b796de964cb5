//! One control tick over the seam traits. The daemon calls [`Appliance::tick`]
//! on a wall-clock interval, the scenario runner on a virtual one: same code,
//! same decisions, which is what makes simulation results mean something.

use crate::controller::{ControllerKind, ZoneController, ZoneInputs};
use crate::pi::PiGains;
use crate::schedule::Schedule;
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
    /// Stuck-reading detection and the demand it is judged against.
    stuck: crate::stuck::StuckWatch,
    sensor_stuck: bool,
    last_demand: f64,
}

/// All zones with their devices, and the controller state.
#[derive(Debug)]
pub struct Appliance {
    zones: Vec<ZoneRuntime>,
    stopped: bool,
    outdoor: Option<Celsius>,
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
                config,
                hw,
                controller: kind.build(),
                schedule: None,
                schedule_applied: None,
                last_good: None,
                last_tick: None,
                stuck: crate::stuck::StuckWatch::default(),
                sensor_stuck: false,
                last_demand: 0.0,
            })
            .collect();
        Appliance {
            zones,
            stopped: false,
            outdoor: None,
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
        for zone in &mut self.zones {
            let status = zone.step(now, stopped, outdoor);
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
        match self.hw.thermometer.read_temp(now) {
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
        }
    }

    /// Keep using the last good reading for a while; after that, no reading.
    fn fallback(&self, now: Timestamp, why: String) -> (Option<Celsius>, Option<String>) {
        match self.last_good {
            Some((t, at)) if now.since(at) < SENSOR_STALE_AFTER => (Some(t), None),
            _ => (None, Some(format!("temperature sensor stale ({why})"))),
        }
    }

    /// Takes the setpoint of a schedule entry that started since the last one
    /// applied.
    fn follow_schedule(&mut self, now: Timestamp) -> Option<(Timestamp, Celsius)> {
        let schedule = self.schedule.as_ref()?;
        if let Some((at, sp)) = schedule.active_at(now) {
            if self.schedule_applied != Some(at) {
                self.schedule_applied = Some(at);
                if let Ok(sp) = self.config.limits.validate_setpoint(sp.get()) {
                    self.config.settings.setpoint_c = sp;
                }
            }
        }
        schedule.next_after(now)
    }

    fn step(&mut self, now: Timestamp, stopped: bool, outdoor: Option<Celsius>) -> ZoneStatus {
        let dt_s = self.last_tick.map_or(0.0, |t| now.since(t).as_secs_f64());
        self.last_tick = Some(now);
        let next_setpoint = self.follow_schedule(now);
        let (temperature, sensor_problem) = self.read_temperature(now);
        let settings = self.config.settings;
        let mut hold_reason = sensor_problem;
        let mut demand = 0.0;
        let max_power = self.max_power();

        if stopped {
            hold_reason = Some("shutting down".into());
        } else if settings.mode == ZoneMode::Off {
            self.controller.reset();
        } else if let Some(t) = temperature {
            if t >= self.config.limits.hard_max_c {
                self.controller.reset();
                hold_reason = Some(format!(
                    "at or above the hard limit {}",
                    self.config.limits.hard_max_c
                ));
            } else {
                let inputs = ZoneInputs {
                    temperature: t,
                    setpoint: settings.setpoint_c,
                    outdoor,
                    next_setpoint,
                    max_power,
                    dt_s,
                };
                demand = self.controller.step(&inputs, now);
            }
        } else {
            // Stale sensor: the controller's safety demand (none unless it has
            // learned the zone's losses and knows the outdoor temperature).
            demand = self
                .controller
                .fallback_demand(settings.setpoint_c, outdoor, max_power)
                .clamp(0.0, 1.0);
            // A stuck reading fooled the loss learning too (full heat that
            // seemed to warm nothing): no learned safety heat then.
            if self.sensor_stuck {
                demand = 0.0;
            }
            if demand > 0.0 {
                if let Some(why) = hold_reason.take() {
                    hold_reason = Some(format!(
                        "{why}; safety mode at {:.0} % from the learned losses",
                        demand * 100.0
                    ));
                }
            }
        }

        self.last_demand = demand;
        let target = max_power * demand;
        let commanded = self.distribute(target, now);
        let action = match settings.mode {
            ZoneMode::Off => "off",
            ZoneMode::Heat if commanded.get() > 0.0 => "heating",
            ZoneMode::Heat => "idle",
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
        }
    }

    /// Fills boards in order. A board whose share falls below half its lowest
    /// operating point gets nothing; between half and the lowest point it runs
    /// at the lowest point (the controller's integral absorbs the excess).
    /// Returns the total commanded.
    fn distribute(&mut self, target: Watts, now: Timestamp) -> Watts {
        let mut remaining = target.max(Watts::ZERO);
        let mut commanded = Watts::ZERO;
        for board in &mut self.hw.boards {
            let info = board.info();
            let share = remaining.min(info.max_power_w);
            let give = if share < info.min_power_w * 0.5 {
                Watts::ZERO
            } else {
                share.max(info.min_power_w)
            };
            // A refused command is visible in the board's telemetry (its
            // target stays where it was); the loop carries on with the others.
            if board.set_power_target(give, now).is_ok() {
                commanded = commanded + give;
            }
            remaining = (remaining - give).max(Watts::ZERO);
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
}
