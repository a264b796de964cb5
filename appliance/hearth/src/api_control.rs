//! HTTP endpoints for control settings beyond setpoint and mode: the
//! heat-source policy, house inputs, schedules, presets, window contacts
//! and pool circulation. Same rules as the rest of the API: every body is
//! validated first (400 with the reason, nothing changed); settings are
//! persisted before they are applied, and so are live house inputs and
//! external zone temperatures (in `control-live.json`, see
//! `house_control`).

use crate::api::ApiError;
use crate::house_control::{
    check_cop, check_tariff, validate_schedule, ControlSettings, MAX_SCHEDULE_ENTRIES,
};
use crate::state::{lock, Shared};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use hearth_control::{
    CopCurve, HeatPumpState, Preset, PresetTable, Reading, ScheduleEntry, SgReady, Tariff,
    ZoneSettings, ALL_DAYS,
};
use hearth_core::{Celsius, Watts};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Mounted by `api::router`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/control", get(get_control))
        .route("/api/v1/control/policy", put(put_policy))
        .route("/api/v1/control/economics", put(put_economics))
        .route("/api/v1/control/house", put(put_house))
        .route("/api/v1/control/site", put(put_site))
        .route("/api/v1/control/mining", put(put_mining))
        .route(
            "/api/v1/zones/{id}/schedule",
            get(get_schedule).put(put_schedule),
        )
        .route("/api/v1/zones/{id}/preset", put(put_preset))
        .route(
            "/api/v1/zones/{id}/presets",
            get(get_presets).put(put_presets),
        )
        .route("/api/v1/zones/{id}/window", put(put_window))
        .route("/api/v1/zones/{id}/temperature", put(put_zone_temperature))
        .route("/api/v1/zones/{id}/circulation", put(put_circulation))
        .route(
            "/api/v1/sim/zones/{id}/circulation",
            put(put_sim_circulation),
        )
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// Persists `next` off the async runtime, then it is in force.
async fn commit(shared: &Arc<Shared>, next: ControlSettings) -> Result<(), ApiError> {
    let shared2 = shared.clone();
    tokio::task::spawn_blocking(move || lock(&shared2.control).commit(next))
        .await
        .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("could not store the setting: {e:#}")))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ControlView {
    /// Policy, tariff, heat-pump COP, hashprice, schedules, presets, site limit.
    #[schema(value_type = Object)]
    settings: ControlSettings,
    economics: EconomicsView,
    /// The heat-source policy's last decision: `miner`, `rule`, `why`, ...
    #[schema(value_type = Option<Object>)]
    decision: Option<hearth_control::Decision>,
    /// The fresh house inputs (stale ones left out).
    #[schema(value_type = Object)]
    house: hearth_control::HouseNow,
    /// The SG-Ready output relays: `state`, `relay1`, `relay2`, `wanted`
    /// (what the policy asked), `since_ms`, `held` (why not yet), `driver`
    /// (`null`: not wired), `written`, `error`.
    #[schema(value_type = Object)]
    sg_ready_output: serde_json::Value,
    /// Per zone with any: the fresh external temperature and window contact.
    zone_inputs: std::collections::BTreeMap<String, ZoneInputsView>,
    /// Per pool zone with `circulation_gpio`: `input` (what is read) and
    /// the last read `error` (`null` while readable; an error = not running).
    #[schema(value_type = Object)]
    circulation_inputs: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ZoneInputsView {
    /// From the API or an MQTT state topic; `null` when stale or absent.
    temperature_c: Option<f64>,
    /// From the zone's MQTT window contacts combined; `null` when stale or absent.
    window_open: Option<bool>,
    /// From PUT /api/v1/zones/{id}/window; `null` when older than 2 h or absent.
    api_window_open: Option<bool>,
}

fn zone_inputs_view(
    house: &hearth_control::HouseInputs,
    now: hearth_core::Timestamp,
) -> std::collections::BTreeMap<String, ZoneInputsView> {
    house
        .zone_temp_c
        .keys()
        .chain(house.zone_window_open.keys())
        .chain(house.zone_window_api.keys())
        .map(|z| {
            (
                z.clone(),
                ZoneInputsView {
                    temperature_c: house.zone_temp_at(z, now).map(|(t, _)| t.get()),
                    window_open: house.zone_window_at(z, now),
                    api_window_open: house.zone_window_api_at(z, now),
                },
            )
        })
        .collect()
}

/// Changes the live house inputs with `change`: written to the live file
/// first (under the control lock, so the control loop's own saves and MQTT
/// updates neither race nor get lost), then in force.
async fn change_house(
    shared: &Arc<Shared>,
    change: impl FnOnce(&mut hearth_control::HouseInputs) + Send + 'static,
) -> Result<hearth_control::HouseInputs, ApiError> {
    let shared2 = shared.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = lock(&shared2.control);
        let mut live = c.live();
        change(&mut live.house);
        crate::house_control::write_live(&c.live_path(), &live)?;
        c.house = live.house.clone();
        Ok::<_, anyhow::Error>(live.house)
    })
    .await
    .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
    .map_err(|e| ApiError::internal(format!("could not store the input: {e:#}")))
}

