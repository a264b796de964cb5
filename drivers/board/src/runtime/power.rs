//! The power sequence: moving the regulator, the reset line and the chain's
//! clock one safe step at a time toward what protection allows.

use std::time::Duration;

use hearth_bm13xx::FreqKhz;
use hearth_chain::ChainState;
use hearth_core::{BoardEvent, DeviceError, FreqMhz, Millivolts, OperatingPoint, Timestamp};

use super::{bump, BoardRuntime, Mode, Stage};

/// Voltages closer than this are the same command.
const VOLTAGE_EPS_MV: f64 = 0.01;
/// After raising VOUT, wait this long before raising the clock; after a
/// ramp down finished, this long before lowering VOUT or switching off (the
/// final PLL write is on the wire by then: the IO layer writes the chain's
/// bytes right after each call).
pub(super) const SETTLE: Duration = Duration::from_millis(50);
/// How often a stage waiting for a regulator's pending commands looks again.
const PENDING_POLL: Duration = Duration::from_millis(10);

/// `freq` in whole kHz, rounded down so a limit is never exceeded; `None`
/// for a non-finite or non-positive frequency.
pub(super) fn khz(freq: FreqMhz) -> Option<FreqKhz> {
    let khz = (freq.get() * 1000.0).floor();
    if !khz.is_finite() || khz < 1.0 || khz > f64::from(u32::MAX) {
        return None;
    }
    // Range-checked above.
    Some(FreqKhz(khz as u32))
}

impl BoardRuntime {
    /// The point to run at now: what protection allows, clamped into the
    /// profile's limits, with at least the table's stable voltage for its
    /// frequency (and never above the voltage limit).
    pub(super) fn target(&self) -> Option<OperatingPoint> {
        let limits = self.profile.limits();
        self.allowed.map(|op| {
            let op = limits.clamp(op);
            let stable = self.profile.vf_table().min_voltage(op.freq_mhz);
            OperatingPoint {
                freq_mhz: op.freq_mhz,
                voltage_mv: op.voltage_mv.max(stable).min(limits.max_voltage_mv),
            }
        })
    }

    /// One step toward the wanted state. Safe to call at any time.
    pub(super) fn reconcile(&mut self, now: Timestamp) {
        match self.mode {
            Mode::Stopped => {
                self.power_off(now);
                return;
            }
            Mode::Fault { retry_at } => {
                if now < retry_at {
                    self.power_off(now);
                    return;
                }
                self.mode = Mode::Normal;
                if self.target().is_some() && !self.protection_off {
                    self.note("retrying chain bring-up");
                }
            }
            Mode::Normal => {}
        }
        if self.protection_off {
            self.power_off(now);
            return;
        }
        let Some(op) = self.target() else {
            self.go_idle(now);
            return;
        };
        match self.stage {
            Stage::Off => self.power_up(op, now),
            Stage::Energizing { release_at } => {
                self.follow_voltage(op, now);
                if now >= release_at && self.devices.regulator.pending() {
                    // The rail is still settling on the regulator's worker:
                    // look again shortly, chips still in reset.
                    self.stage = Stage::Energizing {
                        release_at: now.plus(PENDING_POLL),
                    };
                } else if now >= release_at {
                    match self.release_reset(now) {
                        Ok(()) => {
                            self.stage = Stage::Releasing {
                                start_at: now.plus(self.options.power_settle),
                            };
                        }
                        Err(e) => self.fault(now, format!("could not release the chip reset: {e}")),
                    }
                }
            }
            Stage::Releasing { start_at } => {
                self.follow_voltage(op, now);
                if now >= start_at {
                    self.chain.start(now);
                    self.stage = Stage::On;
                    self.freq_asked = None;
                    self.ready_at = None;
                    self.work.chain_restarted();
                }
            }
            Stage::On => match self.chain.state() {
                ChainState::Enumerating | ChainState::Configuring => self.follow_voltage(op, now),
                ChainState::Running => self.apply_point(op, now),
                // Reported through the Failed event; nothing to do here.
                ChainState::Failed => {}
                ChainState::Idle | ChainState::Stopped => self.power_off(now),
            },
        }
    }

