//! Pending prompts: the buttons on a phone that let one specific tool call run, and Claude's
//! questions to the user — one registry for both.
//!
//! Why it exists: an "ask" must reach the right human (whom [`authority`] names — always in a
//! private chat, never a group), be answerable exactly once by exactly those people, bind the
//! answer to the exact call it was shown for, expire on its own, and optionally require a fresh
//! TOTP code. A question of Claude's has the same life: one person may answer, once, before a
//! timeout, and the CLI may withdraw it. One map holds both, so ids, timeouts and withdrawal
//! exist once; whoever asked is told the outcome through a callback, so this module knows
//! nothing about chat actors or unattended runs. How a question is shown and answered is in
//! [`super::questions`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::questions::{Press, Question};
use super::totp::{self, TotpSecret};
use crate::audit::Event;
use crate::policy::authority;
use crate::policy::engine::grants::Footprint;
use crate::store::Store;
use crate::telegram::api::Button;
use crate::telegram::html::escape;
use crate::telegram::outbox::Outbox;
use crate::telegram::update::ChatRef;

/// How long a grant from "Allow for 15 min" lasts.
pub const TIMED_GRANT: Duration = Duration::from_secs(15 * 60);
/// Wrong TOTP codes tolerated per approval before it is denied.
pub const MAX_CODE_ATTEMPTS: u32 = 3;

/// What the approver chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Once,
    Session,
    Timed,
    Deny,
}

/// How a prompt ended, delivered to whoever asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An approver allowed the call (once, for the session, or for a while).
    Allowed { choice: Choice, approver: i64 },
    /// The user answered Claude's question (or approved its plan): run the tool with `input`.
    Answered { input: Value },
    /// Denied, declined, expired or withdrawn, with the message for Claude.
    Denied { reason: String },
}

/// An approval asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The chat where Claude runs.
    pub chat: ChatRef,
    pub requester: i64,
    /// Users who may answer (their private chats get the buttons).
    pub approvers: Vec<i64>,
    pub tool: String,
    pub input: Value,
    pub reason: String,
    pub rule: String,
    pub step_up: bool,
    pub grant_scope: String,
    /// What a grant from this call would cover within its scope; a call no grant can cover
    /// gets no "session" or "15 min" buttons.
    pub footprint: Footprint,
    /// The CLI's `can_use_tool` request id.
    pub request_id: String,
}

type Notify = Box<dyn FnOnce(Outcome) + Send>;

enum Stage {
    Buttons,
    /// Approved by `approver` with `choice`; waiting for their TOTP code.
    Code {
        approver: i64,
        choice: Choice,
        attempts: u32,
    },
}

/// What is waiting for a human.
enum Kind {
    /// A tool call shown to its approvers.
    Approval {
        req: Box<Request>,
        input_hash: String,
        stage: Stage,
    },
    /// One of Claude's questions (or a plan) shown to the user in the chat.
    Question(Question),
}

struct Pending {
    /// The chat where Claude runs.
    chat: ChatRef,
    /// The user the call is made for.
    requester: i64,
    /// The CLI's `can_use_tool` request id (a withdrawal names it).
    request_id: String,
    kind: Kind,
    notify: Option<Notify>,
}

/// The hash the buttons are bound to: the tool and its exact input.
pub fn input_hash(tool: &str, input: &Value) -> String {
    hex::encode(Sha256::digest(format!("{tool}\u{0}{input}").as_bytes()))
}

/// Every prompt waiting for a human, approvals and questions alike: one map, one id space,
/// one timeout, one withdrawal path.
#[derive(Clone)]
pub struct Prompts {
    inner: Arc<Mutex<HashMap<String, Pending>>>,
    store: Store,
    outbox: Outbox,
    timeout: Duration,
}

/// The progress-message key of one approval message in one approver's chat.
fn message_key(id: &str, approver: i64) -> u64 {
    super::message_key("approval", id, approver)
}

