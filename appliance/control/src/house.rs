//! What the house tells the appliance besides zone temperatures: outdoor
//! temperature, electricity price, PV surplus, the heat pump's state, the
//! SG-Ready input, window contacts, presence, hashprice. Each value carries
//! the time it was observed; a value older than its kind's limit is treated
//! as absent, so a dead MQTT feed degrades to the safe default instead of
//! steering heat on a stale number. Front ends (MQTT, HTTP, the simulator)
//! fill this struct; the policy only reads it.

use hearth_core::{Celsius, Timestamp, Watts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A value and when it was observed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading<T> {
    pub value: T,
    pub at: Timestamp,
}

impl<T: Copy> Reading<T> {
    pub fn new(value: T, at: Timestamp) -> Reading<T> {
        Reading { value, at }
    }

    /// The value if it is no older than `max_age` at `now` (a reading from
    /// the future, a clock step, counts as fresh).
    pub fn fresh(&self, now: Timestamp, max_age: Duration) -> Option<T> {
        (now.since(self.at) <= max_age).then_some(self.value)
    }
}

/// What the heat pump reports (or what its controller is known to do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeatPumpState {
    /// Available and heating (or ready to).
    Running,
    /// Available, not heating now.
    Idle,
    /// Not available: utility or anti-cycling lockout, defrost, fault.
    Lockout,
}

/// SG-Ready input states (the two contacts as the standard numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SgReady {
    /// State 1: the utility blocks electric heating.
    Block,
    /// State 2: normal operation.
    Normal,
    /// State 3: cheap or surplus power, heating more is recommended.
    Recommend,
    /// State 4: run now (definite start command).
    Force,
}

/// How old each kind of input may be before it is ignored.
pub const OUTDOOR_MAX_AGE: Duration = Duration::from_secs(30 * 60);
pub const PRICE_MAX_AGE: Duration = Duration::from_secs(2 * 3600);
pub const PV_MAX_AGE: Duration = Duration::from_secs(5 * 60);
pub const HEAT_PUMP_MAX_AGE: Duration = Duration::from_secs(10 * 60);
pub const SG_READY_MAX_AGE: Duration = Duration::from_secs(10 * 60);
pub const WINDOW_MAX_AGE: Duration = Duration::from_secs(30 * 60);
/// A zone's window contact set through the API (PUT
/// /api/v1/zones/{id}/window) older than this is forgotten: a contact left
/// "open" by a client that went away must not hold a zone cold forever.
/// Longer than MQTT's limit because a client typically sends it only when
/// the window changes; re-send it to keep it.
pub const API_WINDOW_MAX_AGE: Duration = Duration::from_secs(2 * 3600);
pub const PRESENCE_MAX_AGE: Duration = Duration::from_secs(12 * 3600);
pub const HASHPRICE_MAX_AGE: Duration = Duration::from_secs(48 * 3600);
/// A circulation-pump reading older than this counts as "not running".
pub const CIRCULATION_MAX_AGE: Duration = Duration::from_secs(30 * 60);
/// An external zone temperature (API, MQTT) older than this is ignored and
/// the zone falls back to its own sensor: the same limit as a driver
/// sensor's last good reading.
pub const ZONE_TEMP_MAX_AGE: Duration = Duration::from_secs(300);
/// How far ahead of `now` a zone temperature's stamp may be and still count
/// as taken now: the daemon's MQTT task stamps a value on receipt with the
/// clock the control tick read a moment before.
pub const CLOCK_SKEW_TOLERANCE: Duration = Duration::from_secs(5);

/// The age at `now` of a reading stamped `at`, or `None` when the stamp is
/// more than [`CLOCK_SKEW_TOLERANCE`] in the future: the clock stepped back
/// since (NTP correcting a Pi that booted without a clock), and how old the
/// value really is can no longer be told. The harsh campaign's seed 1000335
/// is why: a value stamped just before a 64,000 s step back looked fresh
/// for 18 hours, and a zone fed only by MQTT steered on it with the broker
/// gone.
pub fn known_age(now: Timestamp, at: Timestamp) -> Option<Duration> {
    if at.since(now) > CLOCK_SKEW_TOLERANCE {
        None
    } else {
        Some(now.since(at))
    }
}

/// Whether a zone temperature stamped `at` may steer its zone at `now`: its
/// age is known and at most [`ZONE_TEMP_MAX_AGE`]. (Unlike
/// [`Reading::fresh`], a stamp from the future is not fresh: a zone must
/// not steer on a value it cannot date.)
pub fn zone_temp_fresh(now: Timestamp, at: Timestamp) -> bool {
    known_age(now, at).is_some_and(|age| age <= ZONE_TEMP_MAX_AGE)
}