    /// No point wanted: ramp down gently, then switch off.
    fn go_idle(&mut self, now: Timestamp) {
        if self.stage != Stage::On || self.chain.state() != ChainState::Running {
            self.power_off(now);
            return;
        }
        let floor = self.chain.config().start_frequency;
        if self.freq_asked != Some(floor) {
            match self.chain.set_frequency_khz(floor, now) {
                Ok(_) => self.freq_asked = Some(floor),
                Err(e) => {
                    bump(&mut self.counters.frequency_errors);
                    self.note(format!("could not ramp down before idling: {e}"));
                    self.power_off(now);
                    return;
                }
            }
        }
        if self.ramp_finished(now) {
            self.power_off(now);
        }
    }

    /// Whether the chain's ramp has been finished for at least [`SETTLE`]
    /// (remembers when it was first seen finished).
    fn ramp_finished(&mut self, now: Timestamp) -> bool {
        if self.chain.is_ramping() {
            self.ramp_done_at = None;
            return false;
        }
        let done_at = *self.ramp_done_at.get_or_insert(now);
        now >= done_at.plus(SETTLE)
    }

    /// At once: chain stopped, core voltage off, chips held in reset.
    /// Idempotent; retries a regulator that did not switch off.
    pub(super) fn power_off(&mut self, now: Timestamp) {
        if !matches!(self.chain.state(), ChainState::Idle | ChainState::Stopped) {
            self.chain.stop(now);
        }
        self.stage = Stage::Off;
        self.freq_asked = None;
        self.ready_at = None;
        self.ramp_done_at = None;
        self.regulator_off(now);
        self.hold_reset(now);
    }

    /// Chips in reset, VOUT at the point's voltage, regulator on; the reset
    /// is released after the settle time.
    fn power_up(&mut self, op: OperatingPoint, now: Timestamp) {
        bump(&mut self.counters.bringups);
        self.hold_reset(now);
        if let Err(e) = self.set_vout(op.voltage_mv, now) {
            self.fault(now, format!("could not set the core voltage: {e}"));
            return;
        }
        // Whatever the answer, the regulator may now be on.
        self.regulator_on = true;
        if let Err(e) = self.devices.regulator.set_enabled(true, now) {
            bump(&mut self.counters.regulator_errors);
            self.fault(now, format!("could not switch the core voltage on: {e}"));
            return;
        }
        self.stage = Stage::Energizing {
            release_at: now.plus(self.options.power_settle),
        };
    }

    /// While the chips run at the chain's start frequency (bring-up), any
    /// stable voltage is fine: just follow the target.
    fn follow_voltage(&mut self, op: OperatingPoint, now: Timestamp) {
        let same = self
            .vout
            .is_some_and(|v| (v.get() - op.voltage_mv.get()).abs() <= VOLTAGE_EPS_MV);
        if !same {
            // Counted in set_vout; retried next time.
            let _ = self.set_vout(op.voltage_mv, now);
        }
    }

