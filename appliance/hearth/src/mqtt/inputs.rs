//! Inputs from the house, read from configured MQTT state topics (plain
//! values as Home Assistant's MQTT statestream publishes them, or a key of a
//! JSON payload): outdoor temperature, another sensor's zone temperature,
//! electricity price, PV surplus, heat-pump state, SG Ready, window contacts
//! and presence. Each reading keeps its arrival time; [`HouseInputs::snapshot`]
//! gives plain values where stale or missing ones are replaced by the safe
//! fallback. Pure: `now` is an argument.

use super::config::{InputTopic, InputsConfig};
use hearth_core::{Celsius, Timestamp, Watts};
use std::collections::BTreeMap;

/// Payloads longer than this are refused unread.
pub const MAX_INPUT_BYTES: usize = 4096;

/// SG Ready, written relay 1 then relay 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SgReady {
    /// `10`, state 1: utility lock.
    Blocked,
    /// `00`, state 2.
    Normal,
    /// `01`, state 3: switching on recommended (surplus).
    Recommended,
    /// `11`, state 4: forced on.
    Forced,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("payload longer than {MAX_INPUT_BYTES} bytes")]
    TooLong,
    #[error("payload is not UTF-8")]
    NotText,
    #[error("payload is not JSON with key {0:?}")]
    MissingKey(String),
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0:?} is out of range")]
    OutOfRange(String),
    #[error("{0:?} is not on/off")]
    NotOnOff(String),
    #[error("{0:?} is not an SG Ready state (10, 00, 01, 11 or 1..4)")]
    NotSgReady(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Outdoor,
    Price,
    PvSurplus,
    HeatPump,
    SgReady,
    Presence,
    ZoneTemp(String),
    Window(String, usize),
    Circulation(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Number(f64),
    Flag(bool),
    Sg(SgReady),
}

/// One value and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading<T> {
    pub value: T,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
struct Route {
    slot: Slot,
    json_key: Option<String>,
    max_age_ms: u64,
}

/// The latest readings, keyed by what they mean (see `key`).
#[derive(Debug, Clone)]
pub struct HouseInputs {
    routes: BTreeMap<String, Vec<Route>>,
    readings: BTreeMap<String, Reading<Value>>,
}

/// A reading's name, as `last_seen` and `HouseSnapshot::stale` show it.
fn key(slot: &Slot) -> String {
    match slot {
        Slot::Outdoor => "outdoor".into(),
        Slot::Price => "price".into(),
        Slot::PvSurplus => "pv".into(),
        Slot::HeatPump => "heat_pump".into(),
        Slot::SgReady => "sg_ready".into(),
        Slot::Presence => "presence".into(),
        Slot::ZoneTemp(z) => format!("zone/{z}/temperature"),
        Slot::Window(z, i) => format!("zone/{z}/window/{i}"),
        Slot::Circulation(z) => format!("zone/{z}/circulation"),
    }
}

/// Plain values for control, stale ones replaced by their safe fallback.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HouseSnapshot {
    /// `None` when missing or stale: control uses its own outdoor estimate.
    pub outdoor_temp_c: Option<Celsius>,
    /// `None` when missing or stale: no price-driven decisions.
    pub electricity_price_per_kwh: Option<f64>,
    /// 0 when missing or stale: no surplus is assumed.
    pub pv_surplus_w: Watts,
    /// `None` when missing or stale.
    pub heat_pump_running: Option<bool>,
    /// `Normal` when missing or stale.
    pub sg_ready: SgReady,
    /// `true` (someone home, keep comfort) when missing or stale.
    pub presence: bool,
    pub zones: BTreeMap<String, ZoneSnapshot>,
    /// Configured inputs that are missing or stale right now.
    pub stale: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZoneSnapshot {
    /// `None` when missing or stale: the zone's own thermometer rules.
    pub temperature_c: Option<Celsius>,
    /// `false` when a contact is missing or stale: heat comes first, and a
    /// dead contact sensor must not switch the heating off for good.
    pub window_open: bool,
}

fn parse_number(text: &str) -> Result<f64, InputError> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| InputError::NotANumber(text.to_string()))
}

fn parse_flag(text: &str) -> Result<bool, InputError> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "open" | "home" | "detected" | "yes" => Ok(true),
        "off" | "false" | "0" | "closed" | "not_home" | "away" | "clear" | "no" => Ok(false),
        _ => Err(InputError::NotOnOff(text.to_string())),
    }
}

