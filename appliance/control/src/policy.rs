//! The heat-source policy: given the house inputs, which source carries the
//! heat (heat pump or miner), whether the miner may run at all, how far the
//! zones may be warmed above their setpoints to soak up cheap or free power,
//! and what to put on the SG-Ready outputs. Pure: inputs and `now` in, a
//! [`Decision`] out, and every decision names the rule that made it and why.
//!
//! Rules, in priority order, each switchable in [`PolicySettings`]:
//!
//! 1. **Utility block** (`obey_sg_block`): SG-Ready input state 1 stops the miner.
//! 2. **Heat pump unavailable** (`backup_below_balance_point`): lockout,
//!    defrost or fault reported: the miner carries the load.
//! 3. **Below the balance point** (same switch): the heat pump cannot cover
//!    the loss; the miner tops up at the full setpoint.
//! 4. **Economic switch** (`economic_switch`): the miner instead of the heat
//!    pump only while revenue per kWh >= price x (1 - 1/COP), i.e. while a kWh
//!    of miner heat costs no more than a kWh of heat-pump heat. Then the
//!    SG-Ready outputs hold the heat pump back (`drive_sg_ready`). Otherwise
//!    the miner is a backup stage a little below the setpoint. The verdict
//!    has hysteresis and a dwell ([`EconomicSwitch`]): the first decision
//!    is the plain formula; afterwards the miner takes over only once its
//!    margin (revenue minus that threshold) reaches
//!    `economic_hysteresis_per_kwh`, gives the load back as soon as the
//!    margin is negative, and neither change comes sooner than
//!    `economic_min_dwell_s` after the previous one. Without it the switch
//!    flaps: the miner's measured J/TH, and so its revenue per kWh, depends
//!    on the power its role asks of it.
//! 5. **PV soak** (`pv_soak`): surplus above `pv_start_w` for `pv_delay_s`
//!    starts soaking (warm up to `comfort_band_k` above the setpoints, power
//!    priced at the feed-in tariff); below `pv_stop_w` for the delay stops it.
//! 6. **Cheap hours** (`cheap_preheat`): a price at or below
//!    `cheap_price_per_kwh`, or SG-Ready state 3/4, warms within the band.
//!
//! A [`Strategy`] (`strategy` in the settings) names which of these rules
//! decide the miner's role; see its variants. Without one, the strategy is
//! `economic` while `economic_switch` is on and `heat_pump_first` when off
//! (what the settings meant before strategies had names).

use crate::house::{HeatPumpState, HouseNow, SgReady};
use hearth_core::{Celsius, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    pub obey_sg_block: bool,
    pub backup_below_balance_point: bool,
    /// Outdoor temperature below which the heat pump alone cannot hold the house.
    pub balance_point_c: f64,
    pub economic_switch: bool,
    pub drive_sg_ready: bool,
    /// While the heat pump carries the load, the miner aims this far below
    /// the setpoint, so it only steps in when the heat pump falls behind.
    pub backup_offset_k: f64,
    pub pv_soak: bool,
    pub pv_start_w: f64,
    pub pv_stop_w: f64,
    pub pv_delay_s: u32,
    pub cheap_preheat: bool,
    pub cheap_price_per_kwh: f64,
    /// How far above the setpoint soaking and cheap-hour pre-heating may go.
    pub comfort_band_k: f64,
    /// Used when no live figure of the boards' efficiency is known.
    pub miner_efficiency_j_per_th: f64,
    /// What exported PV earns per kWh: the price of soaking it instead.
    pub feed_in_per_kwh: f64,
    /// The economic switch hands the load to the miner only once its
    /// margin over `price x (1 - 1/COP)` reaches this (per kWh).
    pub economic_hysteresis_per_kwh: f64,
    /// The economic verdict changes at most once per this many seconds.
    pub economic_min_dwell_s: u32,
    /// The SG-Ready output relays change at most once per this many
    /// seconds (the standard's minimum switching time is about 60 s).
    pub sg_ready_min_switch_s: u32,
    /// The named rule set; `None` derives it from `economic_switch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
}

/// Which heat source goes first, as a named combination of the rules above.
/// Under every strategy the utility block stops the miner (if obeyed) and a
/// house without a heat pump is heated by the miner: heat comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Cheapest net heat: all rules. The miner replaces the heat pump while
    /// a kWh of its heat costs no more (economic switch, holding the heat
    /// pump back over SG-Ready), tops up below the balance point, carries
    /// the load during a lockout, soaks PV and cheap hours while it runs.
    Economic,
    /// The heat pump carries the load; the miner is a backup stage below the
    /// setpoint, tops up below the balance point and carries the load during
    /// a lockout. The economic switch is off. The miner also joins the heat
    /// pump (top-up, within the comfort band) while soaking PV surplus and,
    /// with `cheap_preheat`, while SG-Ready says recommend/force; a cheap
    /// grid price alone does not (it is cheaper still in the heat pump).
    HeatPumpFirst,
    /// The miner carries the load before the heat pump, whatever the
    /// economics; the SG-Ready outputs stay at normal so the heat pump's own
    /// thermostat backs it up. PV soak and cheap hours apply.
    MinerFirst,
    /// The miner heats only on PV surplus (the PV soak rule, priced at the
    /// feed-in tariff) and otherwise stays off, except where the heat pump
    /// needs it: during a lockout and, with `backup_below_balance_point`,
    /// below the balance point.
    PvOnly,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::Economic,
        Strategy::HeatPumpFirst,
        Strategy::MinerFirst,
        Strategy::PvOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Economic => "economic",
            Strategy::HeatPumpFirst => "heat_pump_first",
            Strategy::MinerFirst => "miner_first",
            Strategy::PvOnly => "pv_only",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// `settings` with this strategy, everything else kept. Picking
    /// `economic` or `heat_pump_first` also sets `economic_switch` to match,
    /// so the switch and the name never disagree.
    pub fn applied_to(self, settings: &PolicySettings) -> PolicySettings {
        let economic_switch = match self {
            Strategy::Economic => true,
            Strategy::HeatPumpFirst => false,
            Strategy::MinerFirst | Strategy::PvOnly => settings.economic_switch,
        };
        PolicySettings {
            strategy: Some(self),
            economic_switch,
            ..settings.clone()
        }
    }
}

