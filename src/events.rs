//! The internal event bus: "something happened" from every producer to one dispatcher.
//!
//! Why it exists apart from `automation`: webhooks (`api`), due jobs (`scheduler`), finished
//! runs (chat turns and unattended runs alike) and security alerts (`audit`) all publish here,
//! and `automation` consumes. Keeping the bus below all of them means no producer depends on its
//! consumer, and the bus exists before anything that publishes: it is created first and handed
//! to the services ([`crate::services::Ctx`]) at construction, so no event is ever dropped for
//! want of a bus.

use tokio::sync::mpsc;

use crate::store::{Delivery, JobRow};
use crate::telegram::update::ChatRef;

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// An authenticated, deduplicated webhook delivery (already stored as pending).
    Webhook(Delivery),
    /// A scheduled job is due now.
    JobDue(JobRow),
    /// Tell these chats something.
    Notify { chats: Vec<ChatRef>, html: String },
    /// A Claude run ended (chat, webhook or schedule).
    RunFinished {
        kind: &'static str,
        label: String,
        ok: bool,
        seconds: f64,
        cost_usd: f64,
    },
    /// The anomaly detector raised an alert: the admins are told in their private chats.
    SecurityAlert { kind: String, html: String },
}

/// The sending side of the bus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    tx: mpsc::UnboundedSender<Event>,
}

/// The receiving side, for the one dispatcher (`automation::start`).
pub type Events = mpsc::UnboundedReceiver<Event>;

impl Bus {
    pub fn new() -> (Bus, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Bus { tx }, rx)
    }

    pub fn publish(&self, event: Event) {
        if self.tx.send(event).is_err() {
            tracing::error!("event bus is closed; event dropped");
        }
    }
}
