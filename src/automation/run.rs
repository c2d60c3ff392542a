//! One unattended Claude run (a webhook trigger or a scheduled job), start to delivery.
//!
//! Why it exists apart from the chat actor: nobody is watching an automated run, so there is
//! no progress message, no queue, no session to resume, and nobody to press an approval
//! button in front of the run. Every tool call still goes through the same policy engine; an
//! `ask` in a scheduled job is sent to the job's creator as an approval prompt (buttons, TOTP
//! step-up, timeout), while in a webhook run it becomes a deny (nobody is behind it). The
//! caller chooses the role — webhook runs are viewers
//! (read-only) unless the operator's trigger says otherwise. Budgets hold as for chat, costs go
//! to the same ledger, and the answer reaches its chats through the durable outbox together
//! with the run's record, so a crash cannot deliver half of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use crate::chat::Ctx;
use crate::policy::budget::{self, BudgetVerdict};
use crate::policy::engine::grants::Footprint;
use crate::policy::engine::{self, Decision};
use crate::policy::roles::Role;
use crate::policy::{sandbox, ToolContext};
use crate::render::{self, Ending};
use crate::runner::{
    ClaudeEvent, ClaudeProcess, PermissionAnswer, ProcessEvent, SpawnSpec, TurnResult,
};
use crate::store::{NewOutbox, TurnRecord};
use crate::telegram::html::escape;
use crate::telegram::update::ChatRef;

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
    let refuse = |why: String| {
        let html = format!("{header}\n❌ Not run: {}", escape(&why));
        super::notify(&ctx, &job.targets, &html);
        Outcome::Refused(why)
    };

    let dir = match sandbox::resolve_within(
        &cfg.approved_directory,
        &cfg.approved_directory,
        &job.dir.to_string_lossy(),
    ) {
        Ok(d) if d.is_dir() => d,
        Ok(d) => return refuse(format!("{} is not a directory", d.display())),
        Err(e) => {
            audit(
                &ctx,
                &job,
                "path_rejected",
                json!({"path": job.dir, "reason": e.to_string()}),
            );
            return refuse(format!("the project directory is not allowed: {e}"));
        }
    };
    if let Some(why) = over_budget(&ctx, job.user_id) {
        audit(&ctx, &job, "budget_exceeded", json!({"reason": why}));
        return refuse(why);
    }

    let spec = SpawnSpec {
        cli_path: cfg.claude_cli_path.clone(),
        cwd: dir.clone(),
        resume: None,
        model: cfg.claude_model.clone(),
        max_turns: cfg.claude_max_turns,
        max_budget_usd: cfg.max_cost_per_request,
        disallowed_tools: if job.role.can_write() {
            Vec::new()
        } else {
            crate::policy::WRITE_TOOLS
                .iter()
                .map(|t| t.to_string())
                .collect()
        },
    };
    let owner = crate::egress::Owner {
        user_id: job.user_id,
        chat_id: job.targets.first().map(|t| t.chat_id).unwrap_or(0),
        label: crate::runner::launch::dir_label(&cfg.approved_directory, &dir),
    };
    let prepared = match ctx.launcher.prepare(&spec, owner).await {
        Ok(p) => p,
        Err(e) => return refuse(e),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut proc = match ClaudeProcess::spawn(prepared, move |ev| {
        let _ = tx.send(ev);
    }) {
        Ok(p) => p,
        Err(e) => {
            return refuse(format!(
                "could not start {}: {e}",
                cfg.claude_cli_path.display()
            ))
        }
    };
    let started = Instant::now();
    if let Err(e) = proc.send_user(&job.prompt).await {
        proc.shutdown(Duration::from_secs(2)).await;
        return refuse(format!("could not talk to Claude: {e}"));
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
                let answer = decide(&ctx, &job, &dir, &req).await;
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
    let elapsed = started.elapsed();

    let Some(mut result) = result else {
        metrics_done(&ctx, &job, false, elapsed, 0.0);
        let html = format!(
            "{header}\n{}",
            render::failure_message("Claude ended without an answer", &stderr)
        );
        super::notify(&ctx, &job.targets, &html);
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
    deliver(&ctx, &job, &messages, &result, elapsed);
    metrics_done(&ctx, &job, ok, elapsed, result.cost_usd);
    audit(
        &ctx,
        &job,
        "run_finished",
        json!({"kind": job.kind, "label": job.label, "ok": ok, "cost_usd": result.cost_usd,
               "turns": result.num_turns, "denials": result.permission_denials.len()}),
    );
    Outcome::Finished {
        ok,
        cost_usd: result.cost_usd,
    }
}

/// The policy's answer for one tool call. An *ask* in a scheduled job goes to the job's creator
/// (or the admins, for a viewer's job) with the usual buttons, step-up included; webhook runs
/// have no human behind them, so their asks are denied.
async fn decide(
    ctx: &Ctx,
    job: &Unattended,
    dir: &std::path::Path,
    req: &crate::runner::PermissionRequest,
) -> PermissionAnswer {
    let (tool, input) = (req.tool_name.as_str(), &req.input);
    let decision = if matches!(tool, "AskUserQuestion" | "ExitPlanMode" | "EnterPlanMode") {
        Decision::Deny {
            reason:
                "ccgate: this is an unattended run; nobody can answer questions or approve plans"
                    .into(),
            rule: "automation.no_human".into(),
        }
    } else {
        let plans_dir = ctx.launcher.plans_dir_of(job.user_id);
        let tctx = ToolContext {
            root: &ctx.config.approved_directory,
            cwd: dir,
            role: job.role,
            secrets: &ctx.secrets,
            plans_dir: Some(&plans_dir),
            contained: ctx.launcher.jail().is_contained(),
        };
        match engine::decide(&ctx.rules, &tctx, tool, input) {
            Decision::Ask {
                reason,
                rule,
                step_up,
                grant_scope,
            } if job.kind == "schedule" && job.user_id != 0 => {
                let footprint = engine::grants::footprint(&tctx, tool, input);
                let ask = Ask {
                    reason,
                    rule,
                    step_up,
                    grant_scope,
                    footprint,
                };
                ask_creator(ctx, job, req, ask).await
            }
            Decision::Ask { reason, rule, .. } => Decision::Deny {
                reason: format!(
                    "ccgate: this needs a human's approval ({reason}), and this run is unattended"
                ),
                rule: format!("{rule}+automation.no_human"),
            },
            d => d,
        }
    };
    let (verdict, rule, answer) = match decision {
        Decision::Allow { rule } => (
            "allow",
            rule,
            PermissionAnswer::Allow {
                updated_input: input.clone(),
            },
        ),
        Decision::Deny { reason, rule } => (
            "deny",
            rule,
            PermissionAnswer::Deny {
                message: reason,
                interrupt: false,
            },
        ),
        Decision::Ask { .. } => unreachable!("asks were answered above"),
    };
    audit(
        ctx,
        job,
        "tool_decision",
        json!({"tool": tool, "decision": verdict, "rule": rule, "input": input, "unattended": job.kind}),
    );
    answer
}

/// An ask of the policy, with what a grant from it would cover.
struct Ask {
    reason: String,
    rule: String,
    step_up: bool,
    grant_scope: String,
    footprint: Footprint,
}

/// Ask the job's creator (their grants first), as a chat turn would; wait for the answer.
async fn ask_creator(
    ctx: &Ctx,
    job: &Unattended,
    req: &crate::runner::PermissionRequest,
    ask: Ask,
) -> Decision {
    let Ask {
        reason,
        rule,
        step_up,
        grant_scope,
        footprint,
    } = ask;
    let chat = job.targets.first().copied().unwrap_or(ChatRef {
        chat_id: job.user_id,
        thread_id: 0,
    });
    if !step_up {
        if let Ok(Some(id)) = ctx.store.find_grant(
            chat.chat_id,
            chat.thread_id,
            job.user_id,
            &grant_scope,
            None,
            |stored| Footprint::from_json(stored).is_some_and(|g| g.covers(&footprint)),
        ) {
            return Decision::Allow {
                rule: format!("grant #{id} ({grant_scope})"),
            };
        }
    }
    let approvers = if job.role.can_write() {
        vec![job.user_id]
    } else {
        ctx.config.admins()
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    ctx.approvals.ask(
        crate::approval::registry::Request {
            chat,
            requester: job.user_id,
            approvers,
            tool: req.tool_name.clone(),
            input: req.input.clone(),
            reason: format!("{} — {reason}", job.label),
            rule: rule.clone(),
            step_up,
            grant_scope: grant_scope.clone(),
            footprint: footprint.clone(),
            request_id: req.request_id.clone(),
        },
        move |outcome| {
            let _ = tx.send(outcome);
        },
    );
    // The registry answers every request (a human, its own timeout, or a withdrawal).
    match rx.await {
        Ok(crate::approval::registry::Outcome::Allowed { approver, choice }) => {
            // "15 min" covers the job's further calls of this kind; there is no session to
            // bind "this session" to, so that choice counts for this call only.
            if choice == crate::approval::registry::Choice::Timed && footprint.grantable() {
                let expires = chrono::Utc::now()
                    + chrono::Duration::from_std(crate::approval::registry::TIMED_GRANT)
                        .unwrap_or_default();
                let expires = expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let grant = crate::store::NewGrant {
                    chat_id: chat.chat_id,
                    thread_id: chat.thread_id,
                    user_id: job.user_id,
                    scope: &grant_scope,
                    footprint: &footprint.to_json(),
                    session_id: None,
                    expires_at: Some(&expires),
                    granted_by: approver,
                };
                if let Ok(id) = ctx.store.add_grant(&grant) {
                    audit(
                        ctx,
                        job,
                        "grant_added",
                        json!({"grant": id, "scope": grant_scope, "footprint": footprint, "expires_at": expires}),
                    );
                }
            }
            Decision::Allow {
                rule: format!("{rule} approved by {approver}"),
            }
        }
        Ok(crate::approval::registry::Outcome::Denied { reason }) => {
            Decision::Deny { reason, rule }
        }
        Err(_) => Decision::Deny {
            reason: "ccgate: the approval was lost".into(),
            rule,
        },
    }
}

fn over_budget(ctx: &Ctx, user_id: i64) -> Option<String> {
    let Some((verdict, now)) = ctx.budget_verdict(user_id) else {
        return Some("the cost ledger could not be read".into());
    };
    match verdict {
        BudgetVerdict::Ok => None,
        BudgetVerdict::Exceeded {
            scope,
            limit,
            spent,
            resets_at,
        } => Some(format!(
            "{scope} daily budget is used up (${spent:.2} of ${limit:.2}); it resets in {}",
            budget::human_duration(resets_at - now)
        )),
    }
}

/// Queue `messages` for every target together with the run's record, atomically.
fn deliver(ctx: &Ctx, job: &Unattended, messages: &[String], r: &TurnResult, elapsed: Duration) {
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
    let stored = ctx.store.record_turn(
        &TurnRecord {
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
        },
        &replies,
        &[],
    );
    if let Err(e) = stored {
        tracing::error!(error = %e, label = %job.label, "could not store an automated run's answer");
    }
    ctx.outbox.kick();
}

fn metrics_done(ctx: &Ctx, job: &Unattended, ok: bool, elapsed: Duration, cost: f64) {
    ctx.publish(crate::automation::Event::RunFinished {
        kind: job.kind,
        label: job.label.clone(),
        ok,
        seconds: elapsed.as_secs_f64(),
        cost_usd: cost,
    });
}

fn audit(ctx: &Ctx, job: &Unattended, event: &str, details: serde_json::Value) {
    let chat = job.targets.first().map(|t| t.chat_id);
    let user = (job.user_id != 0).then_some(job.user_id);
    if let Err(e) = crate::audit::record(&ctx.store, user, chat, event, &details) {
        tracing::error!(error = %e, event, "audit write failed");
    }
}
