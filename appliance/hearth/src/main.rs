use anyhow::{bail, Context, Result};
use clap::Parser;
use hearth::cli::{Cli, Command, ControllerArg, RunArgs, SimArgs, SourcesArg};
use hearth::config::{Config, DEFAULT_CONFIG_PATH};
use hearth::daemon::{self, RunOptions};
use hearth_control::{ControllerKind, PiGains};
use hearth_sim::runner;
use hearth_sim::scenario::{Scenario, ZoneSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod checkcmd;
mod faultcmd;

fn main() -> ExitCode {
    let cli = Cli::parse();
    hearth::logging::init(cli.verbose);
    let result = match cli.command {
        Command::Run(args) => run(args).map(|()| ExitCode::SUCCESS),
        Command::Sim(args) => sim(args).map(|()| ExitCode::SUCCESS),
        Command::CheckHeaders(args) => checkcmd::check_headers(&args),
        Command::Bench(what) => checkcmd::bench(&what).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => print(hearth::remote::status(&args)),
        Command::Zone(cmd) => print(hearth::remote::zone(&cmd)),
        Command::Events(args) => print(hearth::remote::events(&args)),
        Command::Token(cmd) => print(hearth::remote::token(&cmd)),
        Command::Mining(args) => print(hearth::remote_mining::mining(&args)),
        Command::Mqtt(cmd) => print(hearth::remote_mqtt::mqtt(&cmd)),
        Command::Work(cmd) => print(hearth::remote_work::work(&cmd)),
        Command::Sharechain(cmd) => hearth::sharechain::cli::run(cmd).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hearth: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Commands that talk to the running daemon print what it answered.
fn print(out: Result<String>) -> Result<ExitCode> {
    let out = out?;
    println!("{}", out.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None if args.sim && !Path::new(DEFAULT_CONFIG_PATH).exists() => {
            Config::sim_default().validate()?
        }
        None => Config::load(Path::new(DEFAULT_CONFIG_PATH))?,
    };
    if args.speed.is_some() && !args.sim {
        bail!("--speed only applies with --sim");
    }
    if let Some(speed) = args.speed {
        if !(speed.is_finite() && (0.01..=10_000.0).contains(&speed)) {
            bail!("--speed must be between 0.01 and 10000");
        }
    }
    let default_dir = if args.sim {
        "hearth-data"
    } else {
        "/var/lib/hearth"
    };
    let data_dir = args
        .data_dir
        .or_else(|| config.raw.daemon.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(default_dir));
    let http = args
        .http
        .or(config.raw.daemon.http)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let opts = RunOptions {
        config,
        simulate: args.sim,
        data_dir,
        http,
        speed: args.speed,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("hearth")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(daemon::run(opts))
}

fn sim(args: SimArgs) -> Result<()> {
    if let Some(path) = &args.faults {
        return faultcmd::run(path, args.seed, args.json);
    }
    if let Some(demand) = args.partial_load {
        if !(demand.is_finite() && demand > 0.0 && demand <= 1.0) {
            bail!("--partial-load must be above 0 and at most 1");
        }
        let p = runner::partial_load(demand, 2.0);
        if args.json {
            println!("{}", serde_json::to_string(&p)?);
        } else {
            println!(
                "at {:.0} % demand: modulated {:.4e} hashes/J, duty-cycled {:.4e} hashes/J, ratio {:.3}",
                p.demand * 100.0,
                p.modulated_hashes_per_joule,
                p.duty_cycled_hashes_per_joule,
                p.ratio
            );
        }
        return Ok(());
    }
    let mut scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Scenario::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Scenario {
            name: "default winter day".into(),
            seed: 1,
            duration_hours: 24.0,
            tick_s: 10.0,
            start_unix_s: 0,
            weather: Default::default(),
            weather_series: None,
            prices: None,
            pv: None,
            policy: None,
            zones: vec![ZoneSpec::default_room()],
        },
    };
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if let Some(hours) = args.hours {
        scenario.duration_hours = hours;
    }
    scenario.check()?;
    let controller = match args.controller {
        ControllerArg::Hearth => ControllerKind::Hearth(PiGains::default()),
        ControllerArg::Hysteresis => ControllerKind::Hysteresis,
        ControllerArg::Tpi => ControllerKind::Tpi,
    };
    let sources = match args.sources {
        SourcesArg::Policy => runner::HeatSources::Policy,
        SourcesArg::HeatPumpOnly => runner::HeatSources::HeatPumpOnly,
        SourcesArg::MinerOnly => runner::HeatSources::MinerOnly,
    };
    let summary = runner::run_sources(&scenario, controller, sources);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "scenario {:?} controller {} seed {} over {} h",
            summary.scenario, summary.controller, summary.seed, summary.simulated_hours
        );
        println!(
            "discomfort {:.3} Kh, max overshoot {:.2} K, rms error {:.3} K, {:.2} cycles/h, net cost {:.2}, revenue {:.2}",
            summary.discomfort_kh,
            summary.max_overshoot_k,
            summary.rms_error_k,
            summary.cycles_per_hour,
            summary.net_cost,
            summary.revenue
        );
        println!(
            "energy {:.2} kWh, heat {:.2} kWh, {:.3e} hashes/J, {} safety events",
            summary.energy_kwh, summary.heat_kwh, summary.hashes_per_joule, summary.safety_events
        );
        println!(
            "fan duty mean {:.1} % (max {:.1} %), SG-Ready relay switches {}, economic switch changes {}",
            summary.mean_fan_duty_percent,
            summary.max_fan_duty_percent,
            summary.relay_switches,
            summary.economic_switches
        );
        for z in &summary.zones {
            println!(
                "  {:<16} final {:.2} °C  min {:.2}  max {:.2}  discomfort {:.3} Kh  overshoot {:.2} K  rms {:.3} K",
                z.id, z.final_temperature_c, z.min_temperature_c, z.max_temperature_c, z.discomfort_kh, z.max_overshoot_k, z.rms_error_k
            );
        }
    }
    Ok(())
}
