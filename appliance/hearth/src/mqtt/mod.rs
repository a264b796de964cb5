//! Home Assistant over MQTT: the rumqttc client and its reconnect loop,
//! discovery, state publishing, commands and the house inputs.
//!
//! The pure parts (entity table and payloads, topics, command parsing, house
//! inputs, energy counters, the command rate limit) are in the submodules; this file is the IO edge.
//! Heat never waits for the broker: the control loop knows nothing of MQTT,
//! this task only reads the status snapshot and changes settings through the
//! same validate-persist-apply path the HTTP API uses.

pub mod commands;
pub mod config;
pub mod controls;
pub mod energy;
pub mod entities;
pub mod inputs;
pub mod lan_workers;
pub mod live;
pub mod rate;
pub mod topics;

use crate::state::{lock, Shared, Status};
use anyhow::{Context, Result};
use config::{DiscoveryStyle, MqttConfig};
use entities::{Catalog, Entity, Platform};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use topics::Topics;

/// Requests waiting for the event loop (publishes, subscriptions).
const REQUEST_QUEUE: usize = 1024;
/// Incoming messages waiting for the handler; more are dropped and counted.
const INCOMING_QUEUE: usize = 256;
/// Largest packet sent (a device discovery with every component) and received.
const MAX_OUTGOING_PACKET: usize = 512 * 1024;
const MAX_INCOMING_PACKET: usize = 64 * 1024;
/// Energy counters are written to disk this often.
const SAVE_ENERGY_EVERY: Duration = Duration::from_secs(60);
/// How long a clean shutdown waits for `offline` to reach the broker.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);
const ENERGY_FILE: &str = "mqtt-energy.json";

/// The running MQTT side. `inputs` holds what the house reported, for the
/// control policy to read.
#[derive(Debug)]
pub struct MqttHandle {
    pub inputs: Arc<Mutex<inputs::HouseInputs>>,
    task: tokio::task::JoinHandle<()>,
}

impl MqttHandle {
    /// Waits for the task to publish `offline` and disconnect (after `stop`).
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "MQTT task ended abnormally");
        }
    }
}

