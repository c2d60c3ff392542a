//! Persistent state in one embedded SQLite file (bundled, WAL).
//!
//! Why it exists: ccgate promises that no message is lost or run twice across restarts and that
//! costs and sessions survive; that needs one transactional place for the inbox of updates, the
//! durable outbox, sessions, the cost ledger and the audit trail. The store holds data and
//! answers questions about it; it never decides policy.
//!
//! Every SQLite call runs on a database thread (`thread`), one per connection — a writer and a
//! reader, so reads never wait for a write — and the methods are `async`: a call waiting for a
//! lock another process holds waits in its own task, never on a runtime worker. Failures are
//! typed ([`StoreError`]): a lock held by another process past the busy timeout is `Busy`, stored
//! data that cannot be read back is `Corrupt`, a stopped database thread is `Stopped`.

mod automation;
mod checkpoints;
mod error;
mod rotations;
mod schema;
mod thread;
mod topics;

pub use automation::{Delivery, JobRow, NewJob};
pub use error::{Result, StoreError};
pub use rotations::Rotated;
pub use topics::TopicRow;

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

pub use rusqlite::Transaction;

/// How long a statement waits for another writer (another process: the operator CLI) before it
/// fails with [`StoreError::Busy`].
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Current time as stored (RFC 3339, UTC, millisecond precision).
pub fn now_str() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Today's UTC date, the key of the cost ledger.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Today's spend, from the ledger (turns that ended) and from the gateway (every request).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpendToday {
    pub ledger_user: f64,
    pub ledger_all: f64,
    pub seen_user: f64,
    pub seen_all: f64,
}

/// The gateway's tally of UTC day `day` (`YYYY-MM-DD`) for one user or everyone. Stored times
/// are RFC 3339 in UTC, so the day is a range of `at` (an index serves it; a `substr` would
/// read every row).
fn model_cost_on(
    conn: &rusqlite::Connection,
    user_id: Option<i64>,
    day: &str,
) -> rusqlite::Result<f64> {
    let next = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "9999-12-31".into());
    match user_id {
        Some(u) => conn.query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM model_requests WHERE user_id = ?1 AND at >= ?2 AND at < ?3",
            params![u, day, next],
            |r| r.get(0),
        ),
        None => conn.query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM model_requests WHERE at >= ?1 AND at < ?2",
            params![day, next],
            |r| r.get(0),
        ),
    }
}

/// One request through the model gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequestRow {
    pub user_id: i64,
    pub chat_id: i64,
    pub label: String,
    pub model: String,
    pub status: u16,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub cost_usd: f64,
    pub duration_ms: u64,
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Every write (one at a time, like SQLite itself).
    writer: Arc<thread::Db>,
    /// Reads; the writer itself for an in-memory database (a second connection would be a
    /// second, empty database).
    reader: Arc<thread::Db>,
    /// Masks secrets in everything written to the audit log.
    redactor: Arc<crate::audit::Redactor>,
    /// Called after each audit row is committed (anomaly detection); set once at start-up.
    audit_observer: Arc<std::sync::OnceLock<AuditObserver>>,
}

/// Sees every audit event after it was committed: (user, chat, event, details). What it must do
/// in answer (write a lockout, more audit rows) it returns as a future, awaited by the writer of
/// the row before its call returns.
pub type AuditObserver = Box<
    dyn Fn(
            Option<i64>,
            Option<i64>,
            crate::audit::Event,
            &serde_json::Value,
        ) -> Option<ObserverWork>
        + Send
        + Sync,
>;

/// Work an [`AuditObserver`] asks for.
pub type ObserverWork = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One audit row to append, its risk assessed by `audit` already.
pub struct AuditRow<'a> {
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub event: crate::audit::Event,
    pub risk: crate::audit::Risk,
    pub details: &'a serde_json::Value,
}

/// A chat's (or forum topic's) persisted settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatSettings {
    pub current_dir: Option<String>,
    pub verbose: Option<u8>,
}

/// One stored Claude Code session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub claude_session_id: String,
    pub directory: String,
    pub active: bool,
    pub turns: i64,
    pub total_cost_usd: f64,
    pub created_at: String,
    pub last_used_at: String,
}

/// One recorded turn of a session (see [`Store::session_turns`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TurnRow {
    pub prompt: String,
    pub response: Option<String>,
    pub cost_usd: f64,
    pub duration_ms: i64,
    pub num_turns: i64,
    pub is_error: bool,
    pub error_kind: Option<String>,
    pub created_at: String,
}

/// Spend of one user on one UTC day in one directory (see [`Store::usage_since`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub user_id: i64,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Absolute, as the turn's session; `""` for turns recorded before it was kept.
    pub directory: String,
    pub cost_usd: f64,
}

/// A message waiting in the durable outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub chat_id: i64,
    pub thread_id: i64,
    pub html: String,
    pub reply_to: Option<i64>,
    pub attempts: i64,
}

/// What a finished Claude turn leaves behind.
#[derive(Debug, Clone)]
pub struct TurnRecord<'a> {
    pub user_id: i64,
    pub chat_id: i64,
    pub thread_id: i64,
    pub directory: &'a str,
    pub claude_session_id: Option<&'a str>,
    pub prompt: &'a str,
    pub response: Option<&'a str>,
    pub cost_usd: f64,
    pub duration_ms: i64,
    pub num_turns: i64,
    pub is_error: bool,
    pub error_kind: Option<&'a str>,
}

