//! Managing jobs: `/schedule …` in chat and `ccgate schedule …` on the machine share this.
//!
//! Why a file of its own: both front ends need the same validation (cron, zone, directory inside
//! the approved directory, prompt size, who may change whose job) and the same audit trail.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{fmt_time, Schedule};
use crate::config::Config;
use crate::policy::roles::Role;
use crate::policy::{authority, sandbox};
use crate::store::{JobRow, NewJob, Store};
use crate::telegram::html::escape;
use crate::telegram::update::ChatRef;

/// Longest prompt a job may carry.
pub const MAX_PROMPT_CHARS: usize = 4000;
/// Most jobs one chat may have.
pub const MAX_JOBS_PER_CHAT: usize = 20;

pub const USAGE: &str = "Usage:\n\
<code>/schedule add \"0 9 * * 1-5 Europe/Berlin\" summarise yesterday's commits</code>\n\
<code>/schedule list</code>\n\
<code>/schedule pause|resume|remove &lt;id&gt;</code>\n\
The cron has 5 fields (minute hour day month weekday) and an optional time zone.";

/// Create a job running `prompt` in `dir` (checked: inside the approved directory).
#[allow(clippy::too_many_arguments)]
pub async fn add(
    store: &Store,
    cfg: &Config,
    creator: i64,
    chat: ChatRef,
    dir: &Path,
    spec: &str,
    prompt: &str,
    now: DateTime<Utc>,
) -> Result<(i64, Schedule, DateTime<Utc>), String> {
    let sched = Schedule::parse(spec, cfg.scheduler.default_tz)?;
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err("the job needs a prompt after the schedule".into());
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(format!(
            "the prompt is longer than {MAX_PROMPT_CHARS} characters"
        ));
    }
    if prompt.contains('\0') {
        return Err("the prompt contains a NUL byte".into());
    }
    let root = &cfg.approved_directory;
    let dir = match sandbox::resolve_within(root, root, &dir.to_string_lossy()) {
        Ok(d) => d,
        Err(e) => {
            crate::audit::record(
                store,
                Some(creator),
                Some(chat.chat_id),
                crate::audit::Event::PathRejected,
                &json!({"path": dir, "reason": e.to_string(), "what": "schedule"}),
            )
            .await;
            return Err(format!("the job's directory is not allowed: {e}"));
        }
    };
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if store
        .list_jobs(Some((chat.chat_id, chat.thread_id)))
        .await
        .map_err(|e| e.to_string())?
        .len()
        >= MAX_JOBS_PER_CHAT
    {
        return Err(format!("this chat already has {MAX_JOBS_PER_CHAT} jobs"));
    }
    let next = sched
        .next_after(now)
        .ok_or_else(|| "this schedule never fires".to_string())?;
    let id = store
        .add_job(&NewJob {
            creator,
            chat_id: chat.chat_id,
            thread_id: chat.thread_id,
            directory: &dir.to_string_lossy(),
            cron: &sched.fields,
            tz: sched.tz.name(),
            prompt,
            next_due_at: &fmt_time(next),
        })
        .await
        .map_err(|e| e.to_string())?;
    crate::audit::record(
        store,
        Some(creator),
        Some(chat.chat_id),
        crate::audit::Event::ConfigChange,
        &json!({"change": "schedule_add", "job": id, "cron": sched.fields, "tz": sched.tz.name(),
                "directory": dir}),
    )
    .await;
    Ok((id, sched, next))
}