impl Default for PolicySettings {
    fn default() -> PolicySettings {
        PolicySettings {
            obey_sg_block: true,
            backup_below_balance_point: true,
            balance_point_c: -5.0,
            economic_switch: true,
            drive_sg_ready: true,
            backup_offset_k: 0.3,
            pv_soak: true,
            pv_start_w: 500.0,
            pv_stop_w: 200.0,
            pv_delay_s: 300,
            cheap_preheat: false,
            cheap_price_per_kwh: 0.10,
            comfort_band_k: 1.0,
            miner_efficiency_j_per_th: 17.5,
            feed_in_per_kwh: 0.08,
            economic_hysteresis_per_kwh: 0.01,
            economic_min_dwell_s: 1800,
            sg_ready_min_switch_s: 300,
            strategy: None,
        }
    }
}

impl PolicySettings {
    /// The strategy in force: the named one, else the economic switch's.
    pub fn strategy(&self) -> Strategy {
        self.strategy.unwrap_or(if self.economic_switch {
            Strategy::Economic
        } else {
            Strategy::HeatPumpFirst
        })
    }

    /// Refuses settings that make no sense, naming the key.
    pub fn check(&self) -> Result<(), String> {
        let range = |k: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{k} must be between {lo} and {hi}, got {v}"))
            }
        };
        range("balance_point_c", self.balance_point_c, -40.0, 20.0)?;
        range("backup_offset_k", self.backup_offset_k, 0.0, 3.0)?;
        range("pv_start_w", self.pv_start_w, 0.0, 1e6)?;
        range("pv_stop_w", self.pv_stop_w, 0.0, self.pv_start_w)?;
        range("pv_delay_s", f64::from(self.pv_delay_s), 0.0, 86_400.0)?;
        range("cheap_price_per_kwh", self.cheap_price_per_kwh, -10.0, 10.0)?;
        range("comfort_band_k", self.comfort_band_k, 0.0, 5.0)?;
        range(
            "miner_efficiency_j_per_th",
            self.miner_efficiency_j_per_th,
            1.0,
            500.0,
        )?;
        range("feed_in_per_kwh", self.feed_in_per_kwh, -10.0, 10.0)?;
        range(
            "economic_hysteresis_per_kwh",
            self.economic_hysteresis_per_kwh,
            0.0,
            1.0,
        )?;
        range(
            "economic_min_dwell_s",
            f64::from(self.economic_min_dwell_s),
            0.0,
            86_400.0,
        )?;
        range(
            "sg_ready_min_switch_s",
            f64::from(self.sg_ready_min_switch_s),
            60.0,
            7_200.0,
        )?;
        if self.strategy == Some(Strategy::PvOnly) && !self.pv_soak {
            return Err("strategy pv_only needs pv_soak = true (it heats on PV only)".to_string());
        }
        Ok(())
    }
}

/// Electricity price when no live price is fresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Tariff {
    Fixed {
        per_kwh: f64,
    },
    /// Daily: from `at_s` seconds into the (UTC) day, `per_kwh`; wraps over
    /// midnight. Sorted by time.
    TimeOfUse {
        entries: Vec<(u32, f64)>,
    },
}

impl Tariff {
    pub fn at(&self, now: Timestamp) -> f64 {
        match self {
            Tariff::Fixed { per_kwh } => *per_kwh,
            Tariff::TimeOfUse { entries } => {
                let s = now.second_of_day();
                entries
                    .iter()
                    .rev()
                    .find(|(at, _)| u64::from(*at) <= s)
                    .or_else(|| entries.last())
                    .map_or(0.0, |(_, p)| *p)
            }
        }
    }
}

/// A heat pump's COP against outdoor temperature: `[outdoor °C, COP]`
/// points sorted by temperature, linear between, held beyond the ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopCurve(pub Vec<[f64; 2]>);

impl CopCurve {
    pub fn at(&self, outdoor: Celsius) -> f64 {
        let pts = &self.0;
        let x = outdoor.get();
        let Some(first) = pts.first() else {
            return 1.0;
        };
        if x <= first[0] {
            return first[1].max(1.0);
        }
        for w in pts.windows(2) {
            if let [a, b] = w {
                if x <= b[0] {
                    let f = (x - a[0]) / (b[0] - a[0]);
                    return (a[1] + f * (b[1] - a[1])).max(1.0);
                }
            }
        }
        pts.last().map_or(1.0, |p| p[1].max(1.0))
    }
}

/// Which source carries the heat, and what the miner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MinerRole {
    /// Not allowed to heat.
    Off,
    /// The heat pump carries the load; the miner steps in below
    /// `setpoint - backup_offset_k`.
    Backup,
    /// Both run: the miner makes up what the heat pump cannot.
    TopUp,
    /// The miner carries the load (no heat pump, it is held back or unavailable).
    Primary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    UtilityBlock,
    HeatPumpUnavailable,
    BelowBalancePoint,
    EconomicMiner,
    EconomicHeatPump,
    NoHeatPump,
    PvSoak,
    CheapHours,
    /// Strategy `miner_first`: the miner carries the load.
    MinerFirst,
    /// Strategy `pv_only` without a PV surplus: the miner stays off.
    PvOnly,
}

/// What the policy decided, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub miner: MinerRole,
    /// Setpoint offset the zones' miner control applies (negative for a
    /// backup stage, positive while soaking cheap or free power).
    pub setpoint_offset_k: f64,
    /// What to drive on the SG-Ready outputs (relays), if driving them is on.
    pub sg_ready_out: Option<SgReady>,
    /// The rule that set the miner's role.
    pub rule: Rule,
    /// One sentence per rule that applied, the deciding one first.
    pub why: Vec<String>,
    pub price_per_kwh: f64,
    pub revenue_per_kwh: f64,
    pub cop: Option<f64>,
}

impl Decision {
    /// The deciding rule's explanation.
    pub fn reason(&self) -> &str {
        self.why.first().map_or("", String::as_str)
    }
}