impl Store {
    /// Open (creating if needed) the database at `path`, with owner-only permissions, and bring
    /// the schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, BUSY_TIMEOUT)
    }

    /// [`Store::open`], waiting at most `busy_timeout` for another connection's lock before a
    /// call fails with [`StoreError::Busy`].
    pub fn open_with(path: &Path, busy_timeout: std::time::Duration) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
                set_mode(parent, 0o700);
            }
        }
        let open = || {
            Connection::open(path).map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })
        };
        let existed = path.exists();
        let mut conn = open()?;
        if !existed {
            set_mode(path, 0o600);
        }
        Self::prepare(&mut conn, busy_timeout)?;
        let reader = open()?;
        reader.busy_timeout(busy_timeout)?;
        reader.pragma_update(None, "query_only", "ON")?;
        Ok(Store {
            writer: Arc::new(thread::Db::spawn("ccgate-db-writer", conn)?),
            reader: Arc::new(thread::Db::spawn("ccgate-db-reader", reader)?),
            redactor: Arc::new(crate::audit::Redactor::new(Vec::new())),
            audit_observer: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// Install the observer of audit events (once; later calls are ignored).
    pub fn set_audit_observer(&self, observer: AuditObserver) {
        let _ = self.audit_observer.set(observer);
    }

    /// Use `redactor` for audit details and stored prompts/answers from now on.
    pub fn with_redactor(mut self, redactor: crate::audit::Redactor) -> Store {
        self.redactor = Arc::new(redactor);
        self
    }

    /// A private in-memory database, for unit tests.
    pub fn open_in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        Self::prepare(&mut conn, BUSY_TIMEOUT)?;
        let conn = Arc::new(thread::Db::spawn("ccgate-db", conn)?);
        Ok(Store {
            writer: conn.clone(),
            reader: conn,
            redactor: Arc::new(crate::audit::Redactor::new(Vec::new())),
            audit_observer: Arc::new(std::sync::OnceLock::new()),
        })
    }

    fn prepare(conn: &mut Connection, busy_timeout: std::time::Duration) -> Result<()> {
        conn.busy_timeout(busy_timeout)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrations().to_latest(conn)?;
        Ok(())
    }

    /// Run `f` on the writer connection's thread.
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.writer.run(f).await
    }

    /// Run `f` on the reader connection's thread: in WAL mode a reader never waits for a
    /// writer, ours or another process's, so reads (the gate's lockout check, settings, grants)
    /// go on while a write waits for a lock.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.reader.run(|conn| f(conn)).await
    }

    /// Run read-only queries on the reader connection (never waits for a writer).
    pub async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.read(|conn| Ok(f(conn)?)).await
    }

    /// Run `f` in one transaction; committed only if `f` returns Ok.
    pub async fn tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.write(|conn| in_tx(conn, f)).await
    }

    // ----- intake inbox -------------------------------------------------------------------

    /// Store an update received from Telegram. Returns false if it was already known (a
    /// redelivery), in which case it must not be dispatched again.
    pub async fn insert_update(
        &self,
        update_id: i64,
        chat_id: Option<i64>,
        thread_id: i64,
        payload: &str,
    ) -> Result<bool> {
        self.inbox_insert(update_id, chat_id, thread_id, payload, false)
            .await
    }

    /// Whether an update is in the inbox already (read side: never waits for a writer).
    pub async fn update_known(&self, update_id: i64) -> Result<bool> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM telegram_updates WHERE update_id = ?1",
                    params![update_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
        .await
    }

    /// Record an update that was handled without the inbox (a button press) as done, so the
    /// offset moves past it and a redelivery is recognised. False if it was known already.
    pub async fn record_handled_update(
        &self,
        update_id: i64,
        chat_id: Option<i64>,
        thread_id: i64,
        payload: &str,
    ) -> Result<bool> {
        self.inbox_insert(update_id, chat_id, thread_id, payload, true)
            .await
    }

    /// Insert into the inbox (pending, or `done` already) and move the offset past it.
    async fn inbox_insert(
        &self,
        update_id: i64,
        chat_id: Option<i64>,
        thread_id: i64,
        payload: &str,
        done: bool,
    ) -> Result<bool> {
        let payload = payload.to_owned();
        self.tx(move |tx| {
            let now = now_str();
            let n = tx.execute(
                "INSERT OR IGNORE INTO telegram_updates (update_id, chat_id, thread_id, payload, state, received_at, done_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    update_id,
                    chat_id,
                    thread_id,
                    payload,
                    if done { "done" } else { "pending" },
                    now,
                    done.then_some(&now)
                ],
            )?;
            tx.execute(
                "INSERT INTO kv (key, value) VALUES ('telegram_offset', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                params![(update_id + 1).to_string()],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// The offset to pass to `getUpdates`: one past the newest stored update.
    pub async fn telegram_offset(&self) -> Result<i64> {
        self.read(move |conn| {
            let v: Option<String> = conn
                .query_row(
                    "SELECT value FROM kv WHERE key = 'telegram_offset'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match v {
                None => Ok(0),
                Some(v) => v.parse().map_err(|_| {
                    StoreError::Corrupt(format!("the stored Telegram offset {v:?} is not a number"))
                }),
            }
        })
        .await
    }

    /// Updates stored but not yet fully handled (oldest first): re-dispatched at start-up.
    pub async fn pending_updates(&self) -> Result<Vec<(i64, String)>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT update_id, payload FROM telegram_updates WHERE state = 'pending' ORDER BY update_id",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Mark updates handled, together with durable replies, atomically.
    pub async fn complete_updates(&self, update_ids: &[i64], replies: &[NewOutbox]) -> Result<()> {
        let (update_ids, replies) = (update_ids.to_vec(), replies.to_vec());
        self.tx(move |tx| {
            for r in &replies {
                insert_outbox(tx, r)?;
            }
            mark_updates_done(tx, &update_ids)
        })
        .await
    }

    // ----- users and chats ----------------------------------------------------------------

    pub async fn touch_user(&self, user_id: i64, username: Option<&str>) -> Result<()> {
        let username = username.map(str::to_owned);
        self.write(move |conn| {
    let now = now_str();
            conn.execute(
                "INSERT INTO users (user_id, username, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(user_id) DO UPDATE SET username = excluded.username, last_seen = excluded.last_seen",
                params![user_id, username, now],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn chat_settings(&self, chat_id: i64, thread_id: i64) -> Result<ChatSettings> {
        self.read(move |conn| {
            let row = conn
                .query_row(
                    "SELECT current_dir, verbose FROM chats WHERE chat_id = ?1 AND thread_id = ?2",
                    params![chat_id, thread_id],
                    |r| {
                        Ok(ChatSettings {
                            current_dir: r.get(0)?,
                            verbose: r.get::<_, Option<i64>>(1)?.map(|v| v as u8),
                        })
                    },
                )
                .optional()?;
            Ok(row.unwrap_or_default())
        })
        .await
    }

    pub async fn save_chat_settings(
        &self,
        chat_id: i64,
        thread_id: i64,
        kind: &str,
        s: &ChatSettings,
    ) -> Result<()> {
        let (kind, s) = (kind.to_owned(), s.clone());
        self.write(move |conn| {
    conn.execute(
                "INSERT INTO chats (chat_id, thread_id, kind, current_dir, verbose, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(chat_id, thread_id) DO UPDATE SET kind = excluded.kind,
                     current_dir = excluded.current_dir, verbose = excluded.verbose, updated_at = excluded.updated_at",
                params![chat_id, thread_id, kind, s.current_dir, s.verbose.map(i64::from), now_str()],
            )?;
            Ok(())
        })
        .await
    }

    // ----- sessions -----------------------------------------------------------------------

    /// The session to resume for this user in this chat and directory, if any.
    pub async fn active_session(
        &self,
        user_id: i64,
        chat_id: i64,
        thread_id: i64,
        directory: &str,
    ) -> Result<Option<SessionRow>> {
        let directory = directory.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    &format!(
                        "SELECT {SESSION_COLS} FROM sessions WHERE user_id = ?1 AND chat_id = ?2 AND thread_id = ?3
                         AND directory = ?4 AND active = 1 ORDER BY last_used_at DESC LIMIT 1"
                    ),
                    params![user_id, chat_id, thread_id, directory],
                    session_from_row,
                )
                .optional()?)
        })
        .await
    }

    /// Forget the active session so the next message starts fresh (`/new`).
    pub async fn deactivate_sessions(
        &self,
        user_id: i64,
        chat_id: i64,
        thread_id: i64,
        directory: &str,
    ) -> Result<usize> {
        let directory = directory.to_owned();
        self.write(move |conn| {
    Ok(conn.execute(
                "UPDATE sessions SET active = 0 WHERE user_id = ?1 AND chat_id = ?2 AND thread_id = ?3 AND directory = ?4",
                params![user_id, chat_id, thread_id, directory],
            )?)
        })
        .await
    }

    /// This user's sessions in this chat, newest first.
    pub async fn list_sessions(
        &self,
        user_id: i64,
        chat_id: i64,
        thread_id: i64,
        limit: usize,
    ) -> Result<Vec<SessionRow>> {
        self.read(move |conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {SESSION_COLS} FROM sessions WHERE user_id = ?1 AND chat_id = ?2 AND thread_id = ?3
                 ORDER BY last_used_at DESC, id DESC LIMIT ?4"
            ))?;
            let rows = st
                .query_map(
                    params![user_id, chat_id, thread_id, limit as i64],
                    session_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Make `claude_session_id` the active session of its (user, chat, directory); used by
    /// `/resume`. Only sessions of this user in this chat can be chosen.
    pub async fn activate_session(
        &self,
        user_id: i64,
        chat_id: i64,
        thread_id: i64,
        claude_session_id: &str,
    ) -> Result<Option<SessionRow>> {
        let claude_session_id = claude_session_id.to_owned();
        self.tx(move |tx| {
            let row = tx
                .query_row(
                    &format!(
                        "SELECT {SESSION_COLS} FROM sessions WHERE user_id = ?1 AND chat_id = ?2 AND thread_id = ?3
                         AND claude_session_id = ?4"
                    ),
                    params![user_id, chat_id, thread_id, claude_session_id],
                    session_from_row,
                )
                .optional()?;
            if let Some(row) = &row {
                tx.execute(
                    "UPDATE sessions SET active = 0 WHERE user_id = ?1 AND chat_id = ?2 AND thread_id = ?3 AND directory = ?4",
                    params![user_id, chat_id, thread_id, row.directory],
                )?;
                tx.execute(
                    "UPDATE sessions SET active = 1, last_used_at = ?2 WHERE claude_session_id = ?1",
                    params![claude_session_id, now_str()],
                )?;
            }
            Ok(row)
        })
        .await
    }

    /// Record a finished turn: the message row, the session's totals, the user's daily cost,
    /// the durable replies and the handled updates, all in one transaction.
    pub async fn record_turn(
        &self,
        t: &TurnRecord<'_>,
        replies: &[NewOutbox],
        update_ids: &[i64],
    ) -> Result<()> {
        let now = now_str();
        // Kept history is masked like audit rows: an answer may quote a key Claude saw.
        let prompt = self.redactor.redact(t.prompt).into_owned();
        let response = t.response.map(|r| self.redactor.redact(r).into_owned());
        let (directory, sid) = (
            t.directory.to_owned(),
            t.claude_session_id.map(str::to_owned),
        );
        let (user_id, chat_id, thread_id) = (t.user_id, t.chat_id, t.thread_id);
        let (cost_usd, duration_ms, num_turns) = (t.cost_usd, t.duration_ms, t.num_turns);
        let (is_error, error_kind) = (t.is_error, t.error_kind.map(str::to_owned));
        let (replies, update_ids) = (replies.to_vec(), update_ids.to_vec());
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO messages (user_id, chat_id, thread_id, claude_session_id, prompt, response, cost_usd,
                     duration_ms, num_turns, is_error, error_kind, created_at, directory)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    user_id, chat_id, thread_id, sid, prompt, response,
                    cost_usd, duration_ms, num_turns, is_error, error_kind, now, directory
                ],
            )?;
            if let Some(sid) = &sid {
                // Upsert: the first turn of a session creates it and makes it the active one.
                let existing: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM sessions WHERE claude_session_id = ?1",
                        params![sid],
                        |r| r.get(0),
                    )
                    .optional()?;
                if existing.is_none() {
                    tx.execute(
                        "UPDATE sessions SET active = 0 WHERE user_id = ?1 AND chat_id = ?2 AND thread_id = ?3 AND directory = ?4",
                        params![user_id, chat_id, thread_id, directory],
                    )?;
                    tx.execute(
                        "INSERT INTO sessions (claude_session_id, user_id, chat_id, thread_id, directory, created_at, last_used_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        params![sid, user_id, chat_id, thread_id, directory, now],
                    )?;
                }
                tx.execute(
                    "UPDATE sessions SET turns = turns + 1, total_cost_usd = total_cost_usd + ?2, last_used_at = ?3
                     WHERE claude_session_id = ?1",
                    params![sid, cost_usd, now],
                )?;
            }
            tx.execute(
                "INSERT INTO cost_ledger (user_id, day, cost_usd, runs) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT(user_id, day) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd, runs = runs + 1",
                params![user_id, today(), cost_usd],
            )?;
            for r in &replies {
                insert_outbox(tx, r)?;
            }
            mark_updates_done(tx, &update_ids)
        })
        .await
    }

    /// The turns of one of `user_id`'s sessions, oldest first (for `/export`): prompts and
    /// answers as stored, i.e. already redacted.
    pub async fn session_turns(
        &self,
        user_id: i64,
        claude_session_id: &str,
    ) -> Result<Vec<TurnRow>> {
        let claude_session_id = claude_session_id.to_owned();
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT prompt, response, cost_usd, duration_ms, num_turns, is_error, error_kind, created_at
                 FROM messages WHERE user_id = ?1 AND claude_session_id = ?2 ORDER BY id",
            )?;
            let rows = st
                .query_map(params![user_id, claude_session_id], |r| {
                    Ok(TurnRow {
                        prompt: r.get(0)?,
                        response: r.get(1)?,
                        cost_usd: r.get(2)?,
                        duration_ms: r.get(3)?,
                        num_turns: r.get(4)?,
                        is_error: r.get(5)?,
                        error_kind: r.get(6)?,
                        created_at: r.get(7)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        }).await
    }

    /// Real spend of `user_id` today (UTC) and the number of runs.
    pub async fn cost_today(&self, user_id: i64) -> Result<(f64, i64)> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT cost_usd, runs FROM cost_ledger WHERE user_id = ?1 AND day = ?2",
                    params![user_id, today()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .unwrap_or((0.0, 0)))
        })
        .await
    }

    /// Real spend per (user, UTC day, directory) of the turns recorded since `since_day`
    /// (`YYYY-MM-DD`, inclusive): one user's (`Some`) or everyone's (`None`), for `/usage`.
    /// A turn recorded before directories were kept has the directory `""`.
    pub async fn usage_since(
        &self,
        user_id: Option<i64>,
        since_day: &str,
    ) -> Result<Vec<UsageRow>> {
        // Stored times are RFC 3339 in UTC, so the first ten characters are the UTC day and
        // the day string compares like the time.
        let since = since_day.to_owned();
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT user_id, substr(created_at, 1, 10) AS day, directory, SUM(cost_usd)
                 FROM messages
                 WHERE created_at >= ?1 AND (?2 IS NULL OR user_id = ?2)
                 GROUP BY user_id, day, directory
                 ORDER BY day, user_id, directory",
            )?;
            let rows = st
                .query_map(params![since, user_id], |r| {
                    Ok(UsageRow {
                        user_id: r.get(0)?,
                        day: r.get(1)?,
                        directory: r.get(2)?,
                        cost_usd: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// A message with live buttons was sent (see the `live_messages` table).
    pub async fn live_message_add(
        &self,
        chat_id: i64,
        thread_id: i64,
        message_id: i64,
        kind: &str,
    ) -> Result<()> {
        let kind = kind.to_owned();
        self.write(move |conn| {
    conn.execute(
                "INSERT OR REPLACE INTO live_messages (chat_id, thread_id, message_id, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![chat_id, thread_id, message_id, kind, chrono::Utc::now().to_rfc3339()],
            )?;
            Ok(())
        })
        .await
    }

    /// Its buttons are gone (edited away or the message deleted).
    pub async fn live_message_remove(&self, chat_id: i64, message_id: i64) -> Result<()> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM live_messages WHERE chat_id = ?1 AND message_id = ?2",
                params![chat_id, message_id],
            )?;
            Ok(())
        })
        .await
    }

    /// Every message left with live buttons by an earlier run: (chat, thread, message, kind).
    pub async fn live_messages(&self) -> Result<Vec<(i64, i64, i64, String)>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT chat_id, thread_id, message_id, kind FROM live_messages ORDER BY created_at",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Chats with updates still pending (they will be re-run).
    pub async fn chats_with_pending_updates(&self) -> Result<Vec<(i64, i64)>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT DISTINCT chat_id, thread_id FROM telegram_updates WHERE state = 'pending' AND chat_id IS NOT NULL",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One model request as the egress gateway saw it.
    pub async fn record_model_request(&self, r: &ModelRequestRow) -> Result<()> {
        let r = r.clone();
        self.write(move |conn| {
    conn.execute(
                "INSERT INTO model_requests (at, user_id, chat_id, label, model, status, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    chrono::Utc::now().to_rfc3339(),
                    r.user_id,
                    r.chat_id,
                    r.label,
                    r.model,
                    r.status,
                    r.input_tokens as i64,
                    r.output_tokens as i64,
                    r.cache_creation_tokens as i64,
                    r.cache_read_tokens as i64,
                    r.cost_usd,
                    r.duration_ms as i64,
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// What the gateway saw `user_id` (or everyone, with `None`) spend today (UTC), in USD.
    pub async fn model_cost_today(&self, user_id: Option<i64>) -> Result<f64> {
        self.read(move |conn| Ok(model_cost_on(conn, user_id, &today())?))
            .await
    }

    /// Today's spend as the budget check before each model request needs it, in one read: the
    /// ledger (finished turns) and the gateway's tally (every request), for `user_id` and for
    /// everyone.
    pub async fn spend_today(&self, user_id: i64) -> Result<SpendToday> {
        self.read(move |conn| {
            let day = today();
            let ledger = |user: Option<i64>| -> rusqlite::Result<f64> {
                match user {
                    Some(u) => conn
                        .query_row(
                            "SELECT cost_usd FROM cost_ledger WHERE user_id = ?1 AND day = ?2",
                            params![u, day],
                            |r| r.get(0),
                        )
                        .optional()
                        .map(|v| v.unwrap_or(0.0)),
                    None => conn.query_row(
                        "SELECT COALESCE(SUM(cost_usd), 0) FROM cost_ledger WHERE day = ?1",
                        params![day],
                        |r| r.get(0),
                    ),
                }
            };
            Ok(SpendToday {
                ledger_user: ledger(Some(user_id))?,
                ledger_all: ledger(None)?,
                seen_user: model_cost_on(conn, Some(user_id), &day)?,
                seen_all: model_cost_on(conn, None, &day)?,
            })
        })
        .await
    }

    /// The newest model requests (for tests and `doctor`), newest first.
    pub async fn model_requests(&self, limit: usize) -> Result<Vec<ModelRequestRow>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT user_id, chat_id, label, model, status, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, duration_ms
                 FROM model_requests ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map(params![limit as i64], |r| {
                Ok(ModelRequestRow {
                    user_id: r.get(0)?,
                    chat_id: r.get(1)?,
                    label: r.get(2)?,
                    model: r.get(3)?,
                    status: r.get(4)?,
                    input_tokens: r.get::<_, i64>(5)? as u64,
                    output_tokens: r.get::<_, i64>(6)? as u64,
                    cache_creation_tokens: r.get::<_, i64>(7)? as u64,
                    cache_read_tokens: r.get::<_, i64>(8)? as u64,
                    cost_usd: r.get(9)?,
                    duration_ms: r.get::<_, i64>(10)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Real spend of all users today (UTC).
    pub async fn cost_today_all(&self) -> Result<f64> {
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM cost_ledger WHERE day = ?1",
                params![today()],
                |r| r.get(0),
            )?)
        })
        .await
    }

    // ----- grants -------------------------------------------------------------------------

    /// Record a grant; returns its id.
    pub async fn add_grant(&self, g: &NewGrant<'_>) -> Result<i64> {
        let (chat_id, thread_id, user_id, granted_by) =
            (g.chat_id, g.thread_id, g.user_id, g.granted_by);
        let (scope, footprint) = (g.scope.to_owned(), g.footprint.to_owned());
        let (session_id, expires_at) = (
            g.session_id.map(str::to_owned),
            g.expires_at.map(str::to_owned),
        );
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO grants (chat_id, thread_id, user_id, scope, footprint, session_id, expires_at, granted_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![chat_id, thread_id, user_id, scope, footprint, session_id, expires_at, granted_by, now_str()],
            )?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    /// The id of the newest live grant of `scope` for this user in this chat (and session)
    /// whose stored footprint `covers` accepts (see `policy::engine::grants`). A grant without
    /// a footprint covers nothing.
    pub async fn find_grant(
        &self,
        chat_id: i64,
        thread_id: i64,
        user_id: i64,
        scope: &str,
        session_id: Option<&str>,
        covers: impl Fn(&str) -> bool,
    ) -> Result<Option<i64>> {
        let (scope, session_id) = (scope.to_owned(), session_id.map(str::to_owned));
        let candidates: Vec<(i64, String)> = self
            .read(move |conn| {
                let mut st = conn.prepare(
                    "SELECT id, footprint FROM grants WHERE chat_id = ?1 AND thread_id = ?2 AND user_id = ?3 AND scope = ?4
                       AND revoked_at IS NULL AND footprint IS NOT NULL
                       AND (expires_at IS NULL OR expires_at > ?5)
                       AND (session_id IS NULL OR session_id = ?6)
                     ORDER BY id DESC",
                )?;
                let rows = st
                    .query_map(
                        params![chat_id, thread_id, user_id, scope, now_str(), session_id],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(candidates
            .into_iter()
            .find(|(_, footprint)| covers(footprint))
            .map(|(id, _)| id))
    }

    /// Live grants of this chat, newest first.
    pub async fn list_grants(&self, chat_id: i64, thread_id: i64) -> Result<Vec<GrantRow>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT id, user_id, scope, session_id, expires_at, footprint FROM grants
                 WHERE chat_id = ?1 AND thread_id = ?2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?3)
                 ORDER BY id DESC",
            )?;
            let rows = st
                .query_map(params![chat_id, thread_id, now_str()], |r| {
                    Ok(GrantRow {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        scope: r.get(2)?,
                        session_id: r.get(3)?,
                        expires_at: r.get(4)?,
                        footprint: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Revoke a grant of this chat; false if there was no such live grant.
    pub async fn revoke_grant(&self, chat_id: i64, thread_id: i64, id: i64) -> Result<bool> {
        self.write(move |conn| {
    Ok(conn.execute(
                "UPDATE grants SET revoked_at = ?4 WHERE id = ?1 AND chat_id = ?2 AND thread_id = ?3 AND revoked_at IS NULL",
                params![id, chat_id, thread_id, now_str()],
            )? > 0)
        })
        .await
    }

    // ----- TOTP -------------------------------------------------------------------------

    pub async fn set_totp_secret(&self, user_id: i64, secret_b32: &str) -> Result<()> {
        let secret_b32 = secret_b32.to_owned();
        self.write(move |conn| {
    conn.execute(
                "INSERT INTO totp_secrets (user_id, secret, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0",
                params![user_id, secret_b32, now_str()],
            )?;
            Ok(())
        })
        .await
    }

    /// (secret in base32, last accepted step)
    pub async fn totp_secret(&self, user_id: i64) -> Result<Option<(String, u64)>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT secret, last_step FROM totp_secrets WHERE user_id = ?1",
                    params![user_id],
                    |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
                )
                .optional()?)
        })
        .await
    }

    /// Accept time step `step` for `user_id` only if it is newer than the last accepted one
    /// (atomic: the same code can never be used twice).
    pub async fn consume_totp_step(&self, user_id: i64, step: u64) -> Result<bool> {
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE totp_secrets SET last_step = ?2 WHERE user_id = ?1 AND last_step < ?2",
                params![user_id, step as i64],
            )? > 0)
        })
        .await
    }

    // ----- lockouts -----------------------------------------------------------------------

    /// Why `user_id` is locked out, if it is (an expired lockout no longer counts).
    pub async fn lockout_of(&self, user_id: i64) -> Result<Option<String>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT reason FROM lockouts WHERE user_id = ?1 AND (until IS NULL OR until > ?2)",
                    params![user_id, now_str()],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    /// Lock `user_id` out until `until` (RFC 3339) or, with `None`, until unlocked.
    pub async fn lock_out(&self, user_id: i64, reason: &str, until: Option<&str>) -> Result<()> {
        let (reason, until) = (reason.to_owned(), until.map(str::to_owned));
        self.write(move |conn| {
    conn.execute(
                "INSERT INTO lockouts (user_id, reason, locked_at, until) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(user_id) DO UPDATE SET reason = excluded.reason, locked_at = excluded.locked_at, until = excluded.until",
                params![user_id, reason, now_str(), until],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn unlock(&self, user_id: i64) -> Result<bool> {
        self.write(move |conn| {
            Ok(conn.execute("DELETE FROM lockouts WHERE user_id = ?1", params![user_id])? > 0)
        })
        .await
    }

    /// Record a tool call (input and reason redacted, like audit details: a command line may
    /// carry a token or a URL with credentials).
    pub async fn record_tool_use(&self, t: &ToolUseRecord<'_>) -> Result<()> {
        let input = self.redactor.redact(t.input).into_owned();
        let reason = t.reason.map(|r| self.redactor.redact(r).into_owned());
        let (sid, tool_name, decision) = (
            t.claude_session_id.map(str::to_owned),
            t.tool_name.to_owned(),
            t.decision.to_owned(),
        );
        let (user_id, chat_id) = (t.user_id, t.chat_id);
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO tool_usage (claude_session_id, user_id, chat_id, tool_name, input, decision, reason, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![sid, user_id, chat_id, tool_name, input, decision, reason, now_str()],
            )?;
            Ok(())
        })
        .await
    }

    // ----- outbox -------------------------------------------------------------------------

    pub async fn outbox_pending(&self) -> Result<Vec<OutboxRow>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT id, chat_id, thread_id, html, reply_to, attempts FROM outbox ORDER BY id",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(OutboxRow {
                        id: r.get(0)?,
                        chat_id: r.get(1)?,
                        thread_id: r.get(2)?,
                        html: r.get(3)?,
                        reply_to: r.get(4)?,
                        attempts: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn outbox_insert(&self, r: &NewOutbox) -> Result<i64> {
        let r = r.clone();
        self.tx(move |tx| insert_outbox(tx, &r)).await
    }

    pub async fn outbox_delete(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            conn.execute("DELETE FROM outbox WHERE id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    pub async fn outbox_failed_attempt(&self, id: i64, error: &str) -> Result<()> {
        let error = error.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, error],
            )?;
            Ok(())
        })
        .await
    }

    // ----- audit --------------------------------------------------------------------------

    /// Append an audit row at the `risk` the audit rules gave it (see `audit::record`): details
    /// redacted, and the row chained to the previous one by hash — all under one write
    /// transaction, so concurrent writers cannot fork the chain.
    pub async fn append_audit(&self, row: &AuditRow<'_>) -> Result<()> {
        let owned = self.owned_row(row);
        self.tx(move |tx| append_audit_in(tx, &owned)).await?;
        self.observe(row).await;
        Ok(())
    }

    /// An audit row ready to append: details redacted, owned (it travels to the database thread).
    fn owned_row(&self, row: &AuditRow<'_>) -> OwnedAuditRow {
        OwnedAuditRow {
            user_id: row.user_id,
            chat_id: row.chat_id,
            event: row.event.as_str(),
            risk: row.risk.as_str(),
            details: self.redactor.redact(&row.details.to_string()).into_owned(),
        }
    }

    /// Tell the audit observer (anomaly detection) about a committed row.
    async fn observe(&self, row: &AuditRow<'_>) {
        let work = self
            .audit_observer
            .get()
            .and_then(|observer| observer(row.user_id, row.chat_id, row.event, row.details));
        if let Some(work) = work {
            work.await;
        }
    }

    /// Audit rows with `id > after_id`, oldest first, at most `limit`.
    pub async fn audit_rows(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<crate::audit::chain::AuditEntry>> {
        self.read(move |conn| {
            let mut st = conn.prepare(
                "SELECT id, at, user_id, chat_id, event, risk, details, prev_hash, hash FROM audit_log
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = st
                .query_map(params![after_id, limit as i64], |r| {
                    Ok(crate::audit::chain::AuditEntry {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        user_id: r.get(2)?,
                        chat_id: r.get(3)?,
                        event: r.get(4)?,
                        risk: r.get(5)?,
                        details: r.get(6)?,
                        prev_hash: r.get(7)?,
                        hash: r.get(8)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The newest audit rows (for `ccgate audit tail`), oldest first.
    pub async fn audit_tail(&self, n: usize) -> Result<Vec<crate::audit::chain::AuditEntry>> {
        let last: i64 = self
            .query(|conn| {
                conn.query_row("SELECT COALESCE(MAX(id), 0) FROM audit_log", [], |r| {
                    r.get(0)
                })
            })
            .await?;
        self.audit_rows((last - n as i64).max(0), n).await
    }

    /// Count audit rows of one event kind (tests and `/status`).
    pub async fn audit_count(&self, event: &str) -> Result<i64> {
        let event = event.to_owned();
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM audit_log WHERE event = ?1",
                params![event],
                |r| r.get(0),
            )?)
        })
        .await
    }
}

/// A grant to record.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    pub chat_id: i64,
    pub thread_id: i64,
    pub user_id: i64,
    pub scope: &'a str,
    /// What the grant covers within its scope (`policy::engine::grants::Footprint`, JSON).
    pub footprint: &'a str,
    pub session_id: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    pub granted_by: i64,
}

/// A live grant.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRow {
    pub id: i64,
    pub user_id: i64,
    pub scope: String,
    pub session_id: Option<String>,
    pub expires_at: Option<String>,
    pub footprint: Option<String>,
}

/// A tool call and what was decided about it.
#[derive(Debug, Clone)]
pub struct ToolUseRecord<'a> {
    pub claude_session_id: Option<&'a str>,
    pub user_id: i64,
    pub chat_id: i64,
    pub tool_name: &'a str,
    pub input: &'a str,
    pub decision: &'a str,
    pub reason: Option<&'a str>,
}

/// A reply to be written to the durable outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbox {
    pub chat_id: i64,
    pub thread_id: i64,
    pub html: String,
    pub reply_to: Option<i64>,
}

