//! Faster-than-real-time runs: a virtual clock, the same control tick as the
//! daemon, and the benchmark's KPIs.
//!
//! Comfort KPIs use the true interior temperature of the simulated zone, not
//! the thermometer (which may fail, and which a controller could fool).

use crate::board::SimBoardParams;
use crate::scenario::{build_world, curve_at, daily_value, Scenario};
use crate::weather::HourlySeries;
use crate::world::{lock, World};
use hearth_control::{
    Appliance, ControllerKind, CopCurve, HeatPumpState, HouseNow, PiGains, Policy, SgReady, Tariff,
};
use hearth_core::{BoardEvent, Celsius, Timestamp, Watts};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;

/// How far around a moment a scheduled setpoint still excuses a temperature
/// above the current one (pre-heat ramps, passive cool-down after a drop).
pub const OVERSHOOT_WINDOW_S: f64 = 3.0 * 3600.0;
/// Comfort band below the setpoint before discomfort counts.
pub const DISCOMFORT_BAND_K: f64 = 0.5;

/// Which heat sources a run may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeatSources {
    /// Heat pump (if the scenario has one) and miner, under the heat-source
    /// policy (`hearth_control::Policy`).
    Policy,
    /// The same house with the boards as a plain resistive backup element:
    /// the same policy and controller, but no mining (no revenue, so the
    /// economic switch never picks them).
    HeatPumpOnly,
    /// No heat pump: the miner alone.
    MinerOnly,
}

impl HeatSources {
    pub fn name(self) -> &'static str {
        match self {
            HeatSources::Policy => "policy",
            HeatSources::HeatPumpOnly => "heat-pump-only",
            HeatSources::MinerOnly => "miner-only",
        }
    }
}

/// Per-zone results of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSummary {
    pub id: String,
    pub final_temperature_c: f64,
    pub min_temperature_c: f64,
    pub max_temperature_c: f64,
    /// Kelvin-hours below the active setpoint − 0.5 K while in heat mode.
    pub discomfort_kh: f64,
    /// Largest excess over every setpoint in force within ±3 h.
    pub max_overshoot_k: f64,
    /// RMS of the error: below the active setpoint, temperature − setpoint;
    /// above it, the overshoot as just defined.
    pub rms_error_k: f64,
    /// Heating starts (zone power from zero to above zero) per hour.
    pub cycles_per_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub controller: String,
    pub sources: String,
    pub seed: u64,
    pub simulated_hours: f64,
    pub ticks: u64,
    /// Whole-run comfort KPIs: sums (discomfort) or worst (overshoot, RMS)
    /// over heated zones.
    pub discomfort_kh: f64,
    pub max_overshoot_k: f64,
    pub rms_error_k: f64,
    /// Electricity drawn by the boards.
    pub energy_kwh: f64,
    /// Heat the boards delivered into zones.
    pub heat_kwh: f64,
    /// Electricity drawn by heat pumps (their heat is not in `heat_kwh`).
    pub heat_pump_kwh: f64,
    /// Heat the heat pumps delivered.
    pub heat_pump_heat_kwh: f64,
    /// Electricity cost (grid and forgone feed-in), before revenue.
    pub electricity_cost: f64,
    /// Net cost per kWh of all heat delivered (boards and heat pumps).
    pub net_cost_per_heat_kwh: f64,
    /// What the same heat would have cost from a resistive heater at the
    /// grid price in force...
    pub resistive_cost: f64,
    /// ...and from the heat pump alone at its COP (scenarios with one).
    pub heat_pump_equivalent_cost: f64,
    /// Ticks per policy rule that set the miner's role (policy runs).
    pub policy_rules: std::collections::BTreeMap<String, u64>,
    /// Electricity cost (grid at its price, PV surplus at the feed-in price
    /// it would have earned) minus mining revenue.
    pub net_cost: f64,
    /// Mining revenue at the scenario's hashprice.
    pub revenue: f64,
    /// The SG-Ready output relays as the daemon drives them from this
    /// run's policy decisions (through `hearth_control::SgReadyOutput`'s
    /// switching limits). The modelled heat pump follows these relays: it
    /// is held back only while they show `block`.
    pub sg_ready_output: SgOutputSummary,
    /// State changes of the SG-Ready output relays (`sg_ready_output.switches`).
    pub relay_switches: u64,
    /// Changes of the economic switch's verdict (miner / heat pump cheaper).
    pub economic_switches: u64,
    /// Mean over zones with boards.
    pub cycles_per_hour: f64,
    pub hashes: f64,
    pub hashes_per_joule: f64,
    /// Mean fan duty (%) over the ticks each board was drawing power: how
    /// quiet the heat was (0 when no board ran).
    pub mean_fan_duty_percent: f64,
    /// Highest fan duty seen on a running board.
    pub max_fan_duty_percent: f64,
    /// Board trips plus hours in sensor-stale safety handling, counted per
    /// episode.
    pub safety_events: u64,
    /// What each of `safety_events` was, in order (the first
    /// `SAFETY_LOG_LIMIT`; the count above is never capped).
    pub safety_event_log: Vec<SafetyEventRecord>,
    pub zones: Vec<ZoneSummary>,
}

/// At most this many entries in `RunSummary::safety_event_log`.
pub const SAFETY_LOG_LIMIT: usize = 64;

/// One safety event of a run: a board trip or a zone whose temperature
/// input went stale while it was heating.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetyEventRecord {
    /// Simulated hours since the start.
    pub at_h: f64,
    /// `trip` or `stale_sensor`.
    pub kind: String,
    /// The board or zone.
    pub source: String,
    pub detail: String,
}

