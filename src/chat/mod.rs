//! Conversations: one actor per chat (or forum topic), created on first contact.
//!
//! Why it exists: a chat's turns must run one at a time, in order, with its own directory,
//! session and queue — while different chats run in parallel. An actor per chat gives exactly
//! that without locks: the [`Router`] only finds (or starts) the right actor and hands it the
//! update; everything stateful happens inside the actor's own task.

mod actor;
mod commands;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::approval::questions::Questions;
use crate::approval::registry::Approvals;
use crate::config::Config;
use crate::gate::Admitted;
use crate::policy::engine::Rules;
use crate::policy::secret_files::SecretFiles;
use crate::store::Store;
use crate::telegram::outbox::Outbox;
use crate::telegram::update::ChatRef;

pub use commands::COMMANDS;

/// What every chat actor shares.
pub struct Ctx {
    pub config: Arc<Config>,
    pub store: Store,
    pub outbox: Outbox,
    /// Starts `claude` processes: boundary, private HOME, environment, egress lease.
    pub launcher: crate::runner::launch::Launcher,
    /// Files never read, written or sent (built-ins, operator globs, ccgate's own files).
    pub secrets: SecretFiles,
    /// The operator's tool-call rules.
    pub rules: Rules,
    /// Pending human approvals (shared by every chat: buttons arrive in approvers' chats).
    pub approvals: Approvals,
    /// Claude's open questions to users (AskUserQuestion, plan approval).
    pub questions: Questions,
    /// The event bus (attached once by `automation::start`).
    bus: std::sync::OnceLock<crate::automation::Bus>,
    ids: AtomicU64,
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        store: Store,
        outbox: Outbox,
        launcher: crate::runner::launch::Launcher,
        secrets: SecretFiles,
        rules: Rules,
        approvals: Approvals,
        questions: Questions,
    ) -> Self {
        Ctx {
            config,
            store,
            outbox,
            launcher,
            secrets,
            rules,
            approvals,
            questions,
            bus: std::sync::OnceLock::new(),
            ids: AtomicU64::new(1),
        }
    }

    /// May `user_id` spend more today? Reads the cost ledger and checks the configured daily
    /// budgets. `None` when the ledger cannot be read: callers fail closed.
    pub fn budget_verdict(
        &self,
        user_id: i64,
    ) -> Option<(
        crate::policy::budget::BudgetVerdict,
        chrono::DateTime<chrono::Utc>,
    )> {
        let budgets = crate::policy::budget::Budgets {
            per_user: self.config.max_cost_per_user,
            global: self.config.max_cost_global,
        };
        let (user_spent, _) = self.store.cost_today(user_id).ok()?;
        let global_spent = self.store.cost_today_all().ok()?;
        let now = chrono::Utc::now();
        Some((
            crate::policy::budget::check(&budgets, user_spent, global_spent, now),
            now,
        ))
    }

    /// Connect the event bus (once).
    pub fn attach_bus(&self, bus: crate::automation::Bus) {
        let _ = self.bus.set(bus);
    }

    /// Put an event on the bus (logged if none is attached, e.g. in a unit test).
    pub fn publish(&self, event: crate::automation::Event) {
        match self.bus.get() {
            Some(bus) => bus.publish(event),
            None => tracing::warn!(?event, "no event bus attached; event dropped"),
        }
    }

    /// A process-unique id (turns, progress messages, process generations).
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

/// Finds or starts the actor of a chat.
pub struct Router {
    ctx: Arc<Ctx>,
    actors: Mutex<HashMap<ChatRef, mpsc::UnboundedSender<actor::ActorMsg>>>,
}

impl Router {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Router {
            ctx,
            actors: Mutex::new(HashMap::new()),
        }
    }

    /// Deliver an authorized update to its chat's actor (in arrival order).
    pub fn route(&self, admitted: Admitted) {
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        let chat = admitted.incoming.chat;
        let chat_kind = admitted.incoming.chat_kind.clone();
        let mut msg = actor::ActorMsg::Incoming(admitted);
        if let Some(tx) = actors.get(&chat) {
            match tx.send(msg) {
                Ok(()) => return,
                // The actor ended (it never should; a panic would do it): start a new one.
                Err(mpsc::error::SendError(m)) => msg = m,
            }
        }
        let tx = actor::spawn(self.ctx.clone(), chat, chat_kind);
        let _ = tx.send(msg);
        actors.insert(chat, tx);
    }

    /// Stop every actor's Claude process (on shutdown).
    pub fn shutdown_all(&self) {
        let actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        for tx in actors.values() {
            let _ = tx.send(actor::ActorMsg::Shutdown);
        }
    }
}
