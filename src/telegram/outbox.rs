//! Every message ccgate sends goes through here: one queue, Telegram's rate limits, retries.
//!
//! Why it exists: Telegram allows about one message per second per chat, twenty per minute per
//! group and thirty per second overall, and answers excess with 429s. Sending from many places
//! would trip those limits and lose messages on errors. Instead:
//!
//! * **Durable** messages (answers, command replies, errors) are rows in the database outbox,
//!   written in the same transaction as the work they report; they leave the table only once
//!   Telegram accepted them, so a crash or a Telegram outage never loses one.
//! * **Progress** messages are created once per turn and then edited; pending edits of the same
//!   message collapse into the newest, so a fast stream of tool calls costs at most one edit per
//!   second.
//! * With [`OutboxOptions::stream_drafts`], progress in a private chat is streamed as a message
//!   draft (`sendMessageDraft`, no message to edit or delete; the answer replaces it) under the
//!   same one-per-second slot. Where Telegram refuses drafts (an older Bot API: 404, or a 400
//!   such as "method is available only for …"), that chat falls back to edits for the rest of
//!   the process's life, logged once.
//! * Each chat has its own lane (a task), so a slow or rate-limited chat never delays another.
//! * Every call takes its slot from one [`Limiter`] (see [`super::limits`] for what counts
//!   against which limit) at the moment it is sent; the typing indicator is skipped rather
//!   than queued when the global window is busy.
//!
//! Nothing is dropped silently: a permanent refusal is logged and audited.

use crate::backoff::Backoff;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::api::{ApiError, Button, TelegramApi, TopicCall};
use super::html;
use super::limits::{Limiter, Permit, Slot};
use super::update::ChatRef;
use crate::audit::Redactor;
use crate::store::{OutboxRow, Store};

pub use super::limits::Limits;

/// How long a delivered row's id is remembered (far longer than any read of the outbox takes).
const DELIVERED_MEMORY: Duration = Duration::from_secs(120);

enum Op {
    /// Load undelivered rows from the database outbox.
    Kick,
    Progress {
        key: u64,
        chat: ChatRef,
        html: String,
        buttons: Vec<Vec<Button>>,
        /// May be streamed as a draft (a turn's progress, see [`Outbox::turn_progress`]).
        draft: bool,
    },
    ProgressClose {
        key: u64,
        chat: ChatRef,
    },
    Retire {
        chat: ChatRef,
        message_id: i64,
        html: String,
    },
    Typing(ChatRef),
    Delete {
        chat: ChatRef,
        message_id: i64,
    },
    AnswerCallback {
        id: String,
        text: Option<String>,
    },
    Panel {
        chat: ChatRef,
        html: String,
        buttons: Vec<Vec<Button>>,
        reply_to: Option<i64>,
    },
    Document(ChatRef, Document),
    Topic {
        chat_id: i64,
        call: TopicCall,
        done: tokio::sync::oneshot::Sender<Result<i64, ApiError>>,
    },
    File(ChatRef, ProjectFile),
}

/// A file sent as it is (see [`Outbox::project_file`]).
pub struct ProjectFile {
    pub filename: String,
    pub bytes: Vec<u8>,
    /// `sendPhoto` instead of `sendDocument`.
    pub photo: bool,
    /// HTML; redacted like every text.
    pub caption: Option<String>,
    /// Told the new message's id once Telegram accepted it (or why not).
    pub done: tokio::sync::oneshot::Sender<Result<i64, String>>,
}

/// A file to send with `sendDocument` (see [`Outbox::document`]).
pub struct Document {
    pub filename: String,
    pub bytes: Vec<u8>,
    /// HTML.
    pub caption: Option<String>,
    /// Told whether Telegram accepted it (or why not).
    pub done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

enum LaneOp {
    Durable(OutboxRow),
    Progress {
        key: u64,
        html: String,
        buttons: Vec<Vec<Button>>,
        draft: bool,
    },
    ProgressClose {
        key: u64,
    },
    /// Replace a message left with live buttons by an earlier run, buttons removed.
    Retire {
        message_id: i64,
        html: String,
    },
    /// A message with buttons that stay usable (not a live message: see [`Outbox::panel`]).
    Panel {
        html: String,
        buttons: Vec<Vec<Button>>,
        reply_to: Option<i64>,
    },
    Document(Document),
    File(ProjectFile),
}

/// Handle to the outbox; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Op>,
    /// The client the outbox sends with, for the few calls that are not deliveries (file
    /// downloads, see [`Outbox::api`]).
    api: TelegramApi,
}

