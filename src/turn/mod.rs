//! The turn core: one tool-call pipeline and one way to start Claude, for chat turns, scheduled
//! jobs and webhook runs.
//!
//! Why it exists: a chat turn and an unattended run differ in who is watching — a user in the
//! chat, a job's creator somewhere, or nobody — not in how a tool call is judged. Both used to
//! rebuild "decide → look up grants → choose approvers → ask → save grant → answer → audit",
//! the spawn spec, the disallowed tools and the budget refusal, and they drifted. Here it is
//! written once, parameterised by [`Answerer`]; the callers keep only what is theirs (the chat's
//! progress message and queue, the run's delivery to its target chats).
//!
//! The pipeline for one `can_use_tool` request:
//! 1. [`route`]: is it conversation with a human ([`authority::human_tool`])? The chat user
//!    answers questions; where nobody can, they are refused up front.
//! 2. `policy::engine::decide`: allow, deny, or ask.
//! 3. For an ask: a covering grant answers it ([`approval`]), else [`approvers`] are asked,
//!    else (nobody to ask) it is denied.
//! 4. [`Ask::settle`]: the human's outcome becomes the decision (and the grant they chose).
//! 5. [`answer`]: the decision is recorded (tool log, audit) and becomes the CLI's answer.

pub mod approval;

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::audit::Event;
use crate::config::Config;
use crate::egress::Owner;
use crate::policy::authority::{self, HumanTool};
use crate::policy::budget::{self, BudgetVerdict};
use crate::policy::engine::grants::{self, Footprint};
use crate::policy::engine::{self, Decision};
use crate::policy::roles::Role;
use crate::policy::ToolContext;
use crate::runner::{ClaudeProcess, PermissionAnswer, PermissionRequest, ProcessEvent, SpawnSpec};
use crate::services::Ctx;
use crate::store::ToolUseRecord;
use crate::telegram::update::ChatRef;

pub use approval::Ask;

/// Who answers the run's asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answerer {
    /// A chat turn: the user in the chat answers Claude's questions; approvals go to them (or
    /// to the admins, for a viewer).
    ChatUser,
    /// A scheduled job: approvals go to its creator (or the admins) as prompts in private
    /// chats; nobody sits in front of the run to answer questions.
    JobCreator,
    /// A webhook run: nobody; every ask is denied.
    Nobody,
}

/// The run a tool call belongs to: on whose behalf, where, and who answers.
#[derive(Debug, Clone)]
pub struct Run {
    pub user_id: i64,
    pub role: Role,
    /// The chat (or topic) grants belong to and approvals name.
    pub chat: ChatRef,
    /// Claude's working directory.
    pub dir: PathBuf,
    /// The Claude session, when known: "allow for this session" binds to it.
    pub session: Option<String>,
    pub answerer: Answerer,
    /// Put before an approval's reason, e.g. "Job #3".
    pub label: Option<String>,
    /// `webhook` or `schedule` for unattended runs (tagged in the audit row).
    pub unattended: Option<&'static str>,
}

/// What to do with a call before the policy engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// An action: the policy engine decides.
    Policy,
    /// A question for the user in the chat.
    Question,
    /// Refused without asking anyone.
    Refuse(Decision),
}

/// Route `tool` for a run answered by `answerer` (see [`authority::human_tool`]).
pub fn route(tool: &str, answerer: Answerer) -> Route {
    match (authority::human_tool(tool), answerer) {
        (None, _) => Route::Policy,
        (Some(HumanTool::Question), Answerer::ChatUser) => Route::Question,
        (Some(HumanTool::PlanEntry), Answerer::ChatUser) => Route::Policy,
        (Some(_), Answerer::JobCreator | Answerer::Nobody) => Route::Refuse(Decision::Deny {
            reason:
                "ccgate: this is an unattended run; nobody can answer questions or approve plans"
                    .into(),
            rule: "automation.no_human".into(),
            class: None,
        }),
    }
}

/// Whom to ask about an ask of the policy: `None` when nobody can be asked (a webhook run).
/// An empty list (no admin configured for a viewer) is a denial the registry explains.
pub fn approvers(
    answerer: Answerer,
    requester: i64,
    role: Role,
    admins: &[i64],
) -> Option<Vec<i64>> {
    match answerer {
        Answerer::ChatUser | Answerer::JobCreator => {
            Some(authority::approvers(requester, role, admins))
        }
        Answerer::Nobody => None,
    }
}

