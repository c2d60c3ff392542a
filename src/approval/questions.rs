//! Claude's questions to the user (`AskUserQuestion`) and plan approval (`ExitPlanMode`) as
//! inline buttons.
//!
//! Why it exists: these "tools" are not actions to police but questions for the human in the
//! chat; the answer travels back to Claude inside the tool's input (`answers` for
//! AskUserQuestion; allow/deny for a plan). Only the user whose request is running may answer,
//! each button works once, and an unanswered question is declined after the approval timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::store::Store;
use crate::telegram::api::Button;
use crate::telegram::html::escape;
use crate::telegram::outbox::Outbox;
use crate::telegram::update::ChatRef;

/// How the question ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Allow the tool with this input (answers filled in, or the plan as shown).
    Allow(Value),
    /// Deny with this message for Claude.
    Decline(String),
}

type Notify = Box<dyn FnOnce(Answer) + Send>;

struct Pending {
    chat: ChatRef,
    user: i64,
    kind: Kind,
    notify: Option<Notify>,
}

enum Kind {
    /// AskUserQuestion: the original input, the answers so far (question text → label).
    Questions {
        input: Value,
        answers: Map<String, Value>,
    },
    Plan {
        input: Value,
    },
}

#[derive(Clone)]
pub struct Questions {
    inner: Arc<Mutex<HashMap<String, Pending>>>,
    store: Store,
    outbox: Outbox,
    timeout: Duration,
}

fn new_id() -> String {
    super::random_id::<6>()
}

/// The progress-message key of question `q` of prompt `id`.
fn key(id: &str, q: usize) -> u64 {
    super::message_key("question", id, q as i64)
}

