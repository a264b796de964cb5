//! Hashboards driven through their chain: the tokio side of the sans-IO
//! `BoardRuntime`. One task per board owns the serial port (a real UART, or a
//! pseudo-terminal with simulated chips behind it) and the runtime; the
//! control loop talks to it through a [`BoardHandle`] that implements the
//! `Hashboard` seam with bounded queues and never blocks on hardware.

mod handle;
mod port;
mod simchips;
mod task;

pub use handle::{BoardHandle, JobFeed, Mailbox};
pub use port::{ChainPort, MemoryPort};
pub use simchips::{run_sim_chain, SimChainFaults};
pub use task::{command_lease, spawn_board, spawn_board_with_lease};
