//! `schedule list|add|pause|resume|remove`: cron jobs managed from the machine.
//!
//! Why a file of its own: the machine's operator manages jobs with the same rules as `/schedule`
//! in chat (`scheduler::commands`), acting as an admin for any chat; listing masks credentials a
//! prompt may quote, like every text ccgate shows.

use chrono::{DateTime, Utc};

use super::Report;
use crate::config::Config;
use crate::scheduler::commands as sc;
use crate::store::Store;
use crate::telegram::update::ChatRef;

/// What to do to an existing job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Pause,
    Resume,
    Remove,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Pause => "pause",
            Change::Resume => "resume",
            Change::Remove => "remove",
        }
    }
}

/// Every job, one line each, credentials in prompts masked (the job keeps its prompt as
/// written).
pub async fn list(store: &Store) -> anyhow::Result<Report> {
    let redactor = crate::audit::redact::process();
    let mut report = Report::default();
    for j in store.list_jobs(None).await? {
        let line = format!(
            "#{} {} chat {} topic {} user {} {} ({}) in {} next {}: {}",
            j.id,
            if j.paused { "paused " } else { "" },
            j.chat_id,
            j.thread_id,
            j.creator,
            j.cron,
            j.tz,
            j.directory,
            j.next_due_at,
            j.prompt
        );
        report.line(redactor.redact(&line));
    }
    Ok(report)
}

/// A job to add from the command line.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// The chat that receives the answers.
    pub chat: ChatRef,
    /// Whose role and budget the job runs with.
    pub user: i64,
    /// Project directory, relative to APPROVED_DIRECTORY.
    pub dir: &'a str,
    /// Five cron fields and an optional IANA time zone.
    pub cron: &'a str,
    pub prompt: &'a str,
}

/// Add a job; says when it first runs.
pub async fn add(
    store: &Store,
    config: &Config,
    job: &NewJob<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let dir = config.approved_directory.join(job.dir);
    let (id, sched, next) = sc::add(
        store, config, job.user, job.chat, &dir, job.cron, job.prompt, now,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let mut report = Report::default();
    report.line(format!(
        "job #{id}: {} first run {}",
        sched.describe(),
        next
    ));
    Ok(report)
}

/// Pause, resume or remove job `id`.
pub async fn change(
    store: &Store,
    change: Change,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    // The machine's operator acts as an admin, for any chat.
    let msg = sc::change(
        store,
        0,
        crate::policy::roles::Role::Admin,
        None,
        change.verb(),
        id,
        now,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let mut report = Report::default();
    report.line(msg);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_is_added_listed_with_credentials_masked_paused_and_removed() {
        let store = Store::open_in_memory().unwrap();
        let (_dir, config) = crate::ops::test_config(&[]);
        let now = "2026-01-05T08:00:00Z".parse().unwrap();
        let job = NewJob {
            chat: ChatRef {
                chat_id: 1,
                thread_id: 0,
            },
            user: 1,
            dir: ".",
            cron: "0 9 * * 1-5",
            prompt: "fetch https://user:pw@example.com/",
        };
        let added = add(&store, &config, &job, now).await.unwrap().stdout();
        assert_eq!(
            added,
            "job #1: 0 9 * * 1-5 (UTC) first run 2026-01-05 09:00:00 UTC\n"
        );
        let listed = list(&store).await.unwrap().stdout();
        assert!(listed.starts_with("#1  chat 1 topic 0 user 1 "), "{listed}");
        assert!(!listed.contains("user:pw"), "{listed}");
        assert!(change(&store, Change::Pause, 1, now)
            .await
            .unwrap()
            .stdout()
            .contains("paused"));
        assert!(list(&store)
            .await
            .unwrap()
            .stdout()
            .starts_with("#1 paused "));
        change(&store, Change::Remove, 1, now).await.unwrap();
        let e = change(&store, Change::Remove, 1, now).await.unwrap_err();
        assert_eq!(e.to_string(), "there is no job #1");
        assert!(add(&store, &config, &NewJob { cron: "bad", ..job }, now)
            .await
            .is_err());
    }
}