/// Since the daemon started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EconomicsView {
    /// `heat_kwh`, `electricity_cost`, `revenue`, `resistive_cost`,
    /// `heat_pump_cost`, `heat_w`, `net_cost_per_hour` (flattened here).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    totals: hearth_control::Economics,
    net_cost: f64,
    net_cost_per_heat_kwh: Option<f64>,
}

#[utoipa::path(get, path = "/api/v1/control", tag = "control",
    responses((status = 200, body = ControlView)))]
async fn get_control(State(shared): State<Arc<Shared>>) -> Json<ControlView> {
    let now = shared.clock.now();
    let c = lock(&shared.control);
    let e = c.economics;
    Json(ControlView {
        economics: EconomicsView {
            net_cost: e.net_cost(),
            net_cost_per_heat_kwh: e.net_cost_per_heat_kwh(),
            totals: e,
        },
        settings: c.settings.clone(),
        decision: c.last_decision.clone(),
        house: c.house.at(now),
        zone_inputs: zone_inputs_view(&c.house, now),
        sg_ready_output: c.sg_output_json(),
        circulation_inputs: c.circulation_json(),
    })
}

#[utoipa::path(put, path = "/api/v1/control/policy", tag = "control",
    request_body(content = Object, description = "policy settings: any subset of the keys in docs/configuration.md; keys left out keep their current values (the body is merged onto the settings in force, then the result is validated as a whole)"),
    responses((status = 200, description = "the policy settings now in force", body = Object),
        (status = 400, description = "invalid value or unknown key; nothing changed")),
    security(("bearer" = []), ("session" = [])))]
async fn put_policy(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<hearth_control::PolicySettings>, ApiError> {
    let Json(patch) = body?;
    Ok(Json(patch_policy(&shared, patch).await?))
}

/// A partial policy change: `patch`'s keys merged onto the settings in
/// force (read under the settings gate, so two patches cannot lose each
/// other's keys), the result checked as a whole, persisted, applied.
async fn patch_policy(
    shared: &Arc<Shared>,
    patch: serde_json::Value,
) -> Result<hearth_control::PolicySettings, ApiError> {
    let _gate = shared.settings_gate.lock().await;
    let current = lock(&shared.control).settings.policy.clone();
    let policy = crate::policy_patch::merge(&current, &patch).map_err(bad)?;
    commit_policy(shared, policy).await
}

/// The one path for a policy change (HTTP and MQTT): check, persist, apply.
pub(crate) async fn set_policy(
    shared: &Arc<Shared>,
    policy: hearth_control::PolicySettings,
) -> Result<hearth_control::PolicySettings, ApiError> {
    let _gate = shared.settings_gate.lock().await;
    commit_policy(shared, policy).await
}

/// Checks, persists and applies `policy`; the caller holds the settings gate.
async fn commit_policy(
    shared: &Arc<Shared>,
    policy: hearth_control::PolicySettings,
) -> Result<hearth_control::PolicySettings, ApiError> {
    policy.check().map_err(bad)?;
    let mut next = lock(&shared.control).settings.clone();
    next.policy = policy.clone();
    commit(shared, next).await?;
    tracing::info!("heat-source policy settings changed");
    Ok(policy)
}

/// Tariff, heat-pump COP curve and default hashprice.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EconomicsBody {
    /// `{"kind": "fixed", "per_kwh": 0.3}` or `{"kind": "time_of_use", "entries": [[0, 0.12], ...]}`.
    #[schema(value_type = Option<Object>)]
    tariff: Option<Tariff>,
    /// `null` removes the heat pump.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    heat_pump_cop: Option<Option<CopCurve>>,
    hashprice_per_th_day: Option<f64>,
}