/// Pause, resume or remove job `id` on behalf of `user` (its creator or an admin).
pub async fn change(
    store: &Store,
    user: i64,
    role: Role,
    chat: Option<ChatRef>,
    verb: &str,
    id: i64,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let job = store
        .job(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no job #{id}"))?;
    let in_this_chat =
        chat.is_none_or(|c| c.chat_id == job.chat_id && c.thread_id == job.thread_id);
    if !authority::may_change_job(user, role, job.creator, in_this_chat) {
        crate::audit::record(
            store,
            Some(user),
            chat.map(|c| c.chat_id),
            crate::audit::Event::AccessDenied,
            &json!({"what": "schedule", "verb": verb, "job": id}),
        )
        .await;
        return Err(format!("job #{id} is not yours to change"));
    }
    let done = match verb {
        "pause" => store.set_job_paused(id, true, None).await,
        "resume" => {
            let sched = Schedule::of_job(&job)?;
            let next = sched.next_after(now).ok_or("this schedule never fires")?;
            store.set_job_paused(id, false, Some(&fmt_time(next))).await
        }
        "remove" => store.remove_job(id).await,
        other => return Err(format!("unknown action {other:?}")),
    }
    .map_err(|e| e.to_string())?;
    if !done {
        return Err(format!("there is no job #{id}"));
    }
    crate::audit::record(
        store,
        Some(user),
        chat.map(|c| c.chat_id),
        crate::audit::Event::ConfigChange,
        &json!({"change": format!("schedule_{verb}"), "job": id}),
    )
    .await;
    Ok(match verb {
        "pause" => format!("⏸ Job #{id} paused."),
        "resume" => format!("▶️ Job #{id} resumed."),
        _ => format!("🗑 Job #{id} removed."),
    })
}

/// One line per job (HTML).
pub fn describe(jobs: &[JobRow], root: &Path) -> String {
    if jobs.is_empty() {
        return "No scheduled jobs here. Add one with /schedule add.".into();
    }
    jobs.iter()
        .map(|j| {
            let dir = Path::new(&j.directory)
                .strip_prefix(root)
                .map(|p| format!("/{}", p.display()))
                .unwrap_or_else(|_| j.directory.clone());
            format!(
                "{} <b>#{}</b> <code>{} ({})</code> in <code>{}</code>\n   next: {} · {}",
                if j.paused { "⏸" } else { "⏰" },
                j.id,
                escape(&j.cron),
                escape(&j.tz),
                escape(&dir),
                if j.paused {
                    "paused".to_string()
                } else {
                    escape(&j.next_due_at)
                },
                escape(&crate::render::truncate(&j.prompt, 80)),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Split `"<cron…>" prompt` (straight or typographic quotes, as phones type them).
pub fn split_quoted(args: &str) -> Result<(String, String), String> {
    let args = args.trim();
    let mut chars = args.char_indices();
    let Some((_, open)) = chars.next() else {
        return Err(USAGE.into());
    };
    let close = match open {
        '"' => '"',
        '“' => '”',
        '«' => '»',
        '\'' => '\'',
        _ => return Err(format!("put the schedule in quotes.\n{USAGE}")),
    };
    let start = open.len_utf8();
    let end = args[start..]
        .find(|c| c == close || (open == '“' && c == '"'))
        .ok_or_else(|| format!("the schedule's closing quote is missing.\n{USAGE}"))?
        + start;
    let spec = args[start..end].to_string();
    let rest = args[end..].chars().skip(1).collect::<String>();
    Ok((spec, rest.trim().to_string()))
}

/// Handle `/schedule <args>` from a chat whose current directory is `cwd`.
#[allow(clippy::too_many_arguments)]
pub async fn handle_chat(
    store: &Store,
    cfg: &Config,
    user: i64,
    role: Role,
    chat: ChatRef,
    cwd: &Path,
    args: &str,
    now: DateTime<Utc>,
) -> String {
    let args = args.trim();
    let (verb, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let result = match verb {
        "" | "list" => store
            .list_jobs(Some((chat.chat_id, chat.thread_id)))
            .await.map(|jobs| describe(&jobs, &cfg.approved_directory))
            .map_err(|e| e.to_string()),
        "add" => match split_quoted(rest) {
            Err(e) => Err(e),
            Ok((spec, prompt)) => add(store, cfg, user, chat, cwd, &spec, &prompt, now).await.map(|(id, sched, next)| {
                format!(
                    "⏰ Job <b>#{id}</b> scheduled: <code>{}</code>\nFirst run: {}\nIt runs in <code>{}</code> with your role ({}) and budget; answers come here.",
                    escape(&sched.describe()),
                    escape(&fmt_time(next)),
                    escape(&cwd.display().to_string()),
                    role.as_str(),
                )
            }),
        },
        "pause" | "resume" | "remove" => match rest.trim().trim_start_matches('#').parse::<i64>() {
            Ok(id) => change(store, user, role, Some(chat), verb, id, now).await,
            Err(_) => Err(format!("/schedule {verb} needs a job id, e.g. /schedule {verb} 3")),
        },
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(s) => s,
        Err(e) if e.starts_with("Usage") => e,
        Err(e) => format!("❌ {}", escape_keep_usage(&e)),
    }
}

/// Errors may end with the (already HTML) usage text; escape only the part before it.
fn escape_keep_usage(e: &str) -> String {
    match e.split_once(USAGE) {
        Some((head, _)) => format!("{}{USAGE}", escape(head)),
        None => escape(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_phones_type_them() {
        assert_eq!(
            split_quoted("\"0 9 * * *\" hello there").unwrap(),
            ("0 9 * * *".into(), "hello there".into())
        );
        assert_eq!(
            split_quoted("“0 9 * * * Europe/Berlin” summarise").unwrap(),
            ("0 9 * * * Europe/Berlin".into(), "summarise".into())
        );
        assert!(split_quoted("0 9 * * * hello").is_err());
        assert!(split_quoted("\"0 9 * * * hello").is_err());
        assert!(split_quoted("").is_err());
    }
}
