//! Cron jobs: parse, persist, fire on time, and report what was missed while ccgate was down.
//!
//! Why it exists: "every weekday at 9, summarise yesterday's commits" is the most common
//! automation. Jobs live in the database (they survive restarts), are evaluated in an explicit
//! IANA time zone (`croner` + `chrono-tz`, so daylight-saving changes are handled), and fire
//! through the event bus like any other event. The clock is injected so tests can move time.
//!
//! Missed runs: if ccgate was down when a job was due (more than [`GRACE`] ago), the chat is
//! told how many runs were missed and the job continues from the next due time — no burst of
//! catch-up runs, no silent skipping.

pub mod commands;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

use crate::events::{Bus, Event};
use crate::store::{JobRow, Store};
use crate::telegram::update::ChatRef;

/// A due time older than this counts as missed rather than late.
pub const GRACE: Duration = Duration::from_secs(300);
/// How often the scheduler looks for due jobs.
pub const TICK: Duration = Duration::from_secs(15);
/// Missed runs are counted up to this many (then "more than N").
const MAX_COUNTED_MISSES: usize = 1000;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(at)))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A parsed schedule: five cron fields read in one time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: Cron,
    /// The five fields as given.
    pub fields: String,
    pub tz: Tz,
}

impl Schedule {
    /// Parse `"m h dom mon dow"` optionally followed by an IANA zone (`"0 9 * * 1-5
    /// Europe/Berlin"`); without one, `default_tz` applies (and is shown explicitly).
    pub fn parse(spec: &str, default_tz: Tz) -> Result<Schedule, String> {
        let parts: Vec<&str> = spec.split_whitespace().collect();
        let (fields, tz) = match parts.len() {
            5 => (parts.join(" "), default_tz),
            6 => (
                parts[..5].join(" "),
                Tz::from_str(parts[5]).map_err(|_| {
                    format!("{:?} is not an IANA time zone (e.g. Europe/Berlin, UTC)", parts[5])
                })?,
            ),
            n => {
                return Err(format!(
                    "a schedule has 5 cron fields (minute hour day month weekday) and an optional time zone; got {n} parts"
                ))
            }
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(&fields)
            .map_err(|e| format!("bad cron {fields:?}: {e}"))?;
        Ok(Schedule { cron, fields, tz })
    }

    /// The schedule a stored job was created with (its fields and its zone).
    pub fn of_job(job: &JobRow) -> Result<Schedule, String> {
        Schedule::parse(&format!("{} {}", job.cron, job.tz), chrono_tz::UTC)
    }

    /// The first due time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Human text: "0 9 * * 1-5 (Europe/Berlin)".
    pub fn describe(&self) -> String {
        format!("{} ({})", self.fields, self.tz.name())
    }
}

pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What one look at a job decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Tick {
    NotDue,
    Fire,
    Missed { count: usize, capped: bool },
}

/// Decide about one job at `now` (pure: no I/O).
pub fn assess(job: &JobRow, sched: &Schedule, now: DateTime<Utc>) -> (Tick, Option<DateTime<Utc>>) {
    let Some(due) = parse_time(&job.next_due_at) else {
        return (
            Tick::Missed {
                count: 0,
                capped: false,
            },
            sched.next_after(now),
        );
    };
    if job.paused || due > now {
        return (Tick::NotDue, None);
    }
    let next = sched.next_after(now);
    let late = (now - due).to_std().unwrap_or_default();
    if late <= GRACE {
        return (Tick::Fire, next);
    }
    // Count the due times between the first missed one and now.
    let mut count = 1;
    let mut t = due;
    while let Some(n) = sched.next_after(t) {
        if n > now || count >= MAX_COUNTED_MISSES {
            break;
        }
        count += 1;
        t = n;
    }
    (
        Tick::Missed {
            count,
            capped: count >= MAX_COUNTED_MISSES,
        },
        next,
    )
}

/// The scheduler: looks at due jobs and publishes them on the bus.
pub struct Scheduler {
    store: Store,
    bus: Bus,
    clock: Arc<dyn Clock>,
}

impl Scheduler {
    pub fn new(store: Store, bus: Bus, clock: Arc<dyn Clock>) -> Self {
        Scheduler { store, bus, clock }
    }

