//! Anomaly detection over the audit stream: bursts of rejections, floods of unknown senders,
//! repeated login failures, cost spikes.
//!
//! Why it exists: single rejections are normal (a typo'd path); a burst of them is someone
//! probing. Every security event already flows through the audit log, so the detector watches
//! that one stream, keeps short sliding windows in memory, and reports what crossed a threshold.
//! It decides nothing about enforcement itself: it returns [`Alert`]s, and the caller (the
//! app's wiring) delivers them to admins and applies the lockout they ask for.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Event;

/// What an event means to the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Nothing the detector watches.
    None,
    /// A sender not on the allow list (counted across senders: a flood).
    UnknownSender,
    /// A user turned away by a security layer.
    Rejection,
    /// A failed authentication: a rejection that also counts towards the login limit.
    LoginFailure,
    /// A run ended: its cost counts towards the spend window.
    RunCost,
}

/// Every event says what it signals (no catch-all: a new event is a compile error here).
fn signal(event: Event) -> Signal {
    use Event::*;
    match event {
        AuthRejected => Signal::UnknownSender,
        PathRejected | AccessDenied | RateLimited | SecretFileBlocked | AuthRequired
        | UploadRefused | ArchiveRefused | FileSendRefused => Signal::Rejection,
        StepUpFailed | TokenInvalid | TokenReplay | TokenExpired => Signal::LoginFailure,
        RunFinished => Signal::RunCost,
        Anomaly
        | ApprovalChoiceRefused
        | ArchiveExtracted
        | UploadSaved
        | VoiceTranscribed
        | FileSent
        | ApprovalDecided
        | ApprovalRequested
        | ApprovalStalePress
        | ApprovalUnauthorizedPress
        | BotSenderDropped
        | BudgetExceeded
        | CallbackUnknown
        | Command
        | ConfigChange
        | EgressDenied
        | GitPanel
        | GitSecretMasked
        | GitRefused
        | GrantAdded
        | GrantRevoked
        | GroupNotEnabled
        | JobFired
        | JobMissed
        | Lockout
        | LockoutBlocked
        | Login
        | Logout
        | OutboxRefused
        | PairingApproved
        | PairingRefused
        | PairingRequested
        | QuestionStalePress
        | QuestionUnauthorizedPress
        | SessionExported
        | StepUpOk
        | StepUpUnavailable
        | TokenIssued
        | TokenRevoked
        | SecretRotated
        | ToolDecision
        | TotpEnrolled
        | Unlock
        | UpdateUnparsed
        | WebhookReceived
        | WebhookRejected
        | WebhookReplay => Signal::None,
    }
}

/// Thresholds; the defaults are conservative enough not to fire on a clumsy human.
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub rejections: usize,
    pub rejection_window: Duration,
    pub login_failures: usize,
    pub login_window: Duration,
    pub unknown_senders: usize,
    pub unknown_window: Duration,
    /// Spend by one user within `cost_window` that raises an alert (USD).
    pub cost_spike_usd: f64,
    pub cost_window: Duration,
    pub lockout_for: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            rejections: 10,
            rejection_window: Duration::from_secs(600),
            login_failures: 5,
            login_window: Duration::from_secs(900),
            unknown_senders: 20,
            unknown_window: Duration::from_secs(600),
            cost_spike_usd: 5.0,
            cost_window: Duration::from_secs(600),
            lockout_for: Duration::from_secs(3600),
        }
    }
}

/// Something admins must hear about.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: &'static str,
    pub user_id: Option<i64>,
    pub message: String,
    /// Lock this user out for this long.
    pub lockout: Option<(i64, Duration)>,
}

#[derive(Default)]
struct Windows {
    rejections: HashMap<i64, VecDeque<Instant>>,
    login_failures: HashMap<i64, VecDeque<Instant>>,
    unknown: VecDeque<(Instant, i64)>,
    costs: HashMap<i64, VecDeque<(Instant, f64)>>,
    /// Last alert per (kind, user), so a sustained attack yields one alert per window.
    last_alert: HashMap<(&'static str, Option<i64>), Instant>,
}

pub struct Detector {
    t: Thresholds,
    w: Windows,
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) > window) {
        q.pop_front();
    }
}

