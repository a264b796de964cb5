//! Device handles over the shared world. Each call first advances the world to
//! the `now` it is given, so the control tick drives simulated time exactly as
//! it would read real hardware.

use crate::world::{lock, SharedWorld};
use hearth_core::board::{BoardPoll, MAX_POLL_ITEMS};
use hearth_core::{
    BoardEvent, BoardId, BoardInfo, BoardState, Celsius, DeviceError, Hashboard, HashboardError,
    Job, Thermometer, Timestamp, Watts,
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