/// The latest value of every house input, each with its time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HouseInputs {
    pub outdoor_c: Option<Reading<Celsius>>,
    /// A live electricity price per kWh (overrides a fixed or
    /// time-of-use tariff while fresh).
    pub price_per_kwh: Option<Reading<f64>>,
    /// PV production minus the house's own load (export), W.
    pub pv_surplus_w: Option<Reading<Watts>>,
    pub heat_pump: Option<Reading<HeatPumpState>>,
    pub sg_ready: Option<Reading<SgReady>>,
    /// A window contact: true while open.
    pub window_open: Option<Reading<bool>>,
    /// Someone at home.
    pub presence: Option<Reading<bool>>,
    /// Mining revenue per TH/s per day.
    pub hashprice_per_th_day: Option<Reading<f64>>,
    /// Zone temperatures from outside the zone's own sensor (the API, an
    /// MQTT state topic), by zone id. Front ends only insert known zones,
    /// which bounds the map.
    #[serde(default)]
    pub zone_temp_c: BTreeMap<String, Reading<Celsius>>,
    /// Each zone's window contacts combined (open if any fresh one is
    /// open), by zone id.
    #[serde(default)]
    pub zone_window_open: BTreeMap<String, Reading<bool>>,
    /// A pool's circulation pump from a configured input (MQTT), by zone
    /// id; a stale one reads as not running.
    #[serde(default)]
    pub zone_circulation: BTreeMap<String, Reading<bool>>,
    /// A zone's window contact from the API, by zone id (front ends only
    /// insert known zones); MQTT contacts for the zone override it.
    #[serde(default)]
    pub zone_window_api: BTreeMap<String, Reading<bool>>,
}

/// The inputs as of one moment: stale values dropped, numbers checked.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct HouseNow {
    pub outdoor_c: Option<Celsius>,
    pub price_per_kwh: Option<f64>,
    pub pv_surplus_w: Option<Watts>,
    pub heat_pump: Option<HeatPumpState>,
    pub sg_ready: Option<SgReady>,
    pub window_open: Option<bool>,
    pub presence: Option<bool>,
    pub hashprice_per_th_day: Option<f64>,
}

impl HouseInputs {
    /// `zone`'s external temperature if it is fresh and finite at `now`.
    pub fn zone_temp_at(&self, zone: &str, now: Timestamp) -> Option<(Celsius, Timestamp)> {
        self.zone_temp_c
            .get(zone)
            .filter(|r| r.value.is_finite() && zone_temp_fresh(now, r.at))
            .map(|r| (r.value, r.at))
    }

    /// `zone`'s circulation pump if a fresh reading says so; a stale one
    /// is "not running".
    pub fn zone_circulation_at(&self, zone: &str, now: Timestamp) -> Option<bool> {
        self.zone_circulation
            .get(zone)
            .map(|r| r.fresh(now, CIRCULATION_MAX_AGE).unwrap_or(false))
    }

    /// `zone`'s window contact if it is fresh at `now`.
    pub fn zone_window_at(&self, zone: &str, now: Timestamp) -> Option<bool> {
        self.zone_window_open
            .get(zone)
            .and_then(|r| r.fresh(now, WINDOW_MAX_AGE))
    }

    /// `zone`'s API window contact if it is no older than
    /// [`API_WINDOW_MAX_AGE`] at `now`.
    pub fn zone_window_api_at(&self, zone: &str, now: Timestamp) -> Option<bool> {
        self.zone_window_api
            .get(zone)
            .and_then(|r| r.fresh(now, API_WINDOW_MAX_AGE))
    }