/// What the SG-Ready output relays showed over a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SgOutputSummary {
    /// Simulated hours in each state shown (`normal`, `block`, ...); empty
    /// without a policy (nothing drives the outputs).
    pub hours_by_state: std::collections::BTreeMap<String, f64>,
    /// State changes of the relays.
    pub switches: u64,
    /// Hours the limits (minimum switching time, block limit and rest)
    /// showed another state than the policy asked for.
    pub held_hours: f64,
    /// The state at the end of the run (before the exit release).
    pub final_state: Option<SgReady>,
}

/// One sample of a zone's trace, for the comfort KPIs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t_s: f64,
    pub temp_c: f64,
    pub setpoint_c: f64,
    pub heat_mode: bool,
}

/// Comfort KPIs of one trace sampled every `dt_h` hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comfort {
    pub discomfort_kh: f64,
    pub max_overshoot_k: f64,
    pub rms_error_k: f64,
}

/// The comfort KPIs, exactly as the benchmark defines them:
///
/// * discomfort: ∫ max(0, setpoint − 0.5 K − T) dt over heat-mode samples;
/// * overshoot at t: T − max(every heat-mode setpoint in force within
///   [t − 3 h, t + 3 h]), when positive; the KPI is its maximum;
/// * error at t: T − setpoint when T is below the active setpoint, else the
///   overshoot at t; the KPI is its RMS over heat-mode samples.
///
/// Linear time: the window maximum is a monotonic deque.
pub fn comfort(trace: &[Sample], dt_h: f64) -> Comfort {
    let mut discomfort = 0.0;
    let mut max_over: f64 = 0.0;
    let (mut sq, mut n) = (0.0, 0u64);
    let mut window: VecDeque<usize> = VecDeque::new();
    let mut next = 0;
    for s in trace {
        while next < trace.len() && trace[next].t_s <= s.t_s + OVERSHOOT_WINDOW_S {
            if trace[next].heat_mode {
                while window
                    .back()
                    .is_some_and(|&j| trace[j].setpoint_c <= trace[next].setpoint_c)
                {
                    window.pop_back();
                }
                window.push_back(next);
            }
            next += 1;
        }
        while window
            .front()
            .is_some_and(|&j| trace[j].t_s < s.t_s - OVERSHOOT_WINDOW_S)
        {
            window.pop_front();
        }
        if !s.heat_mode || !s.temp_c.is_finite() {
            continue;
        }
        discomfort += (s.setpoint_c - DISCOMFORT_BAND_K - s.temp_c).max(0.0) * dt_h;
        let ceiling = window
            .front()
            .map_or(s.setpoint_c, |&j| trace[j].setpoint_c.max(s.setpoint_c));
        let over = (s.temp_c - ceiling).max(0.0);
        max_over = max_over.max(over);
        let err = if s.temp_c < s.setpoint_c {
            s.temp_c - s.setpoint_c
        } else {
            over
        };
        sq += err * err;
        n += 1;
    }
    Comfort {
        discomfort_kh: discomfort,
        max_overshoot_k: max_over,
        rms_error_k: if n > 0 { (sq / n as f64).sqrt() } else { 0.0 },
    }
}

#[derive(Debug, Default)]
struct ZoneAcc {
    min: f64,
    max: f64,
    last: f64,
    trace: Vec<Sample>,
    starts: u64,
    was_on: bool,
    stale: bool,
}

fn in_period(h: f64, from_h: f64, to_h: f64) -> bool {
    h >= from_h && h < to_h
}

/// Runs `scenario` with Hearth's controller.
pub fn run(scenario: &Scenario) -> RunSummary {
    run_with(scenario, ControllerKind::Hearth(PiGains::default()))
}

/// Runs `scenario` with `controller` on every zone. Deterministic: the same
/// scenario (seed included) gives the same summary, bit for bit.
pub fn run_with(scenario: &Scenario, controller: ControllerKind) -> RunSummary {
    run_sources(scenario, controller, HeatSources::Policy)
}

