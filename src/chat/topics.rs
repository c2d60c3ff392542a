//! The chat's side of project topics and the project picker.
//!
//! Why a file of its own: a chat in the projects group is bound to what its topic is — a
//! project (work there and below, with its own session), or nothing (General, an unmapped or
//! closed topic: a short guidance reply, no turn). The picker (`/projects`, `/cd` without an
//! argument) is buttons over the same projects. Decisions stay in `policy` (`workdir`,
//! `authority`); the sync itself is `telegram::topics`.

use std::path::PathBuf;

use serde_json::json;

use super::actor::Actor;
use crate::config::projects::{valid_slug, Registry};
use crate::policy::roles::Role;
use crate::policy::{authority, workdir};
use crate::services::Ctx;
use crate::telegram::api::Button;
use crate::telegram::html::escape;
use crate::telegram::update::{parse_command, ChatRef, Incoming, IncomingKind};

/// Callback data of a picker button: `pj:s:<slug>` (registry) or `pj:d:<folder>`.
const PICK: &str = "pj:";
/// Telegram's limit on callback data.
const MAX_CALLBACK: usize = 64;
/// Most buttons a picker shows (the rest are reachable with `/cd <name>`).
const MAX_BUTTONS: usize = 40;

/// What a chat is, as far as project topics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Binding {
    /// Not the projects group: the chat works as it always did.
    Free,
    /// A project topic: works in `dir` and below.
    Project {
        slug: String,
        name: String,
        dir: PathBuf,
    },
    /// The projects group outside any open project topic.
    Outside,
}

/// Look up what `chat` is (fails closed: a store error means outside).
pub(super) async fn binding_of(ctx: &Ctx, chat: ChatRef) -> Binding {
    let Some(p) = &ctx.config.projects else {
        return Binding::Free;
    };
    if chat.chat_id != p.chat_id {
        return Binding::Free;
    }
    if chat.thread_id == 0 {
        return Binding::Outside;
    }
    match ctx
        .store
        .topic_by_thread(chat.chat_id, chat.thread_id)
        .await
    {
        Ok(Some(row)) if !row.closed => {
            let root = &ctx.config.approved_directory;
            // Re-checked at every use: the folder may have become a symlink or a secret since.
            match workdir::project_dir(root, &ctx.secrets, &relative(root, &row.path)) {
                Ok(dir) => Binding::Project {
                    slug: row.slug,
                    name: row.name,
                    dir,
                },
                Err(e) => {
                    tracing::warn!(slug = %row.slug, error = %e, "a project topic's folder is unusable");
                    Binding::Outside
                }
            }
        }
        Ok(_) => Binding::Outside,
        Err(e) => {
            tracing::error!(error = %e, "reading project topics failed");
            Binding::Outside
        }
    }
}

/// `path` (canonical, stored) relative to `root`, as the registry writes it.
fn relative(root: &std::path::Path, path: &str) -> String {
    match std::path::Path::new(path).strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        // Outside the root: refused by `project_dir` (absolute).
        Err(_) => path.to_string(),
    }
}

/// Commands that still work outside the project topics of the projects group.
pub(super) fn works_outside(cmd: &str) -> bool {
    matches!(cmd, "start" | "help" | "projects" | "sync_topics")
}

impl Actor {
    /// Whether `i` is handled outside the project topics (a few commands, edits, presses);
    /// everything else gets [`Actor::guidance`].
    pub(super) fn works_here(&self, i: &Incoming) -> bool {
        match &i.kind {
            IncomingKind::Text { text, .. } if text.trim_start().starts_with('/') => {
                let bot = self.ctx.config.telegram_bot_username.as_deref();
                // A command for another bot is not ours: the actor lets it pass silently.
                parse_command(text, bot).is_none_or(|(cmd, _)| works_outside(&cmd))
            }
            IncomingKind::Edited { .. } | IncomingKind::Callback { .. } => true,
            _ => false,
        }
    }

    /// Re-read the topic's binding; a chat bound to a project never works outside it.
    pub(super) async fn refresh_binding(&mut self) {
        if self.ctx.config.projects.is_none() {
            return;
        }
        self.project = binding_of(&self.ctx, self.chat).await;
        if let Binding::Project { dir, .. } = &self.project {
            if !self.cwd.starts_with(dir) {
                self.cwd = dir.clone();
                self.stop_process();
            }
        }
    }

    /// The project folder this chat is bound to, if any.
    pub(super) fn bound_dir(&self) -> Option<&PathBuf> {
        match &self.project {
            Binding::Project { dir, .. } => Some(dir),
            _ => None,
        }
    }