    /// Running: raise the voltage before the frequency, lower it after.
    fn apply_point(&mut self, op: OperatingPoint, now: Timestamp) {
        let Some(target) = khz(op.freq_mhz) else {
            return;
        };
        let wanted = op.voltage_mv.get();
        let current = self.vout.map_or(0.0, Millivolts::get);
        if wanted > current + VOLTAGE_EPS_MV && self.set_vout(op.voltage_mv, now).is_err() {
            // Never raise the clock on a voltage we could not set.
            return;
        }
        let current = self.vout.map_or(0.0, Millivolts::get);
        if self.freq_asked != Some(target) {
            let raising = target > self.chain.frequency();
            if self.devices.regulator.pending() {
                // The new voltage counts from when the regulator has applied it.
                self.vout_set_at = Some(now);
            }
            let settled = self.vout_set_at.is_none_or(|at| now >= at.plus(SETTLE));
            if raising && (current + VOLTAGE_EPS_MV < wanted || !settled) {
                return;
            }
            match self.chain.set_frequency_khz(target, now) {
                Ok(_) => {
                    self.freq_asked = Some(target);
                    self.ramp_done_at = None;
                }
                Err(e) => {
                    bump(&mut self.counters.frequency_errors);
                    self.note(format!("chain refused {:.2} MHz: {e}", op.freq_mhz.get()));
                    return;
                }
            }
        }
        if wanted + VOLTAGE_EPS_MV < current && self.ramp_finished(now) {
            // The ramp down has finished: the lower voltage is stable now.
            let _ = self.set_vout(op.voltage_mv, now);
        }
    }

    /// VOUT, clamped into the profile's voltage limits.
    fn set_vout(&mut self, vout: Millivolts, now: Timestamp) -> Result<(), DeviceError> {
        let limits = self.profile.limits();
        let vout = vout.clamp(limits.min_voltage_mv, limits.max_voltage_mv);
        match self.devices.regulator.set_vout(vout, now) {
            Ok(()) => {
                if self.vout != Some(vout) {
                    self.vout_set_at = Some(now);
                }
                self.vout = Some(vout);
                Ok(())
            }
            Err(e) => {
                bump(&mut self.counters.regulator_errors);
                Err(e)
            }
        }
    }

    /// Switch the core voltage off unless it is known to be off. A failure
    /// is a `Fault` event once per episode and is retried on every call.
    pub(super) fn regulator_off(&mut self, now: Timestamp) {
        if !self.regulator_on {
            return;
        }
        match self.devices.regulator.set_enabled(false, now) {
            Ok(()) => {
                self.regulator_on = false;
                self.vout = None;
                if self.regulator_fault_reported {
                    self.regulator_fault_reported = false;
                    self.note("core regulator switched off after all");
                }
            }
            Err(e) => {
                bump(&mut self.counters.regulator_errors);
                if !self.regulator_fault_reported {
                    self.regulator_fault_reported = true;
                    self.push_event(BoardEvent::Fault {
                        reason: format!(
                            "core regulator did not switch off: {e}; retrying on every tick"
                        ),
                    });
                }
            }
        }
    }

    /// Hold the chips in reset (a no-op flag without a reset line).
    pub(super) fn hold_reset(&mut self, now: Timestamp) {
        if self.reset_held {
            return;
        }
        match self.devices.reset.as_mut().map(|l| l.set_reset(true, now)) {
            None | Some(Ok(())) => self.reset_held = true,
            Some(Err(_)) => bump(&mut self.counters.reset_errors),
        }
    }

    fn release_reset(&mut self, now: Timestamp) -> Result<(), DeviceError> {
        match self.devices.reset.as_mut().map(|l| l.set_reset(false, now)) {
            None | Some(Ok(())) => {
                self.reset_held = false;
                Ok(())
            }
            Some(Err(e)) => {
                bump(&mut self.counters.reset_errors);
                Err(e)
            }
        }
    }

    /// Power down now and retry the bring-up after the backoff.
    pub(super) fn fault(&mut self, now: Timestamp, reason: String) {
        self.power_off(now);
        if self.mode == Mode::Stopped {
            return;
        }
        self.failures = self.failures.saturating_add(1);
        bump(&mut self.counters.faults);
        let doublings = self.failures.saturating_sub(1).min(20);
        let backoff = self
            .options
            .retry_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.options.retry_backoff_max);
        self.mode = Mode::Fault {
            retry_at: now.plus(backoff),
        };
        self.push_event(BoardEvent::Fault {
            reason: format!(
                "{reason}; core voltage off, retrying in {:.0} s (failure {} in a row)",
                backoff.as_secs_f64(),
                self.failures
            ),
        });
    }
}
