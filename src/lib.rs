//! lucid: hand a coding task to an agent from the tools your team already talks in.
//!
//! `core` is the domain and imports no framework, SDK or Docker client. Around it:
//! `config` (settings), `store` (SQLite / PostgreSQL), `sandbox` (Docker), `http`
//! (API, health, metrics), and the commands `serve` and `doctor`.

pub mod agent;
pub mod background;
pub mod chat;
pub mod config;
pub mod core;
pub mod discord;
pub mod doctor;
pub mod forge;
pub mod github;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod notion;
pub mod outbound;
pub mod registry;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod setup;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod worker;
