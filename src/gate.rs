//! The checkpoint every update passes before anything acts on it.
//!
//! Why it exists: identification and authorization must happen once, in order, for every kind
//! of update (messages, edits, button presses) — a check living in a command handler is a check
//! some other handler forgets. Rejected traffic is dropped without a reply (the bot does not
//! confirm it exists to strangers) and written to the audit log.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::store::Store;
use crate::telegram::update::{self, Incoming, IncomingKind};

/// What the gate decided about one update.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Hand it to the chat.
    Pass(Incoming),
    /// Nothing to do (already handled here, or not for us); `reason` is for logs.
    Drop { reason: &'static str },
}

pub struct Gate {
    allowed_users: HashSet<i64>,
    store: Store,
}

impl Gate {
    pub fn new(allowed_users: &[i64], store: Store) -> Self {
        Gate {
            allowed_users: allowed_users.iter().copied().collect(),
            store,
        }
    }

    fn audit(&self, user: Option<i64>, chat: Option<i64>, event: &str, risk: &str, details: Value) {
        if let Err(e) = self.store.audit(user, chat, event, risk, &details) {
            tracing::error!(error = %e, event, "audit write failed");
        }
    }

    /// Decide about a raw update.
    pub fn check(&self, raw: &Value) -> Verdict {
        let Some(incoming) = update::parse(raw) else {
            self.audit(
                None,
                None,
                "update_unparsed",
                "low",
                json!({"update_id": raw.get("update_id")}),
            );
            return Verdict::Drop {
                reason: "unparseable or unsupported update",
            };
        };
        // Fail closed: an empty allowlist admits nobody.
        if !self.allowed_users.contains(&incoming.user_id) {
            let what = match &incoming.kind {
                IncomingKind::Text { .. } => "message",
                IncomingKind::Callback { .. } => "callback",
                IncomingKind::Edited { .. } => "edited_message",
                IncomingKind::Unsupported { .. } => "other",
            };
            tracing::warn!(
                user = incoming.user_id,
                chat = incoming.chat.chat_id,
                what,
                "unauthorized update dropped"
            );
            self.audit(
                Some(incoming.user_id),
                Some(incoming.chat.chat_id),
                "auth_rejected",
                "medium",
                json!({"kind": what, "username": incoming.username, "chat_kind": incoming.chat_kind}),
            );
            return Verdict::Drop {
                reason: "user not allowed",
            };
        }
        if let IncomingKind::Edited { .. } = incoming.kind {
            // Editing a sent prompt never re-runs it: the original already ran.
            return Verdict::Drop {
                reason: "edited message",
            };
        }
        if incoming.chat_kind == "channel" {
            return Verdict::Drop {
                reason: "channel post",
            };
        }
        Verdict::Pass(incoming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(user: i64, chat: i64) -> Value {
        json!({"update_id": 1, "message": {"message_id": 1, "from": {"id": user}, "chat": {"id": chat, "type": if chat > 0 {"private"} else {"supergroup"}}, "text": "hi"}})
    }

    #[test]
    fn empty_allowlist_admits_nobody() {
        let store = Store::open_in_memory().unwrap();
        let g = Gate::new(&[], store.clone());
        assert!(matches!(g.check(&msg(1, 1)), Verdict::Drop { .. }));
        assert_eq!(store.audit_count("auth_rejected").unwrap(), 1);
    }

    #[test]
    fn every_update_kind_is_checked() {
        let store = Store::open_in_memory().unwrap();
        let g = Gate::new(&[10], store.clone());
        assert!(matches!(g.check(&msg(10, 10)), Verdict::Pass(_)));
        assert!(matches!(g.check(&msg(11, -5)), Verdict::Drop { .. }));
        let cb = json!({"update_id": 2, "callback_query": {"id": "c", "from": {"id": 11},
            "message": {"message_id": 4, "chat": {"id": 10, "type": "private"}}, "data": "stop:1"}});
        assert!(matches!(g.check(&cb), Verdict::Drop { .. }));
        let edit = json!({"update_id": 3, "edited_message": {"message_id": 1, "from": {"id": 11}, "chat": {"id": 10, "type": "private"}, "text": "x"}});
        assert!(matches!(g.check(&edit), Verdict::Drop { .. }));
        assert_eq!(store.audit_count("auth_rejected").unwrap(), 3);
    }
}
