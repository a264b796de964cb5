//! The simulated world. Everything here is deterministic from a seed and runs
//! on whatever `now` it is given, so a week of winter takes seconds.
//!
//! * [`room`]: the 2R2C thermal model of a room (interior + envelope).
//! * [`weather`]: outdoor temperature, a daily cycle plus seeded noise.
//! * [`board`]: a hashboard's physics: power from a V/f table and a CMOS
//!   model, chip temperature from power and fan, hashrate from frequency.
//! * [`world`]: rooms, boards and weather stepped together in fixed substeps.
//! * [`devices`]: handles that implement the `hearth-core` seam traits on top
//!   of the world, so the control tick cannot tell them from hardware.
//! * [`clock`]: virtual and scaled clocks.
//! * [`scenario`] / [`runner`]: a scenario file and a faster-than-real-time run.

pub mod board;
pub mod clock;
pub mod devices;
pub mod faults;
pub mod netfaults;
pub mod rng;
pub mod room;
pub mod runner;
pub mod scenario;
pub mod weather;
pub mod world;

pub use clock::VirtualClock;
pub use devices::{SimHashboard, SimThermometer};
pub use scenario::{Scenario, ScenarioError};
pub use world::{SharedWorld, World};
