//! Device handles over the shared world. Each call first advances the world to
//! the `now` it is given, so the control tick drives simulated time exactly as
//! it would read real hardware.

use crate::world::{lock, SharedWorld};
use hearth_core::board::{BoardPoll, MAX_POLL_ITEMS};
use hearth_core::{
    BoardEvent, BoardId, BoardInfo, BoardState, Celsius, DeviceError, Fan, Hashboard,
    HashboardError, Job, Millivolts, Percent, Regulator, RegulatorReading, Rpm, Thermometer,
    Timestamp, Watts,
};

#[derive(Debug)]
pub struct SimThermometer {
    world: SharedWorld,
    room: usize,
    name: String,
}

impl SimThermometer {
    pub fn new(world: SharedWorld, room: usize, name: impl Into<String>) -> SimThermometer {
        SimThermometer {
            world,
            room,
            name: name.into(),
        }
    }
}

impl Thermometer for SimThermometer {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_temp(&mut self, now: Timestamp) -> Result<Celsius, DeviceError> {
        let mut w = lock(&self.world);
        w.advance_to(now);
        w.read_room_sensor(self.room).ok_or(DeviceError::Timeout)
    }
}

#[derive(Debug)]
pub struct SimHashboard {
    world: SharedWorld,
    board: usize,
    info: BoardInfo,
    job: Option<Job>,
}

impl SimHashboard {
    /// A handle for board `board` of `world`; `None` if there is no such board.
    pub fn new(world: SharedWorld, board: usize, id: BoardId) -> Option<SimHashboard> {
        let info = {
            let w = lock(&world);
            let b = w.board(board)?;
            let (min_power_w, max_power_w) = b.power_range();
            BoardInfo {
                id,
                model: b.params.model.clone(),
                chips: b.params.power.chips,
                min_power_w,
                max_power_w,
            }
        };
        Some(SimHashboard {
            world,
            board,
            info,
            job: None,
        })
    }

    pub fn current_job(&self) -> Option<&Job> {
        self.job.as_ref()
    }
}

impl Hashboard for SimHashboard {
    fn info(&self) -> &BoardInfo {
        &self.info
    }

    fn set_power_target(&mut self, target: Watts, now: Timestamp) -> Result<(), HashboardError> {
        if !target.is_finite() || target.get() < 0.0 {
            return Err(HashboardError::BadPowerTarget(target));
        }
        let mut w = lock(&self.world);
        w.advance_to(now);
        let b = w
            .board_mut(self.board)
            .ok_or_else(|| HashboardError::Disconnected("no such board".into()))?;
        if b.telemetry().state == BoardState::Stopped {
            return Err(HashboardError::Stopped);
        }
        b.set_power_target(target);
        Ok(())
    }

    fn set_job(&mut self, job: Job, _now: Timestamp) -> Result<(), HashboardError> {
        self.job = Some(job);
        Ok(())
    }

    fn poll(&mut self, now: Timestamp) -> BoardPoll {
        let mut w = lock(&self.world);
        w.advance_to(now);
        match w.board_mut(self.board) {
            Some(b) => {
                let mut events = b.take_events();
                events.truncate(MAX_POLL_ITEMS);
                BoardPoll {
                    telemetry: b.telemetry(),
                    events,
                    nonces: Vec::new(),
                }
            }
            None => BoardPoll {
                telemetry: hearth_core::BoardTelemetry {
                    state: BoardState::Fault,
                    power_w: Watts::ZERO,
                    power_target_w: Watts::ZERO,
                    hashrate_ghs: hearth_core::GhPerSec::ZERO,
                    chip_temp_c: None,
                    regulator_temp_c: None,
                    fan_duty: hearth_core::Percent::FULL,
                    fan_rpm: None,
                    operating_point: None,
                },
                events: vec![BoardEvent::Fault {
                    reason: "no such board".into(),
                }],
                nonces: Vec::new(),
            },
        }
    }

    fn stop_safely(&mut self, now: Timestamp) -> Result<(), HashboardError> {
        let mut w = lock(&self.world);
        w.advance_to(now);
        let b = w
            .board_mut(self.board)
            .ok_or_else(|| HashboardError::Disconnected("no such board".into()))?;
        b.stop();
        Ok(())
    }
}

