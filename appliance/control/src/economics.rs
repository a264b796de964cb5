//! What heating with the miner costs: heat delivered, electricity cost,
//! mining revenue, and the net cost per kWh of heat beside what a resistive
//! heater and the heat pump would have cost for the same heat. Pure: the
//! caller adds one interval at a time with the prices in force.

use serde::{Deserialize, Serialize};

/// One interval's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub dt_s: f64,
    /// Electrical power of the boards; all of it is heat in the zones.
    pub board_w: f64,
    /// Hashrate of the boards, TH/s.
    pub hashrate_ths: f64,
    pub price_per_kwh: f64,
    pub hashprice_per_th_day: f64,
    /// The heat pump's COP now, if the house has one.
    pub cop: Option<f64>,
}

/// Live and accumulated figures (the daemon persists them across restarts).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Economics {
    pub heat_kwh: f64,
    pub electricity_cost: f64,
    pub revenue: f64,
    /// The same heat from a resistive heater at the same prices.
    pub resistive_cost: f64,
    /// The same heat from the heat pump at its COP (when it has one).
    pub heat_pump_cost: f64,
    /// Live: the latest interval's heat power and net cost rate.
    pub heat_w: f64,
    pub net_cost_per_hour: f64,
}

/// Intervals longer than this are counted as this long (a stalled loop
/// must not book hours of heat at one reading).
const MAX_INTERVAL_S: f64 = 60.0;

impl Economics {
    pub fn add(&mut self, i: Interval) {
        let ok = |v: f64| if v.is_finite() { v } else { 0.0 };
        let dt_h = ok(i.dt_s).clamp(0.0, MAX_INTERVAL_S) / 3600.0;
        let kw = ok(i.board_w).max(0.0) / 1000.0;
        let price = ok(i.price_per_kwh);
        let kwh = kw * dt_h;
        let revenue_per_h = ok(i.hashrate_ths).max(0.0) * ok(i.hashprice_per_th_day) / 24.0;
        self.heat_kwh += kwh;
        self.electricity_cost += kwh * price;
        self.revenue += revenue_per_h * dt_h;
        self.resistive_cost += kwh * price;
        if let Some(cop) = i.cop.filter(|c| c.is_finite() && *c >= 1.0) {
            self.heat_pump_cost += kwh * price / cop;
        }
        self.heat_w = kw * 1000.0;
        self.net_cost_per_hour = kw * price - revenue_per_h;
    }

    pub fn net_cost(&self) -> f64 {
        self.electricity_cost - self.revenue
    }

    /// Net cost per kWh of heat, once there is heat.
    pub fn net_cost_per_heat_kwh(&self) -> Option<f64> {
        (self.heat_kwh > 0.0).then(|| self.net_cost() / self.heat_kwh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_of_one_kilowatt() {
        let mut e = Economics::default();
        for _ in 0..360 {
            e.add(Interval {
                dt_s: 10.0,
                board_w: 1000.0,
                hashrate_ths: 60.0,
                price_per_kwh: 0.30,
                hashprice_per_th_day: 0.048,
                cop: Some(3.0),
            });
        }
        assert!((e.heat_kwh - 1.0).abs() < 1e-9);
        assert!((e.electricity_cost - 0.30).abs() < 1e-9);
        // 60 TH/s x 0.048 per TH/s per day / 24 = 0.12 per hour.
        assert!((e.revenue - 0.12).abs() < 1e-9);
        assert!((e.net_cost_per_heat_kwh().unwrap_or(0.0) - 0.18).abs() < 1e-9);
        assert!((e.heat_pump_cost - 0.10).abs() < 1e-9);
        assert_eq!(e.resistive_cost, e.electricity_cost);
        assert!((e.net_cost_per_hour - 0.18).abs() < 1e-9);
        // A stalled loop books at most a minute; garbage books nothing.
        let mut e = Economics::default();
        e.add(Interval {
            dt_s: 3600.0,
            board_w: 1000.0,
            hashrate_ths: f64::NAN,
            price_per_kwh: 0.3,
            hashprice_per_th_day: 0.05,
            cop: None,
        });
        assert!((e.heat_kwh - 1.0 / 60.0).abs() < 1e-9);
        assert_eq!(e.revenue, 0.0);
        assert_eq!(Economics::default().net_cost_per_heat_kwh(), None);
    }
}
