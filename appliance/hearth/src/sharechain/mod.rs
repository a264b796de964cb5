//! The sharechain node's IO: the SQLite store, the tokio p2p service, the
//! status view and the benchmark. Consensus lives in `hearth-sharechain`.

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod follow;
pub mod p2p;
pub mod service;
pub mod store;
pub mod writer;