struct Shared {
    api: TelegramApi,
    store: Store,
    /// Every text is masked before it leaves: Claude's answers and tool output may quote secrets.
    redactor: Redactor,
    limiter: Limiter,
    /// Durable rows handed to a lane: `None` while in flight, then when they were delivered.
    /// Delivered ids are remembered for [`DELIVERED_MEMORY`]: a read of the outbox that began
    /// before a row's delete committed still returns it, and must not send it twice (outbox
    /// ids are never reused).
    in_flight: Mutex<HashMap<i64, Option<std::time::Instant>>>,
    /// Notes about messages with live buttons, written in order by [`record_live`] so that no
    /// send waits for the database (another process may hold its lock for seconds).
    live: mpsc::UnboundedSender<LiveNote>,
    options: OutboxOptions,
    /// Chats where Telegram refused a draft: progress is edited there from then on.
    no_drafts: Mutex<std::collections::HashSet<i64>>,
}

/// How the outbox shows things (settings).
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxOptions {
    /// `STREAM_DRAFTS`: progress in private chats as `sendMessageDraft` instead of edits.
    pub stream_drafts: bool,
}

impl Shared {
    /// Is draftable progress in `chat` streamed as a draft? Only private chats (positive ids:
    /// a user's own chat with the bot) where drafts are on and have not been refused.
    fn drafts_in(&self, chat: ChatRef) -> bool {
        self.options.stream_drafts
            && chat.chat_id > 0
            && !self
                .no_drafts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&chat.chat_id)
    }

    /// Telegram refused a draft in `chat`: edits from now on (logged the first time).
    fn refuse_drafts(&self, chat: ChatRef, e: &ApiError) {
        let first = self
            .no_drafts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chat.chat_id);
        if first {
            tracing::warn!(chat = chat.chat_id, error = %e, "sendMessageDraft refused; progress in this chat is edited instead from now on");
        }
    }
}

/// The draft id of progress message `key`: non-zero, in Telegram's integer range.
fn draft_id(key: u64) -> i64 {
    (key % (i32::MAX as u64 - 1)) as i64 + 1
}

/// A message with live buttons appeared (`kind`) or lost them (`None`).
struct LiveNote {
    chat: ChatRef,
    message_id: i64,
    kind: Option<&'static str>,
}

/// Write the live-button notes, in the order they were made.
async fn record_live(store: Store, mut rx: mpsc::UnboundedReceiver<LiveNote>) {
    while let Some(n) = rx.recv().await {
        let r = match n.kind {
            Some(k) => {
                store
                    .live_message_add(n.chat.chat_id, n.chat.thread_id, n.message_id, k)
                    .await
            }
            None => {
                store
                    .live_message_remove(n.chat.chat_id, n.message_id)
                    .await
            }
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "could not record a message's buttons");
        }
    }
}

impl Outbox {
    /// Start the outbox tasks. Undelivered rows from a previous run are sent right away.
    pub fn start(api: TelegramApi, store: Store, limits: Limits, redactor: Redactor) -> Outbox {
        Self::start_with(api, store, limits, redactor, OutboxOptions::default())
    }