/// Relay states for an SG-Ready state: (contact 1, contact 2) closed.
pub fn sg_ready_relays(state: SgReady) -> (bool, bool) {
    match state {
        SgReady::Block => (true, false),
        SgReady::Normal => (false, false),
        SgReady::Recommend => (false, true),
        SgReady::Force => (true, true),
    }
}

/// Mining revenue per kWh of electricity: `hashprice * 1000 / 24 / (J/TH)`.
pub fn revenue_per_kwh(hashprice_per_th_day: f64, j_per_th: f64) -> f64 {
    if j_per_th.is_finite() && j_per_th > 0.0 && hashprice_per_th_day.is_finite() {
        hashprice_per_th_day * 1000.0 / 24.0 / j_per_th
    } else {
        0.0
    }
}

/// The policy's state: its settings and the PV soak's hysteresis timers.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub settings: PolicySettings,
    pub tariff: Tariff,
    /// `None` when the house has no heat pump.
    pub cop: Option<CopCurve>,
    /// Hashprice when no live value is fresh.
    pub default_hashprice_per_th_day: f64,
    soaking: bool,
    /// Since when the surplus has been on the other side of the threshold.
    crossing_since: Option<Timestamp>,
    economic: EconomicSwitch,
}

/// The economic switch's verdict with hysteresis and a minimum dwell.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EconomicSwitch {
    /// The verdict (`true`: the miner is the cheaper heat) and since when;
    /// `None` before the first decision or while the switch is not used.
    verdict: Option<(bool, Timestamp)>,
    /// Verdict changes so far.
    switches: u64,
}

/// What [`EconomicSwitch::step`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EconomicVerdict {
    pub miner_cheaper: bool,
    /// The plain formula says otherwise, but the band or the dwell holds it.
    pub held: Option<&'static str>,
}

impl EconomicSwitch {
    /// One step with `margin` = revenue − price × (1 − 1/COP) per kWh.
    pub fn step(
        &mut self,
        margin: f64,
        hysteresis: f64,
        min_dwell: Duration,
        now: Timestamp,
    ) -> EconomicVerdict {
        let plain = margin >= 0.0;
        let Some((current, since)) = self.verdict else {
            self.verdict = Some((plain, now));
            return EconomicVerdict {
                miner_cheaper: plain,
                held: None,
            };
        };
        let wants = if current {
            margin >= 0.0
        } else {
            margin >= hysteresis
        };
        if wants == current {
            let held = (plain != current).then_some("hysteresis band");
            return EconomicVerdict {
                miner_cheaper: current,
                held,
            };
        }
        if now.since(since) < min_dwell {
            return EconomicVerdict {
                miner_cheaper: current,
                held: Some("minimum dwell"),
            };
        }
        self.verdict = Some((wants, now));
        self.switches += 1;
        EconomicVerdict {
            miner_cheaper: wants,
            held: None,
        }
    }

    /// Forget the verdict (the switch is off or cannot be evaluated).
    pub fn reset(&mut self) {
        self.verdict = None;
    }

    pub fn switches(&self) -> u64 {
        self.switches
    }
}

impl Policy {
    pub fn new(
        settings: PolicySettings,
        tariff: Tariff,
        cop: Option<CopCurve>,
        default_hashprice_per_th_day: f64,
    ) -> Policy {
        Policy {
            settings,
            tariff,
            cop,
            default_hashprice_per_th_day,
            soaking: false,
            crossing_since: None,
            economic: EconomicSwitch::default(),
        }
    }

    /// Changes of the economic verdict so far.
    pub fn economic_switches(&self) -> u64 {
        self.economic.switches()
    }

    /// Whether these settings use the economic switch at all.
    fn economic_in_use(s: &PolicySettings) -> bool {
        s.strategy() == Strategy::Economic && s.economic_switch
    }

    /// Takes over `old`'s economic switch (its verdict, since when, and the
    /// switch count) when this policy replaces it after a settings change
    /// at `now`. Without this, any edit (a PV threshold, a price) reset the
    /// dwell and let the verdict flip at once. The verdict is dropped, so
    /// the next decision starts from the plain formula, only when the
    /// economic rule itself was switched off or on, or when the dwell was
    /// shortened to less than the verdict has already held (it is over
    /// under the new setting).
    pub fn keep_economic_state_from(&mut self, old: &Policy, now: Timestamp) {
        self.economic.switches = old.economic.switches;
        let (was_on, is_on) = (
            Policy::economic_in_use(&old.settings),
            Policy::economic_in_use(&self.settings),
        );
        if !(was_on && is_on) {
            return;
        }
        let Some((verdict, since)) = old.economic.verdict else {
            return;
        };
        let dwell_s = self.settings.economic_min_dwell_s;
        let shortened = dwell_s < old.settings.economic_min_dwell_s;
        if shortened && now.since(since) >= Duration::from_secs(u64::from(dwell_s)) {
            return;
        }
        self.economic.verdict = Some((verdict, since));
    }

    pub fn soaking(&self) -> bool {
        self.soaking
    }

    fn step_pv(&mut self, house: &HouseNow, now: Timestamp) {
        let s = &self.settings;
        let surplus = house.pv_surplus_w.map_or(0.0, |w| w.get());
        let crossing = if self.soaking {
            surplus < s.pv_stop_w
        } else {
            surplus >= s.pv_start_w
        };
        if !s.pv_soak || house.pv_surplus_w.is_none() {
            self.soaking = false;
            self.crossing_since = None;
            return;
        }
        if !crossing {
            self.crossing_since = None;
            return;
        }
        let since = *self.crossing_since.get_or_insert(now);
        if now.since(since) >= Duration::from_secs(u64::from(s.pv_delay_s)) {
            self.soaking = !self.soaking;
            self.crossing_since = None;
        }
    }

