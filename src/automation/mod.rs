//! Event-driven automation: what reacts to the events on the bus ([`crate::events`]).
//!
//! Why it exists: webhooks, scheduled jobs and notifications are all "something happened, now
//! maybe run Claude and tell some chats". One bus carries those events to one dispatcher, which
//! never does slow work itself: every Claude run is its own task (bounded by a semaphore), so
//! a slow run never holds up the next webhook, job or notification. Notifications are written
//! to the durable outbox, which applies Telegram's limits and retries.
//!
//! Events: a webhook delivery (stored as pending before it is published, re-published after a
//! crash), a job due, a notification, a finished run (metrics, log), a security alert (to the
//! admins). The alert's audit row is durable before it is published; from here on the outbox is.

pub mod run;
pub mod triggers;

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::events::{Event, Events};
use crate::policy::roles::Role;
use crate::services::Ctx;
use crate::store::{Delivery, JobRow, NewOutbox};
use crate::telegram::update::ChatRef;
use run::{Outcome, Unattended};
use triggers::{Tools, Triggers};

/// How many unattended Claude runs may run at once (more wait their turn).
pub const MAX_CONCURRENT_RUNS: usize = 2;

/// Start the dispatcher over the bus's receiving side (the bus itself was created first and
/// given to the services, see [`crate::events`]).
pub fn start(ctx: Arc<Ctx>, events: Events, triggers: Arc<Triggers>) {
    tokio::spawn(dispatch(ctx, triggers, events));
}

/// Consume the bus until it closes. Each run is spawned; this loop only routes.
async fn dispatch(ctx: Arc<Ctx>, triggers: Arc<Triggers>, mut rx: Events) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_RUNS));
    while let Some(event) = rx.recv().await {
        match event {
            Event::Webhook(d) => on_webhook(&ctx, &triggers, &permits, d),
            Event::JobDue(job) => on_job(&ctx, &permits, job).await,
            Event::Notify { chats, html } => notify(&ctx, &chats, &html).await,
            Event::RunFinished {
                kind,
                label,
                ok,
                seconds,
                cost_usd,
            } => {
                crate::metrics::run_finished(kind, ok, seconds, cost_usd);
                tracing::info!(kind, %label, ok, seconds, cost_usd, "claude run finished");
            }
            Event::SecurityAlert { kind, html } => {
                let admins: Vec<ChatRef> = ctx
                    .config
                    .admins()
                    .into_iter()
                    .map(|a| ChatRef {
                        chat_id: a,
                        thread_id: 0,
                    })
                    .collect();
                if admins.is_empty() {
                    tracing::warn!(%kind, "security alert with no admin to tell (set USER_ROLES)");
                }
                notify(&ctx, &admins, &html).await;
            }
        }
    }
}

fn spawn_run(
    ctx: &Arc<Ctx>,
    permits: &Arc<Semaphore>,
    job: Unattended,
) -> tokio::task::JoinHandle<Outcome> {
    let (ctx, permits) = (ctx.clone(), permits.clone());
    tokio::spawn(async move {
        let _permit = permits.acquire_owned().await;
        run::run(ctx, job).await
    })
}

fn on_webhook(ctx: &Arc<Ctx>, triggers: &Triggers, permits: &Arc<Semaphore>, d: Delivery) {
    let payload: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
    let root = &ctx.config.approved_directory;
    let runs: Vec<_> = triggers
        .matching(&d.provider, &d.event, d.action.as_deref())
        .map(|t| {
            spawn_run(
                ctx,
                permits,
                Unattended {
                    kind: "webhook",
                    label: format!("{} {} → {}", d.provider, d.event, t.name),
                    user_id: 0,
                    role: match t.tools {
                        Tools::ReadOnly => Role::Viewer,
                        Tools::Project => Role::Developer,
                    },
                    dir: t.project_dir(root),
                    prompt: triggers::untrusted_prompt(&t.prompt, &d.provider, &d.event, &payload),
                    targets: t
                        .chats
                        .iter()
                        .map(|c| ChatRef {
                            chat_id: *c,
                            thread_id: 0,
                        })
                        .collect(),
                },
            )
        })
        .collect();
    if runs.is_empty() {
        tracing::info!(provider = %d.provider, event = %d.event, "webhook matched no trigger");
    }
    let (store, key) = (ctx.store.clone(), d.key.clone());
    tokio::spawn(async move {
        for r in runs {
            let _ = r.await;
        }
        if let Err(e) = store.finish_delivery(&key).await {
            tracing::error!(error = %e, "could not mark a webhook delivery done");
        }
    });
}

async fn on_job(ctx: &Arc<Ctx>, permits: &Arc<Semaphore>, job: JobRow) {
    let chat = ChatRef {
        chat_id: job.chat_id,
        thread_id: job.thread_id,
    };
    // The creator's current standing, not the one they had when they created the job.
    let allowed = crate::auth::allowed_users(&ctx.config.allowed_users, &ctx.store)
        .await
        .contains(&job.creator);
    let locked = ctx
        .store
        .lockout_of(job.creator)
        .await
        .map(|l| l.is_some())
        .unwrap_or(true);
    if !allowed || locked {
        notify(
            ctx,
            &[chat],
            &format!(
                "⏰ Job #{} did not run: its creator is no longer allowed to use this bot.",
                job.id
            ),
        )
        .await;
        crate::audit::record(
            &ctx.store,
            Some(job.creator),
            Some(job.chat_id),
            crate::audit::Event::AccessDenied,
            &serde_json::json!({"job": job.id, "reason": if locked { "locked out" } else { "not allowed" }}),
        ).await;
        return;
    }
    crate::audit::record(
        &ctx.store,
        Some(job.creator),
        Some(job.chat_id),
        crate::audit::Event::JobFired,
        &serde_json::json!({"job": job.id, "cron": job.cron, "tz": job.tz}),
    )
    .await;
    spawn_run(
        ctx,
        permits,
        Unattended {
            kind: "schedule",
            label: format!("Job #{}", job.id),
            user_id: job.creator,
            role: ctx.config.role_of(job.creator),
            dir: job.directory.clone().into(),
            // Nobody reviews the text when it fires: the CLI must not read files it mentions.
            prompt: crate::policy::mentions::neutralise(&job.prompt),
            targets: vec![chat],
        },
    );
}

/// Queue `html` for each chat through the durable outbox.
pub async fn notify(ctx: &Ctx, chats: &[ChatRef], html: &str) {
    let rows: Vec<NewOutbox> = chats
        .iter()
        .map(|c| NewOutbox {
            chat_id: c.chat_id,
            thread_id: c.thread_id,
            html: html.to_string(),
            reply_to: None,
        })
        .collect();
    if let Err(e) = ctx.store.complete_updates(&[], &rows).await {
        tracing::error!(error = %e, "could not queue a notification");
    }
    ctx.outbox.kick();
}