    /// [`Outbox::start`] with `options`.
    pub fn start_with(
        api: TelegramApi,
        store: Store,
        limits: Limits,
        redactor: Redactor,
        options: OutboxOptions,
    ) -> Outbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let (live, live_rx) = mpsc::unbounded_channel();
        tokio::spawn(record_live(store.clone(), live_rx));
        let shared = Arc::new(Shared {
            api: api.clone(),
            store,
            redactor,
            limiter: Limiter::new(limits),
            in_flight: Mutex::new(HashMap::new()),
            live,
            options,
            no_drafts: Mutex::new(std::collections::HashSet::new()),
        });
        tokio::spawn(dispatcher(shared, rx));
        let outbox = Outbox { tx, api };
        outbox.kick();
        outbox
    }

    /// The Bot API client, for requests that are answers rather than deliveries (downloading
    /// the files users send).
    pub fn api(&self) -> &TelegramApi {
        &self.api
    }

    /// New rows were committed to the database outbox: deliver them.
    pub fn kick(&self) {
        let _ = self.tx.send(Op::Kick);
    }

    /// Show (first call) or update (later calls) the progress message identified by `key`.
    pub fn progress(&self, key: u64, chat: ChatRef, html: String, buttons: Vec<Vec<Button>>) {
        let _ = self.tx.send(Op::Progress {
            key,
            chat,
            html,
            buttons,
            draft: false,
        });
    }

    /// A turn's progress: like [`Outbox::progress`], but with `STREAM_DRAFTS` in a private chat
    /// it is shown as a message draft (its buttons dropped: there `/stop` stops).
    pub fn turn_progress(&self, key: u64, chat: ChatRef, html: String, buttons: Vec<Vec<Button>>) {
        let _ = self.tx.send(Op::Progress {
            key,
            chat,
            html,
            buttons,
            draft: true,
        });
    }

    /// Remove the progress message `key` (after the final answer was queued).
    pub fn progress_close(&self, key: u64, chat: ChatRef) {
        let _ = self.tx.send(Op::ProgressClose { key, chat });
    }

    /// Messages an earlier run left with live buttons (Stop, Allow, answers): each is edited to
    /// say it ended with the restart, buttons removed. A turn progress message in a chat whose
    /// update is still pending says it is being re-run (`rerun` holds those chats).
    pub async fn retire_live_messages(
        &self,
        store: &Store,
        rerun: &[(i64, i64)],
    ) -> anyhow::Result<usize> {
        let rows = store.live_messages().await?;
        for (chat_id, thread_id, message_id, kind) in &rows {
            let again = rerun.contains(&(*chat_id, *thread_id));
            let html = match (kind.as_str(), again) {
                ("progress", true) => {
                    "⏹ <i>Interrupted by a restart — re-running your message.</i>"
                }
                ("progress", false) => "⏹ <i>Interrupted by a restart — not re-run.</i>",
                ("approval", _) => {
                    "⌛ <i>This request ended with a restart; nothing was approved.</i>"
                }
                _ => "⌛ <i>This question ended with a restart.</i>",
            };
            let chat = ChatRef {
                chat_id: *chat_id,
                thread_id: *thread_id,
            };
            self.replace(chat, *message_id, html.to_string());
        }
        Ok(rows.len())
    }

    /// Delete a message (e.g. one holding a login token), with retries.
    pub fn delete(&self, chat: ChatRef, message_id: i64) {
        let _ = self.tx.send(Op::Delete { chat, message_id });
    }

    pub fn typing(&self, chat: ChatRef) {
        let _ = self.tx.send(Op::Typing(chat));
    }

    pub fn answer_callback(&self, id: String, text: Option<String>) {
        let _ = self.tx.send(Op::AnswerCallback { id, text });
    }

    /// Send a message with buttons whose meaning does not depend on this run (a `/git`
    /// panel's buttons read the repository again when pressed), so it is not retired at a
    /// restart. Redacted and rate-limited like every message, in the chat's lane; not durable
    /// (a panel lost to a crash is shown again by asking again).
    pub fn panel(
        &self,
        chat: ChatRef,
        html: String,
        buttons: Vec<Vec<Button>>,
        reply_to: Option<i64>,
    ) {
        let _ = self.tx.send(Op::Panel {
            chat,
            html,
            buttons,
            reply_to,
        });
    }

    /// A forum-topic call (create, rename, close, reopen) in `chat_id`, taking its slot from the
    /// same limiter as every message (each call posts a service message in the group), with
    /// retries of rate limits and transient errors. The topic's thread id for a create.
    pub async fn topic(&self, chat_id: i64, call: TopicCall) -> Result<i64, ApiError> {
        let (done, result) = tokio::sync::oneshot::channel();
        if self
            .tx
            .send(Op::Topic {
                chat_id,
                call,
                done,
            })
            .is_err()
        {
            return Err(ApiError::Transient("the outbox is shut down".into()));
        }
        result
            .await
            .unwrap_or_else(|_| Err(ApiError::Transient("the outbox stopped".into())))
    }

    /// Edit `message_id` to `html` and remove its buttons (a picker's confirmation, a message
    /// left live by an earlier run), in the chat's lane, redacted and rate-limited like every
    /// message.
    pub fn replace(&self, chat: ChatRef, message_id: i64, html: String) {
        let _ = self.tx.send(Op::Retire {
            chat,
            message_id,
            html,
        });
    }

    /// Send a document (`sendDocument`), its text redacted like every message, in the
    /// chat's lane (after the messages queued before it); `doc.done` learns the outcome.
    pub fn document(&self, chat: ChatRef, doc: Document) {
        if let Err(mpsc::error::SendError(Op::Document(_, d))) =
            self.tx.send(Op::Document(chat, doc))
        {
            let _ = d.done.send(Err("the outbox is shut down".into()));
        }
    }

    /// Send a file as it is (`sendPhoto` or `sendDocument`) in the chat's lane: a project file
    /// (the policy refused secret files before) or an image ccgate made (the `/usage` chart).
    /// Unlike [`Outbox::document`] the content is sent byte for byte; only the caption is
    /// redacted.
    pub fn project_file(&self, chat: ChatRef, file: ProjectFile) {
        if let Err(mpsc::error::SendError(Op::File(_, f))) = self.tx.send(Op::File(chat, file)) {
            let _ = f.done.send(Err("the outbox is shut down".into()));
        }
    }
}

