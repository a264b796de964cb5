//! `hearth sim --faults FILE`: a fault-injection campaign, or one seed of it
//! replayed in detail.

use anyhow::{bail, Context, Result};
use hearth_sim::faults::{self, Campaign};
use std::path::Path;
use std::time::Instant;

pub fn run(path: &Path, seed: Option<u64>, json: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let campaign = Campaign::from_toml(&text).with_context(|| format!("in {}", path.display()))?;
    if let Some(seed) = seed {
        let plan = faults::plan(&campaign, seed);
        let out = faults::run_plan(&campaign, &plan);
        if json {
            println!("{}", serde_json::to_string(&out)?);
        } else {
            println!(
                "seed {seed}: {} board(s), setpoint {:.2} °C, start {:.1} °C, outdoor mean {:.1} °C",
                plan.boards, plan.setpoint_c, plan.initial_c, plan.outdoor_mean_c
            );
            for f in &plan.faults {
                println!(
                    "  {:<18} board {} from {:>6.0} s for {:>5.0} s, magnitude {:.2}",
                    f.kind.name(),
                    f.board,
                    f.start_s,
                    f.duration_s,
                    f.magnitude
                );
            }
            println!(
                "max zone {:.2} °C (hard {:.0}), longest over trip {:.0} s, {} trips, heat resumed after {}",
                out.max_zone_c,
                out.hard_max_c,
                out.longest_over_trip_s,
                out.board_trips,
                out.resumed_after_s
                    .map_or("never".into(), |s| format!("{s:.0} s"))
            );
            for v in &out.violations {
                println!(
                    "  VIOLATION {} at {:.0} s: {}",
                    v.invariant, v.at_s, v.detail
                );
            }
        }
        if !out.passed() {
            bail!("seed {seed} broke {} invariant(s)", out.violations.len());
        }
        return Ok(());
    }
    let started = Instant::now();
    let report = faults::run_campaign(&campaign);
    let wall_s = started.elapsed().as_secs_f64();
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("wall_s".into(), serde_json::json!(wall_s));
        }
        println!("{v}");
    } else {
        println!(
            "campaign {:?}: {}/{} runs passed ({:.0} simulated hours in {wall_s:.1} s)",
            report.name, report.passed, report.runs, report.simulated_hours
        );
        println!(
            "closest to a hard limit {:.2} K, longest over trip {:.0} s, {} board trips, worst resume {:.0} s",
            report.max_zone_margin_k,
            report.longest_over_trip_s,
            report.board_trips,
            report.worst_resume_s
        );
        println!(
            "blind (no temperature) {:.1} zone-hours, {:.1} of them unheated while more than {} K under the setpoint",
            report.blind_hours,
            report.blind_unheated_cold_hours,
            faults::COLD_BELOW_SETPOINT_K
        );
        for k in &report.by_kind {
            println!(
                "  {:<18} injected {:>5}  survived {:>5}",
                k.kind, k.injected, k.survived
            );
        }
        let n = &report.net;
        println!(
            "network: {} MQTT-fed runs, {} publishes lost, {} ticks in safety mode, input back within {:.0} s; {:.1} h on heat-only work, shares sharechain/pool/heat-only (never submitted) {}/{}/{}, sharechain back within {:.0} s",
            n.mqtt_fed_runs,
            n.publishes_lost,
            n.safety_mode_ticks,
            n.worst_mqtt_recovery_s,
            n.heat_only_hours,
            n.shares[0],
            n.shares[1],
            n.shares[2],
            n.worst_work_resume_s
        );
        for (seed, v) in &report.failures {
            println!(
                "  FAILED seed {seed}: {} at {:.0} s: {} (replay: --seed {seed})",
                v.invariant, v.at_s, v.detail
            );
        }
    }
    if report.passed != report.runs {
        bail!(
            "{} of {} runs broke an invariant",
            report.runs - report.passed,
            report.runs
        );
    }
    Ok(())
}
