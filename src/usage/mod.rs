//! `/usage`: real spend per UTC day and per project over the last 30 days, as text and a chart.
//!
//! Why it exists: budgets (`policy::budget`) say "stop" when a day's spend is reached, but not
//! where the money went. This module turns the turns recorded in the store (each with its real
//! `total_cost_usd` and directory) into one [`Usage`] summary — days without cost included, as
//! zeros, so the chart has no gaps — and renders it as HTML ([`render_text`]) and as a PNG
//! ([`chart::render_png`]). Who may see whose spend is `policy::authority`'s
//! ([`crate::policy::authority::usage_scope`]); this module only counts.

pub mod chart;

use std::collections::HashMap;
use std::path::Path;

use chrono::{Duration, NaiveDate};

use crate::store::UsageRow;
use crate::telegram::html::escape;

/// How many UTC days `/usage` covers, today included.
pub const DAYS: usize = 30;
/// Projects named in the text; the rest are summed as "other".
pub const TOP_PROJECTS: usize = 8;
/// Projects given their own colour in the chart; the rest are stacked as "other".
pub const CHART_PROJECTS: usize = 5;
/// Day lines in the text (the most recent).
pub const DAY_LINES: usize = 7;
/// What a turn recorded before directories were kept counts under.
pub const UNKNOWN_PROJECT: &str = "(unknown)";

/// The first day of the window that ends with `today`.
pub fn window_start(today: NaiveDate) -> NaiveDate {
    today - Duration::days(DAYS as i64 - 1)
}

pub use crate::policy::authority::UsageScope as Scope;

/// Spend over the window, summed every way `/usage` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub scope: Scope,
    /// The [`DAYS`] days of the window, oldest first, ending today.
    pub days: Vec<NaiveDate>,
    /// Total per day, aligned with `days` (zero on a day without cost).
    pub per_day: Vec<f64>,
    /// Per project (directory relative to the approved directory), largest first.
    pub projects: Vec<(String, f64)>,
    /// Per project and day, for a stacked chart: `(project, costs aligned with days)`, in the
    /// order of `projects`.
    pub project_days: Vec<(String, Vec<f64>)>,
    /// Per user, largest first.
    pub users: Vec<(i64, f64)>,
    pub total: f64,
    pub today: f64,
}

/// Sum `rows` (from [`crate::store::Store::usage_since`]) over the window ending `today`;
/// rows outside the window are ignored. Directories are shown relative to `root`.
pub fn aggregate(rows: &[UsageRow], root: &Path, today: NaiveDate, scope: Scope) -> Usage {
    let start = window_start(today);
    let days: Vec<NaiveDate> = (0..DAYS as i64)
        .map(|i| start + Duration::days(i))
        .collect();
    let mut per_day = vec![0.0; DAYS];
    let mut projects: HashMap<String, Vec<f64>> = HashMap::new();
    let mut users: HashMap<i64, f64> = HashMap::new();
    for r in rows {
        let Ok(day) = NaiveDate::parse_from_str(&r.day, "%Y-%m-%d") else {
            continue;
        };
        if day < start || day > today || !r.cost_usd.is_finite() {
            continue;
        }
        let i = (day - start).num_days() as usize;
        per_day[i] += r.cost_usd;
        projects
            .entry(project_label(root, &r.directory))
            .or_insert_with(|| vec![0.0; DAYS])[i] += r.cost_usd;
        *users.entry(r.user_id).or_default() += r.cost_usd;
    }
    let mut project_days: Vec<(String, Vec<f64>)> = projects.into_iter().collect();
    project_days.sort_by(|a, b| {
        let (sa, sb) = (a.1.iter().sum::<f64>(), b.1.iter().sum::<f64>());
        sb.total_cmp(&sa).then_with(|| a.0.cmp(&b.0))
    });
    let projects = project_days
        .iter()
        .map(|(p, d)| (p.clone(), d.iter().sum()))
        .collect();
    let mut users: Vec<(i64, f64)> = users.into_iter().collect();
    users.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Usage {
        scope,
        total: per_day.iter().sum(),
        today: per_day[DAYS - 1],
        days,
        per_day,
        projects,
        project_days,
        users,
    }
}

/// The project a directory stands for: its path inside `root` (`.` for the root itself).
pub fn project_label(root: &Path, directory: &str) -> String {
    if directory.is_empty() {
        return UNKNOWN_PROJECT.to_string();
    }
    crate::policy::sandbox::display_relative(root, Path::new(directory))
}

impl Usage {
    /// Nothing was spent in the window (no chart then).
    pub fn is_empty(&self) -> bool {
        self.total <= 0.0
    }
}