async fn dispatcher(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Op>) {
    let mut lanes: HashMap<ChatRef, mpsc::UnboundedSender<LaneOp>> = HashMap::new();
    let lane = |chat: ChatRef, lanes: &mut HashMap<ChatRef, mpsc::UnboundedSender<LaneOp>>| {
        lanes
            .entry(chat)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_lane(shared.clone(), chat, rx));
                tx
            })
            .clone()
    };
    // A periodic sweep picks up rows whose kick was lost (e.g. written by another component
    // before the outbox started).
    let mut sweep = tokio::time::interval(Duration::from_secs(30));
    loop {
        let op = tokio::select! {
            op = rx.recv() => match op { Some(op) => op, None => return },
            _ = sweep.tick() => Op::Kick,
        };
        match op {
            Op::Kick => {
                let rows = match shared.store.outbox_pending().await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::error!(error = %e, "reading the outbox failed");
                        continue;
                    }
                };
                let mut in_flight = shared.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                in_flight.retain(|_, done| done.is_none_or(|t| t.elapsed() < DELIVERED_MEMORY));
                for row in rows {
                    let fresh = match in_flight.entry(row.id) {
                        std::collections::hash_map::Entry::Occupied(_) => false,
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(None);
                            true
                        }
                    };
                    if fresh {
                        let chat = ChatRef {
                            chat_id: row.chat_id,
                            thread_id: row.thread_id,
                        };
                        let _ = lane(chat, &mut lanes).send(LaneOp::Durable(row));
                    }
                }
            }
            Op::Progress {
                key,
                chat,
                html,
                buttons,
                draft,
            } => {
                let _ = lane(chat, &mut lanes).send(LaneOp::Progress {
                    key,
                    html,
                    buttons,
                    draft,
                });
            }
            Op::ProgressClose { key, chat } => {
                let _ = lane(chat, &mut lanes).send(LaneOp::ProgressClose { key });
            }
            Op::Panel {
                chat,
                html,
                buttons,
                reply_to,
            } => {
                let _ = lane(chat, &mut lanes).send(LaneOp::Panel {
                    html,
                    buttons,
                    reply_to,
                });
            }
            Op::File(chat, file) => {
                let _ = lane(chat, &mut lanes).send(LaneOp::File(file));
            }
            Op::Document(chat, doc) => {
                let _ = lane(chat, &mut lanes).send(LaneOp::Document(doc));
            }
            Op::Retire {
                chat,
                message_id,
                html,
            } => {
                let _ = lane(chat, &mut lanes).send(LaneOp::Retire { message_id, html });
            }
            Op::Typing(chat) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    // Best effort: skipped when the global window is busy (answers first; the
                    // indicator is repeated every few seconds anyway). The slot is taken here,
                    // right before the call, not when the task was spawned.
                    let Some(_permit) = shared.limiter.try_acquire_other() else {
                        tracing::debug!(chat = chat.chat_id, "typing indicator skipped: busy");
                        return;
                    };
                    if let Err(e) = shared.api.send_typing(chat.chat_id, chat.thread_id).await {
                        tracing::debug!(error = %e, "typing indicator failed");
                    }
                });
            }
            Op::Delete { chat, message_id } => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let permit = shared.limiter.acquire(Slot::Other).await;
                    if let Err(e) = with_retries(
                        permit,
                        &shared.limiter,
                        Slot::Other,
                        || shared.api.delete_message(chat.chat_id, message_id),
                        5,
                    )
                    .await
                    {
                        tracing::error!(chat = chat.chat_id, error = %e, "could not delete a message");
                    }
                });
            }
            Op::Topic {
                chat_id,
                call,
                done,
            } => {
                let shared = shared.clone();
                let call = match call {
                    TopicCall::Create { name } => TopicCall::Create {
                        name: shared.redactor.redact(&name).into_owned(),
                    },
                    TopicCall::Rename { thread_id, name } => TopicCall::Rename {
                        thread_id,
                        name: shared.redactor.redact(&name).into_owned(),
                    },
                    other => other,
                };
                tokio::spawn(async move {
                    let slot = Slot::Message(chat_id);
                    let permit = shared.limiter.acquire(slot).await;
                    let r = with_retries(
                        permit,
                        &shared.limiter,
                        slot,
                        || shared.api.forum_topic(chat_id, &call),
                        5,
                    )
                    .await;
                    let _ = done.send(r);
                });
            }
            Op::AnswerCallback { id, text } => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _permit = shared.limiter.acquire(Slot::Other).await;
                    if let Err(e) = shared.api.answer_callback_query(&id, text.as_deref()).await {
                        tracing::debug!(error = %e, "answerCallbackQuery failed");
                    }
                });
            }
        }
    }
}

