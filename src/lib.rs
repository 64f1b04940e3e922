//! The `budget` binary's library: configuration, the REST front door, the typed Rust client,
//! the CLI and the load generator. The engine itself is the `budget-actors` crate.

pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod http;
pub mod mcp;
pub mod serve;
pub mod ui;
