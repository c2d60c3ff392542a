//! ccgate: a hardened Telegram gateway to Claude Code.
//!
//! Data flows one way: Telegram intake → gate → per-chat actor → turn core → Claude runner →
//! renderer → outbox → Telegram; webhooks and the scheduler publish on the [`events`] bus, and
//! [`automation`] runs them through the same [`turn`] core. Decisions about what is allowed live
//! only in [`policy`] (authority — who may approve, revoke, manage — included); asking humans
//! lives in [`approval`]. [`services`] and [`events`] sit below both `chat` and `automation`,
//! which never use each other.
//!
//! Nothing blocks the async runtime on the database: [`store`] runs every SQLite call on its
//! own threads (a writer and a reader) and its methods are `async`, so a lock held by another
//! process (the operator CLI) holds only the tasks that need that write.
//!
//! The operator's command line (`src/main.rs`) only parses arguments and prints: each verb
//! (`token`, `pair`, `totp`, `unlock`, `audit`, `policy`, `schedule`, `check`/`doctor`) is a
//! function in [`ops`] that returns a report and never prints or picks an exit code.

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
pub mod events;
pub mod gate;
pub mod jail;
pub mod mcp;
pub mod media;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod render;
pub mod runner;
pub mod scheduler;
pub mod secrets;
pub mod services;
pub mod store;
pub mod telegram;
#[cfg(test)]
mod test_rng;
pub mod turn;
pub mod usage;
pub mod walk;
pub mod workbench;
