//! The actor of one chat: its queue, directory, Claude process and the turn in flight.
//!
//! Why it exists: a turn is a long conversation with a child process (events, permission
//! questions, interrupts, timeouts) while the user keeps typing. Serialising all of that through
//! one task and one inbox makes ordering obvious: process events and Telegram updates for this
//! chat are handled one after another, never concurrently, so no state needs a lock. What a
//! tool call is allowed to do, and whom to ask, is the turn core's ([`crate::turn`]); the actor
//! keeps the chat's side: queue, progress message, stop and timeouts, and its [`State`].
//! Uploads ([`crate::media`]) are the one thing taken in beside the actor, in a task whose
//! result comes back as [`ActorMsg::Uploaded`]: a slow download must not hold up a Stop press;
//! the chat's other messages wait for it in order (button presses do not). Voice notes are
//! taken in the same way ([`crate::media::voice`], back as [`ActorMsg::Heard`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::sleep_until;

use crate::approval::registry::Outcome;
use crate::egress::Owner;
use crate::events::Event;
use crate::gate::Admitted;
use crate::policy::access;
use crate::policy::engine::Decision;
use crate::policy::roles::Role;
use crate::policy::{mentions, sandbox};
use crate::render::{self, Ending, Progress};
use crate::runner::launch::dir_label;
use crate::runner::pool::{Acquire, Slot};
use crate::runner::{ClaudeEvent, ClaudeProcess, PermissionRequest, ProcessEvent, TurnResult};
use crate::services::Ctx;
use crate::store::{ChatSettings, NewOutbox, TurnRecord};
use crate::telegram::api::Button;
use crate::telegram::update::{parse_command, ChatRef, IncomingKind};
use crate::turn::{self, Answerer, Step};

/// How long an interrupt may take before escalating to a signal, and then to a kill.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// How often the progress message is refreshed (elapsed time) without new events.
const PROGRESS_REFRESH: Duration = Duration::from_secs(5);
/// A turn shows its progress message (with ⏹ Stop) only once it has run this long, or at its
/// first tool call: a quick answer then costs two Bot API calls (typing, answer) and does not
/// wait behind a progress message for the chat's one-message-per-second slot.
const PROGRESS_DELAY: Duration = Duration::from_secs(1);
/// Telegram's typing indicator lasts about five seconds.
const TYPING_EVERY: Duration = Duration::from_secs(4);

pub enum ActorMsg {
    Incoming(Admitted),
    Process {
        gen: u64,
        ev: ProcessEvent,
    },
    /// A human answered (or the prompt expired or was withdrawn) for a `can_use_tool` request
    /// that asked: an approval, or one of Claude's questions.
    Answered {
        gen: u64,
        ask: Box<turn::Ask>,
        outcome: Outcome,
    },
    /// The pool's answer to a queued request: the slot for this chat's next process.
    Granted(Slot),
    /// The pool is full and others wait: give back the slot `slot` if its process is idle.
    Evict {
        slot: u64,
    },
    /// A document or photo was taken in (or refused) in the background.
    Uploaded(Box<Uploaded>),
    /// A voice note was transcribed (or refused) in the background.
    Heard(Box<Heard>),
    /// A `tools/call` of ccgate's MCP server finished in the background: its JSON-RPC reply.
    McpAnswered {
        gen: u64,
        request_id: String,
        reply: serde_json::Value,
    },
    Shutdown,
}

pub fn spawn(ctx: Arc<Ctx>, chat: ChatRef, chat_kind: String) -> mpsc::UnboundedSender<ActorMsg> {
    let (tx, rx) = mpsc::unbounded_channel();
    let me = tx.clone();
    tokio::spawn(async move { Actor::new(ctx, chat, chat_kind, me).await.run(rx).await });
    tx
}

/// The outcome of taking in one upload ([`crate::media::receive`], run off the actor so a
/// slow download never holds up a Stop press or an approval).
pub struct Uploaded {
    update_id: i64,
    user_id: i64,
    role: Role,
    upload: crate::telegram::update::Upload,
    result: Result<crate::media::Received, crate::media::Refused>,
}

/// The outcome of taking in one voice note ([`crate::media::voice::receive`], off the actor
/// like an upload).
pub struct Heard {
    update_id: i64,
    user_id: i64,
    role: Role,
    message_id: i64,
    result: Result<crate::media::voice::Transcribed, crate::media::Refused>,
}

/// A live `claude` process and what it is bound to.
pub(super) struct Proc {
    pub process: ClaudeProcess,
    pub gen: u64,
    pub user_id: i64,
    pub role: Role,
    pub dir: PathBuf,
    pub resumed_from: Option<String>,
    pub last_used: Instant,
    /// The session's running cost total after the last turn this process finished (starts
    /// at the stored total of a resumed session): what a turn's cost is measured from.
    pub last_total: f64,
    /// Its place in the bound on live processes, given back after the process exits.
    pub slot: Slot,
}

/// A prompt waiting for a free process slot (see [`crate::runner::pool`]).
pub(super) struct Waiting {
    pub q: Queued,
    pub ticket: u64,
    since: Instant,
    /// Whether the chat was told its position (once, after [`PROGRESS_DELAY`]).
    told: bool,
}

/// A prompt waiting for its turn.
pub(super) struct Queued {
    pub update_id: i64,
    pub user_id: i64,
    pub role: Role,
    pub message_id: i64,
    pub text: String,
    /// Image blocks sent before the text (photos, image documents).
    pub images: Vec<serde_json::Value>,
    /// Further updates this prompt answers (the other parts of an album), finished with it.
    pub also: Vec<i64>,
}

impl Queued {
    /// A plain text prompt.
    pub fn text(update_id: i64, user_id: i64, role: Role, message_id: i64, text: String) -> Self {
        Queued {
            update_id,
            user_id,
            role,
            message_id,
            text,
            images: Vec::new(),
            also: Vec::new(),
        }
    }

    /// Every update this prompt finishes.
    pub fn ids(&self) -> Vec<i64> {
        std::iter::once(self.update_id)
            .chain(self.also.iter().copied())
            .collect()
    }
}

