//! The chat's side of `/git` (and its buttons) and `/export`.
//!
//! Why a file of its own: unlike the classic commands, these answer from a background task —
//! a git run inside the boundary takes up to its timeout, a document upload its time — while
//! the actor goes on with Stop buttons and prompts. The update stays pending until the task
//! has delivered (a restart runs it again), and every use is audited. Running and formatting
//! are `crate::workbench`'s, decisions `policy`'s (`git_config::locate`, `workdir`).

use std::sync::Arc;

use serde_json::json;

use super::actor::Actor;
use crate::policy::git_config::{self, Repo};
use crate::policy::roles::Role;
use crate::services::Ctx;
use crate::store::NewOutbox;
use crate::telegram::html::{escape, split_html, TELEGRAM_MAX_MESSAGE_LEN};
use crate::telegram::outbox::Document;
use crate::telegram::update::ChatRef;
use crate::workbench::export::{self, Format};
use crate::workbench::git::{self, View};

/// Largest export sent (Telegram takes 50 MB; a chat history is far smaller).
const MAX_EXPORT_BYTES: usize = 20 * 1024 * 1024;

/// Deliver `htmls` to `chat` durably: with the update `update_id` marked done in the same
/// transaction, or (for a button press, which intake completes itself) as plain notices.
pub(super) async fn deliver(ctx: &Ctx, chat: ChatRef, update_id: Option<i64>, htmls: Vec<String>) {
    let rows: Vec<NewOutbox> = htmls
        .iter()
        .flat_map(|h| split_html(h, TELEGRAM_MAX_MESSAGE_LEN))
        .map(|html| NewOutbox {
            chat_id: chat.chat_id,
            thread_id: chat.thread_id,
            html,
            reply_to: None,
        })
        .collect();
    let r = match update_id {
        Some(id) => ctx.store.complete_updates(&[id], &rows).await,
        None => {
            let mut r = Ok(());
            for row in &rows {
                if let Err(e) = ctx.store.outbox_insert(row).await {
                    r = Err(e);
                    break;
                }
            }
            r
        }
    };
    if let Err(e) = r {
        tracing::error!(error = %e, "could not deliver a workbench answer");
    }
    ctx.outbox.kick();
}

impl Actor {
    /// `/git` (`update_id` given) or a panel button (`None`): show `view` of the repository
    /// around the chat's directory.
    pub(super) async fn cmd_git(
        &self,
        user_id: i64,
        role: Role,
        view: View,
        update_id: Option<i64>,
    ) {
        let who = self.who(user_id, role);
        let repo = match git_config::locate(&who, &self.cwd) {
            Ok(r) => r,
            Err(r) => {
                let dir = self.rel(&self.cwd);
                let html = self.refused_dir(user_id, "git", &dir, &r).await;
                deliver(&self.ctx, self.chat, update_id, vec![html]).await;
                return;
            }
        };
        let label = match &repo {
            Repo::Found { top, .. } => self.rel(top),
            _ => self.rel(&self.cwd),
        };
        crate::audit::record(
            &self.ctx.store,
            Some(user_id),
            Some(self.chat.chat_id),
            crate::audit::Event::GitPanel,
            &json!({"view": view.as_str(), "dir": label, "repository": matches!(repo, Repo::Found { .. })}),
        ).await;
        let ctx = self.ctx.clone();
        let chat = self.chat;
        tokio::spawn(async move {
            let shown = git::show(ctx.launcher.jail(), &ctx.secrets, &repo, &label, view).await;
            answer_git(&ctx, chat, user_id, update_id, &label, view, shown).await;
        });
    }