impl Prompts {
    pub fn new(store: Store, outbox: Outbox, timeout: Duration) -> Self {
        Prompts {
            inner: Arc::new(Mutex::new(HashMap::new())),
            store,
            outbox,
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn audit(&self, user: Option<i64>, chat: Option<i64>, event: Event, details: Value) {
        crate::audit::record(&self.store, user, chat, event, &details).await;
    }

    /// Hold `pending` under `id` until a human answers, it is withdrawn, or the timeout ends it
    /// with `expired` (shown as `shown`).
    fn hold(&self, id: String, pending: Pending, expired: Outcome, shown: &'static str) {
        self.lock().insert(id.clone(), pending);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.timeout).await;
            me.finish(&id, expired, shown).await;
        });
    }

    /// Show the approval `req` to its approvers; `notify` is called exactly once with the
    /// outcome ([`Outcome::Allowed`] or [`Outcome::Denied`]).
    pub async fn ask(&self, req: Request, notify: impl FnOnce(Outcome) + Send + 'static) -> String {
        let id = super::random_id::<8>();
        let hash = input_hash(&req.tool, &req.input);
        if req.approvers.is_empty() {
            notify(Outcome::Denied {
                reason: "ccgate policy: this needs approval, but nobody may approve it (no admin configured)".into(),
            });
            return id;
        }
        let html = prompt_html(&req, false);
        let buttons = buttons(&id, req.footprint.grantable());
        for a in &req.approvers {
            self.outbox.progress(
                message_key(&id, *a),
                private(*a),
                html.clone(),
                buttons.clone(),
            );
        }
        self.audit(
            Some(req.requester),
            Some(req.chat.chat_id),
            Event::ApprovalRequested,
            json!({"id": id, "tool": req.tool, "input_hash": hash, "rule": req.rule, "step_up": req.step_up, "approvers": req.approvers}),
        ).await;
        let expired = Outcome::Denied {
            reason: format!(
                "ccgate policy: no approval within {} minutes",
                self.timeout.as_secs().div_ceil(60)
            ),
        };
        let pending = Pending {
            chat: req.chat,
            requester: req.requester,
            request_id: req.request_id.clone(),
            kind: Kind::Approval {
                req: Box::new(req),
                input_hash: hash,
                stage: Stage::Buttons,
            },
            notify: Some(Box::new(notify)),
        };
        self.hold(
            id.clone(),
            pending,
            expired,
            "⌛ Expired: no answer in time, denied.",
        );
        id
    }

    /// Show an `AskUserQuestion` or `ExitPlanMode` call to `user` in `chat`; `notify` is
    /// called exactly once, with [`Outcome::Answered`] (the input to run the tool with) or
    /// [`Outcome::Denied`].
    pub fn ask_question(
        &self,
        chat: ChatRef,
        user: i64,
        call: (&str, Value, &str),
        notify: impl FnOnce(Outcome) + Send + 'static,
    ) {
        let (tool, input, request_id) = call;
        let id = super::random_id::<6>();
        let Some(question) = Question::show(&self.outbox, chat, &id, tool, input) else {
            notify(Outcome::Denied {
                reason: "the question had no questions in it".into(),
            });
            return;
        };
        let pending = Pending {
            chat,
            requester: user,
            request_id: request_id.to_string(),
            kind: Kind::Question(question),
            notify: Some(Box::new(notify)),
        };
        let expired = Outcome::Denied {
            reason: "the user did not answer in time".into(),
        };
        self.hold(id, pending, expired, "⌛ No answer in time.");
    }

    /// End a prompt (first caller wins): remove its buttons, tell whoever asked, audit.
    async fn finish(&self, id: &str, outcome: Outcome, shown: &str) {
        let Some(mut p) = self.lock().remove(id) else {
            return;
        };
        match &p.kind {
            Kind::Approval {
                req, input_hash, ..
            } => {
                for a in &req.approvers {
                    self.outbox.progress(
                        message_key(id, *a),
                        private(*a),
                        format!("{}\n\n{}", prompt_html(req, false), escape(shown)),
                        Vec::new(),
                    );
                }
                let (label, approver) = match &outcome {
                    Outcome::Allowed { choice, approver } => {
                        (format!("{choice:?}").to_lowercase(), Some(*approver))
                    }
                    Outcome::Answered { .. } | Outcome::Denied { .. } => ("deny".to_string(), None),
                };
                self.audit(
                    Some(p.requester),
                    Some(p.chat.chat_id),
                    Event::ApprovalDecided,
                    json!({"id": id, "tool": req.tool, "input_hash": input_hash, "decision": label, "approver": approver, "shown": shown}),
                ).await;
            }
            Kind::Question(q) => q.close(&self.outbox, p.chat, id, shown),
        }
        if let Some(n) = p.notify.take() {
            n(outcome);
        }
    }

    /// The CLI withdrew the request (e.g. the turn was interrupted): whatever prompt it raised
    /// ends.
    pub async fn cancel_request(&self, request_id: &str) {
        let id = self
            .lock()
            .iter()
            .find(|(_, p)| p.request_id == request_id)
            .map(|(id, _)| id.clone());
        if let Some(id) = id {
            self.finish(
                &id,
                Outcome::Denied {
                    reason: "withdrawn".into(),
                },
                "↩️ Withdrawn: Claude no longer needs this.",
            )
            .await;
        }
    }

    /// A button press (`ap:…` on an approval, `q:…` on a question) by `presser`. Returns the
    /// text for the callback answer.
    pub async fn on_button(&self, presser: i64, data: &str) -> String {
        if data.starts_with("q:") {
            self.on_question_button(presser, data).await
        } else {
            self.on_approval_button(presser, data).await
        }
    }

    async fn on_approval_button(&self, presser: i64, data: &str) -> String {
        let mut parts = data.splitn(3, ':');
        let (Some("ap"), Some(id), Some(action)) = (parts.next(), parts.next(), parts.next())
        else {
            return "Unknown button.".into();
        };
        let (authorized, requester, chat, step_up, details, grantable) = {
            let map = self.lock();
            match map.get(id) {
                Some(Pending {
                    requester,
                    chat,
                    kind: Kind::Approval { req, stage, .. },
                    ..
                }) => (
                    // Approvers answer the buttons; while a code is awaited, only Deny remains
                    // (for the approver who started the step-up).
                    Some(
                        authority::may_approve(presser, &req.approvers)
                            && match stage {
                                Stage::Buttons => true,
                                Stage::Code { approver, .. } => {
                                    *approver == presser && action == "deny"
                                }
                            },
                    ),
                    *requester,
                    chat.chat_id,
                    req.step_up,
                    prompt_html(req, true),
                    req.footprint.grantable(),
                ),
                _ => (None, 0, 0, false, String::new(), false),
            }
        };
        match authorized {
            None => {
                // Answered, expired, or never existed (forged): nothing happens.
                self.audit(
                    Some(presser),
                    None,
                    Event::ApprovalStalePress,
                    json!({"id": id, "action": action}),
                )
                .await;
                "This request is no longer open.".into()
            }
            Some(false) => {
                self.audit(
                    Some(presser),
                    Some(chat),
                    Event::ApprovalUnauthorizedPress,
                    json!({"id": id, "action": action, "requester": requester}),
                )
                .await;
                "You cannot answer this request.".into()
            }
            Some(true) => {
                let choice = match action {
                    "once" => Choice::Once,
                    "sess" => Choice::Session,
                    "t15" => Choice::Timed,
                    "deny" => Choice::Deny,
                    "info" => {
                        self.outbox.progress(
                            message_key(id, presser) ^ 1,
                            private(presser),
                            details,
                            Vec::new(),
                        );
                        return "Details sent.".into();
                    }
                    _ => return "Unknown button.".into(),
                };
                if matches!(choice, Choice::Session | Choice::Timed) && !grantable {
                    // Those buttons were never shown for this call: a forged or stale press.
                    self.audit(
                        Some(presser),
                        Some(chat),
                        Event::ApprovalChoiceRefused,
                        json!({"id": id, "action": action}),
                    )
                    .await;
                    return "This call can only be allowed once.".into();
                }
                if choice == Choice::Deny {
                    self.finish(
                        id,
                        Outcome::Denied {
                            reason: format!("ccgate: denied by user {presser}"),
                        },
                        "❌ Denied.",
                    )
                    .await;
                    return "Denied.".into();
                }
                if step_up && !self.enrolled(presser).await {
                    // No secret, no code can ever be right: say what to do, count nothing.
                    self.audit(
                        Some(presser),
                        None,
                        Event::StepUpUnavailable,
                        json!({"id": id, "reason": "no TOTP secret enrolled"}),
                    )
                    .await;
                    self.finish(
                        id,
                        Outcome::Denied {
                            reason: "ccgate: this needs a TOTP step-up and the approver has no authenticator enrolled".into(),
                        },
                        &format!(
                            "🔑 Not allowed: this action needs a TOTP code, and you have no authenticator set up. The operator runs “ccgate totp enroll --user {presser}” on the machine; then approve again."
                        ),
                    ).await;
                    return "Step-up needs `ccgate totp enroll` first.".into();
                }
                if step_up {
                    if let Some(Pending {
                        kind: Kind::Approval { stage, .. },
                        ..
                    }) = self.lock().get_mut(id)
                    {
                        *stage = Stage::Code {
                            approver: presser,
                            choice,
                            attempts: 0,
                        };
                    }
                    self.outbox.progress(
                        message_key(id, presser),
                        private(presser),
                        format!(
                            "{}\n\n🔑 Send your 6-digit authenticator code to confirm.",
                            details
                        ),
                        vec![vec![Button {
                            text: "❌ Deny".into(),
                            data: format!("ap:{id}:deny"),
                        }]],
                    );
                    return "Send your TOTP code.".into();
                }
                self.finish(
                    id,
                    Outcome::Allowed {
                        choice,
                        approver: presser,
                    },
                    &format!("✅ Allowed ({}).", choice_label(choice)),
                )
                .await;
                "Allowed.".into()
            }
        }
    }

    /// A press of `q:<id>:<question>:<option>`.
    async fn on_question_button(&self, presser: i64, data: &str) -> String {
        let parts: Vec<&str> = data.splitn(4, ':').collect();
        let [_, id, qi, oi] = parts.as_slice() else {
            return "Unknown button.".into();
        };
        let Ok(qi) = qi.parse::<usize>() else {
            return "Unknown button.".into();
        };
        // Look and press under the lock, act (audit, finish) after releasing it.
        let looked = {
            let mut map = self.lock();
            match map.get_mut(*id) {
                Some(Pending {
                    chat,
                    requester,
                    kind: Kind::Question(q),
                    ..
                }) => {
                    if authority::may_answer_question(presser, *requester) {
                        Ok((*chat, q.press(qi, oi)))
                    } else {
                        Err(Some(*chat))
                    }
                }
                _ => Err(None),
            }
        };
        let (chat, press) = match looked {
            Ok(found) => found,
            Err(None) => {
                self.audit(
                    Some(presser),
                    None,
                    Event::QuestionStalePress,
                    json!({"id": id}),
                )
                .await;
                return "This question is no longer open.".into();
            }
            Err(Some(chat)) => {
                self.audit(
                    Some(presser),
                    Some(chat.chat_id),
                    Event::QuestionUnauthorizedPress,
                    json!({"id": id}),
                )
                .await;
                return "Only the person who asked Claude can answer.".into();
            }
        };
        match press {
            Press::Unknown => "Unknown button.".into(),
            Press::Finished {
                outcome,
                shown,
                reply,
            } => {
                self.finish(id, outcome, shown).await;
                reply.into()
            }
            Press::Answered {
                question,
                label,
                all,
            } => {
                self.outbox.progress(
                    super::questions::key(id, qi),
                    chat,
                    format!("❓ {}\n✅ {}", escape(&question), escape(&label)),
                    Vec::new(),
                );
                if let Some(input) = all {
                    // Every question answered: hand them to Claude.
                    if let Some(mut p) = self.lock().remove(*id) {
                        if let Some(f) = p.notify.take() {
                            f(Outcome::Answered { input });
                        }
                    }
                }
                format!("Answered: {label}")
            }
        }
    }

    /// A text from `user` in their private chat: consumed if it answers a step-up prompt.
    /// Returns the reply to show, or `None` when the text is not a code for us.
    pub async fn on_text(&self, user: i64, text: &str) -> Option<String> {
        let id = self
            .lock()
            .iter()
            .find(|(_, p)| {
                matches!(&p.kind, Kind::Approval { stage: Stage::Code { approver, .. }, .. } if *approver == user)
            })
            .map(|(id, _)| id.clone())?;
        let ok = self.check_code(user, text).await;
        // Read and count under the lock, act (audit, finish) after releasing it.
        let (chat, choice, left) = {
            let mut map = self.lock();
            let p = map.get_mut(&id)?;
            let chat = p.chat.chat_id;
            let Kind::Approval {
                stage: Stage::Code {
                    choice, attempts, ..
                },
                ..
            } = &mut p.kind
            else {
                return None;
            };
            if !ok {
                *attempts += 1;
            }
            (chat, *choice, MAX_CODE_ATTEMPTS.saturating_sub(*attempts))
        };
        if ok {
            self.audit(Some(user), Some(chat), Event::StepUpOk, json!({"id": id}))
                .await;
            self.finish(
                &id,
                Outcome::Allowed {
                    choice,
                    approver: user,
                },
                &format!("✅ Allowed with TOTP ({}).", choice_label(choice)),
            )
            .await;
            return Some("✅ Code accepted.".into());
        }
        self.audit(
            Some(user),
            Some(chat),
            Event::StepUpFailed,
            json!({"id": id}),
        )
        .await;
        if left == 0 {
            self.finish(
                &id,
                Outcome::Denied {
                    reason: "ccgate: step-up failed (wrong TOTP codes)".into(),
                },
                "❌ Denied: too many wrong codes.",
            )
            .await;
            return Some("❌ Wrong code. Too many attempts: the request was denied.".into());
        }
        Some(format!("❌ Wrong or reused code. {left} attempt(s) left."))
    }

    /// Has `user` a TOTP secret (`ccgate totp enroll`)?
    async fn enrolled(&self, user: i64) -> bool {
        matches!(self.store.totp_secret(user).await, Ok(Some(_)))
    }

    async fn check_code(&self, user: i64, text: &str) -> bool {
        let Ok(Some((secret, _))) = self.store.totp_secret(user).await else {
            return false;
        };
        let Some(secret) = TotpSecret::from_base32(&secret) else {
            return false;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match totp::verify(&secret, text, now) {
            Some(step) => self
                .store
                .consume_totp_step(user, step)
                .await
                .unwrap_or(false),
            None => false,
        }
    }

    pub fn pending_count(&self) -> usize {
        self.lock().len()
    }
}

