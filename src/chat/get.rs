//! `/get <path>`: the user fetches a project file, without a Claude turn.
//!
//! Why it exists: asking Claude to send a file costs a turn and money; `/get` does the same
//! thing directly, through the same policy and sending code as Claude's `send_file`
//! (`media::outgoing`), so both refuse exactly the same files.

use super::actor::Actor;
use super::workbench::deliver;
use crate::media::outgoing::{self, NotSent, SendRequest};
use crate::policy::roles::Role;
use crate::telegram::html::escape;

impl Actor {
    pub(super) async fn cmd_get(&self, user_id: i64, role: Role, args: &str, update_id: i64) {
        let path = args.trim().to_string();
        if path.is_empty() {
            return self
                .reply(
                    update_id,
                    "Usage: /get <i>path</i> — sends a file of the project here (relative to the current directory, see /pwd)".into(),
                )
                .await;
        }
        let (ctx, chat, cwd) = (self.ctx.clone(), self.chat, self.cwd.clone());
        // Off the actor: an upload may wait for the chat's rate limit.
        tokio::spawn(async move {
            let req = SendRequest {
                chat,
                user_id,
                role,
                cwd: &cwd,
                input: &path,
                caption: Some(&path),
                via: "/get",
            };
            let reply = match outgoing::send(&ctx, &req).await {
                Ok(_) => None,
                Err(NotSent::Refused(why)) => Some(format!(
                    "🚫 Cannot send <code>{}</code>: {}.",
                    escape(&path),
                    escape(&why)
                )),
                Err(NotSent::Failed(why)) => Some(format!(
                    "❌ <code>{}</code> was not sent: {}",
                    escape(&path),
                    escape(&why)
                )),
            };
            deliver(&ctx, chat, Some(update_id), reply.into_iter().collect()).await;
        });
    }
}
