//! Everything that speaks the Telegram Bot API, and nothing that decides what to say.
//!
//! Why it exists: intake (long polling into a durable inbox), the outbox (rate limits, retries,
//! durable delivery), HTML rendering and splitting, and the single-instance lock are transport
//! concerns. Business logic lives in `chat`, decisions in `policy`.

pub mod api;
pub mod files;
pub mod html;
pub mod instance_lock;
pub mod intake;
pub mod limits;
pub mod outbox;
pub mod topics;
pub mod update;