fn parse_sg(text: &str) -> Result<SgReady, InputError> {
    match text {
        "10" | "1" => Ok(SgReady::Blocked),
        "00" | "2" => Ok(SgReady::Normal),
        "01" | "3" => Ok(SgReady::Recommended),
        "11" | "4" => Ok(SgReady::Forced),
        _ => Err(InputError::NotSgReady(text.to_string())),
    }
}

fn in_range(v: f64, lo: f64, hi: f64) -> Result<f64, InputError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(InputError::OutOfRange(v.to_string()))
    }
}

impl HouseInputs {
    pub fn new(config: &InputsConfig) -> HouseInputs {
        let mut routes: BTreeMap<String, Vec<Route>> = BTreeMap::new();
        let default_ms = config.max_age_s * 1000;
        let mut add = |input: &InputTopic, slot: Slot| {
            routes.entry(input.topic.clone()).or_default().push(Route {
                slot,
                json_key: input.json_key.clone(),
                max_age_ms: input.max_age_s.map_or(default_ms, |s| s * 1000),
            });
        };
        for (input, slot) in [
            (&config.outdoor_temp_c, Slot::Outdoor),
            (&config.electricity_price_per_kwh, Slot::Price),
            (&config.pv_surplus_w, Slot::PvSurplus),
            (&config.heat_pump_running, Slot::HeatPump),
            (&config.sg_ready, Slot::SgReady),
            (&config.presence, Slot::Presence),
        ] {
            if let Some(input) = input {
                add(input, slot);
            }
        }
        for (zone, z) in &config.zone {
            if let Some(t) = &z.temperature_c {
                add(t, Slot::ZoneTemp(zone.clone()));
            }
            for (i, w) in z.windows.iter().enumerate() {
                add(w, Slot::Window(zone.clone(), i));
            }
            if let Some(c) = &z.circulation {
                add(c, Slot::Circulation(zone.clone()));
            }
        }
        HouseInputs {
            routes,
            readings: BTreeMap::new(),
        }
    }