/// Tells "absent" from "null" for one optional field.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[utoipa::path(put, path = "/api/v1/control/economics", tag = "control",
    request_body = EconomicsBody,
    responses((status = 200, description = "the control settings now in force", body = Object),
        (status = 400, description = "invalid tariff, COP curve or body; nothing changed")),
    security(("bearer" = []), ("session" = [])))]
async fn put_economics(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<EconomicsBody>, JsonRejection>,
) -> Result<Json<ControlSettings>, ApiError> {
    let Json(b) = body?;
    let _gate = shared.settings_gate.lock().await;
    let mut next = lock(&shared.control).settings.clone();
    if let Some(t) = b.tariff {
        check_tariff(&t).map_err(bad)?;
        next.tariff = t;
    }
    if let Some(cop) = b.heat_pump_cop {
        if let Some(c) = &cop {
            check_cop(c).map_err(bad)?;
        }
        next.heat_pump_cop = cop;
    }
    if let Some(h) = b.hashprice_per_th_day {
        next.hashprice_per_th_day = h;
    }
    next.check().map_err(bad)?;
    commit(&shared, next.clone()).await?;
    Ok(Json(next))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SiteBody {
    /// `null` removes the limit.
    power_limit_w: Option<f64>,
}

#[utoipa::path(put, path = "/api/v1/control/site", tag = "control",
    request_body = SiteBody,
    responses((status = 200, body = SiteBody),
        (status = 400, description = "power_limit_w outside 0..=1000000 or bad body; nothing changed")),
    security(("bearer" = []), ("session" = [])))]
async fn put_site(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<SiteBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let limit_w = set_site_limit(&shared, b.power_limit_w).await?;
    Ok(Json(serde_json::json!({ "power_limit_w": limit_w })))
}

/// The one path for a site limit change (HTTP and MQTT): check, persist, apply.
pub(crate) async fn set_site_limit(
    shared: &Arc<Shared>,
    limit_w: Option<f64>,
) -> Result<Option<f64>, ApiError> {
    in_range("power_limit_w", limit_w, 0.0, 1e6)?;
    let _gate = shared.settings_gate.lock().await;
    let mut next = lock(&shared.control).settings.clone();
    next.site_limit_w = limit_w;
    commit(shared, next).await?;
    lock(&shared.appliance).set_site_limit(limit_w.map(Watts))?;
    tracing::info!(limit_w = ?limit_w, "site power limit changed");
    Ok(limit_w)
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MiningBody {
    /// `false`: heat only. The boards heat exactly as the thermostat asks,
    /// on local heat-only work; nothing is submitted to any source.
    enabled: bool,
}

#[utoipa::path(put, path = "/api/v1/control/mining", tag = "control",
    request_body = MiningBody,
    responses((status = 200, description = "the mining switch now in force", body = MiningBody),
        (status = 400, description = "bad body; nothing changed")),
    security(("bearer" = []), ("session" = [])))]
async fn put_mining(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<MiningBody>, JsonRejection>,
) -> Result<Json<MiningBody>, ApiError> {
    let Json(b) = body?;
    let enabled = set_mining(&shared, b.enabled).await?;
    Ok(Json(MiningBody { enabled }))
}

