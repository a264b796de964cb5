//! The Hearth daemon. This crate is the only one that knows tokio, HTTP and
//! SQLite: it reads the config, chooses real or simulated devices (in
//! [`backends`], the one place that decision is made), runs the control tick
//! on a timer, stores settings and telemetry, and serves the API.

pub mod api;
pub mod api_control;
pub mod backends;
pub mod boards;
pub mod circulation_input;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod heatsink_probes;
pub mod house_control;
pub mod logging;
pub mod mqtt;
pub mod node;
pub mod owner_only;
pub mod policy_patch;
pub mod remote;
pub mod remote_mining;
pub mod remote_mqtt;
pub mod remote_work;
pub mod sdnotify;
pub mod sg_relays;
pub mod sharechain;
pub mod sim_pic;
pub mod state;
pub mod store;
pub mod wall_clock;
pub mod web;
pub mod work;