fn questions_of(input: &Value) -> Vec<Value> {
    input
        .get("questions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl Questions {
    pub fn new(store: Store, outbox: Outbox, timeout: Duration) -> Self {
        Questions {
            inner: Arc::new(Mutex::new(HashMap::new())),
            store,
            outbox,
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Show an `AskUserQuestion` or `ExitPlanMode` call to `user` in `chat`.
    pub fn ask(
        &self,
        chat: ChatRef,
        user: i64,
        tool: &str,
        input: Value,
        notify: impl FnOnce(Answer) + Send + 'static,
    ) {
        let id = new_id();
        let kind = if tool == "ExitPlanMode" {
            // The CLI adds `plan` (the plan file's text) to the input when Claude wrote one.
            let plan = input
                .get("plan")
                .and_then(Value::as_str)
                .unwrap_or("(Claude wrote no plan file; ask it to describe the plan)");
            self.outbox.progress(
                key(&id, 0),
                chat,
                format!("📋 <b>Claude's plan</b>\n<pre>{}</pre>\nApprove it to let Claude start working.", escape(&crate::render::truncate(plan, 3500))),
                vec![vec![
                    Button { text: "✅ Approve plan".into(), data: format!("q:{id}:0:y") },
                    Button { text: "✏️ Keep planning".into(), data: format!("q:{id}:0:n") },
                ]],
            );
            Kind::Plan { input }
        } else {
            let qs = questions_of(&input);
            if qs.is_empty() {
                notify(Answer::Decline(
                    "the question had no questions in it".into(),
                ));
                return;
            }
            for (qi, q) in qs.iter().enumerate() {
                let text = q.get("question").and_then(Value::as_str).unwrap_or("?");
                let options = q
                    .get("options")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let buttons: Vec<Vec<Button>> = options
                    .iter()
                    .enumerate()
                    .map(|(oi, o)| {
                        vec![Button {
                            text: o
                                .get("label")
                                .and_then(Value::as_str)
                                .unwrap_or("?")
                                .chars()
                                .take(60)
                                .collect(),
                            data: format!("q:{id}:{qi}:{oi}"),
                        }]
                    })
                    .collect();
                let details: Vec<String> = options
                    .iter()
                    .filter_map(|o| {
                        let l = o.get("label").and_then(Value::as_str)?;
                        let d = o.get("description").and_then(Value::as_str).unwrap_or("");
                        Some(format!("• <b>{}</b> {}", escape(l), escape(d)))
                    })
                    .collect();
                self.outbox.progress(
                    key(&id, qi),
                    chat,
                    format!("❓ <b>{}</b>\n{}", escape(text), details.join("\n")),
                    buttons,
                );
            }
            Kind::Questions {
                input,
                answers: Map::new(),
            }
        };
        self.lock().insert(
            id.clone(),
            Pending {
                chat,
                user,
                kind,
                notify: Some(Box::new(notify)),
            },
        );
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.timeout).await;
            me.finish(
                &id,
                Answer::Decline("the user did not answer in time".into()),
                "⌛ No answer in time.",
            );
        });
    }

    fn finish(&self, id: &str, answer: Answer, shown: &str) {
        let Some(mut p) = self.lock().remove(id) else {
            return;
        };
        let n = match &p.kind {
            Kind::Questions { input, .. } => questions_of(input).len().max(1),
            Kind::Plan { .. } => 1,
        };
        for qi in 0..n {
            self.outbox
                .progress(key(id, qi), p.chat, escape(shown), Vec::new());
        }
        if let Some(f) = p.notify.take() {
            f(answer);
        }
    }

    /// A press of `q:<id>:<question>:<option>`. Returns the text for the callback answer.
    pub fn on_button(&self, presser: i64, data: &str) -> String {
        let parts: Vec<&str> = data.splitn(4, ':').collect();
        let [_, id, qi, oi] = parts.as_slice() else {
            return "Unknown button.".into();
        };
        let Ok(qi) = qi.parse::<usize>() else {
            return "Unknown button.".into();
        };
        let mut map = self.lock();
        let Some(p) = map.get_mut(*id) else {
            drop(map);
            let _ = crate::audit::record(
                &self.store,
                Some(presser),
                None,
                "question_stale_press",
                &json!({"id": id}),
            );
            return "This question is no longer open.".into();
        };
        if p.user != presser {
            let chat = p.chat.chat_id;
            drop(map);
            let _ = crate::audit::record(
                &self.store,
                Some(presser),
                Some(chat),
                "question_unauthorized_press",
                &json!({"id": id}),
            );
            return "Only the person who asked Claude can answer.".into();
        }
        match &mut p.kind {
            Kind::Plan { input } => {
                let input = input.clone();
                drop(map);
                if *oi == "y" {
                    self.finish(id, Answer::Allow(input), "✅ Plan approved.");
                    "Plan approved.".into()
                } else {
                    self.finish(
                        id,
                        Answer::Decline("The user wants to keep planning; refine the plan.".into()),
                        "✏️ Keep planning.",
                    );
                    "Claude keeps planning.".into()
                }
            }
            Kind::Questions { input, answers } => {
                let qs = questions_of(input);
                let Some(q) = qs.get(qi) else {
                    return "Unknown button.".into();
                };
                let Some(label) = oi.parse::<usize>().ok().and_then(|oi| {
                    q.pointer(&format!("/options/{oi}/label"))
                        .and_then(Value::as_str)
                }) else {
                    return "Unknown button.".into();
                };
                let question = q
                    .get("question")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string();
                answers.insert(question.clone(), Value::String(label.to_string()));
                let chat = p.chat;
                let done = answers.len() >= qs.len();
                let mut updated = input.clone();
                updated["answers"] = Value::Object(answers.clone());
                drop(map);
                self.outbox.progress(
                    key(id, qi),
                    chat,
                    format!("❓ {}\n✅ {}", escape(&question), escape(label)),
                    Vec::new(),
                );
                if done {
                    // Every question answered: hand them to Claude.
                    if let Some(mut p) = self.lock().remove(*id) {
                        if let Some(f) = p.notify.take() {
                            f(Answer::Allow(updated));
                        }
                    }
                }
                format!("Answered: {label}")
            }
        }
    }
}
