//! The shared services handle: what every chat turn and every unattended run uses.
//!
//! Why it exists apart from `chat` and `automation`: both run Claude (through [`crate::turn`])
//! with the same configuration, store, outbox, launcher, rules, pending-prompt registry and
//! event bus. Kept below both, neither has to know the other exists; the bus is a plain field
//! given at construction (see [`crate::events`]), never attached late.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::approval::registry::Prompts;
use crate::config::Config;
use crate::events::{Bus, Event};
use crate::policy::budget::{self, BudgetVerdict};
use crate::policy::engine::Rules;
use crate::policy::secret_files::SecretFiles;
use crate::runner::launch::Launcher;
use crate::runner::pool::Pool;
use crate::store::Store;
use crate::telegram::outbox::Outbox;

/// What every chat actor and unattended run shares.
pub struct Ctx {
    pub config: Arc<Config>,
    pub store: Store,
    pub outbox: Outbox,
    /// Starts `claude` processes: boundary, private HOME, environment, egress lease.
    pub launcher: Launcher,
    /// Files never read, written or sent (built-ins, operator globs, ccgate's own files).
    pub secrets: SecretFiles,
    /// The operator's tool-call rules.
    pub rules: Rules,
    /// Pending prompts to humans — approvals and Claude's questions — shared by every chat:
    /// approval buttons arrive in approvers' private chats.
    pub prompts: Prompts,
    /// The bound on live `claude` processes, chats and unattended runs alike (`MAX_CLAUDE_PROCESSES`).
    pub pool: Arc<Pool>,
    bus: Bus,
    ids: AtomicU64,
}

impl Ctx {
    /// The prompt registry is built here (from the store, outbox and approval timeout).
    pub fn new(
        config: Arc<Config>,
        store: Store,
        outbox: Outbox,
        launcher: Launcher,
        secrets: SecretFiles,
        rules: Rules,
        bus: Bus,
    ) -> Self {
        let prompts = Prompts::new(store.clone(), outbox.clone(), config.approval_timeout);
        let pool = Pool::new(config.max_claude_processes);
        Ctx {
            config,
            store,
            outbox,
            launcher,
            secrets,
            rules,
            prompts,
            pool,
            bus,
            ids: AtomicU64::new(1),
        }
    }

    /// May `user_id` spend more today? Reads the cost ledger and checks the configured daily
    /// budgets. `None` when the ledger cannot be read: callers fail closed.
    pub async fn budget_verdict(
        &self,
        user_id: i64,
    ) -> Option<(BudgetVerdict, chrono::DateTime<chrono::Utc>)> {
        let budgets = budget::Budgets {
            per_user: self.config.max_cost_per_user,
            global: self.config.max_cost_global,
        };
        let (user_spent, _) = self.store.cost_today(user_id).await.ok()?;
        let global_spent = self.store.cost_today_all().await.ok()?;
        let now = chrono::Utc::now();
        Some((budget::check(&budgets, user_spent, global_spent, now), now))
    }

    /// Put an event on the bus.
    pub fn publish(&self, event: Event) {
        self.bus.publish(event);
    }

    /// A handle on the bus (for producers started from the services, e.g. the scheduler).
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// A process-unique id (turns, progress messages, process generations).
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}