/// The one path for the mining switch (HTTP and MQTT): persisted, then the
/// work service reads it at its next tick (within a second).
pub(crate) async fn set_mining(shared: &Arc<Shared>, enabled: bool) -> Result<bool, ApiError> {
    let _gate = shared.settings_gate.lock().await;
    let mut next = lock(&shared.control).settings.clone();
    next.mining_enabled = enabled;
    commit(shared, next).await?;
    tracing::info!(
        enabled,
        "mining switched {}",
        if enabled { "on" } else { "off (heat only)" }
    );
    Ok(enabled)
}

/// Live house inputs; each given value is stamped with the time it arrived.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HouseBody {
    outdoor_c: Option<f64>,
    price_per_kwh: Option<f64>,
    pv_surplus_w: Option<f64>,
    /// `running`, `idle` or `lockout`.
    #[schema(value_type = Option<String>)]
    heat_pump: Option<HeatPumpState>,
    /// `block`, `normal`, `recommend` or `force`.
    #[schema(value_type = Option<String>)]
    sg_ready: Option<SgReady>,
    presence: Option<bool>,
    hashprice_per_th_day: Option<f64>,
}

fn in_range(name: &str, v: Option<f64>, lo: f64, hi: f64) -> Result<(), ApiError> {
    match v {
        Some(x) if !(x.is_finite() && (lo..=hi).contains(&x)) => {
            Err(bad(format!("{name} must be between {lo} and {hi}")))
        }
        _ => Ok(()),
    }
}

#[utoipa::path(put, path = "/api/v1/control/house", tag = "control",
    request_body = HouseBody,
    responses((status = 200, description = "the fresh house inputs", body = Object),
        (status = 400, description = "value out of range or bad body; nothing changed")),
    security(("bearer" = []), ("session" = [])))]
async fn put_house(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<HouseBody>, JsonRejection>,
) -> Result<Json<hearth_control::HouseNow>, ApiError> {
    let Json(b) = body?;
    in_range("outdoor_c", b.outdoor_c, -60.0, 60.0)?;
    in_range("price_per_kwh", b.price_per_kwh, -10.0, 100.0)?;
    in_range("pv_surplus_w", b.pv_surplus_w, 0.0, 1e6)?;
    in_range("hashprice_per_th_day", b.hashprice_per_th_day, 0.0, 100.0)?;
    let now = shared.clock.now();
    let at = move |v| Some(Reading::new(v, now));
    let house = change_house(&shared, move |h| {
        if let Some(v) = b.outdoor_c {
            h.outdoor_c = at(Celsius(v));
        }
        if let Some(v) = b.price_per_kwh {
            h.price_per_kwh = Some(Reading::new(v, now));
        }
        if let Some(v) = b.pv_surplus_w {
            h.pv_surplus_w = Some(Reading::new(Watts(v), now));
        }
        if let Some(v) = b.heat_pump {
            h.heat_pump = Some(Reading::new(v, now));
        }
        if let Some(v) = b.sg_ready {
            h.sg_ready = Some(Reading::new(v, now));
        }
        if let Some(v) = b.presence {
            h.presence = Some(Reading::new(v, now));
        }
        if let Some(v) = b.hashprice_per_th_day {
            h.hashprice_per_th_day = Some(Reading::new(v, now));
        }
    })
    .await?;
    Ok(Json(house.at(now)))
}

/// One schedule entry as the API spells it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EntryBody {
    /// "HH:MM", UTC.
    at: String,
    setpoint_c: f64,
    /// "mon".."sun"; every day when absent.
    #[serde(default)]
    days: Option<Vec<String>>,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_entry(i: usize, e: &EntryBody) -> Result<ScheduleEntry, String> {
    let bad_time = || format!("entry {i}: {:?} is not a time of day HH:MM", e.at);
    let (h, m) = e.at.split_once(':').ok_or_else(bad_time)?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| bad_time())?,
        m.parse().map_err(|_| bad_time())?,
    );
    if h > 23 || m > 59 || e.at.len() != 5 {
        return Err(bad_time());
    }
    let days = match &e.days {
        None => ALL_DAYS,
        Some(list) => {
            let mut mask = 0u8;
            for d in list {
                let k = DAY_NAMES
                    .iter()
                    .position(|n| n == d)
                    .ok_or_else(|| format!("entry {i}: {d:?} is not one of {DAY_NAMES:?}"))?;
                mask |= 1 << k;
            }
            mask
        }
    };
    Ok(ScheduleEntry {
        days,
        at_s: h * 3600 + m * 60,
        setpoint_c: Celsius(e.setpoint_c),
    })
}

