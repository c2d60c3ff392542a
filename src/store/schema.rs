//! The versioned schema. Append a migration; never edit one that has shipped.
//!
//! Why a file of its own: the schema is the contract between ccgate versions on the same
//! database file; keeping every step in one ordered list makes upgrades reviewable.

use rusqlite_migration::{Migrations, M};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
        CREATE TABLE users (
            user_id     INTEGER PRIMARY KEY,
            username    TEXT,
            first_seen  TEXT NOT NULL,
            last_seen   TEXT NOT NULL
        );

        -- One row per chat, or per forum topic of a chat (thread_id 0 = no topic).
        CREATE TABLE chats (
            chat_id     INTEGER NOT NULL,
            thread_id   INTEGER NOT NULL DEFAULT 0,
            kind        TEXT NOT NULL DEFAULT 'private',
            current_dir TEXT,
            verbose     INTEGER,
            updated_at  TEXT NOT NULL,
            PRIMARY KEY (chat_id, thread_id)
        );

        -- A Claude Code session, bound to the user, the chat/topic and the directory it ran in.
        CREATE TABLE sessions (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            claude_session_id TEXT NOT NULL UNIQUE,
            user_id           INTEGER NOT NULL,
            chat_id           INTEGER NOT NULL,
            thread_id         INTEGER NOT NULL DEFAULT 0,
            directory         TEXT NOT NULL,
            active            INTEGER NOT NULL DEFAULT 1,
            turns             INTEGER NOT NULL DEFAULT 0,
            total_cost_usd    REAL NOT NULL DEFAULT 0,
            created_at        TEXT NOT NULL,
            last_used_at      TEXT NOT NULL
        );
        CREATE INDEX sessions_by_chat ON sessions (chat_id, thread_id, user_id, last_used_at);

        CREATE TABLE messages (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id           INTEGER NOT NULL,
            chat_id           INTEGER NOT NULL,
            thread_id         INTEGER NOT NULL DEFAULT 0,
            claude_session_id TEXT,
            prompt            TEXT NOT NULL,
            response          TEXT,
            cost_usd          REAL NOT NULL DEFAULT 0,
            duration_ms       INTEGER NOT NULL DEFAULT 0,
            num_turns         INTEGER NOT NULL DEFAULT 0,
            is_error          INTEGER NOT NULL DEFAULT 0,
            error_kind        TEXT,
            created_at        TEXT NOT NULL
        );
        CREATE INDEX messages_by_user ON messages (user_id, created_at);

        CREATE TABLE tool_usage (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            claude_session_id TEXT,
            user_id           INTEGER NOT NULL,
            chat_id           INTEGER NOT NULL,
            tool_name         TEXT NOT NULL,
            input             TEXT NOT NULL,
            decision          TEXT NOT NULL,
            reason            TEXT,
            created_at        TEXT NOT NULL
        );

        -- Real spend (from each result's total_cost_usd), per user per UTC day.
        CREATE TABLE cost_ledger (
            user_id  INTEGER NOT NULL,
            day      TEXT NOT NULL,
            cost_usd REAL NOT NULL DEFAULT 0,
            runs     INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, day)
        );

        -- The intake inbox: an update is stored before its offset is confirmed to Telegram and
        -- marked done only once fully handled, so nothing is lost or run twice across restarts.
        CREATE TABLE telegram_updates (
            update_id   INTEGER PRIMARY KEY,
            chat_id     INTEGER,
            thread_id   INTEGER NOT NULL DEFAULT 0,
            payload     TEXT NOT NULL,
            state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
            received_at TEXT NOT NULL,
            done_at     TEXT
        );
        CREATE INDEX telegram_updates_pending ON telegram_updates (state, update_id);

        -- Durable outgoing messages: written in the same transaction as the work they report,
        -- deleted once Telegram accepted them.
        CREATE TABLE outbox (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id       INTEGER NOT NULL,
            thread_id     INTEGER NOT NULL DEFAULT 0,
            html          TEXT NOT NULL,
            reply_to      INTEGER,
            attempts      INTEGER NOT NULL DEFAULT 0,
            last_error    TEXT,
            created_at    TEXT NOT NULL
        );

        CREATE TABLE kv (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        CREATE TABLE audit_log (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            at         TEXT NOT NULL,
            user_id    INTEGER,
            chat_id    INTEGER,
            event      TEXT NOT NULL,
            risk       TEXT NOT NULL,
            details    TEXT NOT NULL
        );
        "#,
        ),
        // Security layer: a hash chain over the audit log, login tokens, auth sessions, pairing
        // codes, users admitted by pairing, and lockouts.
        M::up(
            r#"
        ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
        ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL DEFAULT '';

        -- Login tokens, stored only as HMAC-SHA256(AUTH_TOKEN_SECRET, token).
        CREATE TABLE auth_tokens (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id     INTEGER NOT NULL,
            token_hash  TEXT NOT NULL UNIQUE,
            created_at  TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            used_at     TEXT,
            revoked_at  TEXT
        );

        -- A logged-in user; ends after SESSION_TIMEOUT_HOURS without activity.
        CREATE TABLE auth_sessions (
            user_id     INTEGER PRIMARY KEY,
            token_id    INTEGER NOT NULL,
            created_at  TEXT NOT NULL,
            last_seen   TEXT NOT NULL
        );

        CREATE TABLE pairing_codes (
            code        TEXT PRIMARY KEY,
            user_id     INTEGER NOT NULL,
            username    TEXT,
            created_at  TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            approved_at TEXT
        );
        CREATE INDEX pairing_codes_by_user ON pairing_codes (user_id);

        -- Users admitted by an operator-approved pairing code, in addition to ALLOWED_USERS.
        CREATE TABLE paired_users (
            user_id     INTEGER PRIMARY KEY,
            username    TEXT,
            approved_at TEXT NOT NULL,
            code        TEXT NOT NULL
        );

        CREATE TABLE lockouts (
            user_id     INTEGER PRIMARY KEY,
            reason      TEXT NOT NULL,
            locked_at   TEXT NOT NULL,
            until       TEXT
        );
        "#,
        ),
        // Approvals: time-boxed grants and TOTP secrets for step-up.
        M::up(
            r#"
        CREATE TABLE grants (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id     INTEGER NOT NULL,
            thread_id   INTEGER NOT NULL DEFAULT 0,
            user_id     INTEGER NOT NULL,
            scope       TEXT NOT NULL,
            -- Bound to one Claude session ("allow for this session"), or NULL.
            session_id  TEXT,
            -- Time-boxed ("allow for 15 min"), or NULL.
            expires_at  TEXT,
            granted_by  INTEGER NOT NULL,
            created_at  TEXT NOT NULL,
            revoked_at  TEXT
        );
        CREATE INDEX grants_by_chat ON grants (chat_id, thread_id, user_id);

        CREATE TABLE totp_secrets (
            user_id     INTEGER PRIMARY KEY,
            secret      TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            -- The last accepted time step: a code is never accepted twice.
            last_step   INTEGER NOT NULL DEFAULT 0
        );
        "#,
        ),
        M::up(
            r#"
        -- Webhook deliveries already accepted: the replay guard. The key is covered by the
        -- request's signature (GitHub: delivery id + body hash; generic: timestamp + body hash).
        -- The accepted event is kept until its runs' answers are stored ('pending' rows are
        -- dispatched again after a restart).
        CREATE TABLE webhook_deliveries (
            key         TEXT PRIMARY KEY,
            provider    TEXT NOT NULL,
            event       TEXT NOT NULL,
            action      TEXT,
            payload     TEXT NOT NULL,
            state       TEXT NOT NULL DEFAULT 'pending',
            received_at TEXT NOT NULL
        );

        -- Scheduled Claude runs. Times are UTC RFC 3339; tz is the IANA zone the cron reads in.
        CREATE TABLE jobs (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            creator     INTEGER NOT NULL,
            chat_id     INTEGER NOT NULL,
            thread_id   INTEGER NOT NULL DEFAULT 0,
            directory   TEXT NOT NULL,
            cron        TEXT NOT NULL,
            tz          TEXT NOT NULL,
            prompt      TEXT NOT NULL,
            paused      INTEGER NOT NULL DEFAULT 0,
            next_due_at TEXT NOT NULL,
            last_run_at TEXT,
            created_at  TEXT NOT NULL,
            removed_at  TEXT
        );
        "#,
        ),
        M::up(
            r#"
        -- One row per model request seen by the egress gateway (the child never holds the
        -- real key, so every request passes it). Cost is ccgate's estimate from usage.
        CREATE TABLE model_requests (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            at            TEXT NOT NULL,
            user_id       INTEGER NOT NULL,
            chat_id       INTEGER NOT NULL,
            label         TEXT NOT NULL,
            model         TEXT NOT NULL,
            status        INTEGER NOT NULL,
            input_tokens  INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_creation_tokens INTEGER NOT NULL,
            cache_read_tokens     INTEGER NOT NULL,
            cost_usd      REAL NOT NULL,
            duration_ms   INTEGER NOT NULL
        );
        CREATE INDEX model_requests_user_at ON model_requests(user_id, at);
        "#,
        ),
        M::up(
            r#"
        -- Messages with live buttons (progress with Stop, approval prompts, questions). Their
        -- buttons mean nothing after a restart: at start each is edited to say so.
        CREATE TABLE live_messages (
            chat_id     INTEGER NOT NULL,
            thread_id   INTEGER NOT NULL DEFAULT 0,
            message_id  INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            PRIMARY KEY (chat_id, message_id)
        );
        "#,
        ),
        M::up(
            r#"
        -- What a grant covers beyond its scope: the footprint (JSON: class, paths outside the
        -- project, network direction) of the call it was given for; a later call is covered
        -- only if its own footprint is no wider (policy::engine::grants). Grants from before
        -- have no footprint: they covered any call of their scope, so they end here.
        ALTER TABLE grants ADD COLUMN footprint TEXT;
        UPDATE grants SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE revoked_at IS NULL;
        "#,
        ),
        M::up(
            r#"
        -- Signed checkpoints of the audit chain (audit::checkpoint): the head row and its hash,
        -- chained to the previous checkpoint by digest, signed (Ed25519) by a key the database
        -- does not hold. They make a cut or rewritten tail visible to `ccgate audit verify`.
        CREATE TABLE audit_checkpoints (
            seq         INTEGER PRIMARY KEY,
            at          TEXT NOT NULL,
            audit_id    INTEGER NOT NULL,
            audit_hash  TEXT NOT NULL,
            prev_digest TEXT NOT NULL,
            reason      TEXT NOT NULL,
            algorithm   TEXT NOT NULL,
            public_key  TEXT NOT NULL,
            signature   TEXT NOT NULL
        );
        "#,
        ),
        M::up(
            r#"
        -- Secret rotation (`ccgate rotate`, crate::secrets): a value of a rotatable secret is
        -- accepted from `added_at` until `until` (unix seconds; NULL: no end). `value` is NULL
        -- for a configured value (env, *_FILE, credential), which only its hash retires.
        CREATE TABLE secret_rotations (
            id           INTEGER PRIMARY KEY,
            name         TEXT NOT NULL,
            value_sha256 TEXT NOT NULL,
            value        TEXT,
            added_at     INTEGER NOT NULL,
            until        INTEGER,
            UNIQUE (name, value_sha256)
        );
        "#,
        ),
        M::up(
            r#"
        -- Project topics (telegram::topics): which forum topic of the projects group is which
        -- registry project, with the name and open/closed state last set on Telegram. `path`
        -- is the project's canonical folder as of the last sync (what the topic works in).
        CREATE TABLE project_topics (
            chat_id    INTEGER NOT NULL,
            slug       TEXT NOT NULL,
            thread_id  INTEGER NOT NULL,
            name       TEXT NOT NULL,
            path       TEXT NOT NULL,
            closed     INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (chat_id, slug),
            UNIQUE (chat_id, thread_id)
        );
        "#,
        ),
        M::up(
            r#"
        -- `/usage` per project: the directory each turn ran in (absolute, as the session's).
        -- Turns recorded before this column say '' and are shown as "(unknown)".
        ALTER TABLE messages ADD COLUMN directory TEXT NOT NULL DEFAULT '';
        "#,
        ),
        M::up(
            r#"
        -- The budget check before every model request sums today's gateway tally of everyone
        -- (a range of `at`); without this index that read every row.
        CREATE INDEX model_requests_at ON model_requests(at);
        "#,
        ),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }

    #[test]
    fn grants_from_before_footprints_end_at_the_upgrade() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let m = super::migrations();
        m.to_version(&mut conn, 5).unwrap();
        conn.execute(
            "INSERT INTO grants (chat_id, user_id, scope, granted_by, created_at)
             VALUES (1, 1, 'Bash(curl:*)', 1, '2026-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
        m.to_latest(&mut conn).unwrap();
        let (revoked, footprint): (Option<String>, Option<String>) = conn
            .query_row("SELECT revoked_at, footprint FROM grants", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(revoked.is_some_and(|t| t.ends_with('Z') && t.len() == 24));
        assert!(footprint.is_none());
    }
}