const SESSION_COLS: &str =
    "claude_session_id, directory, active, turns, total_cost_usd, created_at, last_used_at";

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        claude_session_id: r.get(0)?,
        directory: r.get(1)?,
        active: r.get(2)?,
        turns: r.get(3)?,
        total_cost_usd: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
    })
}

/// An audit row as it travels to the database thread (see [`Store::append_audit`]).
struct OwnedAuditRow {
    user_id: Option<i64>,
    chat_id: Option<i64>,
    event: &'static str,
    risk: &'static str,
    details: String,
}

/// Append `row` inside the caller's transaction, chained to the previous row by hash (one
/// write for a change and its row).
fn append_audit_in(tx: &Transaction<'_>, row: &OwnedAuditRow) -> rusqlite::Result<()> {
    let at = now_str();
    let (last_id, prev): (i64, String) = tx
        .query_row(
            "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, crate::audit::chain::GENESIS.to_string()));
    let id = last_id + 1;
    let hash = crate::audit::chain::compute_hash(
        id,
        &at,
        row.user_id,
        row.chat_id,
        row.event,
        row.risk,
        &row.details,
        &prev,
    );
    tx.execute(
        "INSERT INTO audit_log (id, at, user_id, chat_id, event, risk, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            at,
            row.user_id,
            row.chat_id,
            row.event,
            row.risk,
            row.details,
            prev,
            hash
        ],
    )?;
    Ok(())
}

