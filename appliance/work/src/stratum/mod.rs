//! Stratum V1: newline-delimited JSON-RPC over TCP.
//!
//! - [`codec`]: lines to messages and back, bounded, every field checked.
//! - [`client`]: the miner side's state machine (what a pool sees us as).
//! - [`reconnect`]: which `client.reconnect` targets a pool connection follows.
//! - [`server`]: one LAN miner's session (what a Bitaxe sees us as).

pub mod client;
pub mod codec;
pub mod reconnect;
pub mod server;

pub use client::{ClientConfig, ClientEvent, StratumClient};
pub use codec::{CodecError, Notify, ServerMessage, MAX_LINE};
pub use reconnect::{reconnect_address, FollowReconnect, ReconnectRefused};
pub use server::{ServerConfig, ServerEvent, ServerSession};
