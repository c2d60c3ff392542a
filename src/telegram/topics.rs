//! Project topics: keep the forum topics of `PROJECTS_CHAT_ID` in line with the registry.
//!
//! Why it exists: each registry project is a forum topic (its own directory and session, see
//! `chat`), and the registry changes — projects are added, renamed, disabled, removed. A
//! [`plan`] (pure: registry + what the store says was last set → [`Action`]s) says what to
//! change; [`sync`] carries it out through the outbox (`Outbox::topic`: the same rate
//! limiter as every message, retries) and stores each result as soon as Telegram accepted it,
//! so a sync cut short by a crash resumes where it stopped and never creates a topic twice.
//! Topics are closed, never deleted: their history stays readable. A topic deleted by hand is
//! noticed when a call names it (Telegram answers `TOPIC_ID_INVALID`): an enabled project gets
//! a new topic, a closed one is forgotten. The Bot API cannot list topics, so `/sync_topics`
//! also *checks* every open topic with a rename to its own name (answered
//! `TOPIC_NOT_MODIFIED` while it exists); the sync at start does not (one call per project).

use std::collections::HashMap;

use super::api::TopicCall;
use super::outbox::Outbox;
use crate::config::projects::Registry;
use crate::store::{Store, TopicRow};

/// One change to make on Telegram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new (enabled) project: create its topic.
    Create { slug: String, name: String },
    /// The project's name changed.
    Rename { thread: i64, name: String },
    /// A disabled project enabled again.
    Reopen { thread: i64 },
    /// A project disabled or removed from the registry.
    Close { thread: i64 },
    /// An open topic that should be unchanged: does Telegram still have it?
    Check { thread: i64, name: String },
}

/// What to do to make the topics (`mapping`, as last set) match `registry`. A disabled project
/// that never had a topic gets none; a rename comes before a close or reopen. With `check`,
/// every open topic that needs no change is checked.
pub fn plan(registry: &Registry, mapping: &[TopicRow], check: bool) -> Vec<Action> {
    let by_slug: HashMap<&str, &TopicRow> = mapping.iter().map(|r| (r.slug.as_str(), r)).collect();
    let mut out = Vec::new();
    for p in &registry.projects {
        match by_slug.get(p.slug.as_str()) {
            None if p.enabled => out.push(Action::Create {
                slug: p.slug.clone(),
                name: p.name.clone(),
            }),
            None => {}
            Some(row) => {
                if row.name != p.name {
                    out.push(Action::Rename {
                        thread: row.thread_id,
                        name: p.name.clone(),
                    });
                } else if check && p.enabled && !row.closed {
                    out.push(Action::Check {
                        thread: row.thread_id,
                        name: p.name.clone(),
                    });
                }
                match (p.enabled, row.closed) {
                    (true, true) => out.push(Action::Reopen {
                        thread: row.thread_id,
                    }),
                    (false, false) => out.push(Action::Close {
                        thread: row.thread_id,
                    }),
                    _ => {}
                }
            }
        }
    }
    for row in mapping {
        if registry.get(&row.slug).is_none() && !row.closed {
            out.push(Action::Close {
                thread: row.thread_id,
            });
        }
    }
    out
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: usize,
    pub renamed: usize,
    pub reopened: usize,
    pub closed: usize,
    /// Calls Telegram refused (or that failed after retries), described.
    pub failed: Vec<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "created {}, renamed {}, reopened {}, closed {}",
            self.created, self.renamed, self.reopened, self.closed
        )?;
        if !self.failed.is_empty() {
            write!(
                f,
                "; {} failed: {}",
                self.failed.len(),
                self.failed.join("; ")
            )?;
        }
        Ok(())
    }
}