    /// One decision. `miner_j_per_th` is the boards' measured efficiency,
    /// when they are running.
    pub fn decide(
        &mut self,
        house: &HouseNow,
        now: Timestamp,
        miner_j_per_th: Option<f64>,
    ) -> Decision {
        self.step_pv(house, now);
        let s = self.settings.clone();
        let grid_price = house.price_per_kwh.unwrap_or_else(|| self.tariff.at(now));
        let price = if self.soaking {
            s.feed_in_per_kwh
        } else {
            grid_price
        };
        let j_per_th = miner_j_per_th
            .filter(|j| j.is_finite() && *j > 0.0)
            .unwrap_or(s.miner_efficiency_j_per_th);
        let hashprice = house
            .hashprice_per_th_day
            .unwrap_or(self.default_hashprice_per_th_day);
        let revenue = revenue_per_kwh(hashprice, j_per_th);
        let cop = match (&self.cop, house.outdoor_c) {
            (Some(c), Some(o)) => Some(c.at(o)),
            _ => None,
        };
        let strategy = s.strategy();
        let mut why = Vec::new();
        let mut sg_out = None;
        // Stepped every decision, whichever rule decides, so its dwell
        // counts real time and a higher rule does not reset it.
        let economic = match cop {
            Some(c) if strategy == Strategy::Economic && s.economic_switch => {
                Some(self.economic.step(
                    revenue - price * (1.0 - 1.0 / c),
                    s.economic_hysteresis_per_kwh,
                    Duration::from_secs(u64::from(s.economic_min_dwell_s)),
                    now,
                ))
            }
            _ => {
                self.economic.reset();
                None
            }
        };
        let economic_held = economic.and_then(|v| v.held);

        let (miner, rule) = if s.obey_sg_block && house.sg_ready == Some(SgReady::Block) {
            why.push("SG-Ready input: the utility blocks electric heating".to_string());
            (MinerRole::Off, Rule::UtilityBlock)
        } else if self.cop.is_none() {
            why.push("no heat pump: the miner is the heat source".to_string());
            (MinerRole::Primary, Rule::NoHeatPump)
        } else if s.backup_below_balance_point && house.heat_pump == Some(HeatPumpState::Lockout) {
            why.push("the heat pump reports a lockout: the miner carries the load".to_string());
            (MinerRole::Primary, Rule::HeatPumpUnavailable)
        } else if strategy == Strategy::MinerFirst {
            why.push(
                "strategy miner_first: the miner carries the load, the heat pump backs it up"
                    .to_string(),
            );
            (MinerRole::Primary, Rule::MinerFirst)
        } else if let (true, Some(cop)) = (economic.is_some_and(|v| v.miner_cheaper), cop) {
            let threshold = price * (1.0 - 1.0 / cop);
            why.push(match economic_held {
                None => format!(
                    "mining earns {revenue:.3}/kWh >= price {price:.3} x (1 - 1/COP {cop:.2}) = \
                     {threshold:.3}: the miner is the cheaper heat"
                ),
                Some(held) => format!(
                    "mining earns {revenue:.3}/kWh < price {price:.3} x (1 - 1/COP {cop:.2}) = \
                     {threshold:.3}, but the economic switch's {held} keeps the miner on"
                ),
            });
            if s.drive_sg_ready {
                sg_out = Some(SgReady::Block);
                why.push("SG-Ready outputs hold the heat pump back".to_string());
            }
            (MinerRole::Primary, Rule::EconomicMiner)
        } else if let (true, Some(o)) = (s.backup_below_balance_point, house.outdoor_c) {
            if o.get() < s.balance_point_c {
                why.push(format!(
                    "outdoor {:.1} °C is below the balance point {:.1} °C: the miner tops up",
                    o.get(),
                    s.balance_point_c
                ));
                (MinerRole::TopUp, Rule::BelowBalancePoint)
            } else {
                self.heat_pump_carries(house, strategy, revenue, price, cop, &mut why)
            }
        } else {
            self.heat_pump_carries(house, strategy, revenue, price, cop, &mut why)
        };
        if s.drive_sg_ready && sg_out.is_none() && self.cop.is_some() {
            sg_out = Some(SgReady::Normal);
        }

        let mut offset = match miner {
            MinerRole::Backup => -s.backup_offset_k,
            _ => 0.0,
        };
        let mut extra_rule = None;
        if miner != MinerRole::Off && miner != MinerRole::Backup {
            if self.soaking {
                offset = s.comfort_band_k;
                extra_rule = Some(Rule::PvSoak);
                why.push(format!(
                    "PV surplus: soaking up to {:.1} K above the setpoints",
                    s.comfort_band_k
                ));
            } else if s.cheap_preheat
                && (grid_price <= s.cheap_price_per_kwh
                    || matches!(house.sg_ready, Some(SgReady::Recommend | SgReady::Force)))
            {
                offset = s.comfort_band_k;
                extra_rule = Some(Rule::CheapHours);
                why.push(format!(
                    "cheap power ({grid_price:.3}/kWh or SG-Ready 3/4): pre-heating up to {:.1} K above",
                    s.comfort_band_k
                ));
            }
        }
        // The deciding rule for power is the soak or cheap-hours rule when it
        // moved the setpoint; put its sentence first.
        let rule = match extra_rule {
            Some(r) => {
                if let Some(last) = why.pop() {
                    why.insert(0, last);
                }
                r
            }
            None => rule,
        };
        if let (Some(held), Rule::EconomicHeatPump) = (economic_held, rule) {
            why.push(format!(
                "the economic switch's {held} keeps the heat pump on (switch threshold: margin \
                 >= {:.3}/kWh, at most one change per {} s)",
                s.economic_hysteresis_per_kwh, s.economic_min_dwell_s
            ));
        }
        Decision {
            miner,
            setpoint_offset_k: offset,
            sg_ready_out: sg_out,
            rule,
            why,
            price_per_kwh: price,
            revenue_per_kwh: revenue,
            cop,
        }
    }

    /// The heat pump carries the load: the miner is its backup stage, or
    /// under `pv_only` runs only while soaking PV and is off otherwise.
    fn heat_pump_carries(
        &self,
        house: &HouseNow,
        strategy: Strategy,
        revenue: f64,
        price: f64,
        cop: Option<f64>,
        why: &mut Vec<String>,
    ) -> (MinerRole, Rule) {
        let s = &self.settings;
        let utility_asks =
            s.cheap_preheat && matches!(house.sg_ready, Some(SgReady::Recommend | SgReady::Force));
        if strategy == Strategy::HeatPumpFirst && (self.soaking || utility_asks) {
            // Free PV or the utility asking for load: the miner joins the
            // heat pump (the soak or cheap-hours rule then sets the band).
            why.push(
                "strategy heat_pump_first: the heat pump carries the load, the miner adds \
                 heat from the PV surplus or on the utility's SG-Ready request"
                    .to_string(),
            );
            return (MinerRole::TopUp, Rule::EconomicHeatPump);
        }
        if strategy != Strategy::PvOnly {
            why.push(self.heat_pump_cheaper(revenue, price, cop));
            return (MinerRole::Backup, Rule::EconomicHeatPump);
        }
        if self.soaking {
            why.push("strategy pv_only: the miner runs on the PV surplus".to_string());
            (MinerRole::Primary, Rule::PvSoak)
        } else {
            why.push(
                "strategy pv_only: no PV surplus to soak, the heat pump carries the load \
                 and the miner is off"
                    .to_string(),
            );
            (MinerRole::Off, Rule::PvOnly)
        }
    }

