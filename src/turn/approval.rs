//! The approval step of the turn core: a covering grant first, else ask a human, then record
//! the grant they chose.
//!
//! Why a file of its own: this is the one place where a human's answer turns into a decision,
//! for chat turns and scheduled jobs alike. The chat actor shows an [`Ask`] and gets the outcome
//! back in its inbox (it must keep serving its chat meanwhile); an unattended run simply
//! [`Ask::wait`]s. Either way [`Ask::settle`] makes the decision, so "allow for 15 min" or "for
//! this session" means the same everywhere.

use serde_json::json;

use super::Run;
use crate::approval::registry::{Choice, Outcome, Request, TIMED_GRANT};
use crate::policy::engine::grants::Footprint;
use crate::policy::engine::{Classification, Decision};
use crate::runner::PermissionRequest;
use crate::services::Ctx;
use crate::store::NewGrant;

/// An ask of the policy, with whom to ask and what a grant from it would cover.
#[derive(Debug, Clone)]
pub struct Approval {
    pub reason: String,
    pub rule: String,
    pub step_up: bool,
    pub grant_scope: String,
    pub footprint: Footprint,
    pub approvers: Vec<i64>,
    /// The policy's classification of the call, kept in whatever decision the ask becomes.
    pub class: Option<Classification>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// One of Claude's questions (or its plan) for the user in the chat.
    Question,
    Approval(Box<Approval>),
}

/// A call that waits for a human.
#[derive(Debug, Clone)]
pub struct Ask {
    req: PermissionRequest,
    run: Run,
    kind: Kind,
}

impl Ask {
    pub(super) fn question(run: &Run, req: &PermissionRequest) -> Ask {
        Ask {
            req: req.clone(),
            run: run.clone(),
            kind: Kind::Question,
        }
    }

    pub(super) fn approval(run: &Run, req: &PermissionRequest, approval: Approval) -> Ask {
        Ask {
            req: req.clone(),
            run: run.clone(),
            kind: Kind::Approval(Box::new(approval)),
        }
    }

    /// The call this ask is about.
    pub fn req(&self) -> &PermissionRequest {
        &self.req
    }

    /// The run that made the call.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// A question to the chat user rather than an approval?
    pub fn is_question(&self) -> bool {
        matches!(self.kind, Kind::Question)
    }

    /// A stored grant that covers this call: the decision without asking. Grants cover only
    /// calls no wider than the one they were given for, and never a step-up.
    pub(super) async fn covering_grant(&self, ctx: &Ctx) -> Option<Decision> {
        let Kind::Approval(a) = &self.kind else {
            return None;
        };
        if a.step_up {
            return None;
        }
        let chat = self.run.chat;
        match ctx
            .store
            .find_grant(
                chat.chat_id,
                chat.thread_id,
                self.run.user_id,
                &a.grant_scope,
                self.run.session.as_deref(),
                |stored| Footprint::from_json(stored).is_some_and(|g| g.covers(&a.footprint)),
            )
            .await
        {
            Ok(Some(id)) => Some(Decision::Allow {
                rule: format!("grant #{id} ({})", a.grant_scope),
                class: a.class,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "looking up grants failed; asking instead");
                None
            }
        }
    }

    /// Show the prompt (buttons in the approvers' private chats, or the question in the chat);
    /// `notify` is called exactly once with the outcome.
    pub async fn show(&self, ctx: &Ctx, notify: impl FnOnce(Outcome) + Send + 'static) {
        let (run, req) = (&self.run, &self.req);
        match &self.kind {
            Kind::Question => ctx.prompts.ask_question(
                run.chat,
                run.user_id,
                (&req.tool_name, req.input.clone(), &req.request_id),
                notify,
            ),
            Kind::Approval(a) => {
                ctx.prompts
                    .ask(
                        Request {
                            chat: run.chat,
                            requester: run.user_id,
                            approvers: a.approvers.clone(),
                            tool: req.tool_name.clone(),
                            input: req.input.clone(),
                            reason: match &run.label {
                                Some(label) => format!("{label} — {}", a.reason),
                                None => a.reason.clone(),
                            },
                            rule: a.rule.clone(),
                            step_up: a.step_up,
                            grant_scope: a.grant_scope.clone(),
                            footprint: a.footprint.clone(),
                            request_id: req.request_id.clone(),
                        },
                        notify,
                    )
                    .await;
            }
        }
    }