/// The parts of an album received so far (one update each). They become one prompt when no
/// further part has arrived for `ALBUM_WINDOW_MS`, or when anything else arrives for the chat.
/// Nothing is finished in the inbox before that prompt is: after a crash every part is
/// replayed, and collected again.
pub(super) struct Album {
    group: String,
    user_id: i64,
    role: Role,
    /// The first part's message (the answer replies to it).
    message_id: i64,
    update_ids: Vec<i64>,
    parts: Vec<crate::media::Received>,
    deadline: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopStage {
    Running,
    /// Interrupt sent; escalate at the instant.
    Interrupted(Instant),
    /// SIGINT sent; kill at the instant.
    Signalled(Instant),
}

/// The turn in flight.
pub(super) struct Turn {
    pub id: u64,
    pub user_id: i64,
    pub role: Role,
    pub prompt: String,
    pub images: Vec<serde_json::Value>,
    pub update_id: i64,
    /// See [`Queued::also`].
    pub also: Vec<i64>,
    pub reply_to: i64,
    pub started: Instant,
    deadline: Instant,
    stage: StopStage,
    ending: Ending,
    progress: Progress,
    next_refresh: Instant,
    /// Whether the progress message was asked for (see [`PROGRESS_DELAY`]).
    shown: bool,
    texts: Vec<String>,
    pub session_id: Option<String>,
    typing: tokio::task::JoinHandle<()>,
    retried_fresh: bool,
}

/// What the chat's Claude side is doing: one value instead of a process and a turn that could
/// each be there or not, so every combination is named and handled.
pub(super) enum State {
    /// No process and no turn.
    Idle,
    /// A warm process between turns (reaped after the idle timeout; the next prompt reuses it).
    Warm(Proc),
    /// A turn in flight on its process.
    Working(Box<Turn>, Proc),
    /// A turn whose process is gone — exited, killed, or being replaced for a fresh session —
    /// until it is wrapped up or gets its new process.
    Orphaned(Box<Turn>),
}

impl State {
    pub fn proc(&self) -> Option<&Proc> {
        match self {
            State::Warm(p) | State::Working(_, p) => Some(p),
            State::Idle | State::Orphaned(_) => None,
        }
    }

    fn proc_mut(&mut self) -> Option<&mut Proc> {
        match self {
            State::Warm(p) | State::Working(_, p) => Some(p),
            State::Idle | State::Orphaned(_) => None,
        }
    }

    pub fn turn(&self) -> Option<&Turn> {
        match self {
            State::Working(t, _) | State::Orphaned(t) => Some(t),
            State::Idle | State::Warm(_) => None,
        }
    }

    fn turn_mut(&mut self) -> Option<&mut Turn> {
        match self {
            State::Working(t, _) | State::Orphaned(t) => Some(t),
            State::Idle | State::Warm(_) => None,
        }
    }

    /// Detach the process (the turn, if any, stays, orphaned).
    fn take_proc(&mut self) -> Option<Proc> {
        let (next, proc) = match std::mem::replace(self, State::Idle) {
            State::Warm(p) => (State::Idle, Some(p)),
            State::Working(t, p) => (State::Orphaned(t), Some(p)),
            other => (other, None),
        };
        *self = next;
        proc
    }

    /// End the turn (its process, if any, stays warm).
    fn take_turn(&mut self) -> Option<Turn> {
        let (next, turn) = match std::mem::replace(self, State::Idle) {
            State::Working(t, p) => (State::Warm(p), Some(*t)),
            State::Orphaned(t) => (State::Idle, Some(*t)),
            other => (other, None),
        };
        *self = next;
        turn
    }

    /// Attach a new process (the caller stopped any previous one).
    fn set_proc(&mut self, p: Proc) {
        *self = match std::mem::replace(self, State::Idle) {
            State::Working(t, _) | State::Orphaned(t) => State::Working(t, p),
            State::Idle | State::Warm(_) => State::Warm(p),
        };
    }