fn prompt_html(req: &Request, details: bool) -> String {
    let mut s = format!(
        "🔐 <b>Approval needed</b>{}\nClaude wants to use <b>{}</b> in chat <code>{}</code>:\n<pre>{}</pre>\nWhy: {}",
        if req.step_up { " (🔑 TOTP required)" } else { "" },
        escape(&crate::policy::mcp::shown_name(&req.tool).unwrap_or_else(|| req.tool.clone())),
        req.chat.chat_id,
        escape(&summary(&req.tool, &req.input, if details { 1500 } else { 600 })),
        escape(&req.reason),
    );
    s.push_str(&format!(
        "\nGrant scope: <code>{}</code>\nA grant covers: {}",
        escape(&req.grant_scope),
        escape(&req.footprint.describe())
    ));
    if details {
        // Everything Claude sent, not only the summary: options, descriptions, timeouts.
        let full = serde_json::to_string_pretty(&req.input).unwrap_or_default();
        s.push_str(&format!(
            "\n\n<b>Full input</b>\n<pre>{}</pre>",
            escape(&crate::render::truncate(&full, 2500))
        ));
    }
    s
}

fn private(user: i64) -> ChatRef {
    ChatRef {
        chat_id: user,
        thread_id: 0,
    }
}

fn choice_label(c: Choice) -> &'static str {
    match c {
        Choice::Once => "once",
        Choice::Session => "for this session",
        Choice::Timed => "for 15 minutes",
        Choice::Deny => "denied",
    }
}