/// The devices around an externally driven board (the byte-level path): its
/// regulator, fan and chip temperature sensor. They read and write the board's
/// state without advancing the world: the chain side runs on the real clock
/// while rooms may run faster, and the world is advanced by the control tick
/// alone.
#[derive(Debug, Clone)]
pub struct SimBoardPeripherals {
    world: SharedWorld,
    board: usize,
}

impl SimBoardPeripherals {
    /// Puts board `board` under external drive and returns its peripherals;
    /// `None` if there is no such board.
    pub fn attach(world: SharedWorld, board: usize) -> Option<SimBoardPeripherals> {
        lock(&world).board_mut(board)?.drive_externally();
        Some(SimBoardPeripherals { world, board })
    }

    fn with<T>(&self, f: impl FnOnce(&mut crate::board::SimBoard) -> T) -> Result<T, DeviceError> {
        let mut w = lock(&self.world);
        w.board_mut(self.board).map(f).ok_or(DeviceError::Absent)
    }

    fn with_drive(
        &self,
        f: impl FnOnce(&mut crate::board::ExternalDrive),
    ) -> Result<(), DeviceError> {
        self.with(|b| b.external_mut().map(f))?
            .ok_or(DeviceError::Absent)
    }

    /// The chips' clock as their PLL registers say (set by the chip simulator).
    pub fn set_chip_frequency(&self, freq_mhz: f64) -> Result<(), DeviceError> {
        self.with_drive(|d| {
            d.freq_mhz = if freq_mhz.is_finite() {
                freq_mhz.max(0.0)
            } else {
                0.0
            }
        })
    }

    pub fn set_reset_held(&self, held: bool) -> Result<(), DeviceError> {
        self.with_drive(|d| d.reset_held = held)
    }

    /// Whether the chips are powered and out of reset (else they lose state).
    pub fn chips_alive(&self) -> bool {
        self.with(|b| {
            b.external()
                .is_some_and(|d| d.regulator_enabled && !d.reset_held)
        })
        .unwrap_or(false)
    }

    pub fn regulator(&self) -> SimRegulator {
        SimRegulator(self.clone())
    }

    pub fn fan(&self) -> SimFan {
        SimFan(self.clone())
    }

    pub fn chip_sensor(&self, name: impl Into<String>) -> SimChipSensor {
        SimChipSensor {
            p: self.clone(),
            name: name.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimRegulator(SimBoardPeripherals);

impl Regulator for SimRegulator {
    fn set_vout(&mut self, vout: Millivolts, _now: Timestamp) -> Result<(), DeviceError> {
        if !vout.is_finite() || vout.get() < 0.0 || vout.get() > 2000.0 {
            return Err(DeviceError::Fault(format!("VOUT {vout} outside 0-2000 mV")));
        }
        self.0.with_drive(|d| d.voltage_mv = vout.get())
    }

    fn set_enabled(&mut self, on: bool, _now: Timestamp) -> Result<(), DeviceError> {
        self.0.with_drive(|d| d.regulator_enabled = on)
    }

    fn read(&mut self, _now: Timestamp) -> Result<RegulatorReading, DeviceError> {
        self.0.with(|b| {
            let d = b.external().copied().unwrap_or_default();
            let vout = if d.regulator_enabled {
                d.voltage_mv
            } else {
                0.0
            };
            let power = b.power_w();
            let iout = if vout > 0.0 {
                power.get() / (vout / 1000.0)
            } else {
                0.0
            };
            RegulatorReading {
                vin_mv: Some(Millivolts(12_000.0)),
                vout_mv: Some(Millivolts(vout)),
                iout_a: Some(iout),
                power_w: Some(power),
                temp_c: Some(b.regulator_temp()),
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct SimFan(SimBoardPeripherals);

impl Fan for SimFan {
    fn set_duty(&mut self, duty: Percent, _now: Timestamp) -> Result<(), DeviceError> {
        self.0.with_drive(|d| d.fan_duty = duty)
    }

    fn read_rpm(&mut self, _now: Timestamp) -> Result<Rpm, DeviceError> {
        self.0.with(|b| b.fan_rpm())
    }
}

#[derive(Debug, Clone)]
pub struct SimChipSensor {
    p: SimBoardPeripherals,
    name: String,
}

impl Thermometer for SimChipSensor {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_temp(&mut self, _now: Timestamp) -> Result<Celsius, DeviceError> {
        self.p.with(|b| {
            if b.chip_sensor_failed {
                Err(DeviceError::Timeout)
            } else {
                Ok(b.chip_temp())
            }
        })?
    }
}