/// Runs `scenario` with `controller` and the given heat sources.
pub fn run_sources(
    scenario: &Scenario,
    controller: ControllerKind,
    sources: HeatSources,
) -> RunSummary {
    let start = Timestamp::from_secs(scenario.start_unix_s);
    let built = build_world(scenario.seed, start, scenario.weather, &scenario.zones);
    if let Some(ws) = &scenario.weather_series {
        let series = |v: &Vec<f64>| {
            (!v.is_empty()).then(|| HourlySeries {
                start,
                values: v.clone(),
            })
        };
        lock(&built.world)
            .weather_mut()
            .set_series(series(&ws.outdoor_c), series(&ws.solar_w_per_m2));
    }
    let mut appliance = Appliance::with_controller(built.zones, controller);
    for z in &scenario.zones {
        // Checked when the scenario was loaded; a failure here means no schedule.
        let schedule = z.setpoint_schedule().ok().flatten();
        let _ = appliance.set_schedule(z.id.as_str(), schedule);
    }
    let gain_tables: Vec<Vec<(u32, f64)>> = scenario
        .zones
        .iter()
        .map(|z| z.gain_table().unwrap_or_default())
        .collect();
    let circulation_tables: Vec<Vec<(u32, f64)>> = scenario
        .zones
        .iter()
        .map(|z| z.circulation_table().unwrap_or_default())
        .collect();
    let tou = scenario.tou_table().unwrap_or_default();
    let pv = scenario.pv.as_ref().map(|p| HourlySeries {
        start,
        values: p.surplus_w.clone(),
    });
    let (grid_price, feed_in, hashprice) = scenario.prices.as_ref().map_or((0.0, 0.0, 0.0), |p| {
        (p.grid_per_kwh, p.feed_in_per_kwh, p.hashprice_per_th_day)
    });
    // Without mining the boards earn nothing, whatever the hashprice.
    let hashprice = if sources == HeatSources::HeatPumpOnly {
        0.0
    } else {
        hashprice
    };
    let site_cop = scenario
        .zones
        .iter()
        .find_map(|z| z.heat_pump.as_ref())
        .map(|hp| CopCurve(hp.cop.clone()));
    let mut policy = (sources != HeatSources::MinerOnly).then(|| {
        let mut settings = scenario.policy.clone().unwrap_or_default();
        if scenario.policy.is_none() {
            settings.feed_in_per_kwh = feed_in;
        }
        let tariff = if tou.is_empty() {
            Tariff::Fixed {
                per_kwh: grid_price,
            }
        } else {
            Tariff::TimeOfUse {
                entries: tou.clone(),
            }
        };
        Policy::new(settings, tariff, site_cop.clone(), hashprice)
    });
    let mut policy_rules = std::collections::BTreeMap::new();
    let mut sg_out = hearth_control::SgReadyOutput::with_min_switch(Duration::from_secs(
        policy
            .as_ref()
            .map_or(60, |p| u64::from(p.settings.sg_ready_min_switch_s)),
    ));
    let mut sg_summary = SgOutputSummary::default();
    // Each heat pump's room thermostat: cut off above setpoint + cutoff.
    let mut hp_cut_off = vec![false; scenario.zones.len()];
    let mut miner_j_per_th: Option<f64> = None;
    let (mut hp_heat_wh, mut resistive_cost, mut hp_equiv_cost) = (0.0, 0.0, 0.0);

    let tick = Duration::from_secs_f64(scenario.tick_s);
    let end = start.plus(Duration::from_secs_f64(scenario.duration_hours * 3600.0));
    let dt_h = scenario.tick_s / 3600.0;

    let mut accs: Vec<ZoneAcc> = scenario
        .zones
        .iter()
        .map(|_| ZoneAcc {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..ZoneAcc::default()
        })
        .collect();
    let (mut energy_wh, mut hp_wh, mut hashes, mut safety_events, mut ticks) =
        (0.0, 0.0, 0.0, 0u64, 0u64);
    let mut safety_event_log: Vec<SafetyEventRecord> = Vec::new();
    let mut log_safety = |at_h: f64, kind: &str, source: String, detail: String| {
        if safety_event_log.len() < SAFETY_LOG_LIMIT {
            safety_event_log.push(SafetyEventRecord {
                at_h,
                kind: kind.to_string(),
                source,
                detail,
            });
        }
    };
    let (mut cost, mut revenue) = (0.0, 0.0);
    let (mut fan_duty_sum, mut fan_samples, mut fan_duty_max) = (0.0, 0u64, 0.0f64);
    let mut now = start;
    while now < end {
        let h = now.since(start).as_secs_f64() / 3600.0;
        // The world up to now under the old conditions, then today's.
        let (outdoor, hp_electric_w, hp_heat_w) = {
            let mut w = lock(&built.world);
            w.advance_to(now);
            let outdoor = w.outdoor();
            let solar = w.solar_w_per_m2();
            let pv_now = pv.as_ref().and_then(|s| s.at(now)).unwrap_or(0.0).max(0.0);
            let decision = policy.as_mut().map(|p| {
                let house = HouseNow {
                    outdoor_c: Some(outdoor),
                    pv_surplus_w: pv.is_some().then_some(Watts(pv_now)),
                    heat_pump: site_cop.is_some().then_some(HeatPumpState::Running),
                    ..HouseNow::default()
                };
                p.decide(&house, now, miner_j_per_th)
            });
            let mut shown_block = false;
            if let Some(d) = &decision {
                let before = sg_out.state();
                let shown = sg_out.update(d.sg_ready_out, now);
                shown_block = shown == SgReady::Block;
                if shown != before {
                    sg_summary.switches += 1;
                }
                if shown != d.sg_ready_out.unwrap_or(SgReady::Normal) {
                    sg_summary.held_hours += dt_h;
                }
                *sg_summary
                    .hours_by_state
                    .entry(format!("{shown:?}").to_lowercase())
                    .or_insert(0.0) += dt_h;
                sg_summary.final_state = Some(shown);
                appliance.apply_policy(d);
                *policy_rules.entry(format!("{:?}", d.rule)).or_insert(0u64) += 1;
            }
            // The heat pump obeys its SG-Ready input, i.e. the relays as
            // driven (after their switching limits), not the policy's wish.
            let hp_held_back = sources == HeatSources::MinerOnly || shown_block;
            let mut hp_w = 0.0;
            let mut hp_q = 0.0;
            for (i, z) in scenario.zones.iter().enumerate() {
                let settings = appliance.settings(z.id.as_str());
                let Some(room) = w.room_mut(i) else { continue };
                room.sensor_failed = z
                    .sensor_failures
                    .iter()
                    .any(|p| in_period(h, p.from_h, p.to_h));
                room.extra_loss_w_per_k = z
                    .windows
                    .iter()
                    .filter(|p| in_period(h, p.from_h, p.to_h))
                    .map(|p| p.extra_w_per_k)
                    .sum();
                if let Some(g) = daily_value(&gain_tables[i], now.second_of_day()) {
                    room.internal_gain_w = Watts(g);
                }
                room.extra_heat_w = Watts::ZERO;
                if let (Some(hp), Some(s)) = (&z.heat_pump, settings) {
                    if s.mode.heats() && !hp_held_back {
                        // A weather-compensated base load with room influence:
                        // the heat pump covers the zone's steady loss at its
                        // setpoint less the free gains, corrected by how far
                        // the room is from the setpoint (so a warm heavy house
                        // after a setpoint drop is not kept warm), up to its
                        // capacity; the boards make up the rest.
                        let p = room.params;
                        let room_error_k = s.setpoint_c.get() - room.state.interior_c.get();
                        match hp.room_cutoff_k {
                            Some(k) if room_error_k < -k => hp_cut_off[i] = true,
                            _ if room_error_k >= 0.0 => hp_cut_off[i] = false,
                            _ => {}
                        }
                        let need = (s.setpoint_c.get() - outdoor.get())
                            / (p.rie_k_per_w + p.rea_k_per_w)
                            - room.internal_gain_w.get()
                            - p.aw_m2 * solar
                            + hp.room_influence_w_per_k * room_error_k;
                        let need = if hp_cut_off[i] { 0.0 } else { need };
                        let q = need
                            .max(0.0)
                            .min(curve_at(&hp.capacity_w, outdoor.get()).max(0.0));
                        room.extra_heat_w = Watts(q);
                        hp_w += q / curve_at(&hp.cop, outdoor.get()).max(1.0);
                        hp_q += q;
                    }
                }
            }
            (outdoor, hp_w, hp_q)
        };
        appliance.set_outdoor(Some(outdoor));
        for (z, table) in scenario.zones.iter().zip(&circulation_tables) {
            if z.kind == hearth_control::ZoneKind::Pool {
                let on = daily_value(table, now.second_of_day()).is_none_or(|v| v > 0.5);
                let _ = appliance.set_circulation(z.id.as_str(), Some(on));
            }
        }
        let report = appliance.tick(now);
        ticks += 1;
        let truth: Vec<Option<Celsius>> = {
            let w = lock(&built.world);
            (0..scenario.zones.len())
                .map(|i| w.room(i).map(|r| r.state.interior_c))
                .collect()
        };
        for ((zone, acc), t) in report.zones.iter().zip(accs.iter_mut()).zip(truth) {
            let on = zone.power_target_w.get() > 0.0;
            if on && !acc.was_on {
                acc.starts += 1;
            }
            acc.was_on = on;
            let stale = zone.temperature_c.is_none() && zone.mode.heats();
            if stale && !acc.stale {
                safety_events += 1;
                log_safety(
                    h,
                    "stale_sensor",
                    zone.id.to_string(),
                    "temperature input stale while heating".to_string(),
                );
            }
            acc.stale = stale;
            let Some(t) = t.map(|t| t.get()) else {
                continue;
            };
            acc.min = acc.min.min(t);
            acc.max = acc.max.max(t);
            acc.last = t;
            acc.trace.push(Sample {
                t_s: now.since(start).as_secs_f64(),
                temp_c: t,
                setpoint_c: zone.setpoint_c.get(),
                heat_mode: zone.mode.heats(),
            });
        }
        let mut board_w = 0.0;
        for b in &report.boards {
            board_w += b.telemetry.power_w.get();
            if b.telemetry.power_w.get() > 0.0 {
                let duty = b.telemetry.fan_duty.get();
                fan_duty_sum += duty;
                fan_samples += 1;
                fan_duty_max = fan_duty_max.max(duty);
            }
            let hashes_tick = b.telemetry.hashrate_ghs.get() * 1e9 * scenario.tick_s;
            hashes += hashes_tick;
            // hashprice is per TH/s per day.
            revenue += b.telemetry.hashrate_ghs.get() / 1000.0 * hashprice * dt_h / 24.0;
        }
        let board_ghs: f64 = report
            .boards
            .iter()
            .map(|b| b.telemetry.hashrate_ghs.get())
            .sum();
        // The boards' live efficiency, J/TH, for the economic switch.
        if board_w > 0.0 && board_ghs > 0.0 {
            miner_j_per_th = Some(board_w / (board_ghs / 1000.0));
        }
        energy_wh += board_w * dt_h;
        hp_wh += hp_electric_w * dt_h;
        hp_heat_wh += hp_heat_w * dt_h;
        let total_w = board_w + hp_electric_w;
        let pv_w = pv.as_ref().and_then(|s| s.at(now)).unwrap_or(0.0).max(0.0);
        let from_pv = total_w.min(pv_w);
        let price = daily_value(&tou, now.second_of_day()).unwrap_or(grid_price);
        cost += (from_pv * feed_in + (total_w - from_pv) * price) * dt_h / 1000.0;
        // The same heat from a resistive heater, and from the heat pump alone.
        let heat_w = board_w + hp_heat_w;
        let heat_from_pv = heat_w.min(pv_w);
        resistive_cost +=
            (heat_from_pv * feed_in + (heat_w - heat_from_pv) * price) * dt_h / 1000.0;
        if let Some(c) = &site_cop {
            let hp_elec = heat_w / c.at(outdoor);
            let e_from_pv = hp_elec.min(pv_w);
            hp_equiv_cost += (e_from_pv * feed_in + (hp_elec - e_from_pv) * price) * dt_h / 1000.0;
        }
        for (board, event) in &report.events {
            if let BoardEvent::Tripped { reason } = event {
                safety_events += 1;
                log_safety(h, "trip", board.to_string(), reason.clone());
            }
        }
        now = now.plus(tick);
    }
    let heat_wh = lock(&built.world).heat_delivered_wh();
    let hours = scenario.duration_hours;
    let zones: Vec<ZoneSummary> = scenario
        .zones
        .iter()
        .zip(accs)
        .map(|(z, a)| {
            let c = comfort(&a.trace, dt_h);
            ZoneSummary {
                id: z.id.to_string(),
                final_temperature_c: a.last,
                min_temperature_c: a.min,
                max_temperature_c: a.max,
                discomfort_kh: c.discomfort_kh,
                max_overshoot_k: c.max_overshoot_k,
                rms_error_k: c.rms_error_k,
                cycles_per_hour: a.starts as f64 / hours,
            }
        })
        .collect();
    let with_boards: Vec<&ZoneSummary> = zones
        .iter()
        .zip(&scenario.zones)
        .filter(|(_, s)| s.boards > 0)
        .map(|(z, _)| z)
        .collect();
    RunSummary {
        scenario: scenario.name.clone(),
        controller: controller.name().to_string(),
        sources: sources.name().to_string(),
        seed: scenario.seed,
        simulated_hours: hours,
        ticks,
        discomfort_kh: zones.iter().map(|z| z.discomfort_kh).sum(),
        max_overshoot_k: zones.iter().map(|z| z.max_overshoot_k).fold(0.0, f64::max),
        rms_error_k: zones.iter().map(|z| z.rms_error_k).fold(0.0, f64::max),
        energy_kwh: energy_wh / 1000.0,
        heat_kwh: heat_wh / 1000.0,
        heat_pump_kwh: hp_wh / 1000.0,
        heat_pump_heat_kwh: hp_heat_wh / 1000.0,
        electricity_cost: cost,
        net_cost_per_heat_kwh: if heat_wh + hp_heat_wh > 0.0 {
            (cost - revenue) / ((heat_wh + hp_heat_wh) / 1000.0)
        } else {
            0.0
        },
        resistive_cost,
        heat_pump_equivalent_cost: hp_equiv_cost,
        policy_rules,
        relay_switches: sg_summary.switches,
        economic_switches: policy.as_ref().map_or(0, |p| p.economic_switches()),
        sg_ready_output: sg_summary,
        net_cost: cost - revenue,
        revenue,
        cycles_per_hour: if with_boards.is_empty() {
            0.0
        } else {
            with_boards.iter().map(|z| z.cycles_per_hour).sum::<f64>() / with_boards.len() as f64
        },
        hashes,
        hashes_per_joule: if energy_wh > 0.0 {
            hashes / (energy_wh * 3600.0)
        } else {
            0.0
        },
        mean_fan_duty_percent: if fan_samples > 0 {
            fan_duty_sum / fan_samples as f64
        } else {
            0.0
        },
        max_fan_duty_percent: fan_duty_max,
        safety_events,
        safety_event_log,
        zones,
    }
}

