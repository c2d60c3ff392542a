//! The chat's side of `/usage`: ask the policy whose spend to show, sum it, reply with text and
//! a chart.
//!
//! Why a file of its own: the chart is rendered on a blocking thread and uploaded by the outbox
//! while the actor goes on, like `/export`; the update stays pending until the chart has been
//! delivered (a restart answers it again). Who sees what is `policy::authority::usage_scope`;
//! counting and drawing are `crate::usage`'s.

use super::actor::Actor;
use super::workbench::deliver;
use crate::policy::authority;
use crate::policy::roles::Role;
use crate::telegram::html::escape;
use crate::telegram::outbox::ProjectFile;
use crate::usage::{self, chart};

impl Actor {
    /// `/usage`: the last 30 days of real spend, the user's own (an admin's: everyone's).
    pub(super) async fn cmd_usage(&self, user_id: i64, role: Role, update_id: i64) {
        let scope = authority::usage_scope(user_id, role);
        let today = chrono::Utc::now().date_naive();
        let since = usage::window_start(today).format("%Y-%m-%d").to_string();
        let rows = match self.ctx.store.usage_since(scope.user(), &since).await {
            Ok(r) => r,
            Err(e) => {
                let html = format!("❌ {}", escape(&e.to_string()));
                return deliver(&self.ctx, self.chat, Some(update_id), vec![html]).await;
            }
        };
        let u = usage::aggregate(&rows, &self.ctx.config.approved_directory, today, scope);
        let text = usage::render_text(&u);
        if u.is_empty() {
            return deliver(&self.ctx, self.chat, Some(update_id), vec![text]).await;
        }
        // The text first (a durable notice), then the chart in the same lane behind it.
        deliver(&self.ctx, self.chat, None, vec![text]).await;
        let ctx = self.ctx.clone();
        let chat = self.chat;
        tokio::spawn(async move {
            let caption = usage::caption(&u);
            let png = tokio::task::spawn_blocking(move || {
                chart::render_png(&u, chart::WIDTH, chart::HEIGHT)
            })
            .await
            .unwrap_or_else(|e| Err(format!("the chart renderer failed: {e}")));
            let failed = match png {
                Err(e) => Some(e),
                Ok(bytes) => {
                    let (done, result) = tokio::sync::oneshot::channel();
                    ctx.outbox.project_file(
                        chat,
                        ProjectFile {
                            filename: "usage.png".into(),
                            bytes,
                            photo: true,
                            caption: Some(escape(&caption)),
                            done,
                        },
                    );
                    match result.await {
                        Ok(Ok(_)) => None,
                        Ok(Err(e)) => Some(e),
                        Err(_) => Some("the outbox stopped".to_string()),
                    }
                }
            };
            if let Some(e) = &failed {
                tracing::warn!(error = %e, "the usage chart was not sent");
            }
            let reply = failed.map(|e| format!("❌ The usage chart was not sent: {}", escape(&e)));
            deliver(&ctx, chat, Some(update_id), reply.into_iter().collect()).await;
        });
    }
}