/// Bring the topics of `chat_id` in line with `registry`: plan, then each call in turn, its
/// outcome stored at once; with `check`, every open topic is checked too (see the module
/// docs). Errors only when the store cannot be read.
pub async fn sync(
    outbox: &Outbox,
    store: &Store,
    chat_id: i64,
    registry: &Registry,
    check: bool,
) -> crate::store::Result<Summary> {
    // One sync at a time (start-up and `/sync_topics` may meet): two would both create a
    // missing topic.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE_AT_A_TIME.lock().await;
    let mapping = store.topics(chat_id).await?;
    // A project moved to another folder: its topic works there from now on (no call needed).
    for row in &mapping {
        if let Some(p) = registry.get(&row.slug) {
            let path = p.dir.to_string_lossy().into_owned();
            if row.path != path {
                store
                    .topic_save(&TopicRow {
                        path,
                        ..row.clone()
                    })
                    .await?;
            }
        }
    }
    let mut rows: HashMap<i64, TopicRow> =
        mapping.iter().map(|r| (r.thread_id, r.clone())).collect();
    let mut summary = Summary::default();
    for mut action in plan(registry, &mapping, check) {
        let mut call = match &action {
            Action::Create { name, .. } => TopicCall::Create { name: name.clone() },
            Action::Rename { thread, name } | Action::Check { thread, name } => TopicCall::Rename {
                thread_id: *thread,
                name: name.clone(),
            },
            Action::Reopen { thread } => TopicCall::Reopen { thread_id: *thread },
            Action::Close { thread } => TopicCall::Close { thread_id: *thread },
        };
        let thread_id = loop {
            match outbox.topic(chat_id, call).await {
                Ok(t) => break Some(t),
                Err(e) if e.is_topic_gone() && action_thread(&action).is_some() => {
                    // Deleted by hand: a new topic for an enabled project (then this loop
                    // makes that call); a closed or disabled one is forgotten.
                    let Some(row) = action_thread(&action).and_then(|t| rows.remove(&t)) else {
                        break None;
                    };
                    let closing = matches!(action, Action::Close { .. });
                    match registry.get(&row.slug).filter(|p| p.enabled && !closing) {
                        Some(p) => {
                            tracing::warn!(chat = chat_id, slug = %row.slug, "a project topic was deleted on Telegram; creating it again");
                            call = TopicCall::Create {
                                name: p.name.clone(),
                            };
                            action = Action::Create {
                                slug: row.slug,
                                name: p.name.clone(),
                            };
                        }
                        None => {
                            if closing {
                                summary.closed += 1;
                            }
                            store
                                .topic_save(&TopicRow {
                                    closed: true,
                                    ..row
                                })
                                .await?;
                            break None;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(chat = chat_id, ?action, error = %e, "topic sync call failed");
                    summary.failed.push(format!("{}: {e}", describe(&action)));
                    break None;
                }
            }
        };
        let Some(thread_id) = thread_id else {
            continue;
        };
        let row = match &action {
            Action::Create { slug, name } => {
                summary.created += 1;
                let Some(p) = registry.get(slug) else {
                    continue;
                };
                TopicRow {
                    chat_id,
                    slug: slug.clone(),
                    thread_id,
                    name: name.clone(),
                    path: p.dir.to_string_lossy().into_owned(),
                    closed: false,
                }
            }
            Action::Rename { thread, name } => {
                summary.renamed += 1;
                let Some(r) = rows.get(thread) else { continue };
                TopicRow {
                    name: name.clone(),
                    ..r.clone()
                }
            }
            Action::Check { .. } => continue,
            Action::Reopen { thread } | Action::Close { thread } => {
                let close = matches!(action, Action::Close { .. });
                if close {
                    summary.closed += 1;
                } else {
                    summary.reopened += 1;
                }
                let Some(r) = rows.get(thread) else { continue };
                TopicRow {
                    closed: close,
                    ..r.clone()
                }
            }
        };
        store.topic_save(&row).await?;
        rows.insert(row.thread_id, row);
    }
    Ok(summary)
}

/// The existing topic an action names (none for a create).
fn action_thread(a: &Action) -> Option<i64> {
    match a {
        Action::Create { .. } => None,
        Action::Rename { thread, .. }
        | Action::Check { thread, .. }
        | Action::Reopen { thread }
        | Action::Close { thread } => Some(*thread),
    }
}

fn describe(a: &Action) -> String {
    match a {
        Action::Check { thread, .. } => format!("check topic {thread}"),
        Action::Create { slug, .. } => format!("create {slug}"),
        Action::Rename { thread, .. } => format!("rename topic {thread}"),
        Action::Reopen { thread } => format!("reopen topic {thread}"),
        Action::Close { thread } => format!("close topic {thread}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::projects::Project;

    fn project(slug: &str, name: &str, enabled: bool) -> Project {
        Project {
            slug: slug.into(),
            name: name.into(),
            path: slug.into(),
            dir: format!("/srv/{slug}").into(),
            enabled,
        }
    }

    fn row(slug: &str, thread: i64, name: &str, closed: bool) -> TopicRow {
        TopicRow {
            chat_id: -100,
            slug: slug.into(),
            thread_id: thread,
            name: name.into(),
            path: format!("/srv/{slug}"),
            closed,
        }
    }

    fn reg(p: Vec<Project>) -> Registry {
        Registry { projects: p }
    }

    #[test]
    fn a_new_project_gets_a_topic_a_disabled_new_one_none() {
        let r = reg(vec![
            project("web", "Web", true),
            project("old", "Old", false),
        ]);
        assert_eq!(
            plan(&r, &[], false),
            vec![Action::Create {
                slug: "web".into(),
                name: "Web".into()
            }]
        );
    }

    #[test]
    fn unchanged_means_nothing() {
        let r = reg(vec![
            project("web", "Web", true),
            project("old", "Old", false),
        ]);
        let m = [row("web", 5, "Web", false), row("old", 6, "Old", true)];
        assert_eq!(plan(&r, &m, false), vec![]);
        assert_eq!(
            plan(&reg(vec![]), &[row("gone", 9, "G", true)], false),
            vec![]
        );
        // Checked (`/sync_topics`): only the open topic of an enabled project, by its name.
        assert_eq!(
            plan(&r, &m, true),
            vec![Action::Check {
                thread: 5,
                name: "Web".into()
            }]
        );
    }

    #[test]
    fn renamed_disabled_reenabled_and_removed() {
        let r = reg(vec![
            project("web", "Web app", true),
            project("infra", "Infra", false),
            project("docs", "Docs", true),
        ]);
        let m = [
            row("web", 5, "Web", false),
            row("infra", 6, "Infra", false),
            row("docs", 7, "Docs", true),
            row("gone", 8, "Gone", false),
        ];
        assert_eq!(
            plan(&r, &m, false),
            vec![
                Action::Rename {
                    thread: 5,
                    name: "Web app".into()
                },
                Action::Close { thread: 6 },
                Action::Reopen { thread: 7 },
                Action::Close { thread: 8 },
            ]
        );
    }

    #[test]
    fn a_rename_of_a_disabled_project_comes_before_its_close() {
        let r = reg(vec![
            project("web", "New", false),
            project("doc", "D2", true),
        ]);
        let m = [row("web", 5, "Old", false), row("doc", 6, "D", true)];
        assert_eq!(
            plan(&r, &m, false),
            vec![
                Action::Rename {
                    thread: 5,
                    name: "New".into()
                },
                Action::Close { thread: 5 },
                Action::Rename {
                    thread: 6,
                    name: "D2".into()
                },
                Action::Reopen { thread: 6 },
            ]
        );
    }

    #[test]
    fn a_sync_cut_short_resumes_with_what_is_left() {
        // The first create was stored before the crash: only the second is planned again.
        let r = reg(vec![project("a", "A", true), project("b", "B", true)]);
        assert_eq!(
            plan(&r, &[row("a", 5, "A", false)], false),
            vec![Action::Create {
                slug: "b".into(),
                name: "B".into()
            }]
        );
    }

    #[test]
    fn summary_reads_like_the_reply() {
        let s = Summary {
            created: 2,
            renamed: 1,
            closed: 1,
            ..Default::default()
        };
        assert_eq!(s.to_string(), "created 2, renamed 1, reopened 0, closed 1");
    }
}
