//! The sharechain node's IO: the SQLite store, the tokio p2p service, the
//! status view and the benchmark. Consensus lives in `hearth-sharechain`.

pub mod bench;
pub mod p2p;
pub mod store;