    /// One pass over all jobs. Returns how many fired.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let mut fired = 0;
        for job in self.store.list_jobs(None).await? {
            let sched = match Schedule::of_job(&job) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(job = job.id, error = %e, "stored job has a bad schedule; pausing it");
                    let _ = self.store.set_job_paused(job.id, true, None).await;
                    continue;
                }
            };
            let (tick, next) = assess(&job, &sched, now);
            if tick == Tick::NotDue {
                continue;
            }
            let Some(next) = next else {
                tracing::warn!(job = job.id, "job has no future due time; pausing it");
                let _ = self.store.set_job_paused(job.id, true, None).await;
                continue;
            };
            let fired_at = (tick == Tick::Fire).then(|| fmt_time(now));
            // Conditional on the due time we saw: a job never fires twice for one due time.
            if !self
                .store
                .advance_job(
                    job.id,
                    &job.next_due_at,
                    &fmt_time(next),
                    fired_at.as_deref(),
                )
                .await?
            {
                continue;
            }
            let chat = ChatRef {
                chat_id: job.chat_id,
                thread_id: job.thread_id,
            };
            match tick {
                Tick::Fire => {
                    fired += 1;
                    self.bus.publish(Event::JobDue(job));
                }
                Tick::Missed { count, capped } => {
                    crate::audit::record(
                        &self.store,
                        Some(job.creator),
                        Some(job.chat_id),
                        crate::audit::Event::JobMissed,
                        &serde_json::json!({"job": job.id, "missed": count, "since": job.next_due_at}),
                    ).await;
                    self.bus.publish(Event::Notify {
                        chats: vec![chat],
                        html: format!(
                            "⏰ Job #{} missed {}{} run{} while ccgate was not running (first due {}). \
                             They were not run now; the next run is at {}.",
                            job.id,
                            if capped { "more than " } else { "" },
                            count,
                            if count == 1 { "" } else { "s" },
                            job.next_due_at,
                            fmt_time(next)
                        ),
                    });
                }
                Tick::NotDue => unreachable!(),
            }
        }
        Ok(fired)
    }

    /// Tick every [`TICK`] until `shutdown` turns true.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "scheduler pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn job(next: DateTime<Utc>) -> JobRow {
        JobRow {
            id: 1,
            creator: 1,
            chat_id: 1,
            thread_id: 0,
            directory: "/p".into(),
            cron: "0 9 * * *".into(),
            tz: "UTC".into(),
            prompt: "x".into(),
            paused: false,
            next_due_at: fmt_time(next),
            last_run_at: None,
        }
    }

    #[test]
    fn parses_five_fields_and_an_explicit_zone() {
        let s = Schedule::parse("0 9 * * 1-5 Europe/Berlin", chrono_tz::UTC).unwrap();
        assert_eq!(s.describe(), "0 9 * * 1-5 (Europe/Berlin)");
        // Monday 2026-11-23 08:30 UTC = 09:30 Berlin (CET, UTC+1) → next is Tue 08:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 11, 23, 8, 30)),
            Some(utc(2026, 11, 24, 8, 0))
        );
        let d = Schedule::parse("*/15 * * * *", chrono_tz::Asia::Tokyo).unwrap();
        assert_eq!(d.tz, chrono_tz::Asia::Tokyo);
        for bad in [
            "",
            "* * * *",
            "0 0 9 * * *",
            "0 9 * * * Mars/Olympus",
            "61 * * * *",
            "0 25 * * *",
            "a b c d e",
            "0 9 * * * UTC extra",
        ] {
            assert!(Schedule::parse(bad, chrono_tz::UTC).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn daylight_saving_is_respected() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let s = Schedule::parse("0 9 * * * Europe/Berlin", chrono_tz::UTC).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 1, 10, 12, 0)),
            Some(utc(2026, 1, 11, 8, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 7, 10, 12, 0)),
            Some(utc(2026, 7, 11, 7, 0))
        );
    }

    #[test]
    fn on_time_fires_long_late_reports_missed() {
        let s = Schedule::parse("0 9 * * * UTC", chrono_tz::UTC).unwrap();
        let due = utc(2026, 11, 20, 9, 0);
        assert_eq!(
            assess(&job(due), &s, utc(2026, 11, 20, 8, 59)).0,
            Tick::NotDue
        );
        let (t, next) = assess(&job(due), &s, utc(2026, 11, 20, 9, 2));
        assert_eq!(t, Tick::Fire);
        assert_eq!(next, Some(utc(2026, 11, 21, 9, 0)));
        // Down from the 20th until the 23rd 10:00: the 20th, 21st, 22nd and 23rd were missed.
        let (t, next) = assess(&job(due), &s, utc(2026, 11, 23, 10, 0));
        assert_eq!(
            t,
            Tick::Missed {
                count: 4,
                capped: false
            }
        );
        assert_eq!(next, Some(utc(2026, 11, 24, 9, 0)));
        let mut paused = job(due);
        paused.paused = true;
        assert_eq!(
            assess(&paused, &s, utc(2026, 11, 23, 10, 0)).0,
            Tick::NotDue
        );
    }

    #[tokio::test]
    async fn a_due_job_fires_once_and_missed_runs_are_reported_not_run() {
        let store = Store::open_in_memory().unwrap();
        let (bus, mut rx) = Bus::new();
        let clock = ManualClock::new(utc(2026, 11, 20, 8, 0));
        let s = Schedule::parse("0 9 * * *", chrono_tz::UTC).unwrap();
        let id = store
            .add_job(&crate::store::NewJob {
                creator: 1,
                chat_id: 5,
                thread_id: 0,
                directory: "/p",
                cron: &s.fields,
                tz: s.tz.name(),
                prompt: "hello",
                next_due_at: &fmt_time(s.next_after(clock.now()).unwrap()),
            })
            .await
            .unwrap();
        let sched = Scheduler::new(store.clone(), bus, Arc::new(clock.clone()));
        assert_eq!(sched.tick().await.unwrap(), 0);
        clock.set(utc(2026, 11, 20, 9, 0));
        assert_eq!(sched.tick().await.unwrap(), 1);
        assert_eq!(sched.tick().await.unwrap(), 0, "fires once per due time");
        assert!(matches!(rx.try_recv().unwrap(), Event::JobDue(j) if j.id == id));
        // ccgate "down" for three days.
        clock.set(utc(2026, 11, 23, 12, 0));
        assert_eq!(sched.tick().await.unwrap(), 0);
        match rx.try_recv().unwrap() {
            Event::Notify { html, .. } => assert!(html.contains("missed 3 runs"), "{html}"),
            other => panic!("{other:?}"),
        }
        assert!(rx.try_recv().is_err(), "no catch-up burst");
        assert_eq!(
            store.job(id).await.unwrap().unwrap().next_due_at,
            fmt_time(utc(2026, 11, 24, 9, 0))
        );
    }
}