    /// The reply outside the project topics: where to write instead.
    pub(super) async fn guidance(&self) -> String {
        let topics = match &self.ctx.config.projects {
            Some(p) => self.ctx.store.topics(p.chat_id).await.unwrap_or_default(),
            None => Vec::new(),
        };
        let open: Vec<_> = topics.iter().filter(|t| !t.closed).collect();
        let mut s = String::from(
            "ℹ️ In this group each topic is a project: write in a project's topic and Claude works in its folder.",
        );
        if open.is_empty() {
            s.push_str("\nNo project topics yet (an admin can /sync_topics).");
        } else {
            s.push_str("\n\n<b>Project topics</b>\n");
            for t in open {
                s.push_str(&format!(
                    "• {} (<code>{}</code>)\n",
                    escape(&t.name),
                    escape(&t.slug)
                ));
            }
        }
        s
    }

    /// `/sync_topics`: admins re-read the registry and sync the topics; the summary answers
    /// the update once done (in the background: a sync waits for the group's rate limit).
    pub(super) async fn cmd_sync_topics(&self, user_id: i64, role: Role, update_id: i64) {
        let Some(p) = self.ctx.config.projects.clone() else {
            return self
                .reply(
                    update_id,
                    "ℹ️ Project topics are off (PROJECTS_PATH is not set).".into(),
                )
                .await;
        };
        if !authority::may_sync_topics(role) {
            crate::audit::record(
                &self.ctx.store,
                Some(user_id),
                Some(self.chat.chat_id),
                crate::audit::Event::AccessDenied,
                &json!({"command": "sync_topics", "rule": "admin_only", "role": role.as_str()}),
            )
            .await;
            return self
                .reply(update_id, "🚫 Only admins may /sync_topics.".into())
                .await;
        }
        let registry = match self.registry(&p.path) {
            Ok(r) => r,
            Err(e) => {
                return self
                    .reply(
                        update_id,
                        format!("❌ The projects registry is invalid: {}", escape(&e)),
                    )
                    .await
            }
        };
        let ctx = self.ctx.clone();
        let chat = self.chat;
        tokio::spawn(async move {
            let html = match crate::telegram::topics::sync(
                &ctx.outbox,
                &ctx.store,
                p.chat_id,
                &registry,
                true,
            )
            .await
            {
                Ok(summary) => {
                    crate::audit::record(
                        &ctx.store,
                        Some(user_id),
                        Some(chat.chat_id),
                        crate::audit::Event::ConfigChange,
                        &json!({"setting": "project_topics", "summary": summary.to_string()}),
                    )
                    .await;
                    format!("🔄 Topics synced: {}.", escape(&summary.to_string()))
                }
                Err(e) => format!("❌ Topic sync failed: {}", escape(&e.to_string())),
            };
            super::workbench::deliver(&ctx, chat, Some(update_id), vec![html]).await;
        });
    }

    /// The projects registry at `path`, read again now (it may have changed since start).
    fn registry(&self, path: &std::path::Path) -> Result<Registry, String> {
        Registry::load(path, &self.ctx.config.approved_directory, &self.ctx.secrets)
    }

    /// `/projects`, `/cd` without an argument: one button per project.
    pub(super) async fn cmd_picker(&self, update_id: i64) {
        if self.project == Binding::Outside {
            // Outside the topics a switch means nothing: say where the projects are.
            return self.reply(update_id, self.guidance().await).await;
        }
        let (choices, more) = match self.choices() {
            Ok(c) => c,
            Err(e) => return self.reply(update_id, format!("❌ {}", escape(&e))).await,
        };
        if choices.is_empty() {
            return self
                .reply(
                    update_id,
                    "No projects: the approved directory has no subfolders.".into(),
                )
                .await;
        }
        let mut html = format!(
            "🗂 Projects — press one to switch, or /cd <i>name</i> (now in <code>{}</code>)\n",
            escape(&self.rel(&self.cwd))
        );
        for (_, _, line) in &choices {
            html.push_str(line);
            html.push('\n');
        }
        for m in &more {
            html.push_str(&format!("📁 {}/ (no button: /cd it)\n", escape(m)));
        }
        let buttons: Vec<Vec<Button>> = choices
            .chunks(2)
            .map(|row| {
                row.iter()
                    .map(|(label, data, _)| Button {
                        text: label.clone(),
                        data: data.clone(),
                    })
                    .collect()
            })
            .collect();
        self.ctx.outbox.panel(self.chat, html, buttons, None);
        self.complete(update_id, None).await;
    }

