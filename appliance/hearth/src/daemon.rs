//! `hearth run`: start-up wiring, the control loop on a timer, the telemetry
//! writer, and an orderly shutdown that leaves every board safely idle.

use crate::backends::{self, Hardware};
use crate::config::Validated;
use crate::state::{lock, Heartbeat, Shared, Status};
use crate::store::{Retention, Sample, Store};
use anyhow::{Context, Result};
use axum::serve::ListenerExt;
use hearth_control::{Appliance, PiGains, TickReport, ZoneSettings};
use hearth_core::{BoardEvent, Timestamp};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Telemetry batches waiting for the disk. When the disk is slower than
/// this, samples are dropped (and counted): heat never waits for storage.
const WRITE_QUEUE: usize = 64;
/// How often aged telemetry is folded into coarser tiers.
const MAINTAIN_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: Validated,
    pub simulate: bool,
    pub data_dir: PathBuf,
    pub http: SocketAddr,
    pub speed: Option<f64>,
}

enum WriteJob {
    Record(Timestamp, Vec<Sample>),
    Event(Timestamp, String, String, String),
    Maintain(Timestamp, Retention),
}

/// Everything wired up but not yet running; tests drive this directly.
pub struct Daemon {
    pub shared: Arc<Shared>,
    tick: Duration,
    record_every: Duration,
    retention: Retention,
    /// The simulated world, when simulating (tests inject faults through it).
    pub world: Option<hearth_sim::SharedWorld>,
    /// Fault injection for simulated chains, by board id.
    pub sim_faults:
        std::collections::BTreeMap<hearth_core::BoardId, Arc<Mutex<crate::boards::SimChainFaults>>>,
    /// Simulated board index in the world, by board id.
    pub sim_boards: std::collections::BTreeMap<hearth_core::BoardId, usize>,
    /// The chain-driven boards' job feeds, for the work service.
    pub job_feeds: Vec<crate::boards::JobFeed>,
    /// In --sim, the world's outdoor temperature feeds the policy, unless the
    /// house sends its own over MQTT (then that one is the truth it asked for).
    sim_outdoor_to_policy: bool,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

/// Whether the simulated world's outdoor temperature is the policy's
/// outdoor input: yes, unless an MQTT outdoor input is configured.
fn world_outdoor_feeds_policy(config: &Validated) -> bool {
    let mqtt = &config.raw.mqtt;
    !(mqtt.enabled && mqtt.inputs.outdoor_temp_c.is_some())
}

fn retention(config: &Validated) -> Retention {
    let s = &config.raw.storage;
    Retention {
        raw_ms: s.raw_retention_hours * 3_600_000,
        five_minute_ms: s.five_minute_retention_days * 86_400_000,
        hourly_ms: s.hourly_retention_days * 86_400_000,
    }
}

impl Daemon {
    /// Opens the store, builds the hardware (real or simulated) and restores
    /// persisted settings over the configured ones.
    pub fn build(opts: &RunOptions) -> Result<Daemon> {
        create_data_dir(&opts.data_dir)?;
        let store = Store::open_in(&opts.data_dir)
            .with_context(|| format!("opening the database in {}", opts.data_dir.display()))?;
        let Hardware {
            mut zones,
            clock,
            steady_clock,
            world,
            sim_faults,
            sim_boards,
            job_feeds,
            sg_relays,
            circulation,
        } = backends::build(&opts.config, opts.simulate, opts.speed)?;
        for (zone, _) in &mut zones {
            match store.load_zone_settings(zone.id.as_str()) {
                Ok(Some(saved)) => match zone.limits.validate_setpoint(saved.setpoint_c.get()) {
                    Ok(setpoint_c) => {
                        zone.settings = ZoneSettings {
                            setpoint_c,
                            mode: saved.mode,
                        };
                        tracing::info!(zone = %zone.id, setpoint_c = setpoint_c.get(), mode = saved.mode.as_str(), "restored saved settings");
                    }
                    Err(e) => {
                        tracing::warn!(zone = %zone.id, error = %e, "saved setpoint no longer valid; using the configured one")
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(zone = %zone.id, error = %e, "could not read saved settings; using the configured ones")
                }
            }
        }
        let tick = Duration::from_millis(opts.config.raw.daemon.tick_ms);
        let mut control = crate::house_control::ControlState::load(&opts.data_dir)?;
        control.set_relays(sg_relays);
        control.set_circulation_inputs(circulation);
        let mut appliance = Appliance::new(zones, PiGains::default());
        for w in control.restore(&mut appliance) {
            tracing::warn!("{w}; skipped");
        }
        let shared = Arc::new(Shared {
            appliance: Mutex::new(appliance),
            control: Mutex::new(control),
            store: Arc::new(Mutex::new(store)),
            status: RwLock::new(None),
            heartbeat: Heartbeat::new(tick),
            settings_gate: tokio::sync::Mutex::new(()),
            clock,
            steady_clock,
            simulated: world.is_some(),
            work: Arc::new(RwLock::new(None)),
        });
        Ok(Daemon {
            shared,
            tick,
            record_every: Duration::from_secs(opts.config.raw.daemon.record_interval_s),
            retention: retention(&opts.config),
            world,
            sim_faults,
            sim_boards,
            job_feeds,
            sim_outdoor_to_policy: world_outdoor_feeds_policy(&opts.config),
        })
    }

    /// Runs until `shutdown` turns true, then stops every board safely.
    pub async fn control_loop(self, mut shutdown: watch::Receiver<bool>) {
        let (tx, rx) = sync_channel::<WriteJob>(WRITE_QUEUE);
        let store = self.shared.store.clone();
        let writer = std::thread::Builder::new()
            .name("hearth-store".into())
            .spawn(move || store_writer(store, rx));
        if let Err(e) = &writer {
            tracing::error!(error = %e, "could not start the storage thread; telemetry will not be stored");
        }
        let shared = self.shared.clone();
        let mut interval = tokio::time::interval(self.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_record: Option<Timestamp> = None;
        let mut last_maintain: Option<Timestamp> = None;
        let mut dropped = 0u64;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            let now = shared.clock.now();
            // In --sim the simulated world's outdoor air is the policy's
            // outdoor input (the world is the truth there).
            if let Some(world) = self.world.as_ref().filter(|_| self.sim_outdoor_to_policy) {
                let outdoor = hearth_sim::world::lock(world).outdoor();
                crate::house_control::feed_outdoor(&shared, outdoor, now);
            }
            crate::house_control::before_tick(&shared, now);
            let report = lock(&shared.appliance).tick(now);
            crate::house_control::after_tick(&shared, &report);
            shared.heartbeat.beat();
            self.publish(&report);
            for (board, event) in &report.events {
                log_board_event(board.as_str(), event);
                let (kind, message) = describe(event);
                send(
                    &tx,
                    WriteJob::Event(now, board.to_string(), kind.into(), message),
                    &mut dropped,
                );
            }
            // `t > now`: the clock stepped back; go on from the new time
            // rather than pause until it catches up.
            if last_record.is_none_or(|t| now.since(t) >= self.record_every || t > now) {
                last_record = Some(now);
                send(&tx, WriteJob::Record(now, samples(&report)), &mut dropped);
            }
            if last_maintain.is_none_or(|t| now.since(t) >= MAINTAIN_EVERY || t > now) {
                last_maintain = Some(now);
                send(&tx, WriteJob::Maintain(now, self.retention), &mut dropped);
            }
        }
        // Shutdown: boards to a safe idle, observe once more, record it.
        shared.heartbeat.stop();
        let now = shared.clock.now();
        // Board handles wait (bounded) for their tasks to confirm the stop;
        // let the runtime move other tasks off this worker meanwhile.
        let failures = tokio::task::block_in_place(|| lock(&shared.appliance).stop_all(now));
        for (board, why) in &failures {
            tracing::error!(board = %board, error = %why, "board did not confirm a safe stop");
        }
        let report = lock(&shared.appliance).tick(now);
        self.publish(&report);
        // Economics totals and live house inputs survive the restart.
        crate::house_control::save_live(&shared, now);
        crate::house_control::release_relays(&shared, now);
        let idle = report
            .boards
            .iter()
            .all(|b| b.telemetry.power_w.get() == 0.0);
        tracing::info!(
            boards = report.boards.len(),
            all_idle = idle,
            "boards brought to a safe idle"
        );
        send(
            &tx,
            WriteJob::Event(
                now,
                "daemon".into(),
                "shutdown".into(),
                "boards stopped safely".into(),
            ),
            &mut dropped,
        );
        drop(tx);
        if let Ok(handle) = writer {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        let checkpoint = lock(&shared.store).checkpoint();
        if let Err(e) = checkpoint {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
    }

    fn publish(&self, report: &TickReport) {
        let outdoor = self
            .world
            .as_ref()
            .map(|w| hearth_sim::world::lock(w).outdoor().get());
        let mut status = Status::from_report(report, self.shared.simulated, outdoor);
        status.work = self
            .shared
            .work
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        *self
            .shared
            .status
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(status);
    }
}

fn send(tx: &SyncSender<WriteJob>, job: WriteJob, dropped: &mut u64) {
    match tx.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            *dropped += 1;
            // Log the first and then every hundredth, not every tick.
            if *dropped % 100 == 1 {
                tracing::warn!(
                    dropped = *dropped,
                    "storage is falling behind; telemetry samples dropped"
                );
            }
        }
        Err(TrySendError::Disconnected(_)) => {
            *dropped += 1;
            if *dropped % 100 == 1 {
                tracing::error!("storage thread is gone; telemetry is not being stored");
            }
        }
    }
}

fn store_writer(store: Arc<Mutex<Store>>, rx: Receiver<WriteJob>) {
    for job in rx {
        let result = match job {
            WriteJob::Record(now, samples) => lock(&store).record(now, &samples),
            WriteJob::Event(now, source, kind, message) => {
                lock(&store).add_event(now, &source, &kind, &message)
            }
            WriteJob::Maintain(now, keep) => lock(&store).maintain(now, keep),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "storage write failed");
        }
    }
}

fn samples(report: &TickReport) -> Vec<Sample> {
    report
        .zones
        .iter()
        .map(|z| {
            let boards = report.boards.iter().filter(|b| b.zone == z.id);
            let (power, hashrate) = boards.fold((0.0, 0.0), |(p, h), b| {
                (
                    p + b.telemetry.power_w.get(),
                    h + b.telemetry.hashrate_ghs.get(),
                )
            });
            Sample {
                zone_id: z.id.to_string(),
                temp_c: z.temperature_c.map(|t| t.get()),
                setpoint_c: z.setpoint_c.get(),
                power_w: power,
                hashrate_ghs: hashrate,
            }
        })
        .collect()
}

fn describe(event: &BoardEvent) -> (&'static str, String) {
    match event {
        BoardEvent::Tripped { reason } => ("tripped", reason.clone()),
        BoardEvent::Recovered => (
            "recovered",
            "thermal trip cleared; board may run again".into(),
        ),
        BoardEvent::Fault { reason } => ("fault", reason.clone()),
        BoardEvent::Stopped => ("stopped", "board stopped safely".into()),
    }
}

fn log_board_event(board: &str, event: &BoardEvent) {
    let (kind, message) = describe(event);
    match event {
        BoardEvent::Tripped { .. } | BoardEvent::Fault { .. } => {
            tracing::warn!(board, kind, "{message}")
        }
        _ => tracing::info!(board, kind, "{message}"),
    }
}

fn create_data_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Settings and history are the owner's business only.
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(opts: RunOptions) -> Result<()> {
    let mut daemon = Daemon::build(&opts)?;
    let shared = daemon.shared.clone();
    let auth = crate::web::Auth::open(&opts.data_dir, &opts.config.raw.web)
        .context("opening the authentication store")?;
    // A bad certificate or key stops the start here, before anything
    // listens, with the file named.
    let tls = match (
        &opts.config.raw.web.tls_cert_file,
        &opts.config.raw.web.tls_key_file,
    ) {
        (Some(cert), Some(key)) => {
            Some(crate::web::tls::acceptor(cert, key).context("setting up HTTPS from [web]")?)
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(opts.http)
        .await
        .with_context(|| format!("listening for HTTP on {}", opts.http))?;
    let local = listener.local_addr().unwrap_or(opts.http);
    tracing::info!(
        http = %local,
        https = tls.is_some(),
        data_dir = %opts.data_dir.display(),
        simulated = shared.simulated,
        zones = opts.config.zones.len(),
        "hearth is running"
    );
    // In the background: heat never waits for the sharechain.
    tokio::spawn(crate::sharechain::service::start_if_enabled(
        crate::work::own::effective_section(
            &opts.config.raw.sharechain,
            opts.simulate,
            !opts.config.raw.work.pools.is_empty(),
        ),
        opts.data_dir.clone(),
        opts.simulate,
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let feeds = std::mem::take(&mut daemon.job_feeds);
    // The work sources follow PUT /api/v1/settings/work (stored over the
    // file's [work] list) through the control.
    let (_sim_pool, work_control) =
        crate::work::start_live(&opts, shared.clone(), feeds, stop_rx.clone()).await?;
    // MQTT runs under a supervisor so the API can change its settings
    // (stored in the data directory over the file's [mqtt]) and restart it.
    let mqtt_cfg = match crate::mqtt::live::load(&opts.data_dir) {
        Ok(Some(c)) => {
            let cfg = c.over(&opts.config.raw.mqtt);
            let zones: Vec<&str> = opts.config.zones.iter().map(|z| z.id.as_str()).collect();
            match cfg.validate(&zones) {
                Ok(()) => cfg,
                Err(e) => {
                    tracing::warn!(error = %e, "stored MQTT settings ignored; using the config file's");
                    opts.config.raw.mqtt.clone()
                }
            }
        }
        Ok(None) => opts.config.raw.mqtt.clone(),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "stored MQTT settings unreadable; using the config file's");
            opts.config.raw.mqtt.clone()
        }
    };
    let (mqtt_control, mqtt) = crate::mqtt::live::supervise(
        shared.clone(),
        crate::mqtt::entities::Catalog::from_config(&opts.config),
        mqtt_cfg,
        opts.data_dir.clone(),
        opts.config.zones.iter().map(|z| z.id.to_string()).collect(),
        stop_tx.subscribe(),
    );
    let control = tokio::spawn(daemon.control_loop(stop_rx));
    let mut http_stop = stop_tx.subscribe();
    // The served app is the API plus the web app behind the auth layer;
    // connect info gives the login rate limit each client's address.
    // The request rate limit is the outermost layer, so an anonymous
    // flood is refused before it costs authentication or a handler.
    let web_cfg = &opts.config.raw.web;
    let requests = Arc::new(Mutex::new(crate::web::limits::RequestLimiter::new(web_cfg)));
    let auth = Arc::new(auth);
    let owner_clients: crate::web::limits::OwnerClients = {
        let auth = auth.clone();
        Arc::new(move |client| auth.is_owner_client(client))
    };
    let app = crate::web::app(shared.clone(), auth)
        .layer(axum::Extension(mqtt_control))
        .layer(axum::Extension(work_control))
        .layer(axum::middleware::from_fn_with_state(
            requests,
            crate::web::limits::rate_guard,
        ));
    // Connections are capped in all and per client, with a reserve for
    // the owner's clients. The no-op tap gives the listener axum's connect
    // info (the peer's SocketAddr).
    let listener = crate::web::limits::LimitedListener::new(
        listener,
        crate::web::limits::ConnectionSlots::with_owner(web_cfg, owner_clients),
    );
    let make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let stopped = async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    };
    let server = match tls {
        Some(acceptor) => {
            let listener = crate::web::tls::TlsListener::new(listener, acceptor).tap_io(|_| {});
            tokio::spawn(
                axum::serve(listener, make_service)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
        None => tokio::spawn(
            axum::serve(listener.tap_io(|_| {}), make_service)
                .with_graceful_shutdown(stopped)
                .into_future(),
        ),
    };
    // systemd Type=notify: READY=1 after the first tick, watchdog pings.
    let notify = crate::sdnotify::spawn(shared.clone(), stop_tx.subscribe());

    let signal = wait_for_signal().await;
    tracing::info!(signal, "shutting down: bringing boards to a safe idle");
    let _ = stop_tx.send(true);
    if let Err(e) = control.await {
        tracing::error!(error = %e, "control loop ended abnormally");
    }
    if let Some(task) = notify {
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
    if let Err(e) = mqtt.await {
        tracing::warn!(error = %e, "MQTT supervisor ended abnormally");
    }
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server error at shutdown"),
        Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server task failed"),
        Err(_) => tracing::warn!("HTTP server did not stop within 5 s"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "ctrl-c"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