/// What the pipeline says about one call: an answer now, or a human to ask first.
pub enum Step {
    Now(Decision),
    Ask(Box<Ask>),
}

/// Where Claude's tool calls (and the files its CLI reads for `@mentions`) happen.
pub fn tool_context<'a>(
    ctx: &'a Ctx,
    dir: &'a Path,
    role: Role,
    plans_dir: &'a Path,
) -> ToolContext<'a> {
    ToolContext {
        root: &ctx.config.approved_directory,
        cwd: dir,
        role,
        secrets: &ctx.secrets,
        plans_dir: Some(plans_dir),
        contained: ctx.launcher.jail().is_contained(),
    }
}

/// Run `f`, which may block on the disk or a child process, without holding up the other
/// tasks of this runtime worker (they move to another; a current-thread runtime, as in unit
/// tests, just runs it).
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Steps 1–3 of the pipeline for `req` in `run`.
pub async fn decide(ctx: &Ctx, run: &Run, req: &PermissionRequest) -> Step {
    let (tool, input) = (req.tool_name.as_str(), &req.input);
    match route(tool, run.answerer) {
        Route::Refuse(d) => return Step::Now(d),
        Route::Question => return Step::Ask(Box::new(Ask::question(run, req))),
        Route::Policy => {}
    }
    let plans_dir = ctx.launcher.plans_dir_of(run.user_id);
    let tctx = tool_context(ctx, &run.dir, run.role, &plans_dir);
    // The policy may read the tree or ask git (secret files in history): seconds on a big
    // repository, so other chats' tasks must not wait behind it on this worker.
    let (reason, rule, step_up, grant_scope, class) =
        match off_worker(|| engine::decide(&ctx.rules, &tctx, tool, input)) {
            Decision::Ask {
                reason,
                rule,
                step_up,
                grant_scope,
                class,
            } => (reason, rule, step_up, grant_scope, class),
            d => return Step::Now(d),
        };
    // Only an ask can be covered by a grant or create one.
    let footprint: Footprint = off_worker(|| grants::footprint(&tctx, tool, input));
    let Some(approvers) = approvers(run.answerer, run.user_id, run.role, &ctx.config.admins())
    else {
        return Step::Now(Decision::Deny {
            reason: format!(
                "ccgate: this needs a human's approval ({reason}), and this run is unattended"
            ),
            rule: format!("{rule}+automation.no_human"),
            class,
        });
    };
    let ask = Ask::approval(
        run,
        req,
        approval::Approval {
            reason,
            rule,
            step_up,
            grant_scope,
            footprint,
            approvers,
            class,
        },
    );
    match ask.covering_grant(ctx).await {
        Some(allowed) => Step::Now(allowed),
        None => Step::Ask(Box::new(ask)),
    }
}

/// Step 5: record the decision about `req` (audit, tool log) and turn it into the CLI's answer.
///
/// Fails closed: an allowed call whose `tool_decision` row cannot be written is denied, so
/// nothing runs that the audit log does not show.
pub async fn answer(
    ctx: &Ctx,
    run: &Run,
    req: &PermissionRequest,
    decision: &Decision,
) -> PermissionAnswer {
    let details = decision_details(run, req, decision);
    let user = (run.user_id != 0).then_some(run.user_id);
    let audited = crate::audit::try_record(
        &ctx.store,
        user,
        Some(run.chat.chat_id),
        Event::ToolDecision,
        &details,
    );
    let unaudited = fail_closed(decision, audited.await.is_ok());
    let decision = unaudited.as_ref().unwrap_or(decision);
    let (answer, reason) = match decision {
        Decision::Allow { .. } => (
            PermissionAnswer::Allow {
                updated_input: req.input.clone(),
            },
            None,
        ),
        Decision::Deny { reason, .. } | Decision::Ask { reason, .. } => (
            PermissionAnswer::Deny {
                message: reason.clone(),
                interrupt: false,
            },
            Some(reason.clone()),
        ),
    };
    let input = req.input.to_string();
    if let Err(e) = ctx
        .store
        .record_tool_use(&ToolUseRecord {
            claude_session_id: run.session.as_deref(),
            user_id: run.user_id,
            chat_id: run.chat.chat_id,
            tool_name: &req.tool_name,
            input: &input,
            decision: decision_label(decision),
            reason: reason.as_deref(),
        })
        .await
    {
        tracing::error!(error = %e, "recording tool decision failed");
    }
    answer
}