    /// Start (or resume) `turn` on the current process, if any.
    fn begin(&mut self, turn: Turn) {
        let t = Box::new(turn);
        *self = match std::mem::replace(self, State::Idle) {
            State::Warm(p) | State::Working(_, p) => State::Working(t, p),
            State::Idle | State::Orphaned(_) => State::Orphaned(t),
        };
    }
}

pub(super) struct Actor {
    pub ctx: Arc<Ctx>,
    pub chat: ChatRef,
    pub chat_kind: String,
    tx: mpsc::UnboundedSender<ActorMsg>,
    pub settings: ChatSettings,
    pub cwd: PathBuf,
    pub state: State,
    pub queue: VecDeque<Queued>,
    /// A slot granted for the next process, not yet used.
    spare: Option<Slot>,
    /// The next prompt, waiting for a slot (the queue stays behind it).
    pub waiting: Option<Waiting>,
    /// An album being collected.
    album: Option<Album>,
    /// An upload is being taken in: later updates (but button presses) wait in `held`, so
    /// the chat's messages still run in the order they were sent.
    uploading: bool,
    held: VecDeque<Admitted>,
    /// What this chat is to project topics (a project's topic works only inside it).
    pub project: super::topics::Binding,
}

impl Actor {
    async fn new(
        ctx: Arc<Ctx>,
        chat: ChatRef,
        chat_kind: String,
        tx: mpsc::UnboundedSender<ActorMsg>,
    ) -> Self {
        let root = ctx.config.approved_directory.clone();
        let settings = ctx
            .store
            .chat_settings(chat.chat_id, chat.thread_id)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading chat settings failed; using defaults");
                ChatSettings::default()
            });
        // A stored directory is re-checked: it may have been removed or turned into a symlink
        // pointing elsewhere since.
        let cwd = settings
            .current_dir
            .as_deref()
            .and_then(|d| sandbox::resolve_dir_within(&root, &root, d).ok())
            .unwrap_or(root);
        // A project topic starts in its project (and never works outside it).
        let project = super::topics::binding_of(&ctx, chat).await;
        let cwd = match &project {
            super::topics::Binding::Project { dir, .. } if !cwd.starts_with(dir) => dir.clone(),
            _ => cwd,
        };
        Actor {
            ctx,
            chat,
            chat_kind,
            tx,
            settings,
            cwd,
            state: State::Idle,
            queue: VecDeque::new(),
            spare: None,
            waiting: None,
            album: None,
            uploading: false,
            held: VecDeque::new(),
            project,
        }
    }

    pub fn verbose(&self) -> u8 {
        self.settings
            .verbose
            .unwrap_or(self.ctx.config.verbose_level)
    }

    pub fn rel(&self, p: &std::path::Path) -> String {
        sandbox::display_relative(&self.ctx.config.approved_directory, p)
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<ActorMsg>) {
        loop {
            let wake = self.next_wake();
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = sleep_until(wake.unwrap_or_else(far_future).into()), if wake.is_some() => {
                    self.on_timer().await;
                    continue;
                }
            };
            match msg {
                Some(ActorMsg::Incoming(a)) => self.on_incoming(a).await,
                Some(ActorMsg::Process { gen, ev }) => self.on_process(gen, ev).await,
                Some(ActorMsg::Answered { gen, ask, outcome }) => {
                    self.on_answered(gen, *ask, outcome).await
                }
                Some(ActorMsg::Granted(slot)) => self.on_granted(slot).await,
                Some(ActorMsg::Evict { slot }) => self.on_evict(slot),
                Some(ActorMsg::Uploaded(u)) => self.on_uploaded(*u).await,
                Some(ActorMsg::Heard(h)) => self.on_heard(*h).await,
                Some(ActorMsg::McpAnswered {
                    gen,
                    request_id,
                    reply,
                }) => self.answer_mcp(gen, &request_id, &reply).await,
                Some(ActorMsg::Shutdown) | None => break,
            }
            // The pool may take back only a process between turns.
            if let Some(p) = self.state.proc() {
                p.slot.set_idle(matches!(self.state, State::Warm(_)));
            } else if self.waiting.is_none() && self.state.turn().is_none() {
                self.spare = None; // granted but not used (e.g. the prompt was refused)
            }
        }
        if let Some(w) = self.waiting.take() {
            self.ctx.pool.cancel(w.ticket);
        }
        if let Some(p) = self.state.take_proc() {
            p.process.shutdown(Duration::from_secs(2)).await;
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let own = self.next_wake_turn();
        // While an upload is taken in, the album waits for it (it may be the next part).
        let album = self.album.as_ref().filter(|_| !self.uploading);
        match (album, own) {
            (Some(a), Some(t)) => Some(a.deadline.min(t)),
            (Some(a), None) => Some(a.deadline),
            (None, t) => t,
        }
    }

    fn next_wake_turn(&self) -> Option<Instant> {
        if let Some(w) = self.waiting.as_ref().filter(|w| !w.told) {
            return Some(w.since + PROGRESS_DELAY);
        }
        match self.state.turn() {
            Some(t) => Some(match t.stage {
                StopStage::Running => t.deadline.min(t.next_refresh),
                StopStage::Interrupted(at) | StopStage::Signalled(at) => at.min(t.next_refresh),
            }),
            None => self
                .state
                .proc()
                .map(|p| p.last_used + self.ctx.config.claude_idle_timeout),
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if !self.uploading && self.album.as_ref().is_some_and(|a| a.deadline <= now) {
            self.flush_album().await;
            return;
        }
        if let Some(w) = self.waiting.as_mut().filter(|w| !w.told) {
            if w.since + PROGRESS_DELAY <= now {
                w.told = true;
                let ticket = w.ticket;
                if let Some(n) = self.ctx.pool.position(ticket) {
                    self.notify(format!("⏳ Waiting for a free Claude slot (position {n})…"))
                        .await;
                }
            }
            return;
        }
        let Some(turn) = self.state.turn_mut() else {
            // Idle: stop the process; the next message resumes the session.
            if let Some(p) = self.state.proc() {
                if p.last_used + self.ctx.config.claude_idle_timeout <= now {
                    tracing::info!(chat = self.chat.chat_id, "reaping idle claude process");
                    self.stop_process();
                }
            }
            return;
        };
        if turn.next_refresh <= now {
            turn.next_refresh = now + PROGRESS_REFRESH;
            self.show_progress();
        }
        let Some(turn) = self.state.turn_mut() else {
            return;
        };
        match turn.stage {
            StopStage::Running if turn.deadline <= now => {
                tracing::warn!(chat = self.chat.chat_id, "turn timed out; interrupting");
                self.stop_turn(Ending::TimedOut).await;
            }
            StopStage::Interrupted(at) if at <= now => {
                tracing::warn!(
                    chat = self.chat.chat_id,
                    "interrupt not answered; sending SIGINT"
                );
                turn.stage = StopStage::Signalled(now + INTERRUPT_GRACE);
                if let Some(p) = self.state.proc_mut() {
                    p.process.signal_interrupt();
                }
            }
            StopStage::Signalled(at) if at <= now => {
                tracing::warn!(
                    chat = self.chat.chat_id,
                    "claude ignored SIGINT; killing it"
                );
                self.stop_process();
                self.finish_without_result("Claude did not stop in time and was killed", "")
                    .await;
            }
            _ => {}
        }
    }

    async fn touch_user(&self, i: &crate::telegram::update::Incoming) {
        if let Err(e) = self
            .ctx
            .store
            .touch_user(i.user_id, i.username.as_deref())
            .await
        {
            tracing::error!(error = %e, "recording user failed");
        }
    }

    async fn on_incoming(&mut self, a: Admitted) {
        // A button press acts first and is recorded after: a Stop must not wait for a write
        // (the database may be locked by another process for seconds), nor for an upload.
        let press = matches!(a.incoming.kind, IncomingKind::Callback { .. });
        if self.uploading && !press {
            self.held.push_back(a);
            return;
        }
        let Admitted { incoming: i, role } = a;
        if !press {
            self.touch_user(&i).await;
        }
        // An album is complete once something else arrives (a button press is no message).
        let same_album = match &i.kind {
            IncomingKind::Document(u) | IncomingKind::Photo(u) => {
                u.media_group_id.is_some()
                    && u.media_group_id.as_deref() == self.album.as_ref().map(|a| a.group.as_str())
            }
            _ => press,
        };
        if self.album.is_some() && !same_album {
            self.flush_album().await;
        }
        if !press && self.ctx.config.projects.is_some() {
            self.refresh_binding().await;
            if self.project == super::topics::Binding::Outside && !self.works_here(&i) {
                let html = self.guidance().await;
                self.reply(i.update_id, html).await;
                return;
            }
        }
        match i.kind.clone() {
            IncomingKind::Text { message_id, text } => {
                // A TOTP code answering a step-up prompt (only ever in the approver's own chat).
                if i.chat.chat_id == i.user_id {
                    if let Some(reply) = self.ctx.prompts.on_text(i.user_id, &text).await {
                        self.reply(i.update_id, crate::telegram::html::escape(&reply))
                            .await;
                        // The code was typed into the chat: remove it.
                        self.ctx.outbox.delete(i.chat, message_id);
                        return;
                    }
                }
                let bot = self.ctx.config.telegram_bot_username.clone();
                if text.trim_start().starts_with('/') {
                    match parse_command(&text, bot.as_deref()) {
                        Some((cmd, args)) => {
                            let args = args.to_string();
                            self.on_command(&i, role, &cmd, &args).await;
                        }
                        // A command addressed to another bot in a group: not ours.
                        None => self.complete(i.update_id, None).await,
                    }
                    return;
                }
                self.on_prompt(Queued::text(i.update_id, i.user_id, role, message_id, text))
                    .await;
            }
            IncomingKind::Document(u) => self.on_upload(&i, role, &u, false).await,
            IncomingKind::Photo(u) => self.on_upload(&i, role, &u, true).await,
            IncomingKind::Voice(v) => self.on_voice(&i, role, v),
            IncomingKind::Callback {
                callback_id, data, ..
            } => {
                self.on_callback(&i, role, &callback_id, &data).await;
                self.touch_user(&i).await;
            }
            IncomingKind::Unsupported { what, .. } => {
                self.reply(
                    i.update_id,
                    format!(
                        "ℹ️ ccgate does not handle {} yet; send text.",
                        crate::telegram::html::escape(&what)
                    ),
                )
                .await;
            }
            IncomingKind::Edited { .. } => self.complete(i.update_id, None).await,
        }
    }

    async fn on_callback(
        &mut self,
        i: &crate::telegram::update::Incoming,
        role: Role,
        callback_id: &str,
        data: &str,
    ) {
        if data.starts_with("q:") || data.starts_with("ap:") {
            let answer = self.ctx.prompts.on_button(i.user_id, data);
            self.ctx
                .outbox
                .answer_callback(callback_id.to_string(), Some(answer.await));
            return;
        }
        let message_id = match &i.kind {
            IncomingKind::Callback { message_id, .. } => *message_id,
            _ => None,
        };
        if let Some(answer) = self.on_pick(i.user_id, role, message_id, data).await {
            self.ctx
                .outbox
                .answer_callback(callback_id.to_string(), Some(answer));
            return;
        }
        let answer = match data.split_once(':') {
            Some(("stop", id)) => match self.state.turn() {
                Some(t) if id.parse::<u64>().ok() == Some(t.id) => {
                    self.stop_turn(Ending::StoppedByUser).await;
                    "Stopping…"
                }
                _ => "Nothing to stop.",
            },
            Some(("git", view)) if crate::workbench::git::View::parse(view).is_some() => {
                let view = crate::workbench::git::View::parse(view).expect("checked");
                self.cmd_git(i.user_id, role, view, None).await;
                "Running git…"
            }
            _ => {
                crate::audit::record(
                    &self.ctx.store,
                    Some(i.user_id),
                    Some(self.chat.chat_id),
                    crate::audit::Event::CallbackUnknown,
                    &json!({"data": data}),
                )
                .await;
                "This button is no longer active."
            }
        };
        self.ctx
            .outbox
            .answer_callback(callback_id.to_string(), Some(answer.to_string()));
        // No `complete`: intake records a press as done itself (it never waits in the inbox).
    }

    /// A document or photo: saved (or refused) now, in arrival order; then a prompt, or a part
    /// of the album being collected.
    async fn on_upload(
        &mut self,
        i: &crate::telegram::update::Incoming,
        role: Role,
        u: &crate::telegram::update::Upload,
        photo: bool,
    ) {
        let (update_id, user_id, upload) = (i.update_id, i.user_id, u.clone());
        self.take_in_beside(user_id, role, move |ctx, sender| async move {
            let result = crate::media::receive(&ctx, &sender, &upload, photo).await;
            ActorMsg::Uploaded(Box::new(Uploaded {
                update_id,
                user_id,
                role,
                upload,
                result,
            }))
        });
    }

    /// Take something in beside the actor (a download, a transcription): `work` runs in a
    /// task for this chat's sender and directory, its message comes back to the actor, and the
    /// chat's other messages wait for it ([`Actor::take_held`]).
    fn take_in_beside<F, Fut>(&mut self, user_id: i64, role: Role, work: F)
    where
        F: FnOnce(Arc<Ctx>, crate::media::Sender) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ActorMsg> + Send,
    {
        self.uploading = true;
        let (ctx, tx, chat, cwd) = (
            self.ctx.clone(),
            self.tx.clone(),
            self.chat,
            self.cwd.clone(),
        );
        tokio::spawn(async move {
            let sender = crate::media::Sender {
                chat,
                user_id,
                role,
                cwd,
            };
            let _ = tx.send(work(ctx, sender).await);
        });
    }

    /// A voice note: transcribed (or refused) now, in arrival order, like an upload; then a
    /// prompt. The update stays unfinished in the inbox until its turn is (a crash replays it).
    fn on_voice(
        &mut self,
        i: &crate::telegram::update::Incoming,
        role: Role,
        v: crate::telegram::update::VoiceNote,
    ) {
        let (update_id, user_id) = (i.update_id, i.user_id);
        self.take_in_beside(user_id, role, move |ctx, sender| async move {
            let result = crate::media::voice::receive(&ctx, &sender, &v).await;
            ActorMsg::Heard(Box::new(Heard {
                update_id,
                user_id,
                role,
                message_id: v.upload.message_id,
                result,
            }))
        });
    }

    /// A voice note was transcribed: the user sees the transcript, and it runs as a prompt
    /// (or the refusal is the update's reply); then what waited.
    async fn on_heard(&mut self, h: Heard) {
        self.uploading = false;
        match h.result {
            Ok(t) => {
                // Redacted by the outbox when delivered, like every message.
                self.notify_replying(t.shown(), Some(h.message_id)).await;
                let q = Queued::text(h.update_id, h.user_id, h.role, h.message_id, t.prompt());
                self.on_prompt(q).await;
            }
            Err(refused) => {
                self.complete_replying(h.update_id, Some(refused.html), Some(h.message_id))
                    .await
            }
        }
        self.take_held().await;
    }

    /// An upload was taken in: its prompt (or album part, or refusal); then what waited.
    async fn on_uploaded(&mut self, up: Uploaded) {
        self.uploading = false;
        self.take_upload(up).await;
        self.take_held().await;
    }

    /// The messages that waited for an upload or voice note, until the next one starts.
    async fn take_held(&mut self) {
        while !self.uploading {
            let Some(a) = self.held.pop_front() else {
                break;
            };
            self.on_incoming(a).await;
        }
    }

    async fn take_upload(&mut self, up: Uploaded) {
        let Uploaded {
            update_id,
            user_id,
            role,
            upload: u,
            result,
        } = up;
        let received = match result {
            Ok(r) => r,
            Err(refused) => {
                self.complete_replying(update_id, Some(refused.html), Some(u.message_id))
                    .await;
                return;
            }
        };
        let Some(group) = u.media_group_id.clone() else {
            self.on_prompt(prompt_of(
                update_id,
                user_id,
                role,
                u.message_id,
                vec![received],
                Vec::new(),
                self.ctx.config.media.max_turn_image_bytes,
            ))
            .await;
            return;
        };
        let deadline = Instant::now() + self.ctx.config.media.album_window;
        match &mut self.album {
            Some(a) if a.group == group && a.user_id == user_id => {
                a.update_ids.push(update_id);
                a.parts.push(received);
                a.deadline = deadline;
            }
            _ => {
                self.flush_album().await;
                self.album = Some(Album {
                    group,
                    user_id,
                    role,
                    message_id: u.message_id,
                    update_ids: vec![update_id],
                    parts: vec![received],
                    deadline,
                });
            }
        }
    }

    /// The album collected so far becomes one prompt.
    async fn flush_album(&mut self) {
        let Some(a) = self.album.take() else {
            return;
        };
        let mut ids = a.update_ids.into_iter();
        let first = ids.next().expect("an album has a part");
        let q = prompt_of(
            first,
            a.user_id,
            a.role,
            a.message_id,
            a.parts,
            ids.collect(),
            self.ctx.config.media.max_turn_image_bytes,
        );
        self.on_prompt(q).await;
    }

    pub(super) async fn on_prompt(&mut self, q: Queued) {
        if self.state.turn().is_some() || self.waiting.is_some() {
            self.queue.push_back(q);
            let n = self.queue.len();
            self.notify(format!(
                "📥 Queued ({n} waiting). It runs when the current request finishes; /stop cancels."
            ))
            .await;
            self.show_progress();
            return;
        }
        self.start_turn(q).await;
    }

    /// Mark an update handled, optionally with a durable reply.
    pub async fn complete(&self, update_id: i64, reply: Option<String>) {
        self.complete_replying(update_id, reply, None).await;
    }

    /// [`Actor::complete`] with the reply quoting message `reply_to`.
    async fn complete_replying(
        &self,
        update_id: i64,
        reply: Option<String>,
        reply_to: Option<i64>,
    ) {
        let rows = self.rows(reply, reply_to);
        if let Err(e) = self.ctx.store.complete_updates(&[update_id], &rows).await {
            tracing::error!(error = %e, update_id, "could not complete update");
        }
        if !rows.is_empty() {
            self.ctx.outbox.kick();
        }
    }

    /// The outbox rows of `html` for this chat (split at Telegram's length).
    fn rows(&self, html: Option<String>, reply_to: Option<i64>) -> Vec<NewOutbox> {
        html.into_iter()
            .flat_map(|html| {
                crate::telegram::html::split_html(
                    &html,
                    crate::telegram::html::TELEGRAM_MAX_MESSAGE_LEN,
                )
            })
            .map(|html| NewOutbox {
                chat_id: self.chat.chat_id,
                thread_id: self.chat.thread_id,
                html,
                reply_to,
            })
            .collect()
    }

    pub async fn reply(&self, update_id: i64, html: String) {
        self.complete(update_id, Some(html)).await;
    }

    /// A durable message not tied to finishing an update.
    pub async fn notify(&self, html: String) {
        self.notify_replying(html, None).await;
    }

    /// [`Actor::notify`] quoting message `reply_to`, split at Telegram's length.
    async fn notify_replying(&self, html: String, reply_to: Option<i64>) {
        for row in self.rows(Some(html), reply_to) {
            if let Err(e) = self.ctx.store.outbox_insert(&row).await {
                tracing::error!(error = %e, "could not queue a notice");
            }
        }
        self.ctx.outbox.kick();
    }

    /// Stop the Claude process (if any) in the background; its slot is given back once it
    /// has exited.
    pub fn stop_process(&mut self) {
        if let Some(p) = self.state.take_proc() {
            let Proc { process, slot, .. } = p;
            slot.retiring();
            tokio::spawn(async move {
                process.shutdown(Duration::from_secs(3)).await;
                drop(slot);
            });
        }
    }

    /// The slot this chat asked for: start the prompt that waited for it.
    async fn on_granted(&mut self, slot: Slot) {
        let Some(w) = self.waiting.take() else {
            return; // no longer wanted (cancelled): the slot goes to the next in line
        };
        self.spare = Some(slot);
        self.start_turn(w.q).await;
    }

    /// /stop while waiting for a slot: the waiting prompt and the queue behind it are
    /// cancelled; `false` when nothing waited.
    pub async fn cancel_waiting(&mut self) -> bool {
        let Some(w) = self.waiting.take() else {
            return false;
        };
        self.ctx.pool.cancel(w.ticket);
        let mut ids = w.q.ids();
        ids.extend(self.queue.drain(..).flat_map(|q| q.ids()));
        let row = NewOutbox {
            chat_id: self.chat.chat_id,
            thread_id: self.chat.thread_id,
            html: format!("🗑 {} waiting message(s) cancelled.", ids.len()),
            reply_to: None,
        };
        if let Err(e) = self.ctx.store.complete_updates(&ids, &[row]).await {
            tracing::error!(error = %e, "could not cancel waiting prompts");
        }
        self.ctx.outbox.kick();
        true
    }

    /// The pool is full: stop the process if it is idle (as the idle reaper does; the next
    /// message resumes the session). A busy process is never stopped.
    fn on_evict(&mut self, slot: u64) {
        if let State::Warm(p) = &self.state {
            if p.slot.id() == slot {
                tracing::info!(
                    chat = self.chat.chat_id,
                    "pool full: stopping the idle claude process"
                );
                crate::metrics::process_evicted();
                self.stop_process();
            }
        }
    }

    /// Have a slot for a new process, or queue `q` for one (told its position); `None` when
    /// queued. A chat with a warm process keeps it, unless others wait: then it gives the slot
    /// back and queues behind them, so a chat with a long queue cannot hold a slot forever.
    fn have_slot(&mut self, q: Queued) -> Option<Queued> {
        let waiters = self.ctx.pool.waiting();
        match &self.state {
            State::Warm(_) if waiters > 0 => self.stop_process(),
            State::Warm(_) | State::Working(..) => return Some(q),
            State::Idle | State::Orphaned(_) if self.spare.is_some() => return Some(q),
            State::Idle | State::Orphaned(_) => {}
        }
        let tx = self.tx.clone();
        let grant_tx = self.tx.clone();
        let acquired = self.ctx.pool.acquire(
            move |slot| {
                let _ = tx.send(ActorMsg::Evict { slot });
            },
            move |slot| {
                let _ = grant_tx.send(ActorMsg::Granted(slot));
            },
        );
        match acquired {
            Acquire::Now(slot) => {
                self.spare = Some(slot);
                Some(q)
            }
            Acquire::Queued { ticket, position } => {
                tracing::info!(
                    chat = self.chat.chat_id,
                    position,
                    "waiting for a claude slot"
                );
                self.waiting = Some(Waiting {
                    q,
                    ticket,
                    since: Instant::now(),
                    told: false,
                });
                None
            }
        }
    }

    /// Make sure a process for (`user_id`, current directory) runs; returns an error text.
    async fn ensure_process(
        &mut self,
        user_id: i64,
        role: Role,
        fresh: bool,
    ) -> Result<(), String> {
        let dir = self.cwd.clone();
        if let Some(p) = self.state.proc() {
            if p.user_id == user_id && p.role == role && p.dir == dir && !fresh {
                return Ok(());
            }
            // Replaced (another user, directory or a fresh session): its slot passes to the
            // new process once it has exited (closing stdin ends it at once).
            if let Some(p) = self.state.take_proc() {
                p.process.shutdown(Duration::from_secs(3)).await;
                self.spare = Some(p.slot);
            }
        }
        let Some(slot) = self.spare.take() else {
            return Err("no free Claude process slot".into());
        };
        let dir_str = dir.to_string_lossy().into_owned();
        let session = if fresh {
            None
        } else {
            self.ctx
                .store
                .active_session(user_id, self.chat.chat_id, self.chat.thread_id, &dir_str)
                .await
                .map_err(|e| format!("database error: {e}"))?
        };
        let last_total = session.as_ref().map(|s| s.total_cost_usd).unwrap_or(0.0);
        let resume = session.map(|s| s.claude_session_id);
        let cfg = &self.ctx.config;
        let mut spec = turn::spawn_spec(cfg, &dir, resume.clone(), role);
        // ccgate's own tools (`send_file`): this actor answers their MCP traffic.
        spec.ccgate_tools = true;
        let owner = Owner {
            user_id,
            chat_id: self.chat.chat_id,
            label: dir_label(&cfg.approved_directory, &dir),
        };
        let gen = self.ctx.next_id();
        let tx = self.tx.clone();
        let process = turn::start(&self.ctx, &spec, owner, move |ev| {
            let _ = tx.send(ActorMsg::Process { gen, ev });
        })
        .await?;
        tracing::info!(chat = self.chat.chat_id, pid = ?process.pid(), resume = ?resume, dir = %dir.display(), "claude started");
        self.state.set_proc(Proc {
            process,
            gen,
            user_id,
            role,
            dir,
            resumed_from: resume,
            last_used: Instant::now(),
            last_total,
            slot,
        });
        Ok(())
    }

    async fn send_prompt(
        &mut self,
        user_id: i64,
        role: Role,
        text: &str,
        images: &[serde_json::Value],
        fresh: bool,
    ) -> Result<(), String> {
        self.ensure_process(user_id, role, fresh).await?;
        let p = self.state.proc_mut().expect("ensured");
        if p.process.send_user_blocks(text, images).await.is_ok() {
            return Ok(());
        }
        // The process died between turns: start again once (in its slot).
        if let Some(p) = self.state.take_proc() {
            self.spare = Some(p.slot);
        }
        self.ensure_process(user_id, role, fresh).await?;
        let p = self.state.proc_mut().expect("ensured");
        p.process
            .send_user_blocks(text, images)
            .await
            .map_err(|e| format!("could not talk to claude: {e}"))
    }

    async fn start_turn(&mut self, q: Queued) {
        if let Some(refusal) = self.refusal(&q).await {
            self.record_failure(&q, &refusal, "refused").await;
            self.start_next_boxed().await;
            return;
        }
        let Some(q) = self.have_slot(q) else {
            return; // queued for a slot: `on_granted` starts it
        };
        if let Err(e) = self
            .send_prompt(q.user_id, q.role, &q.text, &q.images, false)
            .await
        {
            tracing::error!(chat = self.chat.chat_id, error = %e, "turn not started");
            let html = render::failure_message("Could not start Claude", &e);
            self.record_failure(&q, &html, "spawn").await;
            self.start_next_boxed().await;
            return;
        }
        let now = Instant::now();
        let ctx = self.ctx.clone();
        let chat = self.chat;
        let typing = tokio::spawn(async move {
            loop {
                ctx.outbox.typing(chat);
                tokio::time::sleep(TYPING_EVERY).await;
            }
        });
        let id = self.ctx.next_id();
        let verbose = self.verbose();
        self.state.begin(Turn {
            id,
            user_id: q.user_id,
            role: q.role,
            prompt: q.text,
            images: q.images,
            update_id: q.update_id,
            also: q.also,
            reply_to: q.message_id,
            started: now,
            deadline: now + self.ctx.config.claude_timeout,
            stage: StopStage::Running,
            ending: Ending::Done,
            progress: Progress::new(verbose),
            next_refresh: now + PROGRESS_DELAY,
            shown: false,
            texts: Vec::new(),
            session_id: None,
            typing,
            retried_fresh: false,
        });
        self.show_progress();
    }

    /// Why this prompt must not run now (project access, `@mentions`, budgets), as the reply;
    /// audited.
    async fn refusal(&self, q: &Queued) -> Option<String> {
        let cfg = &self.ctx.config;
        if let Err(why) = access::may_work_in(
            &cfg.project_access,
            q.role,
            q.user_id,
            &cfg.approved_directory,
            &self.cwd,
        ) {
            crate::audit::record(
                &self.ctx.store,
                Some(q.user_id),
                Some(self.chat.chat_id),
                crate::audit::Event::AccessDenied,
                &json!({"dir": self.rel(&self.cwd), "reason": why}),
            )
            .await;
            return Some(format!(
                "🚫 Not run: {}.",
                crate::telegram::html::escape(&why)
            ));
        }
        // The CLI reads `@path` mentions itself, without asking ccgate: check them as reads.
        // `~` is the private HOME the CLI runs with (see `runner::launch`).
        let home = self.ctx.launcher.home_of(q.user_id);
        let plans_dir = self.ctx.launcher.plans_dir_of(q.user_id);
        let ctx = turn::tool_context(&self.ctx, &self.cwd, q.role, &plans_dir);
        if let Err(r) = mentions::check(&q.text, &ctx, Some(&home)) {
            crate::audit::record(
                &self.ctx.store,
                Some(q.user_id),
                Some(self.chat.chat_id),
                r.audit_event(),
                &r.audit_details(),
            )
            .await;
            return Some(format!(
                "🚫 Not sent: {}.",
                crate::telegram::html::escape(&r.to_string())
            ));
        }
        turn::budget_refusal(&self.ctx, q.user_id, Some(self.chat.chat_id))
            .await
            .map(|r| match r {
                turn::BudgetRefusal::Unreadable => format!("❌ Not run: {}.", r.text()),
                turn::BudgetRefusal::Exceeded { .. } => format!("💸 Not run: {}.", r.text()),
            })
    }

    /// Write a failed prompt's outcome (message row, reply, update done) in one go.
    async fn record_failure(&self, q: &Queued, html: &str, kind: &str) {
        let dir = self.cwd.to_string_lossy().into_owned();
        let rec = TurnRecord {
            user_id: q.user_id,
            chat_id: self.chat.chat_id,
            thread_id: self.chat.thread_id,
            directory: &dir,
            claude_session_id: None,
            prompt: &q.text,
            response: None,
            cost_usd: 0.0,
            duration_ms: 0,
            num_turns: 0,
            is_error: true,
            error_kind: Some(kind),
        };
        let row = NewOutbox {
            chat_id: self.chat.chat_id,
            thread_id: self.chat.thread_id,
            html: html.to_string(),
            reply_to: Some(q.message_id),
        };
        if let Err(e) = self.ctx.store.record_turn(&rec, &[row], &q.ids()).await {
            tracing::error!(error = %e, "could not record a failed turn");
        }
        self.ctx.outbox.kick();
    }

    /// Show or update the progress message — not before the turn has run [`PROGRESS_DELAY`]
    /// (the timer shows it then).
    fn show_progress(&mut self) {
        let queued = self.queue.len();
        let Some(t) = self.state.turn_mut() else {
            return;
        };
        if !t.shown && t.started.elapsed() < PROGRESS_DELAY {
            return;
        }
        t.shown = true;
        let html = t.progress.render(t.started.elapsed(), queued);
        let stop = vec![vec![Button {
            text: "⏹ Stop".into(),
            data: format!("stop:{}", t.id),
        }]];
        self.ctx.outbox.turn_progress(t.id, self.chat, html, stop);
    }

    /// Interrupt the running turn (user stop or timeout).
    pub async fn stop_turn(&mut self, ending: Ending) {
        let Some(t) = self.state.turn_mut() else {
            return;
        };
        if t.stage != StopStage::Running {
            return;
        }
        t.ending = ending;
        t.stage = StopStage::Interrupted(Instant::now() + INTERRUPT_GRACE);
        let sent = match self.state.proc_mut() {
            Some(p) => p.process.interrupt().await.is_ok(),
            None => false,
        };
        if !sent {
            if let Some(p) = self.state.proc_mut() {
                p.process.signal_interrupt();
            }
            if let Some(t) = self.state.turn_mut() {
                t.stage = StopStage::Signalled(Instant::now() + INTERRUPT_GRACE);
            }
        }
        // Queued prompts are cancelled with the stop: the user wants it to end.
        let cancelled: Vec<Queued> = self.queue.drain(..).collect();
        if !cancelled.is_empty() {
            let ids: Vec<i64> = cancelled.iter().flat_map(|q| q.ids()).collect();
            let html = format!("🗑 {} queued message(s) cancelled.", cancelled.len());
            let row = NewOutbox {
                chat_id: self.chat.chat_id,
                thread_id: self.chat.thread_id,
                html,
                reply_to: None,
            };
            if let Err(e) = self.ctx.store.complete_updates(&ids, &[row]).await {
                tracing::error!(error = %e, "could not cancel queued prompts");
            }
            self.ctx.outbox.kick();
        }
        self.show_progress();
    }

    async fn on_process(&mut self, gen: u64, ev: ProcessEvent) {
        if self.state.proc().map(|p| p.gen) != Some(gen) {
            return; // from a process we already replaced
        }
        if let Some(p) = self.state.proc_mut() {
            p.last_used = Instant::now();
        }
        match ev {
            ProcessEvent::Claude(ev) => self.on_claude(ev).await,
            ProcessEvent::Exited { stderr_tail } => {
                self.state.take_proc();
                if self.state.turn().is_some() {
                    self.finish_without_result("Claude exited unexpectedly", &stderr_tail)
                        .await;
                }
            }
        }
    }

    async fn on_claude(&mut self, ev: ClaudeEvent) {
        // The MCP handshake comes before any turn's events; every message is answered.
        if let ClaudeEvent::McpMessage {
            request_id,
            server_name,
            message,
        } = ev
        {
            self.on_mcp(request_id, &server_name, &message).await;
            return;
        }
        let Some(turn) = self.state.turn_mut() else {
            if let ClaudeEvent::PermissionRequest(req) = ev {
                // Nothing is running on the user's behalf: refuse.
                let d = Decision::Deny {
                    reason: "ccgate policy: no request is running".into(),
                    rule: "no_turn".into(),
                    class: None,
                };
                self.answer_permission(&req, &d).await;
            }
            return;
        };
        let changed = match ev {
            ClaudeEvent::Init { session_id, .. } => {
                turn.session_id = Some(session_id);
                false
            }
            ClaudeEvent::Text { text } => {
                let c = turn.progress.text(&text);
                turn.texts.push(text);
                c
            }
            ClaudeEvent::ToolUse { name, input, .. } => {
                if !turn.shown {
                    // A tool may take long: the ⏹ Stop button appears now (as the turn stood),
                    // and the tool line follows as an edit.
                    turn.shown = true;
                    self.show_progress();
                }
                let Some(turn) = self.state.turn_mut() else {
                    return;
                };
                turn.progress.tool_use(&name, &input)
            }
            ClaudeEvent::ToolResult {
                is_error, content, ..
            } => turn.progress.tool_result(is_error, &content),
            ClaudeEvent::ApiRetry {
                attempt,
                error_status,
            } => turn.progress.note(&format!(
                "API error {}, retrying (attempt {attempt})",
                error_status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into())
            )),
            ClaudeEvent::PermissionRequest(req) => {
                let run = self.current_run();
                match turn::decide(&self.ctx, &run, &req).await {
                    Step::Now(d) => self.answer_permission(&req, &d).await,
                    Step::Ask(ask) => self.ask_human(*ask).await,
                }
                true
            }
            ClaudeEvent::ControlCancel { request_id } => {
                tracing::debug!(%request_id, "permission request withdrawn");
                self.ctx.prompts.cancel_request(&request_id).await;
                false
            }
            ClaudeEvent::ControlResponse { .. }
            | ClaudeEvent::McpMessage { .. }
            | ClaudeEvent::Other => false,
            ClaudeEvent::Result(r) => {
                self.finish_turn(r).await;
                return;
            }
        };
        if changed {
            self.show_progress();
        }
    }

    /// One message for ccgate's MCP server: answered at once, or — a `send_file` call — run
    /// off the actor (an upload may wait for rate limits; Stop must not) and answered by
    /// [`ActorMsg::McpAnswered`].
    async fn on_mcp(&mut self, request_id: String, server: &str, message: &serde_json::Value) {
        let gen = self.state.proc().map(|p| p.gen).unwrap_or(0);
        let (id, path, caption) = match crate::mcp::handle(server, message) {
            crate::mcp::Handled::Reply(reply) => {
                return self.answer_mcp(gen, &request_id, &reply).await
            }
            crate::mcp::Handled::SendFile { id, path, caption } => (id, path, caption),
        };
        let Some(t) = self.state.turn() else {
            let reply = crate::mcp::tool_result(id, "refused: no request is running", true);
            return self.answer_mcp(gen, &request_id, &reply).await;
        };
        let (user_id, role) = (t.user_id, t.role);
        let run = self.current_run();
        let (ctx, chat, tx) = (self.ctx.clone(), self.chat, self.tx.clone());
        tokio::spawn(async move {
            let req = crate::media::outgoing::SendRequest {
                chat,
                user_id,
                role,
                cwd: &run.dir,
                input: &path,
                caption: caption.as_deref(),
                via: "send_file",
            };
            let reply = match crate::media::outgoing::send(&ctx, &req).await {
                Ok(done) => crate::mcp::tool_result(id, &done, false),
                Err(e) => crate::mcp::tool_result(id, &e.tool_text(), true),
            };
            let _ = tx.send(ActorMsg::McpAnswered {
                gen,
                request_id,
                reply,
            });
        });
    }

    /// Answer an `mcp_message` of the process `gen` (if it is still the chat's).
    async fn answer_mcp(&mut self, gen: u64, request_id: &str, reply: &serde_json::Value) {
        let Some(p) = self.state.proc_mut().filter(|p| p.gen == gen) else {
            return;
        };
        if let Err(e) = p.process.answer_mcp(request_id, reply).await {
            tracing::warn!(error = %e, "could not answer an MCP message");
        }
    }

    /// The call this turn is making, as the turn core sees it.
    fn current_run(&self) -> turn::Run {
        let t = self.state.turn();
        turn::Run {
            user_id: t.map(|t| t.user_id).unwrap_or(0),
            role: t.map(|t| t.role).unwrap_or(Role::Viewer),
            chat: self.chat,
            dir: self
                .state
                .proc()
                .map(|p| p.dir.clone())
                .unwrap_or_else(|| self.cwd.clone()),
            session: t.and_then(|t| t.session_id.clone()),
            answerer: Answerer::ChatUser,
            label: None,
            unattended: None,
        }
    }

    /// Show `ask` to its human; the outcome comes back as [`ActorMsg::Answered`].
    async fn ask_human(&mut self, ask: turn::Ask) {
        let Some(turn) = self.state.turn_mut() else {
            return;
        };
        if !ask.is_question() {
            turn.progress.note(&format!(
                "waiting for approval: {}",
                crate::render::tool_summary(&ask.req().tool_name, &ask.req().input)
            ));
        }
        // Waiting for a human does not count against the turn's time limit.
        turn.deadline += self.ctx.config.approval_timeout;
        let gen = self.state.proc().map(|p| p.gen).unwrap_or(0);
        let tx = self.tx.clone();
        let shown = ask.clone();
        shown
            .show(&self.ctx, move |outcome| {
                let _ = tx.send(ActorMsg::Answered {
                    gen,
                    ask: Box::new(ask),
                    outcome,
                });
            })
            .await;
        if !shown.is_question() {
            self.show_progress();
        }
    }

    async fn on_answered(&mut self, gen: u64, ask: turn::Ask, outcome: Outcome) {
        if self.state.proc().map(|p| p.gen) != Some(gen) {
            return; // the process that asked is gone
        }
        let question = ask.is_question();
        let (decision, req) = ask.settle(&self.ctx, outcome).await;
        self.answer_permission(&req, &decision).await;
        if !question {
            self.show_progress();
        }
    }

    /// Record `decision` about `req` and answer the CLI.
    async fn answer_permission(&mut self, req: &PermissionRequest, decision: &Decision) {
        let answer = turn::answer(&self.ctx, &self.current_run(), req, decision).await;
        if let (Decision::Deny { reason, .. } | Decision::Ask { reason, .. }, Some(t)) =
            (decision, self.state.turn_mut())
        {
            t.progress.denied(&req.tool_name, reason);
        }
        if let Some(p) = self.state.proc_mut() {
            if let Err(e) = p.process.answer_permission(&req.request_id, &answer).await {
                tracing::warn!(error = %e, "could not answer a permission request");
            }
        }
    }

    async fn finish_turn(&mut self, mut result: TurnResult) {
        let Some(mut turn) = self.state.take_turn() else {
            return;
        };
        // Charge the turn's own cost, never the session's running total.
        if let Some(p) = self.state.proc_mut() {
            p.last_total = result.charge(p.last_total);
        } else {
            result.charge(0.0);
        }
        // A session that cannot be resumed (its transcript is gone) is replaced by a fresh one,
        // once, instead of failing every message from now on.
        let resumed = self.state.proc().and_then(|p| p.resumed_from.clone());
        let not_found = result
            .errors
            .iter()
            .any(|e| e.contains("No conversation found"));
        if result.is_error && not_found && resumed.is_some() && !turn.retried_fresh {
            let dir = self.cwd.to_string_lossy().into_owned();
            let _ = self
                .ctx
                .store
                .deactivate_sessions(turn.user_id, self.chat.chat_id, self.chat.thread_id, &dir)
                .await;
            turn.retried_fresh = true;
            turn.progress
                .note("previous session not found; starting a new one");
            let prompt = turn.prompt.clone();
            let images = turn.images.clone();
            let user = turn.user_id;
            let role = turn.role;
            self.state.begin(turn);
            if let Err(e) = self.send_prompt(user, role, &prompt, &images, true).await {
                self.finish_without_result("Could not start Claude", &e)
                    .await;
            } else {
                self.show_progress();
            }
            return;
        }
        turn.typing.abort();
        let session_id = result.session_id.clone().or(turn.session_id.clone());
        let elapsed = turn.started.elapsed();
        let today = self
            .ctx
            .store
            .cost_today(turn.user_id)
            .await
            .map(|(c, _)| c + result.cost_usd)
            .ok();
        let messages = render::final_messages(
            &result,
            &turn.texts.join("\n\n"),
            turn.ending,
            elapsed,
            session_id.as_deref(),
            today,
        );
        let rows: Vec<NewOutbox> = messages
            .into_iter()
            .enumerate()
            .map(|(i, html)| NewOutbox {
                chat_id: self.chat.chat_id,
                thread_id: self.chat.thread_id,
                html,
                reply_to: (i == 0).then_some(turn.reply_to),
            })
            .collect();
        let dir = self
            .state
            .proc()
            .map(|p| p.dir.clone())
            .unwrap_or_else(|| self.cwd.clone())
            .to_string_lossy()
            .into_owned();
        let error_kind = match turn.ending {
            Ending::StoppedByUser => Some("stopped".to_string()),
            Ending::TimedOut => Some("timeout".to_string()),
            Ending::Done if result.is_error => Some(result.error_label()),
            Ending::Done => None,
        };
        let rec = TurnRecord {
            user_id: turn.user_id,
            chat_id: self.chat.chat_id,
            thread_id: self.chat.thread_id,
            directory: &dir,
            claude_session_id: session_id.as_deref(),
            prompt: &turn.prompt,
            response: result.result.as_deref(),
            cost_usd: result.cost_usd,
            duration_ms: elapsed.as_millis() as i64,
            num_turns: result.num_turns,
            is_error: result.is_error || turn.ending != Ending::Done,
            error_kind: error_kind.as_deref(),
        };
        let ids: Vec<i64> = std::iter::once(turn.update_id)
            .chain(turn.also.iter().copied())
            .collect();
        if let Err(e) = self.ctx.store.record_turn(&rec, &rows, &ids).await {
            tracing::error!(error = %e, "could not record the finished turn");
        }
        self.ctx.publish(Event::RunFinished {
            kind: "chat",
            label: format!("chat {}", self.chat.chat_id),
            ok: !rec.is_error,
            seconds: elapsed.as_secs_f64(),
            cost_usd: result.cost_usd,
        });
        crate::audit::record(
            &self.ctx.store,
            Some(turn.user_id),
            Some(self.chat.chat_id),
            crate::audit::Event::RunFinished,
            &json!({"cost_usd": result.cost_usd, "session_total_usd": result.total_cost_usd, "turns": result.num_turns, "is_error": rec.is_error,
                    "error": error_kind, "session": session_id}),
        ).await;
        self.ctx.outbox.kick();
        self.ctx.outbox.progress_close(turn.id, self.chat);
        if let Some(p) = self.state.proc_mut() {
            p.last_used = Instant::now();
            if let Some(sid) = &session_id {
                p.resumed_from = Some(sid.clone());
            }
        }
        self.start_next_boxed().await;
    }

    /// The turn ended without a `result` line (crash, kill, spawn trouble).
    async fn finish_without_result(&mut self, what: &str, detail: &str) {
        let Some(turn) = self.state.take_turn() else {
            return;
        };
        turn.typing.abort();
        let html = match turn.ending {
            Ending::Done => render::failure_message(what, detail),
            ending => {
                let r = TurnResult {
                    is_error: true,
                    ..Default::default()
                };
                render::final_messages(
                    &r,
                    "",
                    ending,
                    turn.started.elapsed(),
                    turn.session_id.as_deref(),
                    None,
                )
                .join("\n")
            }
        };
        let q = Queued {
            update_id: turn.update_id,
            user_id: turn.user_id,
            role: turn.role,
            message_id: turn.reply_to,
            text: turn.prompt.clone(),
            images: Vec::new(),
            also: turn.also.clone(),
        };
        self.record_failure(&q, &html, "crash").await;
        self.ctx.outbox.progress_close(turn.id, self.chat);
        self.start_next_boxed().await;
    }

    /// Start the next queued prompt, if any. Boxed: it recurses through `start_turn`.
    fn start_next_boxed(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if self.state.turn().is_none() {
                if let Some(q) = self.queue.pop_front() {
                    self.start_turn(q).await;
                }
            }
        })
    }
}

/// The prompt for uploads received together (one, or an album's parts).
fn prompt_of(
    update_id: i64,
    user_id: i64,
    role: Role,
    message_id: i64,
    mut parts: Vec<crate::media::Received>,
    also: Vec<i64>,
    max_image_bytes: u64,
) -> Queued {
    crate::media::cap_images(&mut parts, max_image_bytes);
    let text = crate::media::prompt(&parts);
    Queued {
        update_id,
        user_id,
        role,
        message_id,
        text,
        images: parts
            .iter()
            .filter_map(|p| p.image.as_ref().map(crate::media::Image::block))
            .collect(),
        also,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
