//! Authority: who may answer, approve, revoke and manage — as pure functions.
//!
//! Why it exists: "who may approve this call", "who may change this job", "who may revoke this
//! grant" and "who may answer Claude's question" used to be answered inline by the handlers
//! that needed them (the chat actor, the unattended runner, `/revoke`, `/schedule`). Each is a
//! rule of the security model, so each has one answer here, with its own tests; handlers ask.
//!
//! It also names, once, the tools that are not actions to police but conversation with a
//! human ([`human_tool`]): the chat and the unattended runs used to keep drifting lists.

use super::roles::Role;

/// A tool call that is really a turn of conversation with a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HumanTool {
    /// `AskUserQuestion` (options to pick) and `ExitPlanMode` (a plan to approve): the answer
    /// travels back to Claude in the tool's input, from the person in front of the chat.
    Question,
    /// `EnterPlanMode`: harmless by itself (the engine allows it), but plan mode only ends with
    /// a plan approval — a question. Where nobody can answer questions, entering it would
    /// strand the run in read-only planning, so it is refused there up front.
    PlanEntry,
}

/// Is `tool` conversation with a human rather than an action? (See [`HumanTool`].)
pub fn human_tool(tool: &str) -> Option<HumanTool> {
    match tool {
        "AskUserQuestion" | "ExitPlanMode" => Some(HumanTool::Question),
        "EnterPlanMode" => Some(HumanTool::PlanEntry),
        _ => None,
    }
}

/// Who may approve a call made on behalf of `requester`: the requester themself when their role
/// may do such things (they are asked about their own session's risky steps), otherwise the
/// admins. Empty means nobody may (no admin configured): the ask is denied.
pub fn approvers(requester: i64, role: Role, admins: &[i64]) -> Vec<i64> {
    if role.can_write() {
        vec![requester]
    } else {
        admins.to_vec()
    }
}

/// May `presser` answer an approval shown to `approvers`?
pub fn may_approve(presser: i64, approvers: &[i64]) -> bool {
    approvers.contains(&presser)
}

/// May `presser` answer a question Claude asked during `asker`'s request? Only the asker:
/// the answer steers their own session.
pub fn may_answer_question(presser: i64, asker: i64) -> bool {
    presser == asker
}

/// May `user` (with `role`) pause, resume or remove a job created by `creator`? Its creator or an
/// admin — and, from a chat, only in the chat the job belongs to (`in_its_chat`; the machine's
/// own `ccgate schedule` passes `true`).
pub fn may_change_job(user: i64, role: Role, creator: i64, in_its_chat: bool) -> bool {
    in_its_chat && (creator == user || role.is_admin())
}

/// May `user` (with `role`) revoke a grant given to `owner` in this chat? Their own grants, or
/// anyone's if they are an admin.
pub fn may_revoke_grant(user: i64, role: Role, owner: i64) -> bool {
    owner == user || role.is_admin()
}

/// May `role` re-sync the project topics (`/sync_topics`: creates, renames and closes topics of
/// the projects group for everyone)? Admins only.
pub fn may_sync_topics(role: Role) -> bool {
    role.is_admin()
}

/// Whose spend may `user` (with `role`) see with `/usage`? Their own; an admin everyone's (spend
/// is a bot-wide concern, like the global budget admins answer for).
pub fn usage_scope(user: i64, role: Role) -> UsageScope {
    if role.is_admin() {
        UsageScope::Everyone
    } else {
        UsageScope::Own(user)
    }
}

/// Whose spend a `/usage` summary covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageScope {
    /// One user's own.
    Own(i64),
    /// Everyone's, with a line per user (admins).
    Everyone,
}

impl UsageScope {
    /// The user to filter the store's rows by; `None` for everyone.
    pub fn user(&self) -> Option<i64> {
        match self {
            UsageScope::Own(u) => Some(*u),
            UsageScope::Everyone => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_tools_are_named_once() {
        assert_eq!(human_tool("AskUserQuestion"), Some(HumanTool::Question));
        assert_eq!(human_tool("ExitPlanMode"), Some(HumanTool::Question));
        assert_eq!(human_tool("EnterPlanMode"), Some(HumanTool::PlanEntry));
        for t in ["Bash", "Read", "Write", "TodoWrite", "askuserquestion", ""] {
            assert_eq!(human_tool(t), None, "{t}");
        }
    }

    #[test]
    fn writers_approve_their_own_calls_viewers_need_an_admin() {
        let admins = [1, 2];
        assert_eq!(approvers(7, Role::Developer, &admins), vec![7]);
        assert_eq!(approvers(1, Role::Admin, &admins), vec![1]);
        assert_eq!(approvers(7, Role::Viewer, &admins), vec![1, 2]);
        assert!(
            approvers(7, Role::Viewer, &[]).is_empty(),
            "no admin: nobody"
        );
        assert!(may_approve(2, &admins));
        assert!(!may_approve(7, &admins));
        assert!(!may_approve(7, &[]));
    }

    #[test]
    fn only_the_asker_answers_questions() {
        assert!(may_answer_question(7, 7));
        assert!(!may_answer_question(8, 7));
    }

    #[test]
    fn jobs_change_by_their_creator_or_an_admin_in_their_chat() {
        assert!(may_change_job(7, Role::Developer, 7, true));
        assert!(may_change_job(7, Role::Viewer, 7, true));
        assert!(!may_change_job(8, Role::Developer, 7, true));
        assert!(may_change_job(1, Role::Admin, 7, true));
        // From another chat, not even the creator or an admin.
        assert!(!may_change_job(7, Role::Developer, 7, false));
        assert!(!may_change_job(1, Role::Admin, 7, false));
    }

    #[test]
    fn grants_are_revoked_by_their_owner_or_an_admin() {
        assert!(may_revoke_grant(7, Role::Viewer, 7));
        assert!(!may_revoke_grant(8, Role::Developer, 7));
        assert!(may_revoke_grant(1, Role::Admin, 7));
    }

    #[test]
    fn only_admins_sync_topics() {
        assert!(may_sync_topics(Role::Admin));
        assert!(!may_sync_topics(Role::Developer));
        assert!(!may_sync_topics(Role::Viewer));
    }

    #[test]
    fn usage_is_ones_own_and_admins_see_everyone() {
        assert_eq!(usage_scope(7, Role::Developer), UsageScope::Own(7));
        assert_eq!(usage_scope(7, Role::Viewer), UsageScope::Own(7));
        assert_eq!(usage_scope(1, Role::Admin), UsageScope::Everyone);
        assert_eq!(UsageScope::Own(7).user(), Some(7));
        assert_eq!(UsageScope::Everyone.user(), None);
    }
}