/// Merge a newly arrived op into the lane's queue: a progress update replaces a queued update
/// of the same message; a close cancels queued updates of that message.
fn enqueue(queue: &mut VecDeque<LaneOp>, op: LaneOp) {
    match op {
        LaneOp::Progress {
            key,
            html,
            buttons,
            draft,
        } => {
            for q in queue.iter_mut() {
                if let LaneOp::Progress {
                    key: k,
                    html: h,
                    buttons: b,
                    ..
                } = q
                {
                    if *k == key {
                        *h = html;
                        *b = buttons;
                        return;
                    }
                }
            }
            queue.push_back(LaneOp::Progress {
                key,
                html,
                buttons,
                draft,
            });
        }
        LaneOp::ProgressClose { key } => {
            // Queued edits of a message about to disappear are pointless, except the very first
            // (creating it): without it there is nothing to delete, which is fine too.
            queue.retain(|q| !matches!(q, LaneOp::Progress { key: k, .. } if *k == key));
            queue.push_back(LaneOp::ProgressClose { key });
        }
        durable => queue.push_back(durable),
    }
}

async fn run_lane(shared: Arc<Shared>, chat: ChatRef, mut rx: mpsc::UnboundedReceiver<LaneOp>) {
    let mut queue: VecDeque<LaneOp> = VecDeque::new();
    // Progress key → Telegram message id.
    let mut progress: HashMap<u64, i64> = HashMap::new();
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(op) => enqueue(&mut queue, op),
                None => return,
            }
        }
        while let Ok(op) = rx.try_recv() {
            enqueue(&mut queue, op);
        }
        let Some(op) = queue.pop_front() else {
            continue;
        };
        match op {
            LaneOp::Durable(row) => {
                deliver_durable(&shared, chat, &row).await;
                shared
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(row.id, Some(std::time::Instant::now()));
            }
            LaneOp::Progress {
                key,
                html,
                buttons,
                draft,
            } => {
                // Take the freshest text: edits that arrived while we waited for the slot win.
                let mut permit = shared.limiter.acquire(Slot::Message(chat.chat_id)).await;
                let (html, buttons) = freshest(&mut queue, &mut rx, key, html, buttons);
                let html = shared.redactor.redact(&html).into_owned();
                if draft && shared.drafts_in(chat) && !progress.contains_key(&key) {
                    // A draft has no buttons: the turn's Stop is `/stop` there.
                    let text = match live_kind(&buttons) {
                        Some("progress") => format!("{html}\n<i>/stop to stop</i>"),
                        _ => html.clone(),
                    };
                    let r = with_retries(
                        permit,
                        &shared.limiter,
                        Slot::Message(chat.chat_id),
                        || {
                            shared.api.send_message_draft(
                                chat.chat_id,
                                chat.thread_id,
                                draft_id(key),
                                &text,
                                true,
                            )
                        },
                        3,
                    )
                    .await;
                    match r {
                        Ok(()) => continue,
                        Err(e @ ApiError::Rejected { .. }) if !e.is_parse_error() => {
                            shared.refuse_drafts(chat, &e)
                        }
                        Err(e) => {
                            tracing::warn!(chat = chat.chat_id, error = %e, "progress draft not shown");
                            continue;
                        }
                    }
                    // Shown by a message instead, in the next free slot.
                    permit = shared.limiter.acquire(Slot::Message(chat.chat_id)).await;
                }
                let b = (!buttons.is_empty()).then_some(buttons.as_slice());
                let result = match progress.get(&key) {
                    Some(&mid) => {
                        match with_retries(
                            permit,
                            &shared.limiter,
                            Slot::Message(chat.chat_id),
                            || {
                                shared
                                    .api
                                    .edit_message_text(chat.chat_id, mid, &html, true, b)
                            },
                            3,
                        )
                        .await
                        {
                            Err(e) if e.is_message_gone() => {
                                progress.remove(&key);
                                Err(e)
                            }
                            other => other,
                        }
                    }
                    None => with_retries(
                        permit,
                        &shared.limiter,
                        Slot::Message(chat.chat_id),
                        || {
                            shared.api.send_message(
                                chat.chat_id,
                                chat.thread_id,
                                &html,
                                true,
                                b,
                                None,
                            )
                        },
                        3,
                    )
                    .await
                    .map(|mid| {
                        progress.insert(key, mid);
                        if let Some(kind) = live_kind(&buttons) {
                            note_live(&shared, chat, mid, Some(kind));
                        }
                    }),
                };
                if result.is_ok() && buttons.is_empty() {
                    if let Some(&mid) = progress.get(&key) {
                        note_live(&shared, chat, mid, None);
                    }
                }
                if let Err(e) = result {
                    tracing::warn!(chat = chat.chat_id, error = %e, "progress update not shown");
                }
            }
            LaneOp::ProgressClose { key } => {
                if let Some(mid) = progress.remove(&key) {
                    note_live(&shared, chat, mid, None);
                    let permit = shared.limiter.acquire(Slot::Other).await;
                    if let Err(e) = with_retries(
                        permit,
                        &shared.limiter,
                        Slot::Other,
                        || shared.api.delete_message(chat.chat_id, mid),
                        3,
                    )
                    .await
                    {
                        tracing::warn!(chat = chat.chat_id, error = %e, "progress message not removed");
                    }
                }
            }
            LaneOp::Panel {
                html,
                buttons,
                reply_to,
            } => {
                let permit = shared.limiter.acquire(Slot::Message(chat.chat_id)).await;
                let html = shared.redactor.redact(&html).into_owned();
                let b = (!buttons.is_empty()).then_some(buttons.as_slice());
                if let Err(e) = with_retries(
                    permit,
                    &shared.limiter,
                    Slot::Message(chat.chat_id),
                    || {
                        shared.api.send_message(
                            chat.chat_id,
                            chat.thread_id,
                            &html,
                            true,
                            b,
                            reply_to,
                        )
                    },
                    5,
                )
                .await
                {
                    tracing::error!(chat = chat.chat_id, error = %e, "a panel was not shown");
                }
            }
            LaneOp::File(file) => {
                let ProjectFile {
                    filename,
                    bytes,
                    photo,
                    caption,
                    done,
                } = file;
                let r = upload(&shared, chat, photo, &filename, bytes, caption).await;
                if let Err(e) = &r {
                    tracing::error!(chat = chat.chat_id, error = %e, "a project file was not sent");
                }
                let _ = done.send(r.map_err(|e| e.to_string()));
            }
            LaneOp::Document(doc) => {
                let Document {
                    filename,
                    bytes,
                    caption,
                    done,
                } = doc;
                // Every outbound text is masked; a document is text too.
                let bytes = match String::from_utf8(bytes) {
                    Ok(text) => shared.redactor.redact(&text).into_owned().into_bytes(),
                    Err(e) => e.into_bytes(),
                };
                let r = upload(&shared, chat, false, &filename, bytes, caption).await;
                if let Err(e) = &r {
                    tracing::error!(chat = chat.chat_id, error = %e, "a document was not sent");
                }
                let _ = done.send(r.map(|_| ()).map_err(|e| e.to_string()));
            }
            LaneOp::Retire { message_id, html } => {
                let html = shared.redactor.redact(&html).into_owned();
                let permit = shared.limiter.acquire(Slot::Message(chat.chat_id)).await;
                let r = with_retries(
                    permit,
                    &shared.limiter,
                    Slot::Message(chat.chat_id),
                    || {
                        shared
                            .api
                            .edit_message_text(chat.chat_id, message_id, &html, true, None)
                    },
                    3,
                )
                .await;
                if let Err(e) = &r {
                    if !e.is_message_gone() {
                        tracing::warn!(chat = chat.chat_id, error = %e, "a stale message kept its buttons");
                    }
                }
                // Tried: never again (a message that cannot be edited stays as it is).
                note_live(&shared, chat, message_id, None);
            }
        }
    }
}

