//! The audit events: one variant per kind of row any layer writes.
//!
//! Why it exists: event names used to be strings typed at each call site, so a rule could be
//! written for an event nobody emitted and a new event silently fell into a default level. Now
//! every writer names an [`Event`], and the mappings that depend on the kind of row — risk
//! ([`super::risk::of_event`]), the rejection metric ([`crate::metrics::rejection_layer`]) and
//! the anomaly signals ([`super::anomaly`]) — are `match`es without a catch-all: adding a
//! variant does not compile until each says what it means. The stored name
//! ([`Event::as_str`]) is what the database, `audit verify` and every query see, unchanged.

use std::fmt;

macro_rules! events {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// The kind of an audit row.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Event {
            $($(#[$doc])* $variant,)+
        }

        impl Event {
            /// Every event, in declaration order.
            pub const ALL: &'static [Event] = &[$(Event::$variant,)+];

            /// The stored name, e.g. `"tool_decision"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Event::$variant => $name,)+
                }
            }
        }
    };
}

events! {
    /// A project, job or schedule the user may not use.
    AccessDenied => "access_denied",
    /// The anomaly detector raised an alert.
    Anomaly => "anomaly",
    /// An approver chose an option the approval does not offer (e.g. a grant for a step-up).
    ApprovalChoiceRefused => "approval_choice_refused",
    /// A human (or the timeout) answered an approval.
    ApprovalDecided => "approval_decided",
    /// A tool call was sent to humans for approval.
    ApprovalRequested => "approval_requested",
    /// A button of an approval that was already answered.
    ApprovalStalePress => "approval_stale_press",
    /// Someone who is not an approver pressed an approval's button.
    ApprovalUnauthorizedPress => "approval_unauthorized_press",
    /// A sender not on the allow list.
    AuthRejected => "auth_rejected",
    /// An allowed user without a session (login required).
    AuthRequired => "auth_required",
    /// A message from another bot, dropped.
    BotSenderDropped => "bot_sender_dropped",
    /// A run refused or stopped by a spending limit.
    BudgetExceeded => "budget_exceeded",
    /// A button press ccgate does not know.
    CallbackUnknown => "callback_unknown",
    /// A bot command.
    Command => "command",
    /// A setting or schedule changed.
    ConfigChange => "config_change",
    /// Something inside the sandbox tried a host off `EGRESS_ALLOW`.
    EgressDenied => "egress_denied",
    /// A `/git` panel or one of its buttons ran git (read-only) in a repository.
    GitPanel => "git_panel",
    /// The `/git` panel could not run git (no OS boundary, unusable repository, timeout…).
    GitRefused => "git_refused",
    /// The `/git` panel left out a secret file's content (its diff hunks).
    GitSecretMasked => "git_secret_masked",
    /// A time-boxed or per-session grant was stored.
    GrantAdded => "grant_added",
    /// A grant was revoked.
    GrantRevoked => "grant_revoked",
    /// A message from a group ccgate is not enabled in.
    GroupNotEnabled => "group_not_enabled",
    /// An uploaded archive was extracted into the project.
    ArchiveExtracted => "archive_extracted",
    /// An uploaded archive was refused (a member broke a rule, or a limit was passed).
    ArchiveRefused => "archive_refused",
    /// A scheduled job started.
    JobFired => "job_fired",
    /// A scheduled job's runs were missed (ccgate was down).
    JobMissed => "job_missed",
    /// A user was locked out.
    Lockout => "lockout",
    /// An update from a locked-out user, dropped.
    LockoutBlocked => "lockout_blocked",
    /// A successful `/login`.
    Login => "login",
    /// `/logout`.
    Logout => "logout",
    /// Telegram refused a queued message for good.
    OutboxRefused => "outbox_refused",
    /// The operator approved a pairing request.
    PairingApproved => "pairing_approved",
    /// A pairing request that was not accepted.
    PairingRefused => "pairing_refused",
    /// A stranger asked to pair.
    PairingRequested => "pairing_requested",
    /// A path outside the project (or unusable).
    PathRejected => "path_rejected",
    /// A button of a question that was already answered.
    QuestionStalePress => "question_stale_press",
    /// Someone other than the asked user pressed a question's button.
    QuestionUnauthorizedPress => "question_unauthorized_press",
    /// A sender over the rate limit.
    RateLimited => "rate_limited",
    /// A Claude run ended (chat turn, job or webhook).
    RunFinished => "run_finished",
    /// A session's history was exported (`/export`) as a document.
    SessionExported => "session_exported",
    /// A secret file (or folder) was refused.
    SecretFileBlocked => "secret_file_blocked",
    /// A wrong TOTP code.
    StepUpFailed => "step_up_failed",
    /// A correct TOTP code.
    StepUpOk => "step_up_ok",
    /// A step-up was required but the approver has no TOTP secret.
    StepUpUnavailable => "step_up_unavailable",
    /// A document or photo was saved into the project.
    UploadSaved => "upload_saved",
    /// A document or photo was refused (size, name, role, type, download).
    UploadRefused => "upload_refused",
    /// A voice note or audio file was sent to the transcription server (`ok` says whether
    /// a transcript came back).
    VoiceTranscribed => "voice_transcribed",
    /// A project file was sent to a chat (Claude's `send_file`, `/get`).
    FileSent => "file_sent",
    /// A file was not sent: missing, not a regular file, too large, or Telegram refused it.
    FileSendRefused => "file_send_refused",
    /// A login token past its expiry.
    TokenExpired => "token_expired",
    /// A login token that is unknown or not the user's.
    TokenInvalid => "token_invalid",
    /// The operator issued a login token.
    TokenIssued => "token_issued",
    /// A login token used a second time.
    TokenReplay => "token_replay",
    /// The operator revoked login tokens.
    TokenRevoked => "token_revoked",
    /// The operator rotated a shared secret (`ccgate rotate`); the old value stays accepted
    /// for the overlap window.
    SecretRotated => "secret_rotated",
    /// The decision about one of Claude's tool calls.
    ToolDecision => "tool_decision",
    /// The operator enrolled a TOTP secret.
    TotpEnrolled => "totp_enrolled",
    /// The operator lifted a lockout.
    Unlock => "unlock",
    /// A Telegram update ccgate could not parse.
    UpdateUnparsed => "update_unparsed",
    /// An authenticated webhook delivery.
    WebhookReceived => "webhook_received",
    /// A webhook request refused (signature, size, …).
    WebhookRejected => "webhook_rejected",
    /// A webhook delivery seen before.
    WebhookReplay => "webhook_replay",
}

impl Event {
    /// The inverse of [`Event::as_str`] (exact); `None` for a name no event has, e.g. one
    /// written by another version of ccgate.
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.iter().copied().find(|e| e.as_str() == name)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compare with a stored name: `event == "tool_decision"`.
impl PartialEq<&str> for Event {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for e in Event::ALL {
            let name = e.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(Event::parse(name), Some(*e));
            assert_eq!(e.to_string(), name);
            assert!(*e == name);
        }
        assert_eq!(Event::parse("TOOL_DECISION"), None);
        assert_eq!(Event::parse("auth_success"), None);
        assert_eq!(Event::parse(""), None);
    }
}