    /// Topics to subscribe to.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    /// Takes one message. `Ok(false)`: not an input topic. Home Assistant's
    /// `unavailable`/`unknown` clear the reading (it goes stale at once). A
    /// bad payload changes nothing and says why.
    pub fn handle(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<bool, InputError> {
        let Some(routes) = self.routes.get(topic) else {
            return Ok(false);
        };
        if payload.len() > MAX_INPUT_BYTES {
            return Err(InputError::TooLong);
        }
        let text = std::str::from_utf8(payload).map_err(|_| InputError::NotText)?;
        // Parse everything first, then store: one bad route changes nothing.
        let mut parsed = Vec::new();
        for route in routes {
            let raw = match &route.json_key {
                None => text.trim().to_string(),
                Some(k) => {
                    let doc: serde_json::Value = serde_json::from_str(text)
                        .map_err(|_| InputError::MissingKey(k.clone()))?;
                    match doc.get(k) {
                        Some(serde_json::Value::String(s)) => s.trim().to_string(),
                        Some(serde_json::Value::Bool(b)) => b.to_string(),
                        Some(serde_json::Value::Number(n)) => n.to_string(),
                        Some(serde_json::Value::Null) => "unknown".into(),
                        _ => return Err(InputError::MissingKey(k.clone())),
                    }
                }
            };
            if raw == "unavailable" || raw == "unknown" || raw.is_empty() {
                parsed.push((key(&route.slot), None));
                continue;
            }
            let value = match &route.slot {
                Slot::Outdoor | Slot::ZoneTemp(_) => {
                    Value::Number(in_range(parse_number(&raw)?, -60.0, 100.0)?)
                }
                Slot::Price => Value::Number(in_range(parse_number(&raw)?, -100.0, 100.0)?),
                Slot::PvSurplus => Value::Number(in_range(parse_number(&raw)?, -1e6, 1e6)?),
                Slot::HeatPump | Slot::Presence | Slot::Window(..) | Slot::Circulation(_) => {
                    Value::Flag(parse_flag(&raw)?)
                }
                Slot::SgReady => Value::Sg(parse_sg(&raw)?),
            };
            parsed.push((key(&route.slot), Some(value)));
        }
        for (k, v) in parsed {
            match v {
                Some(v) => {
                    self.readings.insert(k, Reading { value: v, at: now });
                }
                None => {
                    self.readings.remove(&k);
                }
            }
        }
        Ok(true)
    }

    fn fresh(&self, slot: &Slot, now: Timestamp) -> Option<Value> {
        let k = key(slot);
        let max_age_ms = self
            .routes
            .values()
            .flatten()
            .find(|r| key(&r.slot) == k)?
            .max_age_ms;
        let r = self.readings.get(&k)?;
        (now.as_millis().saturating_sub(r.at.as_millis()) <= max_age_ms).then_some(r.value)
    }

    /// The newest reading of `slot` if it is configured and fresh by this
    /// input's own `max_age_s`, with its arrival time.
    fn fresh_reading(&self, slot: &Slot, now: Timestamp) -> Option<Reading<Value>> {
        let value = self.fresh(slot, now)?;
        let at = self.readings.get(&key(slot))?.at;
        Some(Reading { value, at })
    }

    fn configured(&self, pred: impl Fn(&Slot) -> bool) -> bool {
        self.routes.values().flatten().any(|r| pred(&r.slot))
    }

    /// Writes what MQTT knows into the control policy's house inputs. Only
    /// inputs configured under `[mqtt.inputs]` are touched (the rest stay
    /// with the API): a fresh reading goes in with its *arrival* time, so the
    /// policy's own age limits apply on top of `max_age_s`; a stale, cleared
    /// (`unavailable`) or never-seen one is removed, which the policy reads
    /// as unknown and falls back on (no SG block, no surplus, no live
    /// price, the tariff; presence assumed). Window contacts of all zones
    /// become the house's one `window_open` (open if any fresh one is open).
    /// Each zone's external temperature topic (fresh) and its window
    /// contacts, combined per zone, go to `zone_temp_c` and
    /// `zone_window_open`, which control hands to that zone alone.
    pub fn feed_policy(&self, now: Timestamp, house: &mut hearth_control::HouseInputs) {
        use hearth_control::{HeatPumpState, Reading as PolicyReading, SgReady as PolicySg};
        let number = |slot: &Slot| match self.fresh_reading(slot, now) {
            Some(Reading {
                value: Value::Number(n),
                at,
            }) => Some((n, at)),
            _ => None,
        };
        let flag = |slot: &Slot| match self.fresh_reading(slot, now) {
            Some(Reading {
                value: Value::Flag(b),
                at,
            }) => Some((b, at)),
            _ => None,
        };
        if self.configured(|s| *s == Slot::Outdoor) {
            house.outdoor_c =
                number(&Slot::Outdoor).map(|(n, at)| PolicyReading::new(Celsius(n), at));
        }
        if self.configured(|s| *s == Slot::Price) {
            house.price_per_kwh = number(&Slot::Price).map(|(n, at)| PolicyReading::new(n, at));
        }
        if self.configured(|s| *s == Slot::PvSurplus) {
            // Import (negative surplus) is no surplus.
            house.pv_surplus_w =
                number(&Slot::PvSurplus).map(|(n, at)| PolicyReading::new(Watts(n.max(0.0)), at));
        }
        if self.configured(|s| *s == Slot::HeatPump) {
            // An on/off topic cannot say "lockout"; off is idle.
            house.heat_pump = flag(&Slot::HeatPump).map(|(on, at)| {
                let state = if on {
                    HeatPumpState::Running
                } else {
                    HeatPumpState::Idle
                };
                PolicyReading::new(state, at)
            });
        }
        if self.configured(|s| *s == Slot::SgReady) {
            house.sg_ready = match self.fresh_reading(&Slot::SgReady, now) {
                Some(Reading {
                    value: Value::Sg(sg),
                    at,
                }) => Some(PolicyReading::new(
                    match sg {
                        SgReady::Blocked => PolicySg::Block,
                        SgReady::Normal => PolicySg::Normal,
                        SgReady::Recommended => PolicySg::Recommend,
                        SgReady::Forced => PolicySg::Force,
                    },
                    at,
                )),
                _ => None,
            };
        }
        if self.configured(|s| *s == Slot::Presence) {
            house.presence = flag(&Slot::Presence).map(|(b, at)| PolicyReading::new(b, at));
        }
        for slot in self.routes.values().flatten().map(|r| &r.slot) {
            if let Slot::ZoneTemp(zone) = slot {
                // Stale: left to age out on its own time (the API may
                // have set a fresher one meanwhile).
                if let Some((n, at)) = number(slot) {
                    house
                        .zone_temp_c
                        .insert(zone.clone(), PolicyReading::new(Celsius(n), at));
                }
            }
        }
        for slot in self.routes.values().flatten().map(|r| &r.slot) {
            if let Slot::Circulation(zone) = slot {
                // Stale or cleared: not running (no flow, no heat).
                let running = flag(slot).unwrap_or((false, now));
                house
                    .zone_circulation
                    .insert(zone.clone(), PolicyReading::new(running.0, running.1));
            }
        }
        let mut per_zone: std::collections::BTreeMap<&str, Vec<(bool, Timestamp)>> =
            std::collections::BTreeMap::new();
        for slot in self.routes.values().flatten().map(|r| &r.slot) {
            if let Slot::Window(zone, _) = slot {
                let contacts = per_zone.entry(zone.as_str()).or_default();
                contacts.extend(flag(slot));
            }
        }
        for (zone, fresh) in per_zone {
            if fresh.is_empty() {
                // No fresh contact: the zone falls back to its slope rule.
                house.zone_window_open.remove(zone);
            } else {
                let open = fresh.iter().any(|(b, _)| *b);
                let at = fresh.iter().map(|(_, at)| *at).min().unwrap_or(now);
                house
                    .zone_window_open
                    .insert(zone.to_string(), PolicyReading::new(open, at));
            }
        }
        let windows: Vec<&Slot> = self
            .routes
            .values()
            .flatten()
            .map(|r| &r.slot)
            .filter(|s| matches!(s, Slot::Window(..)))
            .collect();
        if !windows.is_empty() {
            let fresh: Vec<(bool, Timestamp)> = windows.iter().filter_map(|s| flag(s)).collect();
            house.window_open = if fresh.is_empty() {
                None
            } else {
                let open = fresh.iter().any(|(b, _)| *b);
                // The oldest contact's time: the combined value is no
                // fresher than its stalest part.
                let at = fresh.iter().map(|(_, at)| *at).min().unwrap_or(now);
                Some(PolicyReading::new(open, at))
            };
        }
    }

    /// When a configured input was last read, by name (for diagnostics).
    pub fn last_seen(&self) -> BTreeMap<String, Timestamp> {
        self.readings
            .iter()
            .map(|(k, r)| (k.clone(), r.at))
            .collect()
    }

    pub fn snapshot(&self, now: Timestamp) -> HouseSnapshot {
        let mut stale = Vec::new();
        let configured: Vec<&Slot> = self.routes.values().flatten().map(|r| &r.slot).collect();
        let mut get = |slot: &Slot| {
            let v = self.fresh(slot, now);
            if v.is_none() && configured.contains(&slot) {
                stale.push(key(slot));
            }
            v
        };
        let number = |v: Option<Value>| match v {
            Some(Value::Number(n)) => Some(n),
            _ => None,
        };
        let flag = |v: Option<Value>| match v {
            Some(Value::Flag(b)) => Some(b),
            _ => None,
        };
        let outdoor_temp_c = number(get(&Slot::Outdoor)).map(Celsius);
        let electricity_price_per_kwh = number(get(&Slot::Price));
        let pv_surplus_w = Watts(number(get(&Slot::PvSurplus)).unwrap_or(0.0).max(0.0));
        let heat_pump_running = flag(get(&Slot::HeatPump));
        let sg_ready = match get(&Slot::SgReady) {
            Some(Value::Sg(s)) => s,
            _ => SgReady::Normal,
        };
        let presence = flag(get(&Slot::Presence)).unwrap_or(true);
        let mut zones: BTreeMap<String, ZoneSnapshot> = BTreeMap::new();
        for slot in &configured {
            match slot {
                Slot::ZoneTemp(z) => {
                    let t = number(get(slot)).map(Celsius);
                    zones
                        .entry(z.clone())
                        .or_insert(ZoneSnapshot {
                            temperature_c: None,
                            window_open: false,
                        })
                        .temperature_c = t;
                }
                Slot::Window(z, _) => {
                    let open = flag(get(slot)).unwrap_or(false);
                    let e = zones.entry(z.clone()).or_insert(ZoneSnapshot {
                        temperature_c: None,
                        window_open: false,
                    });
                    e.window_open |= open;
                }
                _ => {}
            }
        }
        stale.sort();
        stale.dedup();
        HouseSnapshot {
            outdoor_temp_c,
            electricity_price_per_kwh,
            pv_surplus_w,
            heat_pump_running,
            sg_ready,
            presence,
            zones,
            stale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> InputsConfig {
        toml::from_str(
            r#"
            max_age_s = 600
            outdoor_temp_c = { topic = "homeassistant/sensor/outdoor_temperature/state" }
            electricity_price_per_kwh = { topic = "tibber/price", json_key = "total" }
            pv_surplus_w = { topic = "pv/surplus", max_age_s = 60 }
            heat_pump_running = { topic = "hp/running" }
            sg_ready = { topic = "hp/sg" }
            presence = { topic = "homeassistant/person/anna/state" }
            [zone.office]
            temperature_c = { topic = "zigbee/office", json_key = "temperature" }
            windows = [{ topic = "w/1" }, { topic = "w/2" }]
            "#,
        )
        .expect("parses")
    }

    fn at(s: u64) -> Timestamp {
        Timestamp(s * 1000)
    }

    #[test]
    fn nothing_read_yet_means_safe_fallbacks_and_everything_stale() {
        let h = HouseInputs::new(&config());
        let s = h.snapshot(at(0));
        assert_eq!(s.outdoor_temp_c, None);
        assert_eq!(s.pv_surplus_w, Watts(0.0));
        assert_eq!(s.sg_ready, SgReady::Normal);
        assert!(s.presence);
        assert_eq!(
            s.zones["office"],
            ZoneSnapshot {
                temperature_c: None,
                window_open: false
            }
        );
        assert_eq!(s.stale.len(), 9, "{:?}", s.stale);
        assert_eq!(h.topics().count(), 9);
    }

    #[test]
    fn values_are_parsed_and_go_stale_on_their_own_limit() {
        let mut h = HouseInputs::new(&config());
        let msgs: [(&str, &[u8]); 9] = [
            ("homeassistant/sensor/outdoor_temperature/state", b"-3.5"),
            ("tibber/price", br#"{"total": 0.31, "level": "cheap"}"#),
            ("pv/surplus", b"1200"),
            ("hp/running", b"on"),
            ("hp/sg", b"01"),
            ("homeassistant/person/anna/state", b"not_home"),
            ("zigbee/office", br#"{"temperature": 19.2, "battery": 80}"#),
            ("w/1", b"off"),
            ("w/2", b"on"),
        ];
        for (topic, payload) in msgs {
            assert_eq!(h.handle(topic, payload, at(100)), Ok(true), "{topic}");
        }
        let s = h.snapshot(at(130));
        assert_eq!(s.outdoor_temp_c, Some(Celsius(-3.5)));
        assert_eq!(s.electricity_price_per_kwh, Some(0.31));
        assert_eq!(s.pv_surplus_w, Watts(1200.0));
        assert_eq!(s.heat_pump_running, Some(true));
        assert_eq!(s.sg_ready, SgReady::Recommended);
        assert!(!s.presence);
        assert_eq!(
            s.zones["office"],
            ZoneSnapshot {
                temperature_c: Some(Celsius(19.2)),
                window_open: true
            }
        );
        assert!(s.stale.is_empty(), "{:?}", s.stale);
        // PV has a 60 s limit, the rest 600 s.
        let s = h.snapshot(at(200));
        assert_eq!(s.pv_surplus_w, Watts(0.0));
        assert_eq!(s.stale, vec!["pv".to_string()]);
        assert_eq!(s.outdoor_temp_c, Some(Celsius(-3.5)));
        let s = h.snapshot(at(701));
        assert_eq!(s.outdoor_temp_c, None);
        assert!(s.presence, "stale presence falls back to home");
        assert!(
            !s.zones["office"].window_open,
            "stale contacts fall back to closed"
        );
        assert_eq!(s.sg_ready, SgReady::Normal);
    }

    #[test]
    fn bad_payloads_change_nothing() {
        let mut h = HouseInputs::new(&config());
        let outdoor = "homeassistant/sensor/outdoor_temperature/state";
        assert_eq!(h.handle(outdoor, b"4", at(0)), Ok(true));
        for bad in [&b"warm"[..], b"NaN", b"400", &[0xff, 0x00]] {
            assert!(h.handle(outdoor, bad, at(1)).is_err());
        }
        assert!(h.handle("hp/sg", b"7", at(1)).is_err());
        assert!(h.handle("w/1", b"ajar", at(1)).is_err());
        assert!(
            h.handle("tibber/price", b"0.3", at(1)).is_err(),
            "needs JSON with the key"
        );
        assert!(h
            .handle(outdoor, &[b'1'; MAX_INPUT_BYTES + 1], at(1))
            .is_err());
        let s = h.snapshot(at(2));
        assert_eq!(s.outdoor_temp_c, Some(Celsius(4.0)));
        assert_eq!(h.last_seen()["outdoor"], at(0));
        assert_eq!(h.handle("not/configured", b"1", at(1)), Ok(false));
        // Home Assistant's own "unavailable" clears the reading.
        assert_eq!(h.handle(outdoor, b"unavailable", at(3)), Ok(true));
        assert_eq!(h.snapshot(at(3)).outdoor_temp_c, None);
    }

    #[test]
    fn the_policy_gets_fresh_inputs_with_their_arrival_time_and_loses_stale_ones() {
        let mut h = HouseInputs::new(&config());
        let mut house = hearth_control::HouseInputs {
            // Fed by the API and not configured for MQTT: left alone.
            hashprice_per_th_day: Some(hearth_control::Reading::new(0.07, at(0))),
            ..Default::default()
        };
        h.handle("hp/sg", b"10", at(10)).expect("sg");
        h.handle("pv/surplus", b"-300", at(10)).expect("pv");
        h.handle("hp/running", b"off", at(10)).expect("hp");
        h.handle("w/2", b"open", at(10)).expect("window");
        h.feed_policy(at(20), &mut house);
        assert_eq!(
            house.sg_ready,
            Some(hearth_control::Reading::new(
                hearth_control::SgReady::Block,
                at(10)
            ))
        );
        assert_eq!(house.pv_surplus_w.map(|r| r.value), Some(Watts(0.0)));
        assert_eq!(
            house.heat_pump.map(|r| r.value),
            Some(hearth_control::HeatPumpState::Idle)
        );
        assert_eq!(house.window_open.map(|r| r.value), Some(true));
        assert_eq!(house.outdoor_c, None, "never read");
        assert_eq!(house.hashprice_per_th_day.map(|r| r.value), Some(0.07));
        // PV's own max_age_s is 60: gone at 71 s, the rest stays.
        h.feed_policy(at(71), &mut house);
        assert_eq!(house.pv_surplus_w, None);
        assert!(house.sg_ready.is_some());
        // Home Assistant says the SG Ready entity is unavailable: no block.
        h.handle("hp/sg", b"unavailable", at(72)).expect("clear");
        h.feed_policy(at(72), &mut house);
        assert_eq!(house.sg_ready, None);
        assert_eq!(house.hashprice_per_th_day.map(|r| r.value), Some(0.07));
    }

    #[test]
    fn zone_temperatures_and_window_contacts_reach_their_own_zone() {
        let cfg: InputsConfig = toml::from_str(
            r#"
            max_age_s = 600
            [zone.office]
            temperature_c = { topic = "zigbee/office", json_key = "temperature" }
            windows = [{ topic = "w/1" }, { topic = "w/2", max_age_s = 60 }]
            [zone.attic]
            windows = [{ topic = "w/attic" }]
            "#,
        )
        .expect("parses");
        let mut h = HouseInputs::new(&cfg);
        let mut house = hearth_control::HouseInputs::default();
        h.handle("zigbee/office", br#"{"temperature": 19.5}"#, at(10))
            .expect("temp");
        h.handle("w/1", b"closed", at(10)).expect("w1");
        h.handle("w/2", b"open", at(12)).expect("w2");
        h.handle("w/attic", b"closed", at(10)).expect("attic");
        h.feed_policy(at(20), &mut house);
        assert_eq!(
            house.zone_temp_c.get("office"),
            Some(&hearth_control::Reading::new(Celsius(19.5), at(10)))
        );
        assert_eq!(house.zone_temp_c.get("attic"), None);
        // The office's open contact opens the office only.
        assert_eq!(house.zone_window_at("office", at(20)), Some(true));
        assert_eq!(house.zone_window_at("attic", at(20)), Some(false));
        // w/2 goes stale at 72 s: the office is closed by w/1 alone.
        h.feed_policy(at(80), &mut house);
        assert_eq!(house.zone_window_at("office", at(80)), Some(false));
        // Everything stale at 611 s: no contact for either zone; the stale
        // temperature is left to age out (it already has: 300 s).
        h.feed_policy(at(611), &mut house);
        assert!(
            house.zone_window_open.is_empty(),
            "{:?}",
            house.zone_window_open
        );
        assert_eq!(house.zone_temp_at("office", at(611)), None);
    }
}