/// The text answer of `/usage` (HTML, every name escaped).
pub fn render_text(u: &Usage) -> String {
    if u.is_empty() {
        return "📊 No usage in the last 30 days.".to_string();
    }
    let whose = match u.scope {
        Scope::Own(_) => "your",
        Scope::Everyone => "everyone's",
    };
    let mut s = format!(
        "📊 <b>Usage, last {DAYS} days</b> ({whose}, UTC days)\n\
         Total: <b>{}</b> · today: {}\n",
        usd(u.total),
        usd(u.today)
    );
    s.push_str("\n<b>Per project</b>\n");
    for (p, c) in u.projects.iter().take(TOP_PROJECTS) {
        s.push_str(&format!("<code>{}</code> {}\n", escape(p), usd(*c)));
    }
    if u.projects.len() > TOP_PROJECTS {
        let rest: f64 = u.projects[TOP_PROJECTS..].iter().map(|p| p.1).sum();
        s.push_str(&format!(
            "{} more: {}\n",
            u.projects.len() - TOP_PROJECTS,
            usd(rest)
        ));
    }
    if u.scope == Scope::Everyone {
        s.push_str("\n<b>Per user</b>\n");
        for (user, c) in &u.users {
            s.push_str(&format!("<code>{user}</code> {}\n", usd(*c)));
        }
    }
    s.push_str("\n<b>Per day</b>\n");
    for (d, c) in u.days.iter().zip(&u.per_day).skip(DAYS - DAY_LINES) {
        s.push_str(&format!("{} {}\n", d.format("%Y-%m-%d"), usd(*c)));
    }
    s.truncate(s.trim_end().len());
    s
}

/// The chart's caption: one line.
pub fn caption(u: &Usage) -> String {
    format!(
        "📊 {} in the last {DAYS} days (today {})",
        usd(u.total),
        usd(u.today)
    )
}

/// Dollars as in the answer footer (`$0.0123`).
pub fn usd(v: f64) -> String {
    format!("${v:.4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user: i64, day: &str, dir: &str, cost: f64) -> UsageRow {
        UsageRow {
            user_id: user,
            day: day.into(),
            directory: dir.into(),
            cost_usd: cost,
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn days_without_cost_are_zero_bars_and_the_window_is_thirty_utc_days() {
        let today = d("2026-12-03");
        let rows = [
            row(7, "2026-12-03", "/srv/p/web", 0.5),
            row(7, "2026-11-04", "/srv/p/web", 0.25), // first day of the window
            row(7, "2026-11-03", "/srv/p/web", 100.0), // one day before it
            row(7, "2026-12-04", "/srv/p/web", 100.0), // not yet
            row(7, "garbage", "/srv/p/web", 100.0),
        ];
        let u = aggregate(&rows, Path::new("/srv/p"), today, Scope::Own(7));
        assert_eq!(u.days.len(), DAYS);
        assert_eq!(u.days[0], d("2026-11-04"));
        assert_eq!(*u.days.last().unwrap(), today);
        assert_eq!(u.per_day[0], 0.25);
        assert_eq!(u.per_day[DAYS - 1], 0.5);
        assert!(u.per_day[1..DAYS - 1].iter().all(|c| *c == 0.0));
        assert_eq!(u.total, 0.75);
        assert_eq!(u.today, 0.5);
    }

    #[test]
    fn per_project_and_per_user_totals_largest_first() {
        let today = d("2026-12-03");
        let rows = [
            row(7, "2026-12-01", "/srv/p/web", 0.5),
            row(7, "2026-12-02", "/srv/p/web", 0.5),
            row(8, "2026-12-02", "/srv/p", 2.0),
            row(8, "2026-12-03", "", 0.125),
            row(9, "2026-12-03", "/elsewhere/x", 0.0625),
        ];
        let u = aggregate(&rows, Path::new("/srv/p"), today, Scope::Everyone);
        assert_eq!(
            u.projects,
            vec![
                (".".to_string(), 2.0),
                ("web".to_string(), 1.0),
                (UNKNOWN_PROJECT.to_string(), 0.125),
                ("/elsewhere/x".to_string(), 0.0625),
            ]
        );
        assert_eq!(u.users, vec![(8, 2.125), (7, 1.0), (9, 0.0625)]);
        let web = &u.project_days[1];
        assert_eq!(web.0, "web");
        assert_eq!(web.1[DAYS - 3], 0.5);
        assert_eq!(web.1[DAYS - 2], 0.5);
        assert_eq!(web.1.iter().sum::<f64>(), 1.0);
        // Stacks add up to the day's total.
        for i in 0..DAYS {
            let stacked: f64 = u.project_days.iter().map(|p| p.1[i]).sum();
            assert!((stacked - u.per_day[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn text_escapes_names_and_shows_users_only_to_everyone_scope() {
        let today = d("2026-12-03");
        let rows = [
            row(7, "2026-12-03", "/srv/p/<b>&x", 0.5),
            row(8, "2026-11-20", "/srv/p/a", 0.25),
        ];
        let all = render_text(&aggregate(
            &rows,
            Path::new("/srv/p"),
            today,
            Scope::Everyone,
        ));
        assert!(
            all.contains("Total: <b>$0.7500</b> · today: $0.5000"),
            "{all}"
        );
        assert!(
            all.contains("<code>&lt;b&gt;&amp;x</code> $0.5000"),
            "{all}"
        );
        assert!(all.contains("<code>8</code> $0.2500"), "{all}");
        assert!(all.contains("2026-12-03 $0.5000"), "{all}");
        assert!(all.contains("2026-11-27 $0.0000"), "seven day lines: {all}");
        assert!(!all.contains("2026-11-26"), "{all}");
        let own = render_text(&aggregate(
            &rows[..1],
            Path::new("/srv/p"),
            today,
            Scope::Own(7),
        ));
        assert!(!own.contains("Per user"), "{own}");
        let none = aggregate(&[], Path::new("/srv/p"), today, Scope::Own(7));
        assert!(none.is_empty());
        assert!(render_text(&none).contains("No usage in the last 30 days."));
    }
}