impl Detector {
    pub fn new(t: Thresholds) -> Self {
        Detector {
            t,
            w: Windows::default(),
        }
    }

    fn once(
        &mut self,
        kind: &'static str,
        user: Option<i64>,
        now: Instant,
        window: Duration,
    ) -> bool {
        match self.w.last_alert.get(&(kind, user)) {
            Some(t) if now.duration_since(*t) < window => false,
            _ => {
                self.w.last_alert.insert((kind, user), now);
                true
            }
        }
    }

    /// Feed one audit event; returns the alerts it triggers.
    pub fn observe(
        &mut self,
        event: Event,
        user_id: Option<i64>,
        details: &Value,
        now: Instant,
    ) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let Some(user) = user_id else { return alerts };
        let signal = signal(event);

        if signal == Signal::UnknownSender {
            self.w.unknown.push_back((now, user));
            while self
                .w
                .unknown
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > self.t.unknown_window)
            {
                self.w.unknown.pop_front();
            }
            let distinct: HashSet<i64> = self.w.unknown.iter().map(|(_, u)| *u).collect();
            if distinct.len() >= self.t.unknown_senders
                && self.once("unknown_flood", None, now, self.t.unknown_window)
            {
                alerts.push(Alert {
                    kind: "unknown_flood",
                    user_id: None,
                    message: format!(
                        "{} unknown users wrote to the bot in the last {} minutes.",
                        distinct.len(),
                        self.t.unknown_window.as_secs() / 60
                    ),
                    lockout: None,
                });
            }
            return alerts;
        }

        if matches!(signal, Signal::Rejection | Signal::LoginFailure) {
            let q = self.w.rejections.entry(user).or_default();
            q.push_back(now);
            prune(q, now, self.t.rejection_window);
            let n = q.len();
            if n >= self.t.rejections
                && self.once("rejection_burst", Some(user), now, self.t.rejection_window)
            {
                alerts.push(Alert {
                    kind: "rejection_burst",
                    user_id: Some(user),
                    message: format!(
                        "User {user} was refused {n} times in {} minutes (last: {event}). Locked out for {} minutes.",
                        self.t.rejection_window.as_secs() / 60,
                        self.t.lockout_for.as_secs() / 60
                    ),
                    lockout: Some((user, self.t.lockout_for)),
                });
            }
        }

        if signal == Signal::LoginFailure {
            let q = self.w.login_failures.entry(user).or_default();
            q.push_back(now);
            prune(q, now, self.t.login_window);
            let n = q.len();
            if n >= self.t.login_failures
                && self.once("login_failures", Some(user), now, self.t.login_window)
            {
                alerts.push(Alert {
                    kind: "login_failures",
                    user_id: Some(user),
                    message: format!(
                        "User {user} failed to authenticate {n} times in {} minutes. Locked out for {} minutes.",
                        self.t.login_window.as_secs() / 60,
                        self.t.lockout_for.as_secs() / 60
                    ),
                    lockout: Some((user, self.t.lockout_for)),
                });
            }
        }

        if signal == Signal::RunCost {
            let cost = details
                .get("cost_usd")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let q = self.w.costs.entry(user).or_default();
            q.push_back((now, cost));
            while q
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > self.t.cost_window)
            {
                q.pop_front();
            }
            let total: f64 = q.iter().map(|(_, c)| c).sum();
            if total >= self.t.cost_spike_usd
                && self.once("cost_spike", Some(user), now, self.t.cost_window)
            {
                alerts.push(Alert {
                    kind: "cost_spike",
                    user_id: Some(user),
                    message: format!(
                        "User {user} spent ${total:.2} in the last {} minutes.",
                        self.t.cost_window.as_secs() / 60
                    ),
                    lockout: None,
                });
            }
        }
        alerts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn small() -> Thresholds {
        Thresholds {
            rejections: 3,
            login_failures: 2,
            unknown_senders: 3,
            cost_spike_usd: 1.0,
            ..Thresholds::default()
        }
    }

    #[test]
    fn rejection_burst_locks_out_once_per_window() {
        let mut d = Detector::new(small());
        let t0 = Instant::now();
        assert!(d
            .observe(Event::PathRejected, Some(1), &json!({}), t0)
            .is_empty());
        assert!(d
            .observe(Event::AccessDenied, Some(1), &json!({}), t0)
            .is_empty());
        let a = d.observe(Event::PathRejected, Some(1), &json!({}), t0);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].lockout.map(|l| l.0), Some(1));
        assert!(
            d.observe(Event::PathRejected, Some(1), &json!({}), t0)
                .is_empty(),
            "one alert per window"
        );
        // Another user is counted separately; old events fall out of the window.
        assert!(d
            .observe(Event::PathRejected, Some(2), &json!({}), t0)
            .is_empty());
        let later = t0 + Duration::from_secs(3600);
        assert!(d
            .observe(Event::PathRejected, Some(2), &json!({}), later)
            .is_empty());
        assert!(
            d.observe(Event::Command, Some(3), &json!({}), later)
                .is_empty(),
            "ordinary events never count"
        );
    }

    #[test]
    fn login_failures_unknown_flood_and_cost_spike() {
        let mut d = Detector::new(small());
        let t = Instant::now();
        d.observe(Event::TokenInvalid, Some(5), &json!({}), t);
        let a = d.observe(Event::TokenReplay, Some(5), &json!({}), t);
        assert!(a
            .iter()
            .any(|a| a.kind == "login_failures" && a.lockout.is_some()));

        for u in 100..102 {
            assert!(d
                .observe(Event::AuthRejected, Some(u), &json!({}), t)
                .is_empty());
        }
        // The same stranger again does not make a flood.
        assert!(d
            .observe(Event::AuthRejected, Some(100), &json!({}), t)
            .is_empty());
        let a = d.observe(Event::AuthRejected, Some(103), &json!({}), t);
        assert_eq!(a[0].kind, "unknown_flood");
        assert!(a[0].lockout.is_none());

        assert!(d
            .observe(Event::RunFinished, Some(9), &json!({"cost_usd": 0.6}), t)
            .is_empty());
        let a = d.observe(Event::RunFinished, Some(9), &json!({"cost_usd": 0.5}), t);
        assert_eq!(a[0].kind, "cost_spike");
    }

    /// Every event the detector counts as a rejection is also a rejection in the metrics, and
    /// the other way round (the two mappings are exhaustive matches; this keeps them agreeing).
    #[test]
    fn detector_rejections_are_the_metrics_rejections() {
        for e in Event::ALL.iter().copied() {
            let counted = matches!(signal(e), Signal::Rejection | Signal::LoginFailure);
            let layer = crate::metrics::rejection_layer(e, &json!({"decision": "deny"}));
            // Rejections the detector does not count towards a lockout: refusals a user does
            // not cause by probing (budgets, webhooks, presses, policy denials, egress).
            let not_counted = [
                Event::BudgetExceeded,
                Event::WebhookRejected,
                Event::CallbackUnknown,
                Event::QuestionUnauthorizedPress,
                Event::ApprovalUnauthorizedPress,
                Event::ToolDecision,
                Event::EgressDenied,
                // The panel's own failures (no boundary, a timeout), not a user's probe.
                Event::GitRefused,
            ];
            if counted {
                assert!(layer.is_some(), "{e} locks out but is no rejection metric");
            } else if layer.is_some() {
                assert!(
                    not_counted.contains(&e),
                    "{e} is a rejection the detector ignores"
                );
            }
        }
    }
}