    /// What is fresh at `now`. Non-finite numbers count as absent.
    pub fn at(&self, now: Timestamp) -> HouseNow {
        let finite = |v: f64| v.is_finite().then_some(v);
        HouseNow {
            outdoor_c: self
                .outdoor_c
                .and_then(|r| r.fresh(now, OUTDOOR_MAX_AGE))
                .filter(|c| c.is_finite()),
            price_per_kwh: self
                .price_per_kwh
                .and_then(|r| r.fresh(now, PRICE_MAX_AGE))
                .and_then(finite),
            pv_surplus_w: self
                .pv_surplus_w
                .and_then(|r| r.fresh(now, PV_MAX_AGE))
                .filter(|w| w.is_finite()),
            heat_pump: self.heat_pump.and_then(|r| r.fresh(now, HEAT_PUMP_MAX_AGE)),
            sg_ready: self.sg_ready.and_then(|r| r.fresh(now, SG_READY_MAX_AGE)),
            window_open: self.window_open.and_then(|r| r.fresh(now, WINDOW_MAX_AGE)),
            presence: self.presence.and_then(|r| r.fresh(now, PRESENCE_MAX_AGE)),
            hashprice_per_th_day: self
                .hashprice_per_th_day
                .and_then(|r| r.fresh(now, HASHPRICE_MAX_AGE))
                .and_then(finite),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_window_contact_is_forgotten_after_two_hours() {
        let t0 = Timestamp::from_secs(1000);
        let mut inputs = HouseInputs::default();
        assert_eq!(inputs.zone_window_api_at("z", t0), None);
        inputs
            .zone_window_api
            .insert("z".into(), Reading::new(true, t0));
        assert_eq!(inputs.zone_window_api_at("z", t0), Some(true));
        let almost = Timestamp::from_secs(1000 + 2 * 3600 - 60);
        assert_eq!(inputs.zone_window_api_at("z", almost), Some(true));
        let later = Timestamp::from_secs(1000 + 2 * 3600 + 60);
        assert_eq!(inputs.zone_window_api_at("z", later), None);
        assert_eq!(inputs.zone_window_api_at("other", t0), None);
        // Longer than an MQTT contact's limit, which a sensor refreshes.
        assert!(API_WINDOW_MAX_AGE > WINDOW_MAX_AGE);
    }

    #[test]
    fn stale_and_garbage_values_read_as_absent() {
        let t0 = Timestamp::from_secs(1000);
        let inputs = HouseInputs {
            outdoor_c: Some(Reading::new(Celsius(-3.0), t0)),
            pv_surplus_w: Some(Reading::new(Watts(1200.0), t0)),
            price_per_kwh: Some(Reading::new(f64::NAN, t0)),
            sg_ready: Some(Reading::new(SgReady::Block, t0)),
            ..HouseInputs::default()
        };
        let now = inputs.at(t0);
        assert_eq!(now.outdoor_c, Some(Celsius(-3.0)));
        assert_eq!(now.pv_surplus_w, Some(Watts(1200.0)));
        assert_eq!(now.price_per_kwh, None, "NaN price is no price");
        assert_eq!(now.sg_ready, Some(SgReady::Block));
        // Six minutes on, PV (5 min) is stale, the outdoor reading (30 min) is not.
        let later = inputs.at(Timestamp::from_secs(1000 + 360));
        assert_eq!(later.pv_surplus_w, None);
        assert_eq!(later.outdoor_c, Some(Celsius(-3.0)));
        assert_eq!(later.sg_ready, Some(SgReady::Block));
        let much_later = inputs.at(Timestamp::from_secs(1000 + 3600));
        assert_eq!(much_later.outdoor_c, None);
        assert_eq!(much_later.sg_ready, None);
    }

    #[test]
    fn zone_inputs_go_stale_per_zone() {
        let t0 = Timestamp::from_secs(1000);
        let mut inputs = HouseInputs::default();
        inputs
            .zone_temp_c
            .insert("office".into(), Reading::new(Celsius(19.5), t0));
        inputs
            .zone_temp_c
            .insert("attic".into(), Reading::new(Celsius(f64::NAN), t0));
        inputs
            .zone_window_open
            .insert("office".into(), Reading::new(true, t0));
        assert_eq!(inputs.zone_temp_at("office", t0), Some((Celsius(19.5), t0)));
        assert_eq!(inputs.zone_temp_at("attic", t0), None, "NaN is no reading");
        assert_eq!(inputs.zone_temp_at("living", t0), None);
        assert_eq!(inputs.zone_window_at("office", t0), Some(true));
        assert_eq!(inputs.zone_window_at("living", t0), None);
        let later = Timestamp::from_secs(1000 + 301);
        assert_eq!(inputs.zone_temp_at("office", later), None);
        assert_eq!(inputs.zone_window_at("office", later), Some(true));
        // The clock stepped back ten minutes: the value cannot be dated.
        let stepped_back = Timestamp::from_secs(400);
        assert_eq!(inputs.zone_temp_at("office", stepped_back), None);
    }

    #[test]
    fn a_stamp_from_the_future_has_no_known_age() {
        let t = Timestamp::from_secs;
        assert_eq!(known_age(t(1000), t(990)), Some(Duration::from_secs(10)));
        // The tick read the clock a moment before the MQTT task stamped.
        assert_eq!(known_age(t(1000), t(1005)), Some(Duration::ZERO));
        assert_eq!(known_age(t(1000), t(1006)), None);
        assert!(zone_temp_fresh(t(1300), t(1000)));
        assert!(!zone_temp_fresh(t(1301), t(1000)));
        assert!(zone_temp_fresh(t(1000), t(1005)));
        assert!(!zone_temp_fresh(t(1000), t(64_000)), "clock stepped back");
    }
}