/// Partial-load efficiency of one default board: the same average power
/// (`demand` of its maximum) delivered by modulating versus by full-power
/// duty cycling over 10-minute cycles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartialLoad {
    pub demand: f64,
    pub modulated_hashes_per_joule: f64,
    pub duty_cycled_hashes_per_joule: f64,
    pub modulated_kwh: f64,
    pub duty_cycled_kwh: f64,
    /// modulated / duty-cycled.
    pub ratio: f64,
    /// The board's most efficient operating point anywhere on its V/f
    /// curve, and that over its full-power point: the most any split of
    /// this board's power could gain over full-power duty cycling.
    pub best_point_hashes_per_joule: f64,
    pub best_point_freq_mhz: f64,
    pub ceiling_ratio: f64,
}

/// Hashes per joule along a board's lowest-voltage V/f curve, 1 MHz steps:
/// (best, its frequency, at full power).
fn efficiency_ceiling(params: &SimBoardParams) -> (f64, f64, f64) {
    let table = &params.vf_table;
    let hpj = |f: f64| {
        let op = table.point_at(hearth_core::FreqMhz(f));
        // Chips plus the fan where its loop settles at that point.
        let w = params.steady_state(op, Celsius(20.0)).1.get();
        if w > 0.0 {
            params.power.hashrate(op.freq_mhz).get() * 1e9 / w
        } else {
            0.0
        }
    };
    let (lo, hi) = (table.min_freq().get(), table.max_freq().get());
    let mut best = (hpj(lo), lo);
    let mut f = lo;
    while f <= hi {
        if hpj(f) > best.0 {
            best = (hpj(f), f);
        }
        f += 1.0;
    }
    (best.0, best.1, hpj(hi))
}