fn buttons(id: &str, grantable: bool) -> Vec<Vec<Button>> {
    let b = |t: &str, a: &str| Button {
        text: t.into(),
        data: format!("ap:{id}:{a}"),
    };
    let mut rows = vec![vec![b("✅ Allow once", "once"), b("❌ Deny", "deny")]];
    if grantable {
        rows.push(vec![
            b("Allow for session", "sess"),
            b("Allow 15 min", "t15"),
        ]);
    }
    rows.push(vec![b("Details", "info")]);
    rows
}

/// A compact view of a tool call: the command, the file and a diff for edits.
pub fn summary(tool: &str, input: &Value, max: usize) -> String {
    let f = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or("");
    let s = match tool {
        "Bash" => f("command").to_string(),
        "Edit" => {
            let mut d = format!("{}\n", f("file_path"));
            for l in f("old_string").lines() {
                d.push_str(&format!("- {l}\n"));
            }
            for l in f("new_string").lines() {
                d.push_str(&format!("+ {l}\n"));
            }
            d
        }
        "Write" => format!("{}\n{}", f("file_path"), f("content")),
        // An MCP tool's arguments, one `key: value` per line (values compact, cut short).
        t if t.starts_with("mcp__") => match input.as_object() {
            Some(m) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    format!("{k}: {}\n", crate::render::truncate(&v, 200))
                })
                .collect(),
            Some(_) => "(no arguments)".into(),
            None => input.to_string(),
        },
        _ => serde_json::to_string_pretty(input).unwrap_or_default(),
    };
    crate::render::truncate(&s, max)
}