fn entry_view(e: &ScheduleEntry) -> EntryBody {
    EntryBody {
        at: format!("{:02}:{:02}", e.at_s / 3600, (e.at_s % 3600) / 60),
        setpoint_c: e.setpoint_c.get(),
        days: (e.days != ALL_DAYS).then(|| {
            DAY_NAMES
                .iter()
                .enumerate()
                .filter(|(k, _)| e.days & (1 << k) != 0)
                .map(|(_, n)| n.to_string())
                .collect()
        }),
    }
}

fn known_zone(shared: &Shared, id: &str) -> Result<(), ApiError> {
    match lock(&shared.appliance).settings(id) {
        Some(_) => Ok(()),
        None => Err(hearth_control::SettingError::UnknownZone(id.to_string()).into()),
    }
}

#[utoipa::path(get, path = "/api/v1/zones/{id}/schedule", tag = "zones",
    params(("id" = String, Path, description = "zone id")),
    responses((status = 200, body = Vec<EntryBody>), (status = 404, description = "unknown zone")))]
async fn get_schedule(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Vec<EntryBody>>, ApiError> {
    known_zone(&shared, &id)?;
    let c = lock(&shared.control);
    Ok(Json(
        c.settings
            .schedules
            .get(&id)
            .map(|v| v.iter().map(entry_view).collect())
            .unwrap_or_default(),
    ))
}

/// An empty list removes the schedule.
#[utoipa::path(put, path = "/api/v1/zones/{id}/schedule", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = Vec<EntryBody>,
    responses((status = 200, body = Vec<EntryBody>),
        (status = 400, description = "bad time, day, setpoint outside the zone's limits or too many entries; nothing changed"),
        (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_schedule(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<Vec<EntryBody>>, JsonRejection>,
) -> Result<Json<Vec<EntryBody>>, ApiError> {
    let Json(entries) = body?;
    known_zone(&shared, &id)?;
    if entries.len() > MAX_SCHEDULE_ENTRIES {
        return Err(bad(format!(
            "at most {MAX_SCHEDULE_ENTRIES} schedule entries"
        )));
    }
    let parsed = entries
        .iter()
        .enumerate()
        .map(|(i, e)| parse_entry(i, e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let schedule = if parsed.is_empty() {
        None
    } else {
        Some(validate_schedule(&lock(&shared.appliance), &id, parsed.clone()).map_err(bad)?)
    };
    let _gate = shared.settings_gate.lock().await;
    let mut next = lock(&shared.control).settings.clone();
    match &schedule {
        Some(s) => {
            next.schedules.insert(id.clone(), s.entries().to_vec());
        }
        None => {
            next.schedules.remove(&id);
        }
    }
    commit(&shared, next).await?;
    lock(&shared.appliance).set_schedule(&id, schedule.clone())?;
    tracing::info!(zone = %id, entries = parsed.len(), "schedule changed");
    Ok(Json(
        schedule
            .map(|s| s.entries().iter().map(entry_view).collect())
            .unwrap_or_default(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PresetBody {
    /// `comfort`, `eco`, `away`, `boost` or `frost`.
    preset: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PresetView {
    id: String,
    #[schema(value_type = String)]
    preset: Preset,
    setpoint_c: f64,
    #[schema(value_type = String)]
    mode: hearth_control::ZoneMode,
}

/// Picks a preset: its setpoint in heat mode, persisted like a setpoint
/// change before it is applied.
#[utoipa::path(put, path = "/api/v1/zones/{id}/preset", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = PresetBody,
    responses((status = 200, body = PresetView),
        (status = 400, description = "unknown preset or bad body; nothing changed"),
        (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_preset(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<PresetBody>, JsonRejection>,
) -> Result<Json<PresetView>, ApiError> {
    let Json(b) = body?;
    let (preset, applied) = set_preset(&shared, &id, &b.preset).await?;
    Ok(Json(PresetView {
        id,
        preset,
        setpoint_c: applied.setpoint_c.get(),
        mode: applied.mode,
    }))
}

/// The one path for picking a preset (HTTP and MQTT): checked, persisted
/// like a setpoint change, then applied.
pub(crate) async fn set_preset(
    shared: &Arc<Shared>,
    id: &str,
    name: &str,
) -> Result<(Preset, ZoneSettings), ApiError> {
    let preset = Preset::parse(name).ok_or_else(|| {
        bad(format!(
            "preset must be one of comfort, eco, away, boost, frost; got {name:?}"
        ))
    })?;
    let _gate = shared.settings_gate.lock().await;
    let settings: ZoneSettings = lock(&shared.appliance).preset_settings(id, preset)?;
    let now = shared.clock.now();
    let store = shared.store.clone();
    let zone = id.to_string();
    tokio::task::spawn_blocking(move || lock(&store).save_zone_settings(&zone, settings, now))
        .await
        .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("could not store the setting: {e}")))?;
    let applied = lock(&shared.appliance).apply_preset(id, preset, now)?;
    tracing::info!(zone = %id, preset = preset.as_str(), "preset picked");
    Ok((preset, applied))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PresetsView {
    #[schema(value_type = PresetTableDoc)]
    table: PresetTable,
    /// The preset whose setpoint the zone holds now, if any.
    #[schema(value_type = Option<String>)]
    active: Option<Preset>,
}

/// The preset table as the API spells it (`hearth_control::PresetTable`
/// serialises to exactly these keys); only for the document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct PresetTableDoc {
    comfort_c: f64,
    eco_c: f64,
    away_c: f64,
    boost_c: f64,
    frost_c: f64,
}

#[utoipa::path(get, path = "/api/v1/zones/{id}/presets", tag = "zones",
    params(("id" = String, Path, description = "zone id")),
    responses((status = 200, body = PresetsView), (status = 404, description = "unknown zone")))]
async fn get_presets(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<PresetsView>, ApiError> {
    let (table, active) = lock(&shared.appliance)
        .presets(&id)
        .ok_or_else(|| hearth_control::SettingError::UnknownZone(id.clone()))?;
    Ok(Json(PresetsView { table, active }))
}

#[utoipa::path(put, path = "/api/v1/zones/{id}/presets", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = PresetTableDoc,
    responses((status = 200, body = PresetTableDoc),
        (status = 400, description = "a value outside the zone's limits or below frost_c, or bad body; nothing changed"),
        (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_presets(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<PresetTable>, JsonRejection>,
) -> Result<Json<PresetTable>, ApiError> {
    let Json(table) = body?;
    let _gate = shared.settings_gate.lock().await;
    // Validate against the zone's limits before anything is stored.
    let limits = lock(&shared.appliance)
        .zone_configs()
        .find(|z| z.id.as_str() == id)
        .map(|z| z.limits)
        .ok_or_else(|| hearth_control::SettingError::UnknownZone(id.clone()))?;
    table.check(&limits).map_err(bad)?;
    let mut next = lock(&shared.control).settings.clone();
    next.presets.insert(id.clone(), table);
    commit(&shared, next).await?;
    lock(&shared.appliance).set_presets(&id, table)?;
    tracing::info!(zone = %id, "preset table changed");
    Ok(Json(table))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WindowBody {
    /// `null`: the zone has no contact (or it went silent). A value is
    /// forgotten after 2 h (send it again to keep it); an MQTT contact
    /// for the zone overrides it.
    open: Option<bool>,
}

#[utoipa::path(put, path = "/api/v1/zones/{id}/window", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = WindowBody,
    responses((status = 200, description = "`{id, open, max_age_s}`", body = Object),
        (status = 400, description = "bad body; nothing changed"), (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_window(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<WindowBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    known_zone(&shared, &id)?;
    let now = shared.clock.now();
    let zone = id.clone();
    // Kept with its time in the live inputs, so it expires after
    // API_WINDOW_MAX_AGE (also across a restart); applied at once too.
    change_house(&shared, move |h| match b.open {
        Some(open) => {
            h.zone_window_api.insert(zone, Reading::new(open, now));
        }
        None => {
            h.zone_window_api.remove(&zone);
        }
    })
    .await?;
    lock(&shared.appliance).set_window_contact(&id, b.open)?;
    Ok(Json(serde_json::json!({
        "id": id,
        "open": b.open,
        "max_age_s": hearth_control::house::API_WINDOW_MAX_AGE.as_secs(),
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ZoneTemperatureBody {
    /// -50..=100 °C, stamped with the time it arrived; `null` removes it.
    temperature_c: Option<f64>,
}

/// A zone temperature from outside the zone's own sensor. The zone controls
/// on it while it is no older than 300 s, then falls back to its own sensor
/// (and, if that is stale too, to the stale-sensor safety mode); send it
/// again to keep it fresh. Persisted before it is acknowledged.
#[utoipa::path(put, path = "/api/v1/zones/{id}/temperature", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = ZoneTemperatureBody,
    responses((status = 200, description = "`{id, temperature_c, max_age_s}`", body = Object),
        (status = 400, description = "temperature_c outside -50..=100 or bad body; nothing changed"),
        (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_zone_temperature(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<ZoneTemperatureBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    in_range("temperature_c", b.temperature_c, -50.0, 100.0)?;
    known_zone(&shared, &id)?;
    let now = shared.clock.now();
    let zone = id.clone();
    change_house(&shared, move |h| match b.temperature_c {
        Some(t) => {
            h.zone_temp_c.insert(zone, Reading::new(Celsius(t), now));
        }
        None => {
            h.zone_temp_c.remove(&zone);
        }
    })
    .await?;
    Ok(Json(serde_json::json!({
        "id": id,
        "temperature_c": b.temperature_c,
        "max_age_s": hearth_control::house::ZONE_TEMP_MAX_AGE.as_secs(),
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CirculationBody {
    /// `null`: unknown, which a pool treats as not running.
    running: Option<bool>,
}

#[utoipa::path(put, path = "/api/v1/zones/{id}/circulation", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = CirculationBody,
    responses((status = 200, description = "`{id, running}`", body = Object),
        (status = 400, description = "bad body; nothing changed"), (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_circulation(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<CirculationBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    lock(&shared.appliance).set_circulation(&id, b.running)?;
    Ok(Json(serde_json::json!({ "id": id, "running": b.running })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SimCirculationBody {
    /// The simulated pump's running contact.
    running: bool,
}

/// `--sim` only: sets a pool's simulated circulation line (what
/// `circulation_gpio` reads in simulation), as the pump's contact would
/// change on real hardware. The line overrides MQTT and the API, as a real
/// GPIO line does; this is the only way to change it while running.
#[utoipa::path(put, path = "/api/v1/sim/zones/{id}/circulation", tag = "zones",
    params(("id" = String, Path, description = "zone id")), request_body = SimCirculationBody,
    responses((status = 200, description = "`{id, running}`", body = Object),
        (status = 400, description = "bad body, or the zone has no simulated circulation line (not --sim, or no `circulation_gpio`); nothing changed"),
        (status = 404, description = "unknown zone")),
    security(("bearer" = []), ("session" = [])))]
async fn put_sim_circulation(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<SimCirculationBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    if !lock(&shared.appliance)
        .zone_configs()
        .any(|z| z.id.as_str() == id)
    {
        return Err(hearth_control::SettingError::UnknownZone(id).into());
    }
    let line = lock(&shared.control)
        .sim_circulation_line(&id)
        .ok_or_else(|| {
            bad(format!(
                "zone {id} has no simulated circulation line (only --sim with circulation_gpio \
             on a pool zone has one)"
            ))
        })?;
    line.set(b.running);
    tracing::info!(zone = %id, running = b.running, "simulated circulation line set");
    Ok(Json(serde_json::json!({ "id": id, "running": b.running })))
}