/// What a message with these buttons is, for `live_messages`; `None` without buttons.
fn live_kind(buttons: &[Vec<Button>]) -> Option<&'static str> {
    let data = buttons.iter().flatten().next().map(|b| b.data.as_str())?;
    Some(if data.starts_with("stop:") {
        "progress"
    } else if data.starts_with("ap:") {
        "approval"
    } else {
        "question"
    })
}

/// Record (`Some(kind)`) or forget (`None`) a message with live buttons (in the background).
fn note_live(shared: &Shared, chat: ChatRef, message_id: i64, kind: Option<&'static str>) {
    let _ = shared.live.send(LiveNote {
        chat,
        message_id,
        kind,
    });
}

/// After waiting for a rate-limit slot, fold in any newer edit of the same progress message.
fn freshest(
    queue: &mut VecDeque<LaneOp>,
    rx: &mut mpsc::UnboundedReceiver<LaneOp>,
    key: u64,
    mut html: String,
    mut buttons: Vec<Vec<Button>>,
) -> (String, Vec<Vec<Button>>) {
    while let Ok(op) = rx.try_recv() {
        enqueue(queue, op);
    }
    if let Some(pos) = queue
        .iter()
        .position(|q| matches!(q, LaneOp::Progress { key: k, .. } if *k == key))
    {
        if let Some(LaneOp::Progress {
            html: h,
            buttons: b,
            ..
        }) = queue.remove(pos)
        {
            html = h;
            buttons = b;
        }
    }
    (html, buttons)
}

