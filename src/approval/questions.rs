//! Claude's questions to the user (`AskUserQuestion`) and plan approval (`ExitPlanMode`) as
//! inline buttons: how they are shown and how a press becomes an answer.
//!
//! Why it exists: these "tools" are not actions to police but questions for the human in the
//! chat; the answer travels back to Claude inside the tool's input (`answers` for
//! AskUserQuestion; allow/deny for a plan). The pending state — who may answer, once, until
//! when — lives in the one prompt registry ([`super::registry::Prompts`]); this file only knows
//! the questions' shape.

use serde_json::{Map, Value};

use super::registry::Outcome;
use crate::telegram::api::Button;
use crate::telegram::html::escape;
use crate::telegram::outbox::Outbox;
use crate::telegram::update::ChatRef;

/// An open question (or plan) and the answers so far.
pub(super) enum Question {
    /// AskUserQuestion: the original input, the answers so far (question text → label).
    Questions {
        input: Value,
        answers: Map<String, Value>,
    },
    Plan {
        input: Value,
    },
}

/// What a press did.
pub(super) enum Press {
    /// Not a button of this question.
    Unknown,
    /// The prompt ends with `outcome`; `shown` replaces the messages, `reply` answers the press.
    Finished {
        outcome: Outcome,
        shown: &'static str,
        reply: &'static str,
    },
    /// One question answered with `label`; `all` holds the full input once every one is.
    Answered {
        question: String,
        label: String,
        all: Option<Value>,
    },
}

/// The progress-message key of question `q` of prompt `id`.
pub(super) fn key(id: &str, q: usize) -> u64 {
    super::message_key("question", id, q as i64)
}

fn questions_of(input: &Value) -> Vec<Value> {
    input
        .get("questions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl Question {
    /// Show an `AskUserQuestion` or `ExitPlanMode` call in `chat` under prompt `id`. `None` when
    /// there is nothing to ask (a question call with no questions).
    pub(super) fn show(
        outbox: &Outbox,
        chat: ChatRef,
        id: &str,
        tool: &str,
        input: Value,
    ) -> Option<Question> {
        if tool == "ExitPlanMode" {
            // The CLI adds `plan` (the plan file's text) to the input when Claude wrote one.
            let plan = input
                .get("plan")
                .and_then(Value::as_str)
                .unwrap_or("(Claude wrote no plan file; ask it to describe the plan)");
            outbox.progress(
                key(id, 0),
                chat,
                format!("📋 <b>Claude's plan</b>\n<pre>{}</pre>\nApprove it to let Claude start working.", escape(&crate::render::truncate(plan, 3500))),
                vec![vec![
                    Button { text: "✅ Approve plan".into(), data: format!("q:{id}:0:y") },
                    Button { text: "✏️ Keep planning".into(), data: format!("q:{id}:0:n") },
                ]],
            );
            return Some(Question::Plan { input });
        }
        let qs = questions_of(&input);
        if qs.is_empty() {
            return None;
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
            outbox.progress(
                key(id, qi),
                chat,
                format!("❓ <b>{}</b>\n{}", escape(text), details.join("\n")),
                buttons,
            );
        }
        Some(Question::Questions {
            input,
            answers: Map::new(),
        })
    }

    /// Replace every message of prompt `id` with `shown` (no buttons).
    pub(super) fn close(&self, outbox: &Outbox, chat: ChatRef, id: &str, shown: &str) {
        let n = match self {
            Question::Questions { input, .. } => questions_of(input).len().max(1),
            Question::Plan { .. } => 1,
        };
        for qi in 0..n {
            outbox.progress(key(id, qi), chat, escape(shown), Vec::new());
        }
    }

    /// The asker pressed option `oi` of question `qi`.
    pub(super) fn press(&mut self, qi: usize, oi: &str) -> Press {
        match self {
            Question::Plan { input } if oi == "y" => Press::Finished {
                outcome: Outcome::Answered {
                    input: input.clone(),
                },
                shown: "✅ Plan approved.",
                reply: "Plan approved.",
            },
            Question::Plan { .. } => Press::Finished {
                outcome: Outcome::Denied {
                    reason: "The user wants to keep planning; refine the plan.".into(),
                },
                shown: "✏️ Keep planning.",
                reply: "Claude keeps planning.",
            },
            Question::Questions { input, answers } => {
                let qs = questions_of(input);
                let Some(q) = qs.get(qi) else {
                    return Press::Unknown;
                };
                let Some(label) = oi.parse::<usize>().ok().and_then(|oi| {
                    q.pointer(&format!("/options/{oi}/label"))
                        .and_then(Value::as_str)
                }) else {
                    return Press::Unknown;
                };
                let question = q
                    .get("question")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string();
                answers.insert(question.clone(), Value::String(label.to_string()));
                let all = (answers.len() >= qs.len()).then(|| {
                    let mut updated = input.clone();
                    updated["answers"] = Value::Object(answers.clone());
                    updated
                });
                Press::Answered {
                    question,
                    label: label.to_string(),
                    all,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn two_questions() -> Question {
        Question::Questions {
            input: json!({"questions": [
                {"question": "Color?", "options": [{"label": "Red"}, {"label": "Blue"}]},
                {"question": "Size?", "options": [{"label": "S"}, {"label": "L"}]},
            ]}),
            answers: Map::new(),
        }
    }

    #[test]
    fn every_question_must_be_answered_before_claude_gets_the_answers() {
        let mut q = two_questions();
        match q.press(0, "1") {
            Press::Answered { label, all, .. } => {
                assert_eq!(label, "Blue");
                assert!(all.is_none(), "one of two answered");
            }
            _ => panic!("expected an answer"),
        }
        match q.press(1, "0") {
            Press::Answered {
                all: Some(input), ..
            } => {
                assert_eq!(input["answers"], json!({"Color?": "Blue", "Size?": "S"}));
            }
            _ => panic!("expected all answers"),
        }
    }

    #[test]
    fn presses_outside_the_options_are_unknown() {
        let mut q = two_questions();
        assert!(matches!(q.press(2, "0"), Press::Unknown));
        assert!(matches!(q.press(0, "9"), Press::Unknown));
        assert!(matches!(q.press(0, "x"), Press::Unknown));
    }

    #[test]
    fn a_plan_is_approved_or_sent_back() {
        let mut p = Question::Plan {
            input: json!({"plan": "1. x"}),
        };
        assert!(matches!(
            p.press(0, "y"),
            Press::Finished { outcome: Outcome::Answered { input }, .. } if input["plan"] == "1. x"
        ));
        assert!(matches!(
            p.press(0, "n"),
            Press::Finished {
                outcome: Outcome::Denied { .. },
                ..
            }
        ));
    }
}
