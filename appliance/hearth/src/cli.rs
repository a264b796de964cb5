//! Command-line interface.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "hearth",
    version,
    about = "Hearth: Bitcoin hashboards as smart, modulating electric heaters"
)]
pub struct Cli {
    /// More detailed logs (RUST_LOG overrides).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: control loop, storage and HTTP API.
    Run(RunArgs),
    /// Run a scenario on the simulated world faster than real time.
    Sim(SimArgs),
    /// Check block headers' SHA-256d against their own nBits: one header per
    /// line as 160 hex digits ('#' comments and blank lines skipped); prints
    /// "<hash> ok|fail" or "error: <reason>" per header; exit 2 if any line
    /// was malformed.
    CheckHeaders(CheckHeadersArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Show the running daemon's zones and boards.
    Status(crate::remote::StatusArgs),
    /// Change a zone on the running daemon.
    #[command(subcommand)]
    Zone(crate::remote::ZoneCommand),
    /// Show the running daemon's event log.
    Events(crate::remote::EventsArgs),
    /// Bearer tokens for scripts talking to the running daemon.
    #[command(subcommand)]
    Token(crate::remote::TokenCommand),
    /// Switch mining on or off on the running daemon (off: heat only).
    Mining(crate::remote_mining::MiningArgs),
    /// The P2P sharechain node.
    #[command(subcommand)]
    Sharechain(SharechainCommand),
    /// The running daemon's MQTT connection (Home Assistant).
    #[command(subcommand)]
    Mqtt(crate::remote_mqtt::MqttCommand),
    /// The running daemon's work sources (sharechain, Stratum pools).
    #[command(subcommand)]
    Work(crate::remote_work::WorkCommand),
}

#[derive(Debug, Subcommand)]
pub enum SharechainCommand {
    /// Tip, height, peers, window, our shares and expected payout (from the
    /// running daemon, else from the database).
    Status(SharechainStatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct SharechainStatusArgs {
    /// Configuration file ([sharechain] section) [default: /etc/hearth/hearth.toml if present].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The daemon's HTTP address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Data directory, read when the daemon does not answer [default: /var/lib/hearth].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Follow the running daemon's sync: a progress line at each change,
    /// until in sync with the best peer (exit 0) or --timeout passes.
    #[arg(long, conflicts_with = "json")]
    pub follow: bool,
    /// With --follow: give up after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub timeout: u64,
    /// With --follow: milliseconds between polls.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub every_ms: u64,
}

#[derive(Debug, clap::Args)]
pub struct CheckHeadersArgs {
    /// File of headers [default: stdin].
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// SHA-256 backend (scalar, neon, ce, sse2, avx2, shani) [default:
    /// $HEARTH_SHA_BACKEND, else the fastest this CPU has].
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Share checker throughput: SHA-256d of N distinct headers.
    Checker(BenchCheckerArgs),
    /// Sharechain sync: decode, validate and store N shares from a peer.
    Sharechain(BenchSharechainArgs),
    /// Work pipeline latency on simulated chains: new template to a job on
    /// every chain, and a chip's nonce to the pool's submit (p50/p99).
    Work(BenchWorkArgs),
}

#[derive(Debug, clap::Args)]
pub struct BenchSharechainArgs {
    /// Shares to validate and store (8640 is a full window).
    #[arg(long, default_value_t = 8640)]
    pub shares: usize,
    /// Distinct payout scripts among them.
    #[arg(long, default_value_t = 100)]
    pub miners: u32,
    /// Benchmark database file [default: in the system temp dir].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct BenchWorkArgs {
    /// Simulated chains (per chip kind).
    #[arg(long, default_value_t = 3)]
    pub chains: usize,
    /// New-block rounds.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
    /// Seconds of mining for the share-relay figures.
    #[arg(long, default_value_t = 20)]
    pub mine_s: u64,
    /// Transactions in the template for the template-to-jobs figure.
    #[arg(long, default_value_t = 3000)]
    pub template_txs: usize,
    /// Chip kinds to run, one after another: bm1370 (65-chip boards),
    /// bm1368 (108), bm1366 (110), bm1397 (midstate jobs, 63), or all.
    #[arg(long, default_value = "all", value_name = "CHIP")]
    pub chip: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct BenchCheckerArgs {
    /// SHA-256 backend [default: $HEARTH_SHA_BACKEND, else the fastest].
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// Headers to hash.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file. With --sim and no file at the default path, a
    /// built-in one-room configuration is used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Simulate every board and sensor instead of driving hardware.
    #[arg(long)]
    pub sim: bool,
    /// Where the database lives [default: /var/lib/hearth, or ./hearth-data with --sim].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// With --sim: simulated seconds per real second (overrides [sim] speed).
    #[arg(long, value_name = "X")]
    pub speed: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Scenario file (see docs/simulation.md); default: one winter day in the default room.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the scenario's duration.
    #[arg(long)]
    pub hours: Option<f64>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The zone controller: ours, or a baseline to benchmark against.
    #[arg(long, value_enum, default_value_t = ControllerArg::Hearth)]
    pub controller: ControllerArg,
    /// Instead of a scenario: compare modulating with full-power duty cycling
    /// at this fraction of one board's maximum power (e.g. 0.4).
    #[arg(long, value_name = "FRACTION")]
    pub partial_load: Option<f64>,
    /// Heat sources: the heat-source policy (heat pump and miner), the heat
    /// pump with the boards as a plain backup element, or the miner alone.
    #[arg(long, value_enum, default_value_t = SourcesArg::Policy)]
    pub sources: SourcesArg,
    /// Instead of a scenario: run a fault-injection campaign (see
    /// docs/reliability.md). With --seed, replay that one run in detail.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scenario", "partial_load"])]
    pub faults: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourcesArg {
    Policy,
    HeatPumpOnly,
    MinerOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ControllerArg {
    /// Feed-forward PI with pre-heat, modulating board power.
    Hearth,
    /// Home Assistant generic_thermostat: ±0.3 K, full power on/off.
    Hysteresis,
    /// TPI 0.6 / 0.01 over 10-minute cycles, full power while on.
    Tpi,
}
