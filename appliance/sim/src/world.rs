//! Rooms, boards and weather stepped together in fixed one-second substeps,
//! whatever the caller's tick, so results depend on the seed and the times
//! asked for, never on how often someone looked.

use crate::board::{SimBoard, SimBoardParams};
use crate::rng::SimRng;
use crate::room::{RoomParams, RoomState};
use crate::weather::{Weather, WeatherParams};
use hearth_core::{Celsius, Timestamp, Watts};
use std::sync::{Arc, Mutex, MutexGuard};

/// Physics step. One second is well inside the stability limit of the
/// default room and resolves the 100 ms frequency ramp well enough.
pub const STEP_MS: u64 = 1000;

#[derive(Debug, Clone)]
pub struct SimRoom {
    pub name: String,
    pub params: RoomParams,
    pub state: RoomState,
    /// People, appliances: heat that is not ours.
    pub internal_gain_w: Watts,
    /// Fault injection: the room's thermometer stops answering.
    pub sensor_failed: bool,
    /// Extra conductance straight from the interior to outdoors (an open
    /// window), W/K.
    pub extra_loss_w_per_k: f64,
    /// Heat from another source (a heat pump), W.
    pub extra_heat_w: Watts,
    sensor_rng: SimRng,
}

#[derive(Debug, Clone)]
pub struct World {
    now: Timestamp,
    weather: Weather,
    rooms: Vec<SimRoom>,
    boards: Vec<(usize, SimBoard)>,
    rng: SimRng,
    /// Heat delivered into rooms by boards since the start, for KPIs.
    heat_wh: f64,
}

/// The world behind the device handles. A plain mutex: every access is a
/// short computation, never IO.
pub type SharedWorld = Arc<Mutex<World>>;

