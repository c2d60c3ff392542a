//! ccgate: a hardened Telegram gateway to Claude Code.
//!
//! Data flows one way: Telegram intake → gate → per-chat actor → Claude runner → renderer →
//! outbox → Telegram. Decisions about what is allowed live only in [`policy`].

pub mod api;
pub mod app;
pub mod approval;
pub mod audit;
pub mod auth;
pub mod automation;
pub mod backoff;
pub mod chat;
pub mod config;
pub mod egress;
pub mod gate;
pub mod jail;
pub mod metrics;
pub mod policy;
pub mod render;
pub mod runner;
pub mod scheduler;
pub mod store;
pub mod telegram;
#[cfg(test)]
mod test_rng;
pub mod walk;