/// Retry rate limits and transient errors a few times; refusals return at once. The first
/// attempt's slot is the caller's; every retry takes a new one (after a 429, once its
/// `retry_after` has passed: for a message, the whole chat waits that long).
async fn with_retries<'l, T, F, Fut>(
    first: Permit<'l>,
    limiter: &'l Limiter,
    slot: Slot,
    mut f: F,
    attempts: u32,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let mut n = 0;
    let mut permit = first;
    loop {
        let result = f().await;
        // The answer is back: from now on the slot only ages.
        drop(permit);
        match result {
            Ok(v) => return Ok(v),
            Err(ApiError::RetryAfter(d)) if n < attempts => match slot {
                Slot::Message(chat) => limiter.pause_chat(chat, d),
                Slot::Other => tokio::time::sleep(d).await,
            },
            Err(ApiError::Transient(_)) if n < attempts => {
                backoff.wait().await;
            }
            Err(e) => return Err(e),
        }
        n += 1;
        permit = limiter.acquire(slot).await;
    }
}

/// Deliver one durable row, retrying until Telegram accepts or definitively refuses it.
async fn deliver_durable(shared: &Shared, chat: ChatRef, row: &OutboxRow) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut as_html = true;
    loop {
        let permit = shared.limiter.acquire(Slot::Message(chat.chat_id)).await;
        let text = if as_html {
            row.html.clone()
        } else {
            html::html_to_plain(&row.html)
        };
        let text = shared.redactor.redact(&text).into_owned();
        let result = shared
            .api
            .send_message(
                chat.chat_id,
                chat.thread_id,
                &text,
                as_html,
                None,
                row.reply_to,
            )
            .await;
        drop(permit);
        match result {
            Ok(_) => {
                if let Err(e) = shared.store.outbox_delete(row.id).await {
                    // The message went out; a failed delete means a duplicate after restart,
                    // which is the lesser evil than a loss.
                    tracing::error!(error = %e, id = row.id, "could not remove a delivered outbox row");
                }
                return;
            }
            Err(e) if as_html && e.is_parse_error() => {
                tracing::warn!(chat = chat.chat_id, error = %e, "Telegram rejected the HTML; resending as plain text");
                as_html = false;
            }
            Err(ApiError::RetryAfter(d)) => {
                tracing::info!(
                    chat = chat.chat_id,
                    secs = d.as_secs(),
                    "rate limited by Telegram"
                );
                // The next slot (top of the loop) comes after `retry_after`.
                shared.limiter.pause_chat(chat.chat_id, d);
            }
            Err(ApiError::Transient(m)) => {
                let _ = shared.store.outbox_failed_attempt(row.id, &m).await;
                let delay = backoff.next_delay();
                tracing::warn!(chat = chat.chat_id, error = %m, retry_in = ?delay, "send failed; will retry");
                tokio::time::sleep(delay).await;
            }
            Err(e @ ApiError::Rejected { .. }) => {
                tracing::error!(chat = chat.chat_id, error = %e, id = row.id, "Telegram refused a message for good; dropping it");
                crate::audit::record(
                    &shared.store,
                    None,
                    Some(chat.chat_id),
                    crate::audit::Event::OutboxRefused,
                    &serde_json::json!({"error": e.to_string(), "outbox_id": row.id}),
                )
                .await;
                let _ = shared.store.outbox_delete(row.id).await;
                return;
            }
        }
    }
}