/// Runs both ways for `hours` on a board in a large room held near 20 °C.
pub fn partial_load(demand: f64, hours: f64) -> PartialLoad {
    let demand = if demand.is_finite() {
        demand.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let run = |modulate: bool| {
        let mut w = World::new(Timestamp::from_secs(0), 0, Default::default());
        let room = w.add_room(
            "lab",
            crate::room::RoomParams {
                ci_j_per_k: 1e9,
                ce_j_per_k: 1e10,
                rie_k_per_w: 0.001,
                rea_k_per_w: 0.001,
                aw_m2: 0.0,
            },
            Celsius(20.0),
            Watts::ZERO,
        );
        let b = w.add_board(room, SimBoardParams::bm1370_65());
        let max = w.board(b).map_or(Watts::ZERO, |x| x.power_range().1);
        let (mut joules, mut hashes) = (0.0, 0.0);
        let cycle_s = 600u64;
        let on_s = (demand * cycle_s as f64).round() as u64;
        let total_s = (hours * 3600.0) as u64;
        for s in 0..total_s {
            let target = if modulate {
                max * demand
            } else if s % cycle_s < on_s {
                max
            } else {
                Watts::ZERO
            };
            if let Some(board) = w.board_mut(b) {
                board.set_power_target(target);
            }
            w.advance_to(Timestamp::from_secs(s + 1));
            if let Some(board) = w.board(b) {
                joules += board.power_w().get();
                hashes += board.hashrate().get() * 1e9;
            }
        }
        (joules, hashes)
    };
    let (jm, hm) = run(true);
    let (jd, hd) = run(false);
    let hpj = |h: f64, j: f64| if j > 0.0 { h / j } else { 0.0 };
    let (m, d) = (hpj(hm, jm), hpj(hd, jd));
    let (best, best_f, full) = efficiency_ceiling(&SimBoardParams::bm1370_65());
    PartialLoad {
        demand,
        modulated_hashes_per_joule: m,
        duty_cycled_hashes_per_joule: d,
        modulated_kwh: jm / 3.6e6,
        duty_cycled_kwh: jd / 3.6e6,
        ratio: if d > 0.0 { m / d } else { 0.0 },
        best_point_hashes_per_joule: best,
        best_point_freq_mhz: best_f,
        ceiling_ratio: if full > 0.0 { best / full } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ZoneSpec;
    use crate::weather::WeatherParams;
    use hearth_control::{PolicySettings, ZoneMode};

    fn day(seed: u64) -> Scenario {
        Scenario {
            name: "test day".into(),
            seed,
            duration_hours: 24.0,
            tick_s: 10.0,
            start_unix_s: 0,
            weather: WeatherParams::default(),
            weather_series: None,
            prices: None,
            pv: None,
            policy: None,
            zones: vec![ZoneSpec::default_room()],
        }
    }

    fn trace(points: &[(f64, f64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(h, temp_c, setpoint_c)| Sample {
                t_s: h * 3600.0,
                temp_c,
                setpoint_c,
                heat_mode: true,
            })
            .collect()
    }

    #[test]
    fn discomfort_counts_only_below_the_band() {
        // One sample per hour: 1 K below (0.5 K over the band), then at -0.4 K.
        let c = comfort(&trace(&[(0.0, 20.0, 21.0), (1.0, 20.6, 21.0)]), 1.0);
        assert!((c.discomfort_kh - 0.5).abs() < 1e-12, "{c:?}");
        assert_eq!(c.max_overshoot_k, 0.0);
        // RMS of -1 and -0.4.
        assert!((c.rms_error_k - ((1.0 + 0.16) / 2.0f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn preheat_ramp_and_cooldown_are_not_overshoot() {
        // Setpoint 17 until 06:00, then 21 until 22:00, then 17.
        let sp = |h: f64| if (6.0..22.0).contains(&h) { 21.0 } else { 17.0 };
        let mut pts = Vec::new();
        for q in 0..(25 * 4) {
            let h = q as f64 / 4.0;
            // Pre-heat from 04:00 reaching 21 at 06:00; after 22:00 a slow
            // cool-down that stays above 17 for hours.
            let t = if h < 4.0 {
                17.0
            } else if h < 6.0 {
                17.0 + 2.0 * (h - 4.0)
            } else if h < 22.0 {
                21.0
            } else {
                21.0 - 0.5 * (h - 22.0)
            };
            pts.push((h, t, sp(h)));
        }
        let c = comfort(&trace(&pts), 0.25);
        assert_eq!(c.max_overshoot_k, 0.0, "{c:?}");
        assert_eq!(c.discomfort_kh, 0.0);
        assert_eq!(c.rms_error_k, 0.0);
    }

    #[test]
    fn overshoot_counts_outside_the_three_hour_window() {
        // Setpoint 17 all night with a 21 step at 08:00; at 04:00 (4 h before)
        // the room is already at 18.5: 1.5 K over everything within ±3 h.
        let c = comfort(
            &trace(&[
                (4.0, 18.5, 17.0),
                (5.5, 18.0, 17.0),
                (8.0, 21.0, 21.0),
                (9.0, 21.4, 21.0),
            ]),
            1.0,
        );
        // At 05:30 the 08:00 step is within 3 h: 18 is no overshoot.
        assert!((c.max_overshoot_k - 1.5).abs() < 1e-12, "{c:?}");
        // Errors: 1.5 (overshoot), 0 (excused), 0, 0.4.
        let rms = ((1.5f64.powi(2) + 0.4f64.powi(2)) / 4.0).sqrt();
        assert!((c.rms_error_k - rms).abs() < 1e-12, "{c:?}");
        // A setpoint drop three hours back still excuses the old level.
        let c = comfort(
            &trace(&[(0.0, 21.0, 21.0), (2.9, 20.0, 17.0), (3.1, 19.0, 17.0)]),
            1.0,
        );
        assert!((c.max_overshoot_k - 2.0).abs() < 1e-12, "{c:?}");
    }

    #[test]
    fn off_samples_count_for_nothing() {
        let mut t = trace(&[(0.0, 10.0, 21.0), (1.0, 30.0, 21.0)]);
        for s in &mut t {
            s.heat_mode = false;
        }
        let c = comfort(&t, 1.0);
        assert_eq!(
            c,
            Comfort {
                discomfort_kh: 0.0,
                max_overshoot_k: 0.0,
                rms_error_k: 0.0
            }
        );
    }

    #[test]
    fn same_seed_same_result_twice() {
        let a = run(&day(42));
        let b = run(&day(42));
        assert_eq!(a, b);
        let c = run(&day(43));
        assert_ne!(
            a.zones[0].final_temperature_c.to_bits(),
            c.zones[0].final_temperature_c.to_bits()
        );
    }

    #[test]
    fn the_default_room_reaches_and_holds_its_setpoint() {
        let s = run(&day(1));
        let z = &s.zones[0];
        assert!((z.final_temperature_c - 21.0).abs() < 0.5, "{z:?}");
        assert!(z.max_overshoot_k < 1.0, "{z:?}");
        assert!(s.energy_kwh > 5.0 && s.energy_kwh < 40.0, "{s:?}");
        // All electrical energy became heat (within one tick of rounding).
        assert!(
            (s.heat_kwh - s.energy_kwh).abs() / s.energy_kwh < 0.02,
            "{s:?}"
        );
        assert_eq!(s.safety_events, 0);
    }

    #[test]
    fn baselines_cycle_and_hearth_modulates() {
        let mut sc = day(1);
        sc.zones[0].initial_c = 21.0;
        let hyst = run_with(&sc, ControllerKind::Hysteresis);
        let hearth = run(&sc);
        assert!(hyst.cycles_per_hour > 0.5, "{hyst:?}");
        assert!(hearth.cycles_per_hour < hyst.cycles_per_hour, "{hearth:?}");
        assert!(hearth.rms_error_k < hyst.rms_error_k, "{hearth:?} {hyst:?}");
        assert_eq!(hyst.controller, "hysteresis");
    }

    #[test]
    fn the_quiet_fan_runs_slower_than_the_firmware_curve_for_the_same_comfort() {
        // A room at its setpoint: partial load, where the fan law matters.
        let mut quiet_day = day(1);
        quiet_day.zones[0].initial_c = 21.0;
        let mut loud_day = quiet_day.clone();
        loud_day.zones[0].board_profile = Some(SimBoardParams {
            fan_law: crate::board::FanLaw::Firmware,
            ..SimBoardParams::bm1370_65()
        });
        let quiet = run(&quiet_day);
        let loud = run(&loud_day);
        assert!(loud.mean_fan_duty_percent > 20.0, "{loud:?}");
        eprintln!(
            "fan duty quiet {:.1} % (max {:.1}) vs firmware {:.1} % (max {:.1}); discomfort {:.3} vs {:.3}",
            quiet.mean_fan_duty_percent,
            quiet.max_fan_duty_percent,
            loud.mean_fan_duty_percent,
            loud.max_fan_duty_percent,
            quiet.discomfort_kh,
            loud.discomfort_kh
        );
        assert!(
            quiet.mean_fan_duty_percent < loud.mean_fan_duty_percent - 5.0,
            "{} vs {}",
            quiet.mean_fan_duty_percent,
            loud.mean_fan_duty_percent
        );
        assert!(
            quiet.mean_fan_duty_percent >= 20.0,
            "never below the minimum"
        );
        // The chips stay below the trip (no safety events) and the room is
        // as comfortable; less fan power means at least as many hashes per J.
        assert_eq!(quiet.safety_events, 0);
        assert!(
            quiet.discomfort_kh <= loud.discomfort_kh + 0.05,
            "{} vs {}",
            quiet.discomfort_kh,
            loud.discomfort_kh
        );
        assert!(quiet.hashes_per_joule >= loud.hashes_per_joule * 0.999);
    }

    #[test]
    fn mode_off_gives_no_heat() {
        let mut sc = day(1);
        sc.zones[0].mode = ZoneMode::Off;
        let s = run(&sc);
        assert_eq!(s.energy_kwh, 0.0);
        assert!(s.zones[0].final_temperature_c < 17.0);
    }

    #[test]
    fn modulating_beats_duty_cycling_at_partial_load() {
        let p = partial_load(0.4, 0.5);
        assert!(p.ratio > 1.0, "{p:?}");
        assert!(
            p.ratio <= p.ceiling_ratio + 1e-3,
            "nothing beats the best point: {p:?}"
        );
        assert!(
            p.best_point_freq_mhz > 200.0 && p.best_point_freq_mhz < 600.0,
            "{p:?}"
        );
        // Same energy within a few percent: a fair comparison.
        assert!(
            (p.modulated_kwh - p.duty_cycled_kwh).abs() / p.duty_cycled_kwh < 0.05,
            "{p:?}"
        );
    }

    fn heat_pump_day(hashprice: f64) -> Scenario {
        let text = format!(
            r#"
name = "hp"
seed = 3
duration_hours = 24
[weather]
mean_c = -10
[prices]
grid_per_kwh = 0.30
hashprice_per_th_day = {hashprice}
[[zone]]
id = "house"
setpoint_c = 20
initial_c = 20
boards = 2
[zone.heat_pump]
cop = [[-20, 1.6], [-7, 2.5], [7, 4.5]]
capacity_w = [[-20, 1000], [7, 2000]]
"#
        );
        match Scenario::from_toml(&text) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn heat_sources_compare_and_the_policy_explains_itself() {
        let sc = heat_pump_day(0.05);
        let hearth = ControllerKind::Hearth(PiGains::default());
        let policy = run_sources(&sc, hearth, HeatSources::Policy);
        let hp_only = run_sources(&sc, hearth, HeatSources::HeatPumpOnly);
        let miner_only = run_sources(&sc, hearth, HeatSources::MinerOnly);
        // Below the balance point the miner tops up the heat pump: the same
        // heat as the backup element, but it earns.
        assert!(
            policy.policy_rules.contains_key("BelowBalancePoint"),
            "{policy:?}"
        );
        assert_eq!(hp_only.revenue, 0.0);
        assert!(policy.revenue > 0.0);
        assert!(
            policy.net_cost < hp_only.net_cost,
            "{} {}",
            policy.net_cost,
            hp_only.net_cost
        );
        assert!(policy.net_cost < miner_only.net_cost);
        assert_eq!(miner_only.heat_pump_kwh, 0.0);
        assert!(miner_only.policy_rules.is_empty());
        assert!(policy.heat_pump_heat_kwh > 10.0);
        // A resistive heater at the same price costs grid price x heat.
        let heat = policy.heat_kwh + policy.heat_pump_heat_kwh;
        assert!(
            (policy.resistive_cost - 0.30 * heat).abs() < 0.02 * heat,
            "{policy:?}"
        );
        // With a hashprice high enough, the economic switch holds the heat
        // pump back and the miner carries the load.
        let rich = run_sources(&heat_pump_day(0.5), hearth, HeatSources::Policy);
        assert!(rich.policy_rules.contains_key("EconomicMiner"), "{rich:?}");
        assert!(rich.heat_pump_kwh < 0.1 * policy.heat_pump_kwh, "{rich:?}");
    }

    #[test]
    fn the_report_records_the_sg_ready_outputs_within_their_limits() {
        let hearth = ControllerKind::Hearth(PiGains::default());
        let hours = |r: &RunSummary, state: &str| {
            r.sg_ready_output
                .hours_by_state
                .get(state)
                .copied()
                .unwrap_or(0.0)
        };
        // A hashprice that makes the miner cheaper all day: the policy asks
        // for `block` throughout, the outputs block for at most 2 h at a
        // time, rest 10 min, and block again.
        let rich = run_sources(&heat_pump_day(0.5), hearth, HeatSources::Policy);
        let out = &rich.sg_ready_output;
        let total: f64 = out.hours_by_state.values().sum();
        assert!((total - rich.simulated_hours).abs() < 0.01, "{out:?}");
        assert!(
            hours(&rich, "block") > 0.5 * rich.simulated_hours,
            "{out:?}"
        );
        let blocks = out.switches.div_ceil(2);
        assert!(
            hours(&rich, "block") <= blocks as f64 * 2.0 + 0.01,
            "no block longer than 2 h: {out:?}"
        );
        assert!(
            out.held_hours > 0.0,
            "the rests after each 2 h block: {out:?}"
        );
        // Cheap mining never: the outputs stay normal.
        let plain = run_sources(&heat_pump_day(0.0), hearth, HeatSources::Policy);
        assert_eq!(hours(&plain, "block"), 0.0, "{:?}", plain.sg_ready_output);
        assert_eq!(plain.sg_ready_output.switches, 0);
        // No policy, nothing drives them.
        let miner_only = run_sources(&heat_pump_day(0.5), hearth, HeatSources::MinerOnly);
        assert!(miner_only.sg_ready_output.hours_by_state.is_empty());
        // The heat pump follows the relays, not the policy: in the rests
        // after each 2 h block it heats although the policy still asks to
        // hold it back.
        assert!(rich.heat_pump_kwh > 0.0, "{rich:?}");
        assert_eq!(rich.relay_switches, out.switches);
    }

    #[test]
    fn the_pool_scenario_has_no_safety_events_and_the_log_names_each_one() {
        // The pool's water moves its 1/16 K reading only every hour or two
        // at full heat: the stuck-sensor watch must not take that for a
        // frozen sensor (it used to, eight times in three days, pausing
        // the heat each time).
        let pool = include_str!("../../../docs/scenarios/pool-summer-pv.toml");
        let sc = Scenario::from_toml(pool).unwrap_or_else(|e| panic!("{e}"));
        for controller in [
            ControllerKind::Hearth(PiGains::default()),
            ControllerKind::Hysteresis,
        ] {
            let s = run_with(&sc, controller);
            assert_eq!(s.safety_events, 0, "{:?}", s.safety_event_log);
            assert!(s.safety_event_log.is_empty());
        }
        // The sensor-failure scenario's one event is the failure itself,
        // at the hour the scenario fails the sensor (plus the 5-min hold
        // on the last good reading).
        let failing = include_str!("../../../docs/scenarios/sensor-failure.toml");
        let sc = Scenario::from_toml(failing).unwrap_or_else(|e| panic!("{e}"));
        let s = run(&sc);
        assert_eq!(s.safety_events, 1, "{:?}", s.safety_event_log);
        let e = &s.safety_event_log[0];
        assert_eq!(e.kind, "stale_sensor");
        assert!((10.0..10.5).contains(&e.at_h), "{e:?}");
    }

    #[test]
    fn hysteresis_and_dwell_stop_the_cold_snap_from_flapping_and_it_stays_cheapest() {
        let text = include_str!("../../../docs/scenarios/cold-snap-heat-pump.toml");
        let sc = match Scenario::from_toml(text) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let hearth = ControllerKind::Hearth(PiGains::default());
        // The plain formula with the standard's 60 s switching time: the
        // boards' J/TH moves with the role the switch gives them, and the
        // switch flaps.
        let mut plain = sc.clone();
        plain.policy = Some(PolicySettings {
            economic_hysteresis_per_kwh: 0.0,
            economic_min_dwell_s: 0,
            sg_ready_min_switch_s: 60,
            ..PolicySettings::default()
        });
        let flapping = run_sources(&plain, hearth, HeatSources::Policy);
        let steady = run_sources(&sc, hearth, HeatSources::Policy);
        assert!(flapping.relay_switches >= 20, "{flapping:?}");
        assert!(
            steady.relay_switches * 4 <= flapping.relay_switches,
            "{} vs {}",
            steady.relay_switches,
            flapping.relay_switches
        );
        assert!(steady.economic_switches < flapping.economic_switches);
        let hp_only = run_sources(&sc, hearth, HeatSources::HeatPumpOnly);
        let miner_only = run_sources(&sc, hearth, HeatSources::MinerOnly);
        assert!(
            steady.net_cost < hp_only.net_cost && steady.net_cost < miner_only.net_cost,
            "{} {} {}",
            steady.net_cost,
            hp_only.net_cost,
            miner_only.net_cost
        );
        assert!(steady.discomfort_kh <= flapping.discomfort_kh + 0.05);
    }
}