/// Why an allowed call was denied after all.
pub const UNAUDITED: &str = "ccgate: the audit log cannot be written; nothing runs unaudited";

/// The decision that replaces `decision` when its audit row was not written: an allow becomes
/// a deny (rule `audit.unwritable`); a deny stays what it is.
fn fail_closed(decision: &Decision, audited: bool) -> Option<Decision> {
    match decision {
        Decision::Allow { class, .. } if !audited => Some(Decision::Deny {
            reason: UNAUDITED.into(),
            rule: "audit.unwritable".into(),
            class: *class,
        }),
        _ => None,
    }
}

/// `allow`, or `deny` for anything else (an ask that reaches the answer was not approved).
fn decision_label(decision: &Decision) -> &'static str {
    match decision {
        Decision::Allow { .. } => "allow",
        _ => "deny",
    }
}

/// The `tool_decision` audit details: the call, the decision and its rule, and — for a Bash
/// call the policy analysed — the class it gave (`"class": "writes_inside"`, with
/// `"writes_config"`), from which the audit takes the row's level.
pub fn decision_details(
    run: &Run,
    req: &PermissionRequest,
    decision: &Decision,
) -> serde_json::Value {
    let reason = match decision {
        Decision::Allow { .. } => None,
        Decision::Deny { reason, .. } | Decision::Ask { reason, .. } => Some(reason),
    };
    let mut details = json!({"tool": req.tool_name, "decision": decision_label(decision), "reason": reason, "rule": decision.rule(),
            "input_hash": crate::approval::registry::input_hash(&req.tool_name, &req.input), "input": req.input});
    if let Some(c) = decision.class() {
        details["class"] = json!(engine::class_name(c.class));
        details["writes_config"] = json!(c.writes_config);
    }
    if let Some(kind) = run.unattended {
        details["unattended"] = json!(kind);
    }
    details
}

/// The `claude` invocation for a run in `dir` as `role`.
pub fn spawn_spec(cfg: &Config, dir: &Path, resume: Option<String>, role: Role) -> SpawnSpec {
    SpawnSpec {
        cli_path: cfg.claude_cli_path.clone(),
        cwd: dir.to_path_buf(),
        resume,
        model: cfg.claude_model.clone(),
        max_turns: cfg.claude_max_turns,
        max_budget_usd: cfg.max_cost_per_request,
        // Viewers: writes are removed from the session, not just refused when asked.
        disallowed_tools: if role.can_write() {
            Vec::new()
        } else {
            crate::policy::WRITE_TOOLS
                .iter()
                .map(|t| t.to_string())
                .collect()
        },
        // Chat turns switch it on (the chat actor answers the MCP traffic).
        ccgate_tools: false,
    }
}

/// Prepare (boundary, HOME, egress lease) and start `claude`; the error is a sentence.
pub async fn start(
    ctx: &Ctx,
    spec: &SpawnSpec,
    owner: Owner,
    on_event: impl Fn(ProcessEvent) + Send + Sync + 'static,
) -> Result<ClaudeProcess, String> {
    let prepared = ctx.launcher.prepare(spec, owner).await?;
    ClaudeProcess::spawn(prepared, on_event).map_err(|e| {
        format!(
            "could not start {}: {e}",
            ctx.config.claude_cli_path.display()
        )
    })
}

/// Why `user_id` may not start a run now, budget-wise.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetRefusal {
    /// The ledger could not be read: fail closed.
    Unreadable,
    /// A daily budget is used up; `text` says which, how much and when it resets.
    Exceeded { text: String },
}

impl BudgetRefusal {
    pub fn text(&self) -> &str {
        match self {
            BudgetRefusal::Unreadable => "the cost ledger could not be read",
            BudgetRefusal::Exceeded { text } => text,
        }
    }
}