    /// The picker's buttons (label, callback data, line of the message's list) and the
    /// folders that get no button (names too long for callback data, or too many).
    #[allow(clippy::type_complexity)]
    fn choices(&self) -> Result<(Vec<(String, String, String)>, Vec<String>), String> {
        let mut buttons = Vec::new();
        let mut more = Vec::new();
        if let Some(p) = &self.ctx.config.projects {
            let registry = self.registry(&p.path)?;
            for proj in registry.projects.iter().filter(|p| p.enabled) {
                buttons.push((
                    proj.name.clone(),
                    format!("{PICK}s:{}", proj.slug),
                    format!(
                        "• {} — <code>{}</code>",
                        escape(&proj.name),
                        escape(&self.rel(&proj.dir))
                    ),
                ));
            }
            return Ok((buttons, more));
        }
        let root = &self.ctx.config.approved_directory;
        let mut names: Vec<String> = std::fs::read_dir(root)
            .map_err(|e| format!("Cannot list projects: {e}"))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| folder_name_ok(n) && !self.ctx.secrets.is_secret(&root.join(n)))
            .collect();
        names.sort();
        for n in names {
            let data = format!("{PICK}d:{n}");
            if data.len() <= MAX_CALLBACK && buttons.len() < MAX_BUTTONS {
                let line = format!("📁 {}/", escape(&n));
                buttons.push((format!("📁 {n}"), data, line));
            } else {
                more.push(n);
            }
        }
        Ok((buttons, more))
    }

    /// A picker button: switch exactly as `/cd` would (same policy, same audit), the data
    /// looked up again and every rule re-checked now. `None` when `data` is not a picker's.
    pub(super) async fn on_pick(
        &mut self,
        user_id: i64,
        role: Role,
        message_id: Option<i64>,
        data: &str,
    ) -> Option<String> {
        let rest = data.strip_prefix(PICK)?;
        let target = match rest.split_once(':') {
            Some(("s", slug)) if valid_slug(slug) && self.ctx.config.projects.is_some() => {
                let p = self.ctx.config.projects.as_ref().expect("checked");
                match self.registry(&p.path) {
                    Ok(r) => match r.get(slug).filter(|p| p.enabled) {
                        Some(p) => Ok(p.dir.to_string_lossy().into_owned()),
                        None => Err("That project is no longer in the registry.".to_string()),
                    },
                    Err(e) => Err(format!("The projects registry is invalid: {e}")),
                }
            }
            Some(("d", name)) if folder_name_ok(name) && self.ctx.config.projects.is_none() => {
                let root = &self.ctx.config.approved_directory;
                Ok(root.join(name).to_string_lossy().into_owned())
            }
            _ => return None,
        };
        let input = match target {
            Ok(t) => t,
            Err(e) => {
                self.notify(format!("❌ {}", escape(&e))).await;
                return Some("Not switched.".into());
            }
        };
        if self.project == Binding::Outside {
            self.notify(self.guidance().await).await;
            return Some("Use a project's topic.".into());
        }
        match self.go_to(user_id, role, &input).await {
            Ok(html) => {
                if let Some(mid) = message_id {
                    self.ctx.outbox.replace(self.chat, mid, html);
                } else {
                    self.notify(html).await;
                }
                Some("Switched.".into())
            }
            Err(html) => {
                self.notify(html).await;
                Some("Not switched.".into())
            }
        }
    }

    /// Change the working directory to `input` as `/cd` does: the success or refusal text
    /// (a refusal audited).
    pub(super) async fn go_to(
        &mut self,
        user_id: i64,
        role: Role,
        input: &str,
    ) -> Result<String, String> {
        if let Some(b) = self.busy() {
            return Err(b);
        }
        // In a project topic `/` is the project's own top.
        let input = match (self.bound_dir(), input) {
            (Some(dir), "" | "/") => dir.to_string_lossy().into_owned(),
            _ => input.to_string(),
        };
        let dir = match workdir::change(&self.who(user_id, role), &self.cwd, &input) {
            Ok(d) => d,
            Err(r) => return Err(self.refused_dir(user_id, "cd", &input, &r).await),
        };
        if let Some(project) = self.bound_dir().cloned() {
            let root = self.ctx.config.approved_directory.clone();
            if let Err(r) = workdir::within_project(&root, &project, &dir) {
                return Err(self.refused_dir(user_id, "cd", &input, &r).await);
            }
        }
        if dir != self.cwd {
            self.cwd = dir.clone();
            self.settings.current_dir = Some(dir.to_string_lossy().into_owned());
            if let Err(e) = self.save_settings().await {
                return Err(format!("❌ {}", escape(&e.to_string())));
            }
            // Sessions belong to a directory: the next message resumes this one's.
            self.stop_process();
        }
        Ok(format!(
            "📂 Now in <code>{}</code>",
            escape(&self.rel(&dir))
        ))
    }
}

/// A folder name a picker button may carry: one plain, visible name.
fn folder_name_ok(n: &str) -> bool {
    !n.is_empty() && !n.starts_with('.') && !n.contains('/') && !n.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picker_folder_names_are_plain() {
        assert!(folder_name_ok("proj"));
        assert!(folder_name_ok("my project"));
        for bad in ["", ".", "..", ".ssh", "a/b", "../x", "a\nb"] {
            assert!(!folder_name_ok(bad), "{bad:?}");
        }
        assert!(works_outside("sync_topics"));
        assert!(!works_outside("cd"));
        assert_eq!(relative(std::path::Path::new("/r"), "/r/a/b"), "a/b");
        assert_eq!(relative(std::path::Path::new("/r"), "/r"), ".");
        assert_eq!(relative(std::path::Path::new("/r"), "/x"), "/x");
    }
}