fn tls_config(ca_file: &Path) -> Result<rumqttc::TlsConfiguration> {
    let pem = std::fs::read(ca_file)
        .with_context(|| format!("reading mqtt.tls_ca_file {}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.with_context(|| format!("parsing {}", ca_file.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("adding a CA from {}", ca_file.display()))?;
        added += 1;
    }
    if added == 0 {
        anyhow::bail!(
            "mqtt.tls_ca_file {} holds no PEM certificate",
            ca_file.display()
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(rumqttc::TlsConfiguration::Rustls(Arc::new(config)))
}

fn options(cfg: &MqttConfig, topics: &Topics) -> Result<MqttOptions> {
    let mut o = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    o.set_keep_alive(Duration::from_secs(cfg.keep_alive_s));
    o.set_clean_session(true);
    o.set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    o.set_last_will(LastWill::new(
        topics.availability(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    if let Some(ca) = &cfg.tls_ca_file {
        o.set_transport(rumqttc::Transport::tls_with_config(tls_config(ca)?));
    }
    Ok(o)
}

enum Incoming {
    Publish(String, Vec<u8>),
}

/// Starts the client. Returns at once: connecting happens in the background,
/// with backoff, for as long as the daemon runs.
pub fn spawn(
    shared: Arc<Shared>,
    catalog: Catalog,
    cfg: &MqttConfig,
    data_dir: &Path,
    stop: watch::Receiver<bool>,
) -> Result<MqttHandle> {
    let topics = Topics::new(&cfg.base_topic, &cfg.discovery_prefix, &cfg.client_id);
    let opts = options(cfg, &topics)?;
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_QUEUE);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_connection_timeout(10);
    eventloop.set_network_options(net);
    let (in_tx, in_rx) = mpsc::channel::<Incoming>(INCOMING_QUEUE);
    let (conn_tx, conn_rx) = watch::channel(0u64);
    let max_backoff = Duration::from_secs(cfg.max_backoff_s);
    let host = format!("{}:{}", cfg.host, cfg.port);
    let network = tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        let mut dropped = 0u64;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!(broker = %host, "MQTT connected");
                    backoff = Duration::from_secs(1);
                    conn_tx.send_modify(|generation| *generation += 1);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = p.topic.clone();
                    if in_tx
                        .try_send(Incoming::Publish(topic, p.payload.to_vec()))
                        .is_err()
                    {
                        dropped += 1;
                        if dropped % 100 == 1 {
                            tracing::warn!(
                                dropped,
                                "MQTT messages arrive faster than handled; dropped"
                            );
                        }
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(broker = %host, error = %e, retry_in_s = backoff.as_secs(), "MQTT connection failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
    });
    let house = Arc::new(Mutex::new(inputs::HouseInputs::new(&cfg.inputs)));
    let worker = Worker {
        shared,
        entities: entities::entities(&catalog, &topics),
        lan_entities: Vec::new(),
        catalog,
        topics,
        style: cfg.discovery,
        client,
        house: house.clone(),
        energy: energy::EnergyMeter::load(&data_dir.join(ENERGY_FILE)),
        energy_file: data_dir.join(ENERGY_FILE),
        published: BTreeMap::new(),
        dropped: 0,
        state_interval: Duration::from_secs(cfg.state_interval_s),
        started: tokio::time::Instant::now(),
        commands: rate::CommandBudget::default(),
        commands_refused: 0,
        republish: rate::Republish::default(),
    };
    let task = tokio::spawn(worker.run(stop, conn_rx, in_rx, network));
    Ok(MqttHandle {
        inputs: house,
        task,
    })
}

struct Worker {
    shared: Arc<Shared>,
    catalog: Catalog,
    topics: Topics,
    entities: Vec<Entity>,
    /// The connected LAN miners' entities (`lan_workers`), announced with
    /// `entities` and removed when their miner is gone.
    lan_entities: Vec<Entity>,
    style: DiscoveryStyle,
    client: AsyncClient,
    house: Arc<Mutex<inputs::HouseInputs>>,
    energy: energy::EnergyMeter,
    energy_file: PathBuf,
    /// Last payload sent per state topic: only changes are sent between
    /// full republications.
    published: BTreeMap<String, String>,
    dropped: u64,
    state_interval: Duration,
    /// The rate limits' monotonic clock starts here.
    started: tokio::time::Instant,
    /// Commands (zone and control) accepted per second ([`rate`]).
    commands: rate::CommandBudget,
    /// Commands refused for coming too fast.
    commands_refused: u64,
    /// Home Assistant's `online` republishes at most every 10 s.
    republish: rate::Republish,
}

impl Worker {
    async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut connected: watch::Receiver<u64>,
        mut incoming: mpsc::Receiver<Incoming>,
        network: tokio::task::JoinHandle<()>,
    ) {
        let mut tick = tokio::time::interval(self.state_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut energy_tick = tokio::time::interval(Duration::from_secs(1));
        energy_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut save_tick = tokio::time::interval(SAVE_ENERGY_EVERY);
        save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() { break; }
                }
                changed = connected.changed() => {
                    if changed.is_err() { break; }
                    self.on_connect();
                }
                _ = tick.tick() => {
                    // Also ages the inputs out of the policy when they go stale.
                    self.feed_policy();
                    if self.republish.due(self.monotonic_ms()) {
                        self.announce(&[]);
                        self.publish_states(true);
                    } else {
                        self.publish_states(false)
                    }
                }
                _ = energy_tick.tick() => self.observe_energy(),
                _ = save_tick.tick() => self.save_energy(),
                msg = incoming.recv() => match msg {
                    Some(Incoming::Publish(topic, payload)) => self.on_message(&topic, &payload).await,
                    None => break,
                },
            }
        }
        self.save_energy();
        // Clean shutdown: the broker sends no last will for a DISCONNECT,
        // so say `offline` ourselves, then let the event loop flush it.
        self.publish(&self.topics.availability(), "offline".into(), true);
        let _ = self.client.try_disconnect();
        let abort = network.abort_handle();
        if tokio::time::timeout(SHUTDOWN_FLUSH, network).await.is_err() {
            abort.abort();
            tracing::warn!(
                "MQTT did not flush `offline` before shutdown; the broker's last will says it"
            );
        }
        tracing::info!("MQTT disconnected");
    }

    fn publish(&mut self, topic: &str, payload: String, retain: bool) {
        if self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .is_err()
        {
            self.dropped += 1;
            if self.dropped % 100 == 1 {
                tracing::warn!(
                    dropped = self.dropped,
                    "MQTT send queue full; publications dropped (all are sent again on reconnect)"
                );
            }
        }
    }

    fn subscribe(&mut self, filter: String) {
        if let Err(e) = self.client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
            tracing::warn!(topic = %filter, error = %e, "MQTT subscribe failed");
        }
    }

    fn on_connect(&mut self) {
        self.subscribe(self.topics.ha_status());
        self.subscribe(self.topics.zone_command_filter());
        self.subscribe(self.topics.control_command_filter());
        // Our own retained discovery from earlier runs: what is in it and no
        // longer configured gets removed (see `on_message`).
        self.subscribe(self.topics.entity_config_filter());
        self.subscribe(self.topics.device_config());
        let input_topics: Vec<String> = lock(&self.house).topics().map(String::from).collect();
        for t in input_topics {
            self.subscribe(t);
        }
        self.publish(&self.topics.availability(), "online".into(), true);
        self.announce(&[]);
        self.publish_states(true);
    }

    /// The configured entities and the connected LAN miners'.
    fn all_entities(&self) -> Vec<Entity> {
        let mut all = self.entities.clone();
        all.extend(self.lan_entities.iter().cloned());
        all
    }

    fn announce(&mut self, removed: &[(String, Platform)]) {
        let all = self.all_entities();
        match self.style {
            DiscoveryStyle::Device => {
                let (topic, payload) =
                    entities::device_discovery(&self.catalog, &self.topics, &all, removed);
                self.publish(&topic, payload, true);
            }
            DiscoveryStyle::PerEntity => {
                for (id, platform) in removed {
                    let topic = self.topics.entity_config(*platform, id);
                    self.publish(&topic, String::new(), true);
                }
                for (topic, payload) in
                    entities::per_entity_discovery(&self.catalog, &self.topics, &all)
                {
                    self.publish(&topic, payload, true);
                }
            }
        }
        tracing::info!(entities = all.len(), style = ?self.style, "Home Assistant discovery published");
    }

    /// The snapshot with each zone's settings read from the appliance, so a
    /// state published right after a command shows the true value.
    fn current_status(&self) -> Option<Status> {
        let mut status = self
            .shared
            .status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let app = lock(&self.shared.appliance);
        for z in &mut status.zones {
            if let Some(s) = app.settings(&z.id) {
                z.setpoint_c = s.setpoint_c.get();
                z.mode = s.mode;
            }
        }
        Some(status)
    }

    /// Hands the house inputs to the heat-source policy (read before the
    /// next control tick). Never holds the appliance lock.
    fn feed_policy(&self) {
        let now = self.shared.clock.now();
        let house = lock(&self.house);
        let mut control = lock(&self.shared.control);
        house.feed_policy(now, &mut control.house);
    }

    fn observe_energy(&mut self) {
        if let Some(status) = self.current_status() {
            self.energy.observe(&status);
        }
    }

    fn save_energy(&self) {
        if let Err(e) = self.energy.save(&self.energy_file) {
            tracing::warn!(file = %self.energy_file.display(), error = %e, "could not save energy counters");
        }
    }

    /// Publishes the state documents; `all` sends unchanged ones too.
    fn publish_states(&mut self, all: bool) {
        let Some(status) = self.current_status() else {
            return;
        };
        let energy = &self.energy;
        let (economics, view) = {
            let c = lock(&self.shared.control);
            (
                c.economics,
                controls::ControlsView::from_settings(&c.settings),
            )
        };
        let presets: BTreeMap<String, Option<hearth_control::Preset>> = {
            let app = lock(&self.shared.appliance);
            self.catalog
                .zones
                .iter()
                .map(|z| (z.id.clone(), app.presets(&z.id).and_then(|(_, p)| p)))
                .collect()
        };
        let settings = entities::SettingsNow {
            view,
            zone_preset: &|id| presets.get(id).copied().flatten(),
        };
        let docs = entities::states(
            &self.catalog,
            &self.topics,
            &status,
            energy.total(),
            &|id| energy.board(id),
            Some(&economics),
            &settings,
        );
        let mut docs = docs;
        // LAN miners: entities while connected, removed when gone.
        let workers = status
            .work
            .as_ref()
            .and_then(|w| w.lan_server.as_ref())
            .map(|l| l.workers.clone())
            .unwrap_or_default();
        let lan_now = lan_workers::entities(&self.topics, &workers);
        if lan_now != self.lan_entities {
            let removed = lan_workers::gone(&self.lan_entities, &lan_now);
            self.lan_entities = lan_now;
            self.announce(&removed);
            // A miner's last state stays retained otherwise.
            for (id, _) in &removed {
                if let Some(key) = id
                    .strip_prefix(&format!("{}_lan_", self.topics.node()))
                    .and_then(|rest| rest.strip_suffix("_connected"))
                {
                    let topic = self.topics.lan_worker_state(key);
                    self.published.remove(&topic);
                    self.publish(&topic, String::new(), true);
                }
            }
        }
        docs.extend(lan_workers::states(&self.topics, &workers));
        let inputs = lock(&self.house).snapshot(self.shared.clock.now());
        if let Ok(json) = serde_json::to_string(&inputs) {
            docs.push((self.topics.inputs(), json));
        }
        for (topic, payload) in docs {
            if all || self.published.get(&topic) != Some(&payload) {
                self.published.insert(topic.clone(), payload.clone());
                self.publish(&topic, payload, true);
            }
        }
    }

    async fn on_message(&mut self, topic: &str, payload: &[u8]) {
        if topic == self.topics.ha_status() {
            if payload == b"online" {
                if self.republish.ask(self.monotonic_ms()) {
                    tracing::info!("Home Assistant came online; republishing discovery and states");
                    self.announce(&[]);
                    self.publish_states(true);
                } else {
                    tracing::info!(
                        "Home Assistant came online again within 10 s; republishing once that has passed"
                    );
                }
            }
            return;
        }
        let zone = self.topics.parse_zone_command(topic).is_some();
        let control = self.topics.parse_control_command(topic).is_some();
        if (zone || control) && !self.commands.allow(self.monotonic_ms()) {
            // Refused unread: nothing validated, written or republished.
            self.commands_refused += 1;
            if self.commands_refused % 100 == 1 {
                tracing::warn!(
                    topic,
                    refused = self.commands_refused,
                    "MQTT commands arrive faster than {} a second (bursts of {}); refused, nothing changed",
                    rate::COMMANDS_PER_S,
                    rate::COMMAND_BURST
                );
            }
            return;
        }
        if zone {
            self.on_command(topic, payload).await;
            return;
        }
        if control {
            self.on_control_command(topic, payload).await;
            return;
        }
        if let Some((platform, object_id)) = self.topics.parse_entity_config(topic) {
            let ours = self.style == DiscoveryStyle::PerEntity
                && self
                    .all_entities()
                    .iter()
                    .any(|e| e.platform == platform && e.id == object_id);
            if !payload.is_empty() && !ours {
                tracing::info!(topic, "removing an entity no longer configured");
                self.publish(topic, String::new(), true);
            }
            return;
        }
        if topic == self.topics.device_config() {
            if payload.is_empty() {
                return;
            }
            if self.style == DiscoveryStyle::PerEntity {
                tracing::info!(
                    topic,
                    "removing device discovery (per-entity discovery is configured)"
                );
                self.publish(topic, String::new(), true);
                return;
            }
            let all = self.all_entities();
            let current: BTreeSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
            let removed: Vec<(String, Platform)> = entities::announced_components(payload)
                .into_iter()
                .filter(|(id, _)| !current.contains(id.as_str()))
                .collect();
            if !removed.is_empty() {
                tracing::info!(
                    count = removed.len(),
                    "removing components no longer configured"
                );
                self.announce(&removed);
            }
            return;
        }
        let now = self.shared.clock.now();
        let handled = lock(&self.house).handle(topic, payload, now);
        match handled {
            Ok(true) => {
                self.feed_policy();
                self.publish_states(false)
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(topic, error = %e, "house input refused; keeping the previous value")
            }
        }
    }

    /// Milliseconds since the bridge started, on a clock that never steps.
    fn monotonic_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn on_command(&mut self, topic: &str, payload: &[u8]) {
        let result = match commands::parse(&self.topics, topic, payload) {
            Err(e) => Err(e.to_string()),
            Ok(cmd) => {
                let zone = cmd.zone().to_string();
                if let commands::Command::SetPreset { preset, .. } = &cmd {
                    let outcome =
                        crate::api_control::set_preset(&self.shared, &zone, preset.as_str()).await;
                    self.after_command(topic, payload, outcome.map(|_| ()));
                    return;
                }
                let outcome = crate::api::change_settings(&self.shared, &zone, |app, current| {
                    Ok(match &cmd {
                        commands::Command::SetSetpoint { setpoint_c, .. } => {
                            hearth_control::ZoneSettings {
                                setpoint_c: app.validate_setpoint(&zone, *setpoint_c)?,
                                ..current
                            }
                        }
                        commands::Command::SetMode { mode, .. } => hearth_control::ZoneSettings {
                            mode: *mode,
                            ..current
                        },
                        // Handled above, through the preset endpoint's path.
                        commands::Command::SetPreset { .. } => current,
                    })
                })
                .await;
                outcome.map(|_| ()).map_err(|e| e.message().to_string())
            }
        };
        if let Err(reason) = result {
            let shown = String::from_utf8_lossy(&payload[..payload.len().min(64)]).into_owned();
            tracing::warn!(topic, payload = %shown, reason = %reason, "MQTT command refused; nothing changed");
        }
        // Either way, the state topics now carry the true values.
        self.publish_states(true);
    }

    /// Logs a refused command, then republishes every state (true values).
    fn after_command(
        &mut self,
        topic: &str,
        payload: &[u8],
        outcome: Result<(), crate::api::ApiError>,
    ) {
        if let Err(e) = outcome {
            let shown = String::from_utf8_lossy(&payload[..payload.len().min(64)]).into_owned();
            tracing::warn!(topic, payload = %shown, reason = %e.message(), "MQTT command refused; nothing changed");
        }
        self.publish_states(true);
    }

    /// The site limit, strategy and mining switch, each through the HTTP
    /// API's own function (check, persist, apply).
    async fn on_control_command(&mut self, topic: &str, payload: &[u8]) {
        use controls::ControlCommand;
        let cmd = match controls::parse(&self.topics, topic, payload) {
            Ok(cmd) => cmd,
            Err(e) => {
                let reason = crate::api::ApiError::bad_request(e.to_string());
                self.after_command(topic, payload, Err(reason));
                return;
            }
        };
        let outcome = match cmd {
            ControlCommand::SetPowerLimit(limit_w) => {
                crate::api_control::set_site_limit(&self.shared, limit_w)
                    .await
                    .map(|_| ())
            }
            ControlCommand::SetStrategy(strategy) => {
                let policy = strategy.applied_to(&lock(&self.shared.control).settings.policy);
                crate::api_control::set_policy(&self.shared, policy)
                    .await
                    .map(|_| ())
            }
            ControlCommand::SetMining(enabled) => {
                crate::api_control::set_mining(&self.shared, enabled)
                    .await
                    .map(|_| ())
            }
        };
        self.after_command(topic, payload, outcome);
    }
}