/// Check the daily budgets for `user_id` before a run; a refusal is audited (`budget_exceeded`).
pub async fn budget_refusal(
    ctx: &Ctx,
    user_id: i64,
    chat_id: Option<i64>,
) -> Option<BudgetRefusal> {
    let Some((verdict, now)) = ctx.budget_verdict(user_id).await else {
        tracing::error!(user_id, "the cost ledger could not be read; not running");
        return Some(BudgetRefusal::Unreadable);
    };
    match verdict {
        BudgetVerdict::Ok => None,
        BudgetVerdict::Exceeded {
            scope,
            limit,
            spent,
            resets_at,
        } => {
            crate::audit::record(
                &ctx.store,
                (user_id != 0).then_some(user_id),
                chat_id,
                Event::BudgetExceeded,
                &json!({"scope": scope, "limit": limit, "spent": spent}),
            )
            .await;
            Some(BudgetRefusal::Exceeded {
                text: format!(
                    "{scope} daily budget is used up (${spent:.4} of ${limit:.2}). It resets at {} UTC, in {}",
                    resets_at.format("%H:%M"),
                    budget::human_duration(resets_at - now)
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_reach_the_chat_user_and_nobody_else() {
        assert_eq!(
            route("AskUserQuestion", Answerer::ChatUser),
            Route::Question
        );
        assert_eq!(route("ExitPlanMode", Answerer::ChatUser), Route::Question);
        for who in [Answerer::JobCreator, Answerer::Nobody] {
            for tool in ["AskUserQuestion", "ExitPlanMode", "EnterPlanMode"] {
                match route(tool, who) {
                    Route::Refuse(Decision::Deny { rule, .. }) => {
                        assert_eq!(rule, "automation.no_human", "{tool} {who:?}")
                    }
                    other => panic!("{tool} {who:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn actions_and_plan_entry_in_a_chat_go_to_the_policy() {
        assert_eq!(route("EnterPlanMode", Answerer::ChatUser), Route::Policy);
        for who in [Answerer::ChatUser, Answerer::JobCreator, Answerer::Nobody] {
            assert_eq!(route("Bash", who), Route::Policy);
            assert_eq!(route("Write", who), Route::Policy);
        }
    }

    #[test]
    fn asks_go_to_the_requester_or_admins_unless_nobody_answers() {
        let admins = [1];
        assert_eq!(
            approvers(Answerer::ChatUser, 7, Role::Developer, &admins),
            Some(vec![7])
        );
        assert_eq!(
            approvers(Answerer::JobCreator, 7, Role::Viewer, &admins),
            Some(vec![1])
        );
        assert_eq!(approvers(Answerer::Nobody, 7, Role::Admin, &admins), None);
        assert_eq!(approvers(Answerer::Nobody, 0, Role::Viewer, &admins), None);
    }

    #[test]
    fn viewers_lose_the_write_tools_at_spawn() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = std::collections::HashMap::from([
            (
                "TELEGRAM_BOT_TOKEN".to_string(),
                "123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345".to_string(),
            ),
            (
                "APPROVED_DIRECTORY".to_string(),
                tmp.path().display().to_string(),
            ),
        ]);
        let cfg = Config::from_map(&vars).unwrap();
        let dir = tmp.path();
        let viewer = spawn_spec(&cfg, dir, None, Role::Viewer);
        assert!(viewer.disallowed_tools.iter().any(|t| t == "Write"));
        assert_eq!(
            viewer.disallowed_tools.len(),
            crate::policy::WRITE_TOOLS.len()
        );
        let dev = spawn_spec(&cfg, dir, Some("s1".into()), Role::Developer);
        assert!(dev.disallowed_tools.is_empty());
        assert_eq!(dev.resume.as_deref(), Some("s1"));
        // ccgate's own MCP server only where the caller answers it (chat turns), and one
        // `--mcp-config` with the operator's servers beside it.
        let none = crate::policy::mcp::OperatorMcp::default();
        let config = |spec: &SpawnSpec, operator: &crate::policy::mcp::OperatorMcp| {
            crate::runner::launch::mcp_config(operator, spec.ccgate_tools)
        };
        assert_eq!(config(&dev, &none), None);
        assert!(dev.args().iter().any(|a| a == "--strict-mcp-config"));
        let chat = SpawnSpec {
            ccgate_tools: true,
            ..dev
        };
        let json: serde_json::Value = serde_json::from_str(&config(&chat, &none).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"mcpServers": {"ccgate": {"type": "sdk", "name": "ccgate"}}})
        );
    }

    fn run(dir: &Path) -> Run {
        Run {
            user_id: 7,
            role: Role::Developer,
            chat: ChatRef {
                chat_id: 70,
                thread_id: 0,
            },
            dir: dir.to_path_buf(),
            session: None,
            answerer: Answerer::ChatUser,
            label: None,
            unattended: None,
        }
    }

    fn bash(command: &str) -> PermissionRequest {
        PermissionRequest {
            request_id: "r1".into(),
            tool_name: "Bash".into(),
            input: json!({ "command": command }),
            tool_use_id: None,
            blocked_path: None,
            description: None,
        }
    }

    /// The `tool_decision` row of `command`, decided by the real engine in a project at `root`.
    fn row(root: &Path, command: &str) -> (Decision, serde_json::Value) {
        let secrets = crate::policy::secret_files::SecretFiles::defaults().unwrap();
        let tctx = ToolContext {
            root,
            cwd: root,
            role: Role::Developer,
            secrets: &secrets,
            plans_dir: None,
            contained: true,
        };
        let req = bash(command);
        let d = engine::decide(&engine::Rules::default(), &tctx, "Bash", &req.input);
        let details = decision_details(&run(root), &req, &d);
        (d, details)
    }

    #[test]
    fn the_tool_decision_row_carries_the_engines_class() {
        use crate::audit::risk::{self, Risk};
        use crate::policy::bash::Class;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.txt"), "a").unwrap();
        let cases = [
            ("touch notes.txt", Class::WritesInside, false, Risk::Medium),
            ("ls src", Class::ReadOnly, false, Risk::Low),
            ("echo x >> CLAUDE.md", Class::WritesInside, true, Risk::High),
            (
                "curl https://example.com",
                Class::Network,
                false,
                Risk::High,
            ),
        ];
        for (command, class, writes_config, level) in cases {
            let (d, details) = row(&root, command);
            let c = d.class().unwrap_or_else(|| panic!("{command}: {d:?}"));
            assert_eq!(
                (c.class, c.writes_config),
                (class, writes_config),
                "{command}"
            );
            assert_eq!(details["class"], engine::class_name(class), "{command}");
            assert_eq!(details["writes_config"], writes_config, "{command}");
            // The audit level is the class's, raised one step for anything not allowed.
            let want = if details["decision"] == "allow" {
                level
            } else {
                level.raised()
            };
            assert_eq!(
                risk::assess("tool_decision", &details),
                want,
                "{command}: {details}"
            );
        }
        // The level comes from the class the engine gave, not from a second analysis: an
        // absolute path inside the project reads inside it (the row alone could not tell).
        let inside = format!("cat {}", root.join("src/a.txt").display());
        let (d, details) = row(&root, &inside);
        assert!(matches!(d, Decision::Allow { .. }), "{d:?}");
        assert_eq!(details["class"], "read_only");
        assert_eq!(risk::assess("tool_decision", &details), Risk::Low);
        let mut unclassified = details.clone();
        unclassified.as_object_mut().unwrap().remove("class");
        assert_eq!(risk::assess("tool_decision", &unclassified), Risk::High);
    }

    #[test]
    fn approvals_and_refusals_keep_the_class() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (d, _) = row(&root, "curl https://example.com");
        let Decision::Ask { class, .. } = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            class.map(|c| c.class),
            Some(crate::policy::bash::Class::Network)
        );
        // Other tools carry none.
        assert_eq!(route("ExitPlanMode", Answerer::Nobody), {
            Route::Refuse(Decision::Deny {
                reason:
                    "ccgate: this is an unattended run; nobody can answer questions or approve plans"
                        .into(),
                rule: "automation.no_human".into(),
                class: None,
            })
        });
    }

    #[test]
    fn an_allow_that_cannot_be_audited_is_denied() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (allowed, _) = row(&root, "ls");
        assert!(matches!(allowed, Decision::Allow { .. }));
        assert_eq!(fail_closed(&allowed, true), None);
        match fail_closed(&allowed, false) {
            Some(Decision::Deny {
                reason,
                rule,
                class,
            }) => {
                assert_eq!(reason, UNAUDITED);
                assert_eq!(rule, "audit.unwritable");
                assert_eq!(class, allowed.class());
            }
            other => panic!("{other:?}"),
        }
        let (denied, _) = row(&root, "git config core.hooksPath x");
        assert!(matches!(denied, Decision::Deny { .. }), "{denied:?}");
        assert_eq!(fail_closed(&denied, false), None);
    }
}
