//! One unattended Claude run (a webhook trigger or a scheduled job), start to delivery.
//!
//! Why it exists apart from the chat actor: nobody is watching an automated run, so there is
//! no progress message, no queue, no session to resume, and nobody to press an approval
//! button in front of the run. It takes a slot of the shared bound on live processes
//! ([`crate::runner::pool`]) like a chat turn, waiting in the same line. Every tool call goes
//! through the same turn core ([`crate::turn`]) as a chat turn; an `ask` in a scheduled job is
//! sent to the job's creator as an approval prompt (buttons, TOTP step-up, timeout), while in a
//! webhook run it becomes a deny (nobody is behind it). The caller chooses the role — webhook
//! runs are viewers (read-only) unless the operator's trigger says otherwise. Budgets hold as
//! for chat, costs go to the same ledger, and the answer reaches its chats through the durable
//! outbox together with the run's record, so a crash cannot deliver half of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use crate::events::Event;
use crate::policy::roles::Role;
use crate::policy::sandbox;
use crate::render::{self, Ending};
use crate::runner::{ClaudeEvent, ProcessEvent, TurnResult};
use crate::services::Ctx;
use crate::store::{NewOutbox, TurnRecord};
use crate::telegram::html::escape;
use crate::telegram::update::ChatRef;
use crate::turn::{self, Answerer, Step};

/// What to run, as whom, and where the answer goes.
#[derive(Debug, Clone)]
pub struct Unattended {
    /// `webhook` or `schedule` (metrics, audit).
    pub kind: &'static str,
    /// Shown above the answer, e.g. "Job #3" or "github pull_request → pr-review".
    pub label: String,
    /// Whose budget pays (the job's creator; 0 = the automation account for webhooks).
    pub user_id: i64,
    pub role: Role,
    /// The project directory (checked again here: inside the approved directory).
    pub dir: PathBuf,
    pub prompt: String,
    pub targets: Vec<ChatRef>,
}

/// How a run ended, for the caller (tests, the scheduler's bookkeeping).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Finished { ok: bool, cost_usd: f64 },
    Refused(String),
}

/// Run to completion and queue the answer for every target chat.
pub async fn run(ctx: Arc<Ctx>, job: Unattended) -> Outcome {
    let cfg = ctx.config.clone();
    let header = format!("🤖 <b>{}</b>", escape(&job.label));
    let refuse = |why: String| async {
        let html = format!("{header}\n❌ Not run: {}", escape(&why));
        super::notify(&ctx, &job.targets, &html).await;
        Outcome::Refused(why)
    };

    let dir = match sandbox::resolve_within(
        &cfg.approved_directory,
        &cfg.approved_directory,
        &job.dir.to_string_lossy(),
    ) {
        Ok(d) if d.is_dir() => d,
        Ok(d) => return refuse(format!("{} is not a directory", d.display())).await,
        Err(e) => {
            audit(
                &ctx,
                &job,
                crate::audit::Event::PathRejected,
                json!({"path": job.dir, "reason": e.to_string()}),
            )
            .await;
            return refuse(format!("the project directory is not allowed: {e}")).await;
        }
    };
    if let Some(why) =
        turn::budget_refusal(&ctx, job.user_id, job.targets.first().map(|t| t.chat_id)).await
    {
        return refuse(why.text().to_string()).await;
    }

    // One slot of the shared bound on live processes (MAX_CLAUDE_PROCESSES), in the same line
    // as the chats; held until the process has exited, and given back on every way out.
    let Some(slot) = ctx
        .pool
        .wait_busy(|position| {
            tracing::info!(kind = job.kind, label = %job.label, position, "waiting for a claude slot");
        })
        .await
    else {
        return refuse("no free Claude process slot".into()).await;
    };
    let spec = turn::spawn_spec(&cfg, &dir, None, job.role);
    let owner = crate::egress::Owner {
        user_id: job.user_id,
        chat_id: job.targets.first().map(|t| t.chat_id).unwrap_or(0),
        label: crate::runner::launch::dir_label(&cfg.approved_directory, &dir),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut proc = match turn::start(&ctx, &spec, owner, move |ev| {
        let _ = tx.send(ev);
    })
    .await
    {
        Ok(p) => p,
        Err(e) => return refuse(e).await,
    };
    let run = job.turn_run(dir.clone());
    let started = Instant::now();
    if let Err(e) = proc.send_user(&job.prompt).await {
        proc.shutdown(Duration::from_secs(2)).await;
        return refuse(format!("could not talk to Claude: {e}")).await;
    }

    let mut deadline = tokio::time::Instant::now() + cfg.claude_timeout;
    let mut text = String::new();
    let mut ending = Ending::Done;
    let mut result: Option<TurnResult> = None;
    let mut stderr = String::new();
    let mut interrupted = false;
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = tokio::time::sleep_until(deadline) => {
                if interrupted {
                    break;
                }
                ending = Ending::TimedOut;
                interrupted = true;
                let _ = proc.interrupt().await;
                deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                continue;
            }
        };
        match ev {
            None => break,
            Some(ProcessEvent::Exited { stderr_tail }) => {
                stderr = stderr_tail;
                break;
            }
            Some(ProcessEvent::Claude(ClaudeEvent::Text { text: t })) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&t);
            }
            Some(ProcessEvent::Claude(ClaudeEvent::PermissionRequest(req))) => {
                let asked_at = tokio::time::Instant::now();
                let answer = decide(&ctx, &run, &req).await;
                // Time spent waiting for a human does not count against the run.
                deadline += asked_at.elapsed();
                let _ = proc.answer_permission(&req.request_id, &answer).await;
            }
            Some(ProcessEvent::Claude(ClaudeEvent::Result(r))) => {
                result = Some(r);
                break;
            }
            Some(_) => {}
        }
    }
    proc.shutdown(Duration::from_secs(2)).await;
    drop(slot);
    let elapsed = started.elapsed();

    let Some(mut result) = result else {
        metrics_done(&ctx, &job, false, elapsed, 0.0);
        let html = format!(
            "{header}\n{}",
            render::failure_message("Claude ended without an answer", &stderr)
        );
        super::notify(&ctx, &job.targets, &html).await;
        return Outcome::Finished {
            ok: false,
            cost_usd: 0.0,
        };
    };
    // A fresh session per run: its running total is this run's cost.
    result.charge(0.0);
    let ok = !result.is_error && ending == Ending::Done;
    let mut messages = render::final_messages(&result, &text, ending, elapsed, None, None);
    match messages.first_mut() {
        Some(first) if first.len() + header.len() < 4000 => *first = format!("{header}\n{first}"),
        _ => messages.insert(0, header.clone()),
    }
    deliver(&ctx, &job, &messages, &result, elapsed).await;
    metrics_done(&ctx, &job, ok, elapsed, result.cost_usd);
    audit(
        &ctx,
        &job,
        crate::audit::Event::RunFinished,
        json!({"kind": job.kind, "label": job.label, "ok": ok, "cost_usd": result.cost_usd,
               "turns": result.num_turns, "denials": result.permission_denials.len()}),
    )
    .await;
    Outcome::Finished {
        ok,
        cost_usd: result.cost_usd,
    }
}