/// Upload `bytes` as `filename` (`sendPhoto` when `photo`, else `sendDocument`) in `chat`,
/// within its message slot and with retries; the caption is redacted. The new message's id.
async fn upload(
    shared: &Shared,
    chat: ChatRef,
    photo: bool,
    filename: &str,
    bytes: Vec<u8>,
    caption: Option<String>,
) -> Result<i64, ApiError> {
    let permit = shared.limiter.acquire(Slot::Message(chat.chat_id)).await;
    let caption = caption.map(|c| shared.redactor.redact(&c).into_owned());
    with_retries(
        permit,
        &shared.limiter,
        Slot::Message(chat.chat_id),
        || {
            shared.api.send_file(
                chat.chat_id,
                chat.thread_id,
                photo,
                filename,
                bytes.clone(),
                caption.as_deref(),
            )
        },
        5,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// These two tests predate the sliding-window [`Limiter`] and still hold with it (the 121st
    /// group message now waits for the first to leave the minute, not 500 ms).
    struct Limiters(Limiter);
    impl Limiters {
        fn new(l: Limits) -> Self {
            Limiters(Limiter::new(l))
        }
        async fn message_slot(&self, chat: i64) {
            drop(self.0.acquire(Slot::Message(chat)).await)
        }
    }

    // Paused time: the group window is a minute long; tokio advances the clock when idle.
    #[tokio::test(start_paused = true)]
    async fn group_and_global_limits_hold_back_the_next_message() {
        // Generous per-chat limit so the group and global buckets are what is measured.
        let l = Limiters::new(Limits {
            per_chat_per_second: 1000,
            per_group_per_minute: 120, // burst 120, then one per 500 ms
            global_per_second: 1000,
        });
        let t0 = Instant::now();
        for _ in 0..120 {
            l.message_slot(-42).await;
        }
        assert!(
            t0.elapsed() < Duration::from_millis(200),
            "the burst is immediate"
        );
        let t1 = Instant::now();
        l.message_slot(-42).await;
        assert!(
            t1.elapsed() >= Duration::from_millis(400),
            "121st group message waited {:?}",
            t1.elapsed()
        );
        // A private chat is not subject to the group bucket.
        let t2 = Instant::now();
        l.message_slot(42).await;
        assert!(t2.elapsed() < Duration::from_millis(100));

        let g = Limiters::new(Limits {
            per_chat_per_second: 1000,
            per_group_per_minute: 1000,
            global_per_second: 5, // burst 5, then one per 200 ms
        });
        for chat in 1..=5 {
            g.message_slot(chat).await;
        }
        let t3 = Instant::now();
        g.message_slot(6).await;
        assert!(
            t3.elapsed() >= Duration::from_millis(150),
            "global limit spans chats: {:?}",
            t3.elapsed()
        );
    }

    #[tokio::test]
    async fn one_message_per_second_per_chat() {
        let l = Limiters::new(Limits::default());
        l.message_slot(7).await;
        let t = Instant::now();
        l.message_slot(7).await;
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn draft_ids_are_non_zero_positive_integers() {
        for key in [0, 1, 2, i32::MAX as u64, u64::MAX, 1 << 40] {
            let id = draft_id(key);
            assert!(id > 0 && id <= i32::MAX as i64, "{key} -> {id}");
        }
        assert_ne!(draft_id(1), draft_id(2));
    }

    #[test]
    fn progress_edits_coalesce_and_close_cancels_them() {
        let mut q = VecDeque::new();
        let p = |html: &str| LaneOp::Progress {
            key: 1,
            html: html.into(),
            buttons: vec![],
            draft: false,
        };
        enqueue(&mut q, p("a"));
        enqueue(&mut q, p("b"));
        enqueue(&mut q, p("c"));
        assert_eq!(q.len(), 1);
        assert!(matches!(&q[0], LaneOp::Progress { html, .. } if html == "c"));
        enqueue(&mut q, LaneOp::ProgressClose { key: 1 });
        assert_eq!(q.len(), 1);
        assert!(matches!(q[0], LaneOp::ProgressClose { key: 1 }));
    }
}