    fn heat_pump_cheaper(&self, revenue: f64, price: f64, cop: Option<f64>) -> String {
        match cop {
            Some(cop) => format!(
                "mining earns {revenue:.3}/kWh < price {price:.3} x (1 - 1/COP {cop:.2}) = {:.3}: \
                 the heat pump is the cheaper heat, the miner is backup",
                price * (1.0 - 1.0 / cop)
            ),
            None => "no outdoor temperature for the COP: the heat pump carries the load, \
                     the miner is backup"
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::house::HouseNow;
    use hearth_core::Watts;

    fn cop() -> CopCurve {
        CopCurve(vec![[-20.0, 1.6], [-7.0, 2.5], [7.0, 4.5]])
    }

    fn policy(hashprice: f64) -> Policy {
        Policy::new(
            PolicySettings::default(),
            Tariff::Fixed { per_kwh: 0.30 },
            Some(cop()),
            hashprice,
        )
    }

    fn house(outdoor: f64) -> HouseNow {
        HouseNow {
            outdoor_c: Some(Celsius(outdoor)),
            ..HouseNow::default()
        }
    }

    #[test]
    fn revenue_formula() {
        // 0.05 per TH/s/day at 17.5 J/TH: 0.05 * 1000 / 24 / 17.5.
        assert!((revenue_per_kwh(0.05, 17.5) - 0.119_047_6).abs() < 1e-6);
        assert_eq!(revenue_per_kwh(0.05, 0.0), 0.0);
    }

    #[test]
    fn economic_switch_follows_the_formula_at_the_boundary() {
        // At 7 °C, COP 4.5: the miner wins when revenue >= 0.30 x (1 - 1/4.5)
        // = 0.2333/kWh, i.e. hashprice >= 0.2333 * 24 * 17.5 / 1000 = 0.098.
        let now = Timestamp::from_secs(0);
        let d = policy(0.097).decide(&house(7.0), now, None);
        assert_eq!(
            (d.miner, d.rule),
            (MinerRole::Backup, Rule::EconomicHeatPump)
        );
        assert_eq!(d.sg_ready_out, Some(SgReady::Normal));
        assert!(d.setpoint_offset_k < 0.0);
        assert!(d.reason().contains("heat pump is the cheaper"), "{d:?}");
        let d = policy(0.099).decide(&house(7.0), now, None);
        assert_eq!((d.miner, d.rule), (MinerRole::Primary, Rule::EconomicMiner));
        assert_eq!(
            d.sg_ready_out,
            Some(SgReady::Block),
            "hold the heat pump back"
        );
        assert_eq!(sg_ready_relays(SgReady::Block), (true, false));
        // A measured, better efficiency tips it the other way.
        let d = policy(0.08).decide(&house(7.0), now, Some(14.0));
        assert_eq!(d.rule, Rule::EconomicMiner, "{d:?}");
        // Switched off: the heat pump carries the load whatever the numbers.
        let mut p = policy(10.0);
        p.settings.economic_switch = false;
        assert_eq!(p.decide(&house(7.0), now, None).miner, MinerRole::Backup);
    }

    #[test]
    fn backup_below_the_balance_point_and_during_lockout() {
        let now = Timestamp::from_secs(0);
        let d = policy(0.05).decide(&house(-12.0), now, None);
        assert_eq!(
            (d.miner, d.rule),
            (MinerRole::TopUp, Rule::BelowBalancePoint)
        );
        assert_eq!(d.setpoint_offset_k, 0.0);
        let mut h = house(3.0);
        h.heat_pump = Some(HeatPumpState::Lockout);
        let d = policy(0.05).decide(&h, now, None);
        assert_eq!(
            (d.miner, d.rule),
            (MinerRole::Primary, Rule::HeatPumpUnavailable)
        );
        let mut p = policy(0.05);
        p.settings.backup_below_balance_point = false;
        assert_eq!(p.decide(&house(-12.0), now, None).miner, MinerRole::Backup);
    }

    #[test]
    fn a_utility_block_stops_the_miner_unless_switched_off() {
        let now = Timestamp::from_secs(0);
        let mut h = house(-12.0);
        h.sg_ready = Some(SgReady::Block);
        let d = policy(1.0).decide(&h, now, None);
        assert_eq!((d.miner, d.rule), (MinerRole::Off, Rule::UtilityBlock));
        let mut p = policy(1.0);
        p.settings.obey_sg_block = false;
        assert_ne!(p.decide(&h, now, None).miner, MinerRole::Off);
    }

    #[test]
    fn pv_soak_starts_and_stops_after_its_delays() {
        let mut p = Policy::new(
            PolicySettings::default(),
            Tariff::Fixed { per_kwh: 0.3 },
            None,
            0.05,
        );
        let with_pv = |w: f64| HouseNow {
            pv_surplus_w: Some(Watts(w)),
            ..HouseNow::default()
        };
        let at = Timestamp::from_secs;
        assert_eq!(
            p.decide(&with_pv(800.0), at(0), None).rule,
            Rule::NoHeatPump
        );
        assert_eq!(
            p.decide(&with_pv(800.0), at(200), None).rule,
            Rule::NoHeatPump
        );
        // A dip resets the delay.
        p.decide(&with_pv(100.0), at(250), None);
        assert!(!p.soaking());
        p.decide(&with_pv(800.0), at(260), None);
        let d = p.decide(&with_pv(800.0), at(560), None);
        assert_eq!(d.rule, Rule::PvSoak, "{d:?}");
        assert_eq!(d.setpoint_offset_k, 1.0);
        assert_eq!(d.price_per_kwh, 0.08, "soaked power is priced at feed-in");
        // Between the thresholds it keeps soaking; below the stop one for the
        // delay it stops.
        assert_eq!(p.decide(&with_pv(300.0), at(900), None).rule, Rule::PvSoak);
        p.decide(&with_pv(150.0), at(1000), None);
        assert_eq!(p.decide(&with_pv(150.0), at(1299), None).rule, Rule::PvSoak);
        assert_eq!(
            p.decide(&with_pv(150.0), at(1300), None).rule,
            Rule::NoHeatPump
        );
    }

    #[test]
    fn cheap_hours_preheat_within_the_band_when_switched_on() {
        let tou = Tariff::TimeOfUse {
            entries: vec![(0, 0.08), (7 * 3600, 0.35)],
        };
        let mut p = Policy::new(PolicySettings::default(), tou.clone(), None, 0.0);
        let at3 = Timestamp::from_secs(3 * 3600);
        assert_eq!(
            p.decide(&HouseNow::default(), at3, None).setpoint_offset_k,
            0.0,
            "off by default"
        );
        p.settings.cheap_preheat = true;
        let d = p.decide(&HouseNow::default(), at3, None);
        assert_eq!((d.rule, d.setpoint_offset_k), (Rule::CheapHours, 1.0));
        let d = p.decide(&HouseNow::default(), Timestamp::from_secs(9 * 3600), None);
        assert_eq!((d.rule, d.price_per_kwh), (Rule::NoHeatPump, 0.35));
        // A live price overrides the tariff.
        let live = HouseNow {
            price_per_kwh: Some(0.05),
            ..HouseNow::default()
        };
        assert_eq!(
            p.decide(&live, Timestamp::from_secs(9 * 3600), None).rule,
            Rule::CheapHours
        );
    }

    fn with(strategy: Strategy, hashprice: f64) -> Policy {
        let mut p = policy(hashprice);
        p.settings = strategy.applied_to(&p.settings);
        p
    }

    /// (role, rule) for the heat pump running at 7 °C, below the balance
    /// point, in a lockout and under a utility block.
    fn roles(p: &Policy) -> Vec<(MinerRole, Rule)> {
        let now = Timestamp::from_secs(0);
        let mut lockout = house(3.0);
        lockout.heat_pump = Some(HeatPumpState::Lockout);
        let mut block = house(-12.0);
        block.sg_ready = Some(SgReady::Block);
        [house(7.0), house(-12.0), lockout, block]
            .iter()
            .map(|h| {
                let d = p.clone().decide(h, now, None);
                (d.miner, d.rule)
            })
            .collect()
    }

    #[test]
    fn economic_strategy_runs_every_rule() {
        // 0.099/TH/day makes the miner the cheaper heat at 7 °C (see the
        // boundary test) and, with the colder COP, at -12 °C too; at 0.05 it
        // is the dearer one at both.
        let rich = with(Strategy::Economic, 0.099);
        assert!(rich.settings.economic_switch);
        assert_eq!(
            roles(&rich),
            [
                (MinerRole::Primary, Rule::EconomicMiner),
                (MinerRole::Primary, Rule::EconomicMiner),
                (MinerRole::Primary, Rule::HeatPumpUnavailable),
                (MinerRole::Off, Rule::UtilityBlock),
            ]
        );
        assert_eq!(
            roles(&with(Strategy::Economic, 0.05)),
            [
                (MinerRole::Backup, Rule::EconomicHeatPump),
                (MinerRole::TopUp, Rule::BelowBalancePoint),
                (MinerRole::Primary, Rule::HeatPumpUnavailable),
                (MinerRole::Off, Rule::UtilityBlock),
            ]
        );
    }

    #[test]
    fn heat_pump_first_keeps_the_miner_as_backup_however_well_it_pays() {
        let p = with(Strategy::HeatPumpFirst, 10.0);
        assert!(!p.settings.economic_switch);
        assert_eq!(
            roles(&p),
            [
                (MinerRole::Backup, Rule::EconomicHeatPump),
                (MinerRole::TopUp, Rule::BelowBalancePoint),
                (MinerRole::Primary, Rule::HeatPumpUnavailable),
                (MinerRole::Off, Rule::UtilityBlock),
            ]
        );
        let d = p.clone().decide(&house(7.0), Timestamp::from_secs(0), None);
        assert_eq!(d.setpoint_offset_k, -0.3);
        assert_eq!(
            d.sg_ready_out,
            Some(SgReady::Normal),
            "never holds the heat pump back"
        );
    }

    #[test]
    fn heat_pump_first_adds_the_miner_on_pv_and_on_the_utilitys_request_only() {
        let at = Timestamp::from_secs;
        let mut p = with(Strategy::HeatPumpFirst, 0.0);
        p.settings.cheap_preheat = true;
        p.settings.cheap_price_per_kwh = 0.50;
        // A cheap grid price alone: still backup (the heat pump is cheaper).
        let d = p.clone().decide(&house(7.0), at(0), None);
        assert_eq!((d.miner, d.setpoint_offset_k), (MinerRole::Backup, -0.3));
        // SG-Ready recommend: the miner joins within the band.
        let mut asked = house(7.0);
        asked.sg_ready = Some(SgReady::Recommend);
        let d = p.clone().decide(&asked, at(0), None);
        assert_eq!(
            (d.miner, d.rule, d.setpoint_offset_k),
            (MinerRole::TopUp, Rule::CheapHours, 1.0),
            "{d:?}"
        );
        // ... but not without the cheap-hours rule.
        let mut q = p.clone();
        q.settings.cheap_preheat = false;
        assert_eq!(q.decide(&asked, at(0), None).miner, MinerRole::Backup);
        // PV surplus past its delay: the miner soaks it next to the heat pump.
        let sunny = HouseNow {
            pv_surplus_w: Some(Watts(900.0)),
            ..house(7.0)
        };
        assert_eq!(p.decide(&sunny, at(0), None).miner, MinerRole::Backup);
        let d = p.decide(&sunny, at(300), None);
        assert_eq!(
            (d.miner, d.rule, d.setpoint_offset_k),
            (MinerRole::TopUp, Rule::PvSoak, 1.0),
            "{d:?}"
        );
        assert_eq!(d.sg_ready_out, Some(SgReady::Normal));
    }

    #[test]
    fn miner_first_carries_the_load_however_badly_it_pays() {
        let p = with(Strategy::MinerFirst, 0.0);
        assert_eq!(
            roles(&p),
            [
                (MinerRole::Primary, Rule::MinerFirst),
                (MinerRole::Primary, Rule::MinerFirst),
                (MinerRole::Primary, Rule::HeatPumpUnavailable),
                (MinerRole::Off, Rule::UtilityBlock),
            ]
        );
        let d = p.clone().decide(&house(7.0), Timestamp::from_secs(0), None);
        assert_eq!(d.setpoint_offset_k, 0.0, "at the setpoint, not below it");
        assert_eq!(
            d.sg_ready_out,
            Some(SgReady::Normal),
            "the heat pump stays free to back it up"
        );
        assert!(d.reason().contains("miner_first"), "{d:?}");
        // Cheap hours still pre-heat while the miner carries the load.
        let mut p = p;
        p.settings.cheap_preheat = true;
        p.settings.cheap_price_per_kwh = 0.30;
        let d = p.decide(&house(7.0), Timestamp::from_secs(0), None);
        assert_eq!((d.rule, d.setpoint_offset_k), (Rule::CheapHours, 1.0));
    }

    #[test]
    fn pv_only_heats_on_surplus_and_otherwise_leaves_it_to_the_heat_pump() {
        let mut p = with(Strategy::PvOnly, 10.0);
        assert_eq!(
            roles(&p),
            [
                (MinerRole::Off, Rule::PvOnly),
                (MinerRole::TopUp, Rule::BelowBalancePoint),
                (MinerRole::Primary, Rule::HeatPumpUnavailable),
                (MinerRole::Off, Rule::UtilityBlock),
            ]
        );
        let sunny = |w: f64| HouseNow {
            pv_surplus_w: Some(Watts(w)),
            ..house(7.0)
        };
        let at = Timestamp::from_secs;
        assert_eq!(p.decide(&sunny(800.0), at(0), None).miner, MinerRole::Off);
        let d = p.decide(&sunny(800.0), at(300), None);
        assert_eq!(
            (d.miner, d.rule),
            (MinerRole::Primary, Rule::PvSoak),
            "{d:?}"
        );
        assert_eq!(d.setpoint_offset_k, 1.0);
        assert_eq!(d.price_per_kwh, 0.08);
        assert_eq!(d.sg_ready_out, Some(SgReady::Normal));
        // The surplus gone for the delay: off again.
        p.decide(&sunny(0.0), at(400), None);
        let d = p.decide(&sunny(0.0), at(700), None);
        assert_eq!((d.miner, d.rule), (MinerRole::Off, Rule::PvOnly));
        // Without a heat pump the miner is the heat source under any strategy.
        let mut alone = Policy::new(
            Strategy::PvOnly.applied_to(&PolicySettings::default()),
            Tariff::Fixed { per_kwh: 0.3 },
            None,
            0.0,
        );
        assert_eq!(
            alone.decide(&house(7.0), at(0), None).rule,
            Rule::NoHeatPump
        );
        // It needs the PV soak rule it is named after.
        let mut s = Strategy::PvOnly.applied_to(&PolicySettings::default());
        s.pv_soak = false;
        assert!(s.check().unwrap_err().contains("pv_only"));
    }

    #[test]
    fn strategy_names_round_trip_and_the_unnamed_one_follows_the_switch() {
        for st in Strategy::ALL {
            assert_eq!(Strategy::parse(st.as_str()), Some(st));
            let s = st.applied_to(&PolicySettings::default());
            assert_eq!(s.strategy(), st);
            let json = serde_json::to_value(&s).expect("json");
            assert_eq!(json["strategy"], st.as_str());
            let back: PolicySettings = serde_json::from_value(json).expect("back");
            assert_eq!(back, s);
        }
        assert_eq!(Strategy::parse("cheapest"), None);
        let legacy = PolicySettings::default();
        assert_eq!(legacy.strategy(), Strategy::Economic);
        assert!(serde_json::to_value(&legacy)
            .expect("json")
            .get("strategy")
            .is_none());
        let off = PolicySettings {
            economic_switch: false,
            ..legacy.clone()
        };
        assert_eq!(off.strategy(), Strategy::HeatPumpFirst);
        // Picking economic turns the switch back on; miner_first leaves it.
        assert!(Strategy::Economic.applied_to(&off).economic_switch);
        assert!(!Strategy::MinerFirst.applied_to(&off).economic_switch);
    }

    #[test]
    fn a_settings_change_keeps_the_economic_dwell_unless_the_rule_itself_changed() {
        let earns = |per_kwh: f64| per_kwh * 24.0 * 17.5 / 1000.0;
        let at = Timestamp::from_secs;
        let h = house(7.0);
        let step = |p: &mut Policy, per_kwh: f64, t: u64| {
            p.default_hashprice_per_th_day = earns(per_kwh);
            p.decide(&h, at(t), None)
        };
        // The miner became the cheaper heat at t = 0 (threshold 0.2333).
        let mut old = policy(0.0);
        assert_eq!(step(&mut old, 0.2443, 0).rule, Rule::EconomicMiner);
        let replaced = |old: &Policy, edit: fn(&mut PolicySettings), now: u64| {
            let mut settings = old.settings.clone();
            edit(&mut settings);
            let mut next = Policy::new(settings, old.tariff.clone(), old.cop.clone(), 0.0);
            next.keep_economic_state_from(old, at(now));
            next
        };
        // An unrelated edit 10 min in: the 30-min dwell still holds the
        // miner against a margin below the threshold...
        let mut kept = replaced(&old, |s| s.pv_start_w = 900.0, 600);
        let d = step(&mut kept, 0.2300, 600);
        assert_eq!(d.rule, Rule::EconomicMiner, "{d:?}");
        assert!(d.reason().contains("minimum dwell"), "{d:?}");
        assert_eq!(kept.economic_switches(), old.economic_switches());
        // ...until 30 min after the verdict changed, not after the edit.
        assert_eq!(step(&mut kept, 0.2300, 1800).rule, Rule::EconomicHeatPump);
        // A fresh policy (what an edit did before) flips at once.
        let mut fresh = Policy::new(
            old.settings.clone(),
            old.tariff.clone(),
            old.cop.clone(),
            0.0,
        );
        assert_eq!(step(&mut fresh, 0.2300, 600).rule, Rule::EconomicHeatPump);
        // A longer dwell, or one shortened but not below the 10 min spent,
        // keeps the verdict too.
        let mut longer = replaced(&old, |s| s.economic_min_dwell_s = 3600, 600);
        assert_eq!(step(&mut longer, 0.2300, 1800).rule, Rule::EconomicMiner);
        let mut shorter = replaced(&old, |s| s.economic_min_dwell_s = 900, 600);
        assert_eq!(step(&mut shorter, 0.2300, 600).rule, Rule::EconomicMiner);
        assert_eq!(step(&mut shorter, 0.2300, 900).rule, Rule::EconomicHeatPump);
        // Shortened below the time spent: the dwell is over, the plain
        // formula decides at once.
        let mut over = replaced(&old, |s| s.economic_min_dwell_s = 300, 600);
        assert_eq!(step(&mut over, 0.2300, 600).rule, Rule::EconomicHeatPump);
        // The rule switched off, then on again: no verdict carried over.
        let off = replaced(&old, |s| s.economic_switch = false, 600);
        let mut on_again = replaced(&off, |s| s.economic_switch = true, 600);
        assert_eq!(
            step(&mut on_again, 0.2300, 610).rule,
            Rule::EconomicHeatPump
        );
        let strategy_changed = replaced(&old, |s| s.strategy = Some(Strategy::MinerFirst), 600);
        let mut back = replaced(
            &strategy_changed,
            |s| s.strategy = Some(Strategy::Economic),
            600,
        );
        assert_eq!(step(&mut back, 0.2300, 610).rule, Rule::EconomicHeatPump);
    }

    #[test]
    fn the_economic_switch_has_hysteresis_and_a_dwell() {
        // At 7 °C the threshold is 0.30 x (1 - 1/4.5) = 0.2333/kWh; at
        // 17.5 J/TH a hashprice h earns h * 1000 / 24 / 17.5 per kWh.
        let earns = |per_kwh: f64| per_kwh * 24.0 * 17.5 / 1000.0;
        let mut p = policy(earns(0.2333 - 0.002));
        let at = Timestamp::from_secs;
        let h = house(7.0);
        let step = |p: &mut Policy, per_kwh: f64, t: u64| {
            p.default_hashprice_per_th_day = earns(per_kwh);
            p.decide(&h, at(t), None)
        };
        assert_eq!(step(&mut p, 0.2313, 0).rule, Rule::EconomicHeatPump);
        // Just over the threshold but inside the 0.01 band: the heat pump stays.
        let d = step(&mut p, 0.2383, 3600);
        assert_eq!(d.rule, Rule::EconomicHeatPump, "{d:?}");
        assert!(d.why.iter().any(|w| w.contains("hysteresis band")), "{d:?}");
        // Past the band: the miner takes over.
        let d = step(&mut p, 0.2443, 3700);
        assert_eq!((d.miner, d.rule), (MinerRole::Primary, Rule::EconomicMiner));
        assert_eq!(d.sg_ready_out, Some(SgReady::Block));
        // Below the threshold within the dwell (30 min): still the miner,
        // and the reason says so.
        let d = step(&mut p, 0.2300, 3700 + 1799);
        assert_eq!(d.rule, Rule::EconomicMiner, "{d:?}");
        assert!(d.reason().contains("minimum dwell"), "{d:?}");
        // After the dwell it gives the load back at once (no band that way:
        // the miner runs only while it is the cheaper heat).
        let d = step(&mut p, 0.2330, 3700 + 1800);
        assert_eq!(d.rule, Rule::EconomicHeatPump, "{d:?}");
        assert_eq!(p.economic_switches(), 2);
        // A flapping margin changes the verdict at most once per dwell.
        let mut q = policy(0.0);
        let mut changes = 0;
        let mut last = None;
        for i in 0..360u64 {
            let per_kwh = if i % 2 == 0 { 0.26 } else { 0.20 };
            let d = step(&mut q, per_kwh, 10 * i);
            if last.is_some_and(|r| r != d.rule) {
                changes += 1;
            }
            last = Some(d.rule);
        }
        assert!(changes <= 2, "{changes} changes in one hour");
        // No band and no dwell: the plain formula, every time.
        let mut r = policy(0.0);
        r.settings.economic_hysteresis_per_kwh = 0.0;
        r.settings.economic_min_dwell_s = 0;
        assert_eq!(step(&mut r, 0.2340, 0).rule, Rule::EconomicMiner);
        assert_eq!(step(&mut r, 0.2330, 10).rule, Rule::EconomicHeatPump);
        assert_eq!(step(&mut r, 0.2340, 20).rule, Rule::EconomicMiner);
    }

    #[test]
    fn settings_are_validated() {
        for (key, f) in [
            (
                "economic_hysteresis_per_kwh",
                (|s: &mut PolicySettings| s.economic_hysteresis_per_kwh = -0.1)
                    as fn(&mut PolicySettings),
            ),
            ("economic_min_dwell_s", |s| s.economic_min_dwell_s = 90_000),
            ("sg_ready_min_switch_s", |s| s.sg_ready_min_switch_s = 10),
            ("sg_ready_min_switch_s", |s| s.sg_ready_min_switch_s = 9_000),
        ] {
            let mut s = PolicySettings::default();
            f(&mut s);
            assert!(s.check().unwrap_err().contains(key), "{key}");
        }
        assert_eq!(PolicySettings::default().check(), Ok(()));
        let mut s = PolicySettings::default();
        s.pv_stop_w = s.pv_start_w + 1.0;
        assert!(s.check().unwrap_err().contains("pv_stop_w"));
        s = PolicySettings::default();
        s.comfort_band_k = f64::NAN;
        assert!(s.check().is_err());
    }
}
