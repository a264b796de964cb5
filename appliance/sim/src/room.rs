//! A room as two thermal masses (Bacher & Madsen's 2R2C):
//!
//! ```text
//! Ci dTi/dt = (Te - Ti)/Rie + Q_heat + Aw*Q_solar + Q_internal
//! Ce dTe/dt = (Ti - Te)/Rie + (Tout - Te)/Rea
//! ```
//! Ti is the interior (air and furniture), Te the envelope (walls).

use hearth_core::{Celsius, Watts};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomParams {
    /// Interior heat capacity, J/K.
    pub ci_j_per_k: f64,
    /// Envelope heat capacity, J/K.
    pub ce_j_per_k: f64,
    /// Interior to envelope resistance, K/W.
    pub rie_k_per_w: f64,
    /// Envelope to outdoor resistance, K/W.
    pub rea_k_per_w: f64,
    /// Effective window area for solar gain, m².
    #[serde(default)]
    pub aw_m2: f64,
}

impl Default for RoomParams {
    /// A well-insulated living room of about 25 m²: it loses about 1.05 kW at
    /// 21 °C inside and 2 °C outside (UA ≈ 56 W/K); the air and furniture
    /// respond within the hour, the walls over days.
    fn default() -> RoomParams {
        RoomParams {
            ci_j_per_k: 5.0e5,
            ce_j_per_k: 1.0e7,
            rie_k_per_w: 0.004,
            rea_k_per_w: 0.014,
            aw_m2: 2.0,
        }
    }
}

impl RoomParams {
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("ci_j_per_k", self.ci_j_per_k),
            ("ce_j_per_k", self.ce_j_per_k),
            ("rie_k_per_w", self.rie_k_per_w),
            ("rea_k_per_w", self.rea_k_per_w),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, got {v}"));
            }
        }
        if !(self.aw_m2.is_finite() && self.aw_m2 >= 0.0) {
            return Err(format!(
                "aw_m2 must be zero or positive, got {}",
                self.aw_m2
            ));
        }
        Ok(())
    }

    /// Heat loss to outdoors in steady state at these temperatures.
    pub fn steady_loss(&self, inside: Celsius, outside: Celsius) -> Watts {
        Watts((inside.get() - outside.get()) / (self.rie_k_per_w + self.rea_k_per_w))
    }

    /// Longest explicit-Euler step that stays stable (with a safety factor).
    pub fn max_stable_step_s(&self) -> f64 {
        let tau_i = self.ci_j_per_k * self.rie_k_per_w;
        let tau_e = self.ce_j_per_k / (1.0 / self.rie_k_per_w + 1.0 / self.rea_k_per_w);
        0.2 * tau_i.min(tau_e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoomState {
    pub interior_c: Celsius,
    pub envelope_c: Celsius,
}

impl RoomState {
    /// The unheated steady state for an interior temperature: the envelope
    /// sits on the line between inside and outside.
    pub fn settled(params: &RoomParams, interior: Celsius, outdoor: Celsius) -> RoomState {
        let (ri, ra) = (params.rie_k_per_w, params.rea_k_per_w);
        let te = (interior.get() * ra + outdoor.get() * ri) / (ri + ra);
        RoomState {
            interior_c: interior,
            envelope_c: Celsius(te),
        }
    }

    /// Advances by `dt_s` seconds (explicit Euler; callers keep `dt_s` under
    /// [`RoomParams::max_stable_step_s`]).
    pub fn step(
        &mut self,
        p: &RoomParams,
        dt_s: f64,
        outdoor: Celsius,
        heat: Watts,
        solar_w_per_m2: f64,
        internal: Watts,
    ) {
        let (ti, te, to) = (self.interior_c.get(), self.envelope_c.get(), outdoor.get());
        let q_ie = (te - ti) / p.rie_k_per_w;
        let q_ea = (to - te) / p.rea_k_per_w;
        let q_in = heat.get() + p.aw_m2 * solar_w_per_m2 + internal.get();
        self.interior_c = Celsius(ti + dt_s * (q_ie + q_in) / p.ci_j_per_k);
        self.envelope_c = Celsius(te + dt_s * (-q_ie + q_ea) / p.ce_j_per_k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heated_room_settles_at_the_balance_temperature() {
        let p = RoomParams::default();
        let mut s = RoomState::settled(&p, Celsius(15.0), Celsius(0.0));
        let heat = Watts(1000.0);
        let dt = 10.0;
        // Twenty envelope time constants.
        for _ in 0..(60 * 24 * 60 * 6) {
            s.step(&p, dt, Celsius(0.0), heat, 0.0, Watts::ZERO);
        }
        let expected = heat.get() * (p.rie_k_per_w + p.rea_k_per_w);
        assert!(
            (s.interior_c.get() - expected).abs() < 0.05,
            "{:?} vs {expected}",
            s.interior_c
        );
        assert!(p.steady_loss(s.interior_c, Celsius(0.0)).get() > 990.0);
    }

    #[test]
    fn unheated_room_cools_toward_outdoor() {
        let p = RoomParams::default();
        let mut s = RoomState::settled(&p, Celsius(20.0), Celsius(0.0));
        let start = s.interior_c;
        for _ in 0..3600 {
            s.step(&p, 1.0, Celsius(0.0), Watts::ZERO, 0.0, Watts::ZERO);
        }
        assert!(s.interior_c < start);
        assert!(s.interior_c.get() > 0.0);
    }

    #[test]
    fn default_room_is_stable_at_one_second_steps() {
        assert!(RoomParams::default().max_stable_step_s() > 1.0);
    }

    #[test]
    fn check_names_bad_field() {
        let p = RoomParams {
            rea_k_per_w: -1.0,
            ..RoomParams::default()
        };
        assert!(p.check().unwrap_err().contains("rea_k_per_w"));
    }
}