/// `f` in one transaction on `conn`; committed only if it returns Ok.
fn in_tx<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
) -> Result<T> {
    let tx = conn.transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

fn insert_outbox(conn: &Connection, r: &NewOutbox) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO outbox (chat_id, thread_id, html, reply_to, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![r.chat_id, r.thread_id, r.html, r.reply_to, now_str()],
    )?;
    Ok(conn.last_insert_rowid())
}

fn mark_updates_done(conn: &Connection, update_ids: &[i64]) -> rusqlite::Result<()> {
    let now = now_str();
    for id in update_ids {
        conn.execute(
            "UPDATE telegram_updates SET state = 'done', done_at = ?2 WHERE update_id = ?1",
            params![id, now],
        )?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(path = %path.display(), error = %e, "could not restrict permissions");
    }
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn<'a>(sid: Option<&'a str>, cost: f64) -> TurnRecord<'a> {
        TurnRecord {
            user_id: 7,
            chat_id: 7,
            thread_id: 0,
            directory: "/p",
            claude_session_id: sid,
            prompt: "hi",
            response: Some("hello"),
            cost_usd: cost,
            duration_ms: 5,
            num_turns: 1,
            is_error: false,
            error_kind: None,
        }
    }

    #[tokio::test]
    async fn inbox_dedups_and_tracks_offset() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.telegram_offset().await.unwrap(), 0);
        assert!(s.insert_update(10, Some(1), 0, "{}").await.unwrap());
        assert!(!s.insert_update(10, Some(1), 0, "{}").await.unwrap());
        assert!(s.insert_update(12, Some(1), 0, "{}").await.unwrap());
        assert_eq!(s.telegram_offset().await.unwrap(), 13);
        // An older id arriving late never moves the offset backwards.
        assert!(s.insert_update(11, Some(1), 0, "{}").await.unwrap());
        assert_eq!(s.telegram_offset().await.unwrap(), 13);
        assert_eq!(s.pending_updates().await.unwrap().len(), 3);
        s.complete_updates(&[10, 11], &[]).await.unwrap();
        let pending: Vec<i64> = s
            .pending_updates()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(pending, vec![12]);
    }

    #[tokio::test]
    async fn record_turn_is_atomic_and_accumulates() {
        let s = Store::open_in_memory().unwrap();
        s.insert_update(1, Some(7), 0, "{}").await.unwrap();
        let reply = NewOutbox {
            chat_id: 7,
            thread_id: 0,
            html: "hello".into(),
            reply_to: None,
        };
        s.record_turn(&turn(Some("s1"), 0.5), std::slice::from_ref(&reply), &[1])
            .await
            .unwrap();
        s.record_turn(&turn(Some("s1"), 0.25), &[], &[])
            .await
            .unwrap();
        assert!(s.pending_updates().await.unwrap().is_empty());
        assert_eq!(s.outbox_pending().await.unwrap().len(), 1);
        let (cost, runs) = s.cost_today(7).await.unwrap();
        assert!((cost - 0.75).abs() < 1e-9);
        assert_eq!(runs, 2);
        let sess = s.active_session(7, 7, 0, "/p").await.unwrap().unwrap();
        assert_eq!(sess.turns, 2);
        assert_eq!(sess.claude_session_id, "s1");
    }

    #[tokio::test]
    async fn spend_today_reads_the_ledger_and_the_gateway_for_one_user_and_everyone() {
        let s = Store::open_in_memory().unwrap();
        let day = today();
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let (d, y) = (day.clone(), yesterday.clone());
        s.tx(move |tx| {
            for (user, at, cost) in [
                (7, format!("{d}T00:00:00.000+00:00"), 0.5),
                (7, format!("{d}T23:59:59.999+00:00"), 0.25),
                (8, format!("{d}T12:00:00+00:00"), 2.0),
                (7, format!("{y}T23:59:59.999+00:00"), 100.0),
            ] {
                tx.execute(
                    "INSERT INTO model_requests (at, user_id, chat_id, label, model, status, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, duration_ms)
                     VALUES (?1, ?2, ?2, 'chat', 'm', 200, 0, 0, 0, 0, ?3, 1)",
                    params![at, user, cost],
                )?;
            }
            for (user, day, cost) in [(7, &d, 0.5), (8, &d, 1.0), (7, &y, 50.0)] {
                tx.execute(
                    "INSERT INTO cost_ledger (user_id, day, cost_usd, runs) VALUES (?1, ?2, ?3, 1)",
                    params![user, day, cost],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(
            s.spend_today(7).await.unwrap(),
            SpendToday {
                ledger_user: 0.5,
                ledger_all: 1.5,
                seen_user: 0.75,
                seen_all: 2.75,
            }
        );
        assert_eq!(s.spend_today(9).await.unwrap().ledger_user, 0.0);
        assert_eq!(s.model_cost_today(Some(7)).await.unwrap(), 0.75);
        assert_eq!(s.model_cost_today(None).await.unwrap(), 2.75);
    }

    #[tokio::test]
    async fn usage_groups_by_user_utc_day_and_directory() {
        let s = Store::open_in_memory().unwrap();
        s.record_turn(&turn(Some("s1"), 0.5), &[], &[])
            .await
            .unwrap();
        s.record_turn(&turn(Some("s1"), 0.25), &[], &[])
            .await
            .unwrap();
        // Older turns, written as stored: one the last millisecond of a UTC day, one the first of
        // the next, one before the window, one of another user, one from before the column.
        s.tx(|tx| {
            for (user, at, dir, cost) in [
                (7, "2026-11-01T23:59:59.999Z", "/p", 1.0),
                (7, "2026-11-02T00:00:00.000Z", "/p/web", 2.0),
                (7, "2026-10-31T12:00:00.000Z", "/p", 4.0),
                (8, "2026-11-02T10:00:00.000Z", "/p", 8.0),
            ] {
                tx.execute(
                    "INSERT INTO messages (user_id, chat_id, prompt, cost_usd, created_at, directory)
                     VALUES (?1, ?1, 'x', ?2, ?3, ?4)",
                    params![user, cost, at, dir],
                )?;
            }
            tx.execute(
                "INSERT INTO messages (user_id, chat_id, prompt, cost_usd, created_at)
                 VALUES (7, 7, 'old', 16.0, '2026-11-02T11:00:00.000Z')",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let rows = s.usage_since(Some(7), "2026-11-01").await.unwrap();
        let got: Vec<(&str, &str, f64)> = rows
            .iter()
            .map(|r| (r.day.as_str(), r.directory.as_str(), r.cost_usd))
            .collect();
        assert_eq!(
            &got[..3],
            &[
                ("2026-11-01", "/p", 1.0),
                ("2026-11-02", "", 16.0),
                ("2026-11-02", "/p/web", 2.0)
            ]
        );
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[3].0, today());
        assert!((got[3].2 - 0.75).abs() < 1e-9, "today's two turns add up");
        assert!(rows.iter().all(|r| r.user_id == 7));
        let all = s.usage_since(None, "2026-11-01").await.unwrap();
        assert!(all.iter().any(|r| r.user_id == 8 && r.cost_usd == 8.0));
        assert_eq!(all.len(), 5);
    }

    #[tokio::test]
    async fn new_session_deactivates_previous_and_resume_switches_back() {
        let s = Store::open_in_memory().unwrap();
        s.record_turn(&turn(Some("a"), 0.0), &[], &[])
            .await
            .unwrap();
        s.record_turn(&turn(Some("b"), 0.0), &[], &[])
            .await
            .unwrap();
        assert_eq!(
            s.active_session(7, 7, 0, "/p")
                .await
                .unwrap()
                .unwrap()
                .claude_session_id,
            "b"
        );
        assert!(s.activate_session(7, 7, 0, "a").await.unwrap().is_some());
        assert_eq!(
            s.active_session(7, 7, 0, "/p")
                .await
                .unwrap()
                .unwrap()
                .claude_session_id,
            "a"
        );
        // Someone else's session id cannot be activated from this user.
        assert!(s.activate_session(8, 7, 0, "b").await.unwrap().is_none());
        s.deactivate_sessions(7, 7, 0, "/p").await.unwrap();
        assert!(s.active_session(7, 7, 0, "/p").await.unwrap().is_none());
        assert_eq!(s.list_sessions(7, 7, 0, 10).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn stored_prompts_and_answers_are_redacted() {
        let s = Store::open_in_memory()
            .unwrap()
            .with_redactor(crate::audit::Redactor::new(vec![
                "supersecretvalue".to_string()
            ]));
        let t = TurnRecord {
            user_id: 1,
            chat_id: 1,
            thread_id: 0,
            directory: "/p",
            claude_session_id: None,
            prompt: "use supersecretvalue",
            response: Some(
                "the key is supersecretvalue and ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            ),
            cost_usd: 0.0,
            duration_ms: 1,
            num_turns: 1,
            is_error: false,
            error_kind: None,
        };
        s.record_turn(&t, &[], &[]).await.unwrap();
        let (p, r): (String, String) = s
            .query(|c| {
                c.query_row("SELECT prompt, response FROM messages", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
            })
            .await
            .unwrap();
        assert!(
            !p.contains("supersecretvalue") && !r.contains("supersecretvalue"),
            "{p} {r}"
        );
        assert!(!r.contains("ghp_0123456789"), "{r}");
    }

    #[tokio::test]
    async fn audit_rows_are_chained_redacted_and_verifiable() {
        let s = Store::open_in_memory()
            .unwrap()
            .with_redactor(crate::audit::Redactor::new(vec![
                "supersecretvalue".to_string()
            ]));
        for i in 0..5 {
            crate::audit::try_record(
                &s,
                Some(i),
                None,
                crate::audit::Event::Command,
                &serde_json::json!({"n": i, "t": "x supersecretvalue y"}),
            )
            .await
            .unwrap();
        }
        let rows = s.audit_rows(0, 100).await.unwrap();
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| !r.details.contains("supersecretvalue")));
        assert_eq!(crate::audit::chain::verify(&rows), Ok(5));
        // Tampering with a row in the database is detected at that row.
        s.tx(|tx| tx.execute("UPDATE audit_log SET details = '{}' WHERE id = 3", []))
            .await
            .unwrap();
        let rows = s.audit_rows(0, 100).await.unwrap();
        assert_eq!(crate::audit::chain::verify(&rows).unwrap_err().id, 3);
        assert_eq!(
            s.audit_tail(2)
                .await
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            vec![4, 5]
        );
    }

    #[tokio::test]
    async fn grants_match_scope_session_expiry_and_footprint() {
        let s = Store::open_in_memory().unwrap();
        let g = |scope: &'static str,
                 footprint: &'static str,
                 session: Option<&'static str>,
                 expires: Option<&'static str>| NewGrant {
            chat_id: 1,
            thread_id: 0,
            user_id: 7,
            scope,
            footprint,
            session_id: session,
            expires_at: expires,
            granted_by: 7,
        };
        let any = |_: &str| true;
        let a = s
            .add_grant(&g(
                "Bash(curl:*)",
                "fetch",
                None,
                Some("2999-01-01T00:00:00.000Z"),
            ))
            .await
            .unwrap();
        s.add_grant(&g("WebFetch", "tool", Some("sess-1"), None))
            .await
            .unwrap();
        s.add_grant(&g(
            "Bash(git push:*)",
            "send",
            None,
            Some("2000-01-01T00:00:00.000Z"),
        ))
        .await
        .unwrap();
        assert_eq!(
            s.find_grant(1, 0, 7, "Bash(curl:*)", None, any)
                .await
                .unwrap(),
            Some(a)
        );
        assert_eq!(
            s.find_grant(1, 0, 8, "Bash(curl:*)", None, any)
                .await
                .unwrap(),
            None,
            "another user"
        );
        assert_eq!(
            s.find_grant(2, 0, 7, "Bash(curl:*)", None, any)
                .await
                .unwrap(),
            None,
            "another chat"
        );
        assert!(s
            .find_grant(1, 0, 7, "WebFetch", Some("sess-1"), any)
            .await
            .unwrap()
            .is_some());
        assert!(
            s.find_grant(1, 0, 7, "WebFetch", Some("sess-2"), any)
                .await
                .unwrap()
                .is_none(),
            "another session"
        );
        assert!(
            s.find_grant(1, 0, 7, "Bash(git push:*)", None, any)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        // The footprint decides among grants of the same scope: the newest that covers wins;
        // none that covers, no grant.
        let b = s
            .add_grant(&g("Bash(curl:*)", "send", None, None))
            .await
            .unwrap();
        assert_eq!(
            s.find_grant(1, 0, 7, "Bash(curl:*)", None, |f| f == "fetch")
                .await
                .unwrap(),
            Some(a)
        );
        assert_eq!(
            s.find_grant(1, 0, 7, "Bash(curl:*)", None, any)
                .await
                .unwrap(),
            Some(b)
        );
        assert_eq!(
            s.find_grant(1, 0, 7, "Bash(curl:*)", None, |_| false)
                .await
                .unwrap(),
            None
        );
        assert_eq!(s.list_grants(1, 0).await.unwrap().len(), 3);
        assert_eq!(
            s.list_grants(1, 0).await.unwrap()[0].footprint.as_deref(),
            Some("send")
        );
        assert!(s.revoke_grant(1, 0, a).await.unwrap());
        assert!(!s.revoke_grant(1, 0, a).await.unwrap());
        assert!(s
            .find_grant(1, 0, 7, "Bash(curl:*)", None, |f| f == "fetch")
            .await
            .unwrap()
            .is_none());
        // A grant without a footprint (from before they existed) covers nothing.
        s.tx(|tx| {
            tx.execute(
                "INSERT INTO grants (chat_id, user_id, scope, granted_by, created_at)
                 VALUES (1, 7, 'Bash(wget:*)', 7, '2026-01-01T00:00:00.000Z')",
                [],
            )
        })
        .await
        .unwrap();
        assert!(s
            .find_grant(1, 0, 7, "Bash(wget:*)", None, any)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn totp_steps_are_single_use() {
        let s = Store::open_in_memory().unwrap();
        s.set_totp_secret(7, "ABC").await.unwrap();
        assert!(s.consume_totp_step(7, 100).await.unwrap());
        assert!(!s.consume_totp_step(7, 100).await.unwrap(), "replay");
        assert!(!s.consume_totp_step(7, 99).await.unwrap(), "older");
        assert!(s.consume_totp_step(7, 101).await.unwrap());
        assert_eq!(s.totp_secret(7).await.unwrap().unwrap().1, 101);
    }

    #[tokio::test]
    async fn a_lock_held_by_another_connection_is_busy_and_reads_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let s = Store::open_with(&path, std::time::Duration::from_millis(50)).unwrap();
        s.insert_update(1, None, 0, "{}").await.unwrap();
        // Another process (the operator CLI, a second ccgate) takes the write lock.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let e = s.touch_user(7, Some("u")).await.unwrap_err();
        assert!(matches!(e, StoreError::Busy(_)), "{e:?}");
        assert!(e.to_string().contains("locked by another writer"), "{e}");
        // Through anyhow, a caller can still tell.
        let any = anyhow::Error::from(s.insert_update(2, None, 0, "{}").await.unwrap_err());
        assert!(any
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_busy));
        // Reads never wait for a writer (WAL).
        assert_eq!(s.telegram_offset().await.unwrap(), 2);
        other.execute_batch("COMMIT").unwrap();
        s.touch_user(7, Some("u")).await.unwrap();
        assert!(s.insert_update(2, None, 0, "{}").await.unwrap());
    }

    #[tokio::test]
    async fn unreadable_stored_data_is_corrupt() {
        let s = Store::open_in_memory().unwrap();
        s.tx(|tx| {
            tx.execute_batch(
                "INSERT INTO chats (chat_id, thread_id, kind, verbose, updated_at)
                     VALUES (1, 0, 'private', 'loud', 'now');
                 INSERT INTO kv (key, value) VALUES ('telegram_offset', 'twelve');",
            )
        })
        .await
        .unwrap();
        let e = s.chat_settings(1, 0).await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        let e = s.telegram_offset().await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Corrupt(m) if m.contains("twelve")),
            "{e:?}"
        );
        assert_eq!(
            s.chat_settings(2, 0).await.unwrap(),
            ChatSettings::default()
        );
    }

    #[tokio::test]
    async fn file_database_is_private_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/db.sqlite");
        {
            let s = Store::open(&path).unwrap();
            s.insert_update(5, None, 0, "{}").await.unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o600);
            let d = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(d, 0o700);
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.telegram_offset().await.unwrap(), 6);
        assert_eq!(s.pending_updates().await.unwrap().len(), 1);
    }
}
