//! Conversations: one actor per chat (or forum topic), created on first contact.
//!
//! Why it exists: a chat's turns must run one at a time, in order, with its own directory,
//! session and queue — while different chats run in parallel. An actor per chat gives exactly
//! that without locks: the [`Router`] only finds (or starts) the right actor and hands it the
//! update; everything stateful happens inside the actor's own task.

mod actor;
mod commands;
mod get;
mod topics;
mod usage;
mod workbench;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::gate::Admitted;
use crate::services::Ctx;
use crate::telegram::update::ChatRef;

pub use commands::COMMANDS;

/// Finds or starts the actor of a chat.
pub struct Router {
    ctx: Arc<Ctx>,
    actors: Mutex<HashMap<ChatRef, mpsc::UnboundedSender<actor::ActorMsg>>>,
}

impl Router {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Router {
            ctx,
            actors: Mutex::new(HashMap::new()),
        }
    }

    /// Deliver an authorized update to its chat's actor (in arrival order).
    pub fn route(&self, admitted: Admitted) {
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        let chat = admitted.incoming.chat;
        let chat_kind = admitted.incoming.chat_kind.clone();
        let mut msg = actor::ActorMsg::Incoming(admitted);
        if let Some(tx) = actors.get(&chat) {
            match tx.send(msg) {
                Ok(()) => return,
                // The actor ended (it never should; a panic would do it): start a new one.
                Err(mpsc::error::SendError(m)) => msg = m,
            }
        }
        let tx = actor::spawn(self.ctx.clone(), chat, chat_kind);
        let _ = tx.send(msg);
        actors.insert(chat, tx);
    }

    /// Stop every actor's Claude process (on shutdown).
    pub fn shutdown_all(&self) {
        let actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        for tx in actors.values() {
            let _ = tx.send(actor::ActorMsg::Shutdown);
        }
    }
}