    /// `/export [md|html|json]`: the chat's active session in this directory as a document.
    pub(super) async fn cmd_export(&self, user_id: i64, role: Role, args: &str, update_id: i64) {
        let reply = |html: String| deliver(&self.ctx, self.chat, Some(update_id), vec![html]);
        let Some(format) = Format::parse(args) else {
            return reply("Usage: /export <i>md</i> | <i>html</i> | <i>json</i>".into()).await;
        };
        if let Err(r) = crate::policy::workdir::check(&self.who(user_id, role), &self.cwd) {
            let dir = self.rel(&self.cwd);
            return reply(self.refused_dir(user_id, "export", &dir, &r).await).await;
        }
        let dir = self.cwd.to_string_lossy().into_owned();
        let session = match self
            .ctx
            .store
            .active_session(user_id, self.chat.chat_id, self.chat.thread_id, &dir)
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => return reply(
                "ℹ️ No session here yet: nothing to export. Send a message first (or /resume one)."
                    .into(),
            )
            .await,
            Err(e) => return reply(format!("❌ {}", escape(&e.to_string()))).await,
        };
        let turns = match self
            .ctx
            .store
            .session_turns(user_id, &session.claude_session_id)
            .await
        {
            Ok(t) => t,
            Err(e) => return reply(format!("❌ {}", escape(&e.to_string()))).await,
        };
        let label = self.rel(&self.cwd);
        let now = crate::store::now_str();
        let doc = export::render(
            &export::Session {
                session_id: &session.claude_session_id,
                directory: &label,
                exported_at: &now,
                turns: &turns,
            },
            format,
        );
        if doc.len() > MAX_EXPORT_BYTES {
            return reply(format!(
                "❌ The export is {} MB, more than the {} MB ccgate sends.",
                doc.len() / (1024 * 1024),
                MAX_EXPORT_BYTES / (1024 * 1024)
            ))
            .await;
        }
        crate::audit::record(
            &self.ctx.store,
            Some(user_id),
            Some(self.chat.chat_id),
            crate::audit::Event::SessionExported,
            &json!({"format": format.extension(), "session": session.claude_session_id,
                    "turns": turns.len(), "bytes": doc.len(), "dir": label}),
        )
        .await;
        let (done, result) = tokio::sync::oneshot::channel();
        self.ctx.outbox.document(
            self.chat,
            Document {
                filename: export::filename(&session.claude_session_id, format),
                bytes: doc.into_bytes(),
                caption: Some(format!(
                    "📤 Session <code>{}</code> · {} turn{} · <code>{}</code>",
                    escape(&session.claude_session_id),
                    turns.len(),
                    if turns.len() == 1 { "" } else { "s" },
                    escape(&label)
                )),
                done,
            },
        );
        let ctx = self.ctx.clone();
        let chat = self.chat;
        tokio::spawn(async move {
            let failed = match result.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("the outbox stopped".to_string()),
            };
            let reply = failed.map(|e| format!("❌ The export was not sent: {}", escape(&e)));
            deliver(&ctx, chat, Some(update_id), reply.into_iter().collect()).await;
        });
    }
}

/// Send what a git view produced: the panel with its buttons, messages, or a document.
async fn answer_git(
    ctx: &Arc<Ctx>,
    chat: ChatRef,
    user_id: i64,
    update_id: Option<i64>,
    label: &str,
    view: View,
    shown: git::Shown,
) {
    if !shown.masked.is_empty() {
        crate::audit::record(
            &ctx.store,
            Some(user_id),
            Some(chat.chat_id),
            crate::audit::Event::GitSecretMasked,
            &json!({"view": view.as_str(), "dir": label, "paths": shown.masked}),
        )
        .await;
    }
    if let Some(why) = &shown.refused {
        crate::audit::record(
            &ctx.store,
            Some(user_id),
            Some(chat.chat_id),
            crate::audit::Event::GitRefused,
            &json!({"view": view.as_str(), "dir": label, "reason": why}),
        )
        .await;
    }
    if shown.panel {
        // The panel's buttons stay usable (they read the repository again when pressed).
        for html in shown.html {
            ctx.outbox.panel(chat, html, git::buttons(), None);
        }
        deliver(ctx, chat, update_id, Vec::new()).await;
        return;
    }
    if let Some((filename, text, caption)) = shown.document {
        let (done, result) = tokio::sync::oneshot::channel();
        ctx.outbox.document(
            chat,
            Document {
                filename,
                bytes: text.into_bytes(),
                caption: Some(caption),
                done,
            },
        );
        let failed = match result.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("the outbox stopped".to_string()),
        };
        let reply = failed.map(|e| format!("❌ The diff was not sent: {}", escape(&e)));
        deliver(ctx, chat, update_id, reply.into_iter().collect()).await;
        return;
    }
    deliver(ctx, chat, update_id, shown.html).await;
}