/// Locks the world; a poisoned lock (a panic elsewhere while holding it) still
/// yields the data, because the physics state is always consistent between steps.
pub fn lock(world: &SharedWorld) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl World {
    pub fn new(start: Timestamp, seed: u64, weather: WeatherParams) -> World {
        let mut rng = SimRng::new(seed);
        let weather = Weather::new(weather, rng.fork(1));
        World {
            now: start,
            weather,
            rooms: Vec::new(),
            boards: Vec::new(),
            rng,
            heat_wh: 0.0,
        }
    }

    pub fn into_shared(self) -> SharedWorld {
        Arc::new(Mutex::new(self))
    }

    /// Adds a room starting at `interior` with its walls settled for the
    /// current outdoor temperature. Returns its index.
    pub fn add_room(
        &mut self,
        name: &str,
        params: RoomParams,
        interior: Celsius,
        internal_gain: Watts,
    ) -> usize {
        let outdoor = self.weather.outdoor(self.now);
        let idx = self.rooms.len();
        let sensor_rng = self.rng.fork(1000 + idx as u64);
        self.rooms.push(SimRoom {
            name: name.to_string(),
            params,
            state: RoomState::settled(&params, interior, outdoor),
            internal_gain_w: internal_gain,
            sensor_failed: false,
            extra_loss_w_per_k: 0.0,
            extra_heat_w: Watts::ZERO,
            sensor_rng,
        });
        idx
    }

    /// Adds a board heating room `room`. Returns its index.
    pub fn add_board(&mut self, room: usize, params: SimBoardParams) -> usize {
        let ambient = self
            .rooms
            .get(room)
            .map_or(Celsius(20.0), |r| r.state.interior_c);
        self.boards.push((room, SimBoard::new(params, ambient)));
        self.boards.len() - 1
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn weather_mut(&mut self) -> &mut Weather {
        &mut self.weather
    }

    pub fn outdoor(&self) -> Celsius {
        self.weather.outdoor(self.now)
    }

    pub fn room(&self, idx: usize) -> Option<&SimRoom> {
        self.rooms.get(idx)
    }

    pub fn room_mut(&mut self, idx: usize) -> Option<&mut SimRoom> {
        self.rooms.get_mut(idx)
    }

    pub fn board(&self, idx: usize) -> Option<&SimBoard> {
        self.boards.get(idx).map(|(_, b)| b)
    }

    pub fn board_mut(&mut self, idx: usize) -> Option<&mut SimBoard> {
        self.boards.get_mut(idx).map(|(_, b)| b)
    }

    pub fn solar_w_per_m2(&self) -> f64 {
        self.weather.solar_w_per_m2(self.now)
    }

    pub fn heat_delivered_wh(&self) -> f64 {
        self.heat_wh
    }

    /// Integrates up to `now` in whole steps. Time never runs backwards: an
    /// earlier `now` is ignored.
    pub fn advance_to(&mut self, now: Timestamp) {
        while self.now.as_millis().saturating_add(STEP_MS) <= now.as_millis() {
            self.step();
        }
    }

    fn step(&mut self) {
        let dt = STEP_MS as f64 / 1000.0;
        let outdoor = self.weather.outdoor(self.now);
        let solar = self.weather.solar_w_per_m2(self.now);
        let mut heat_per_room = vec![0.0; self.rooms.len()];
        for (room, board) in &mut self.boards {
            let ambient = self
                .rooms
                .get(*room)
                .map_or(Celsius(20.0), |r| r.state.interior_c);
            board.step(dt, ambient);
            if let Some(h) = heat_per_room.get_mut(*room) {
                *h += board.power_w().get();
            }
        }
        for (room, heat) in self.rooms.iter_mut().zip(heat_per_room) {
            let window = room.extra_loss_w_per_k * (room.state.interior_c.get() - outdoor.get());
            let other = room.internal_gain_w.get() + room.extra_heat_w.get() - window;
            room.state
                .step(&room.params, dt, outdoor, Watts(heat), solar, Watts(other));
            self.heat_wh += heat * dt / 3600.0;
        }
        self.weather.step(dt);
        self.now = Timestamp(self.now.as_millis() + STEP_MS);
    }

    /// A thermometer reading of room `idx`: the interior temperature with a
    /// little sensor noise, quantised to 1/16 °C like a TMP75.
    pub fn read_room_sensor(&mut self, idx: usize) -> Option<Celsius> {
        let room = self.rooms.get_mut(idx)?;
        if room.sensor_failed {
            return None;
        }
        let noisy = room.state.interior_c.get() + 0.02 * room.sensor_rng.normal();
        Some(Celsius((noisy * 16.0).round() / 16.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_heats_its_room() {
        let mut w = World::new(Timestamp::from_secs(0), 1, WeatherParams::default());
        let heated = w.add_room("a", RoomParams::default(), Celsius(18.0), Watts::ZERO);
        let cold = w.add_room("b", RoomParams::default(), Celsius(18.0), Watts::ZERO);
        let b = w.add_board(heated, SimBoardParams::bm1370_65());
        if let Some(board) = w.board_mut(b) {
            board.set_power_target(Watts(1200.0));
        }
        w.advance_to(Timestamp::from_secs(3600));
        let t_heated = w
            .room(heated)
            .map(|r| r.state.interior_c.get())
            .unwrap_or(0.0);
        let t_cold = w
            .room(cold)
            .map(|r| r.state.interior_c.get())
            .unwrap_or(0.0);
        assert!(t_heated > 18.4, "{t_heated}");
        assert!(t_cold < 18.0, "{t_cold}");
        // Delivered heat matches an hour of (ramped) ~1.2 kW.
        assert!(
            (w.heat_delivered_wh() - 1200.0).abs() < 60.0,
            "{}",
            w.heat_delivered_wh()
        );
    }

    #[test]
    fn time_does_not_run_backwards() {
        let mut w = World::new(Timestamp::from_secs(100), 1, WeatherParams::default());
        w.advance_to(Timestamp::from_secs(50));
        assert_eq!(w.now(), Timestamp::from_secs(100));
        w.advance_to(Timestamp::from_millis(101_999));
        assert_eq!(w.now(), Timestamp::from_secs(101));
    }

    #[test]
    fn failed_sensor_reads_nothing() {
        let mut w = World::new(Timestamp::from_secs(0), 1, WeatherParams::default());
        let r = w.add_room("a", RoomParams::default(), Celsius(18.0), Watts::ZERO);
        assert!(w.read_room_sensor(r).is_some());
        if let Some(room) = w.room_mut(r) {
            room.sensor_failed = true;
        }
        assert!(w.read_room_sensor(r).is_none());
        assert!(w.read_room_sensor(99).is_none());
    }
}