    /// Show the prompt and wait for its outcome (the registry always answers: a human, its
    /// timeout, or a withdrawal).
    pub async fn wait(&self, ctx: &Ctx) -> Outcome {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.show(ctx, move |outcome| {
            let _ = tx.send(outcome);
        })
        .await;
        rx.await.unwrap_or(Outcome::Denied {
            reason: "ccgate: the approval was lost".into(),
        })
    }

    /// The human's `outcome` as the decision about the call (with the input to run it with),
    /// recording the grant the approver chose: "15 min" for a while, "this session" for the
    /// run's session (a run without one gets nothing beyond this call).
    pub async fn settle(self, ctx: &Ctx, outcome: Outcome) -> (Decision, PermissionRequest) {
        let Ask { req, run, kind } = self;
        let approval = match kind {
            Kind::Approval(a) => a,
            Kind::Question => {
                return match outcome {
                    Outcome::Answered { input } => (
                        Decision::Allow {
                            rule: "answered by the user".into(),
                            class: None,
                        },
                        PermissionRequest { input, ..req },
                    ),
                    Outcome::Allowed { .. } => (
                        Decision::Allow {
                            rule: "answered by the user".into(),
                            class: None,
                        },
                        req,
                    ),
                    Outcome::Denied { reason } => (
                        Decision::Deny {
                            reason,
                            rule: "answered by the user".into(),
                            class: None,
                        },
                        req,
                    ),
                };
            }
        };
        let decision = match outcome {
            Outcome::Allowed { choice, approver } => {
                record_grant(ctx, &run, &approval, choice, approver).await;
                Decision::Allow {
                    rule: format!("{} approved by {approver} ({choice:?})", approval.rule),
                    class: approval.class,
                }
            }
            Outcome::Denied { reason } => Decision::Deny {
                reason,
                rule: approval.rule,
                class: approval.class,
            },
            Outcome::Answered { .. } => Decision::Deny {
                reason: "ccgate: an approval was answered like a question".into(),
                rule: approval.rule,
                class: approval.class,
            },
        };
        (decision, req)
    }
}

/// Store the grant `choice` asks for, if the call can be granted at all.
async fn record_grant(ctx: &Ctx, run: &Run, a: &Approval, choice: Choice, approver: i64) {
    let session = match choice {
        Choice::Session => match run.session.as_deref() {
            Some(s) => Some(s),
            // No session to bind "this session" to: this call only.
            None => return,
        },
        Choice::Timed => None,
        Choice::Once | Choice::Deny => return,
    };
    if !a.footprint.grantable() {
        return;
    }
    let expires = (choice == Choice::Timed).then(|| {
        (chrono::Utc::now() + chrono::Duration::from_std(TIMED_GRANT).unwrap_or_default())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    let covers = a.footprint.to_json();
    let grant = NewGrant {
        chat_id: run.chat.chat_id,
        thread_id: run.chat.thread_id,
        user_id: run.user_id,
        scope: &a.grant_scope,
        footprint: &covers,
        session_id: session,
        expires_at: expires.as_deref(),
        granted_by: approver,
    };
    match ctx.store.add_grant(&grant).await {
        Ok(id) => {
            crate::audit::record(
                &ctx.store,
                Some(approver),
                Some(run.chat.chat_id),
                crate::audit::Event::GrantAdded,
                &json!({"id": id, "scope": a.grant_scope, "footprint": a.footprint, "session": session, "expires_at": expires}),
            ).await;
        }
        Err(e) => tracing::error!(error = %e, "could not store a grant"),
    }
}