/// The turn core's answer for one tool call; an ask is waited for (nobody else needs this task
/// meanwhile).
async fn decide(
    ctx: &Ctx,
    run: &turn::Run,
    req: &crate::runner::PermissionRequest,
) -> crate::runner::PermissionAnswer {
    let (decision, req) = match turn::decide(ctx, run, req).await {
        Step::Now(d) => (d, req.clone()),
        Step::Ask(ask) => {
            let outcome = ask.wait(ctx).await;
            ask.settle(ctx, outcome).await
        }
    };
    turn::answer(ctx, run, &req, &decision).await
}

impl Unattended {
    /// The run as the turn core sees it. Asks in a scheduled job go to its creator; a webhook
    /// run (the automation account, user 0) has nobody to ask.
    fn turn_run(&self, dir: PathBuf) -> turn::Run {
        turn::Run {
            user_id: self.user_id,
            role: self.role,
            chat: self.targets.first().copied().unwrap_or(ChatRef {
                chat_id: self.user_id,
                thread_id: 0,
            }),
            dir,
            session: None,
            answerer: if self.kind == "schedule" && self.user_id != 0 {
                Answerer::JobCreator
            } else {
                Answerer::Nobody
            },
            label: Some(self.label.clone()),
            unattended: Some(self.kind),
        }
    }
}

/// Queue `messages` for every target together with the run's record, atomically.
async fn deliver(
    ctx: &Ctx,
    job: &Unattended,
    messages: &[String],
    r: &TurnResult,
    elapsed: Duration,
) {
    let replies: Vec<NewOutbox> = job
        .targets
        .iter()
        .flat_map(|t| {
            messages.iter().map(move |html| NewOutbox {
                chat_id: t.chat_id,
                thread_id: t.thread_id,
                html: html.clone(),
                reply_to: None,
            })
        })
        .collect();
    let dir = job.dir.to_string_lossy();
    let first = job.targets.first().copied().unwrap_or(ChatRef {
        chat_id: 0,
        thread_id: 0,
    });
    let record = TurnRecord {
        user_id: job.user_id,
        chat_id: first.chat_id,
        thread_id: first.thread_id,
        directory: &dir,
        claude_session_id: None,
        prompt: &job.prompt,
        response: r.result.as_deref(),
        cost_usd: r.cost_usd,
        duration_ms: elapsed.as_millis() as i64,
        num_turns: r.num_turns,
        is_error: r.is_error,
        error_kind: r.is_error.then_some(r.subtype.as_str()),
    };
    if let Err(e) = ctx.store.record_turn(&record, &replies, &[]).await {
        tracing::error!(error = %e, label = %job.label, "could not store an automated run's answer");
    }
    ctx.outbox.kick();
}

fn metrics_done(ctx: &Ctx, job: &Unattended, ok: bool, elapsed: Duration, cost: f64) {
    ctx.publish(Event::RunFinished {
        kind: job.kind,
        label: job.label.clone(),
        ok,
        seconds: elapsed.as_secs_f64(),
        cost_usd: cost,
    });
}

async fn audit(
    ctx: &Ctx,
    job: &Unattended,
    event: crate::audit::Event,
    details: serde_json::Value,
) {
    let chat = job.targets.first().map(|t| t.chat_id);
    let user = (job.user_id != 0).then_some(job.user_id);
    crate::audit::record(&ctx.store, user, chat, event, &details).await;
}
