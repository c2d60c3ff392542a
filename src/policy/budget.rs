//! Cost budgets: may another request run, given what was really spent today?
//!
//! Why it exists: a runaway loop or a leaked account can burn money fast. Budgets are checked
//! before anything runs, against the real `total_cost_usd` Claude reported for each finished
//! request (persisted per user per UTC day), so the limit holds across restarts.

use chrono::{DateTime, Duration, NaiveTime, Utc};

/// The configured daily limits (USD). `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budgets {
    pub per_user: Option<f64>,
    pub global: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BudgetVerdict {
    Ok,
    Exceeded {
        /// "your" or "the bot's overall"
        scope: &'static str,
        limit: f64,
        spent: f64,
        resets_at: DateTime<Utc>,
    },
}

/// The next UTC midnight after `now`, when the ledger's day changes.
pub fn next_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive() + Duration::days(1);
    tomorrow.and_time(NaiveTime::MIN).and_utc()
}

/// Check `user_spent` and `global_spent` (today's totals) against the limits.
pub fn check(b: &Budgets, user_spent: f64, global_spent: f64, now: DateTime<Utc>) -> BudgetVerdict {
    let resets_at = next_reset(now);
    if let Some(limit) = b.per_user {
        if user_spent >= limit {
            return BudgetVerdict::Exceeded {
                scope: "your",
                limit,
                spent: user_spent,
                resets_at,
            };
        }
    }
    if let Some(limit) = b.global {
        if global_spent >= limit {
            return BudgetVerdict::Exceeded {
                scope: "the bot's overall",
                limit,
                spent: global_spent,
                resets_at,
            };
        }
    }
    BudgetVerdict::Ok
}

/// "5h 12m" style, for the reset time.
pub fn human_duration(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn limits_and_reset() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 18, 30, 0).unwrap();
        let b = Budgets {
            per_user: Some(1.0),
            global: Some(5.0),
        };
        assert_eq!(check(&b, 0.99, 4.0, now), BudgetVerdict::Ok);
        let BudgetVerdict::Exceeded {
            scope, resets_at, ..
        } = check(&b, 1.0, 0.0, now)
        else {
            panic!()
        };
        assert_eq!(scope, "your");
        assert_eq!(
            resets_at,
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
        );
        assert!(matches!(
            check(&b, 0.1, 5.2, now),
            BudgetVerdict::Exceeded {
                scope: "the bot's overall",
                ..
            }
        ));
        let none = Budgets {
            per_user: None,
            global: None,
        };
        assert_eq!(check(&none, 1e9, 1e9, now), BudgetVerdict::Ok);
        assert_eq!(human_duration(resets_at - now), "5h 30m");
        assert_eq!(human_duration(Duration::minutes(7)), "7m");
    }
}
