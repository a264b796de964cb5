//! What the control loop shares with the API: the appliance (behind a short
//! lock), the store, the latest status snapshot, and the loop's heartbeat.

use crate::store::Store;
use hearth_control::{Appliance, TickReport};
use hearth_core::Clock;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// Locks a std mutex, recovering the data if a holder panicked: the control
/// state is updated in whole steps, so it is consistent at every unlock.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZoneView {
    pub id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub kind: hearth_control::ZoneKind,
    pub temperature_c: Option<f64>,
    pub setpoint_c: f64,
    #[schema(value_type = String)]
    pub mode: hearth_control::ZoneMode,
    #[schema(value_type = String)]
    pub action: &'static str,
    pub power_w: f64,
    pub demand: f64,
    pub hold_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BoardView {
    pub id: String,
    pub zone: String,
    pub model: String,
    #[schema(value_type = String)]
    pub state: hearth_core::BoardState,
    pub power_w: f64,
    pub power_target_w: f64,
    pub hashrate_ghs: f64,
    pub chip_temp_c: Option<f64>,
    pub regulator_temp_c: Option<f64>,
    pub fan_duty_percent: f64,
    pub fan_rpm: Option<f64>,
    pub freq_mhz: Option<f64>,
    pub voltage_mv: Option<f64>,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub time_ms: u64,
    pub simulated: bool,
    pub outdoor_temp_c: Option<f64>,
    pub zones: Vec<ZoneView>,
    pub boards: Vec<BoardView>,
    /// Where the boards' work comes from (see `crate::work`); absent until
    /// the work service has started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub work: Option<crate::work::WorkStatus>,
}

impl Status {
    pub fn from_report(r: &TickReport, simulated: bool, outdoor_temp_c: Option<f64>) -> Status {
        Status {
            time_ms: r.now.as_millis(),
            simulated,
            outdoor_temp_c,
            zones: r
                .zones
                .iter()
                .map(|z| ZoneView {
                    id: z.id.to_string(),
                    name: z.name.clone(),
                    kind: z.kind,
                    temperature_c: z.temperature_c.map(|t| t.get()),
                    setpoint_c: z.setpoint_c.get(),
                    mode: z.mode,
                    action: z.action,
                    power_w: z.power_target_w.get(),
                    demand: z.demand,
                    hold_reason: z.hold_reason.clone(),
                })
                .collect(),
            boards: r
                .boards
                .iter()
                .map(|b| {
                    let t = &b.telemetry;
                    BoardView {
                        id: b.id.to_string(),
                        zone: b.zone.to_string(),
                        model: b.model.clone(),
                        state: t.state,
                        power_w: t.power_w.get(),
                        power_target_w: t.power_target_w.get(),
                        hashrate_ghs: t.hashrate_ghs.get(),
                        chip_temp_c: t.chip_temp_c.map(|c| c.get()),
                        regulator_temp_c: t.regulator_temp_c.map(|c| c.get()),
                        fan_duty_percent: t.fan_duty.get(),
                        fan_rpm: t.fan_rpm.map(|r| r.get()),
                        freq_mhz: t.operating_point.map(|op| op.freq_mhz.get()),
                        voltage_mv: t.operating_point.map(|op| op.voltage_mv.get()),
                    }
                })
                .collect(),
            work: None,
        }
    }
}

/// The control loop's heartbeat, read by `/health`.
#[derive(Debug)]
pub struct Heartbeat {
    origin: Instant,
    last_tick_ms: AtomicU64,
    ticked: AtomicBool,
    stopped: AtomicBool,
    max_age: Duration,
}

impl Heartbeat {
    pub fn new(tick: Duration) -> Heartbeat {
        Heartbeat {
            origin: Instant::now(),
            last_tick_ms: AtomicU64::new(0),
            ticked: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            // Three missed ticks, but never less than three seconds.
            max_age: (tick * 3).max(Duration::from_secs(3)),
        }
    }

    pub fn beat(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_tick_ms.store(ms, Ordering::SeqCst);
        self.ticked.store(true, Ordering::SeqCst);
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Alive: ticked recently and not stopped.
    pub fn alive(&self) -> bool {
        if self.stopped.load(Ordering::SeqCst) || !self.ticked.load(Ordering::SeqCst) {
            return false;
        }
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let age = now.saturating_sub(self.last_tick_ms.load(Ordering::SeqCst));
        Duration::from_millis(age) <= self.max_age
    }
}

pub struct Shared {
    pub appliance: Mutex<Appliance>,
    pub store: Arc<Mutex<Store>>,
    pub status: RwLock<Option<Status>>,
    pub heartbeat: Heartbeat,
    /// Serialises setting changes so "persist, then apply" happens in one order.
    pub settings_gate: tokio::sync::Mutex<()>,
    /// The control loop's time (wall-clock dates; steps when the system
    /// clock does, see `wall_clock`).
    pub clock: Arc<dyn Clock>,
    /// Never steps: for timeouts and rates.
    pub steady_clock: Arc<dyn Clock>,
    pub simulated: bool,
    /// The work service's latest status.
    pub work: Arc<RwLock<Option<crate::work::WorkStatus>>>,
    /// Heat-source policy, house inputs and control settings (lock before
    /// `appliance` when both are needed).
    pub control: Mutex<crate::house_control::ControlState>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("simulated", &self.simulated)
            .finish_non_exhaustive()
    }
}
