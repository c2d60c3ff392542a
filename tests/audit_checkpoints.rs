//! Signed audit checkpoints with a key file, through the real binary and its database: the bot
//! signs while it runs and at a clean shutdown; `ccgate audit verify` catches a cut tail, a
//! rewritten tail, forged checkpoints and deleted ones.

mod support;

use std::path::{Path, PathBuf};

use ccgate::audit::chain::AuditEntry;
use ccgate::audit::checkpoint::{make, reason, Sign};
use ccgate::audit::signer::FileKey;
use support::{wait_for, Harness, STRANGER, USER};

async fn ccgate(h: &Harness, args: &[&str]) -> (i32, String, String) {
    let out = h.command().args(args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A copy of the (stopped) bot's database to tamper with; verify then reads the copy.
fn copy_db(h: &mut Harness, name: &str) -> PathBuf {
    let src = h.db_path();
    let dir = h.tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let dst = dir.join("ccgate.db");
    // Through SQLite, so a WAL that was not folded in yet comes along.
    rusqlite::Connection::open(&src)
        .unwrap()
        .execute("VACUUM INTO ?1", [dst.display().to_string()])
        .unwrap();
    h.set_env("DATABASE_URL", &format!("sqlite:///{}", dst.display()));
    dst
}

/// Recompute every row's hash from `from_id` on, as a forger rewriting the tail would.
fn reseal_from(db: &Path, from_id: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut prev: String = c
        .query_row(
            "SELECT hash FROM audit_log WHERE id = ?1",
            [from_id - 1],
            |r| r.get(0),
        )
        .unwrap();
    let rows: Vec<AuditEntry> = c
        .prepare("SELECT id, at, user_id, chat_id, event, risk, details FROM audit_log WHERE id >= ?1 ORDER BY id")
        .unwrap()
        .query_map([from_id], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                user_id: r.get(2)?,
                chat_id: r.get(3)?,
                event: r.get(4)?,
                risk: r.get(5)?,
                details: r.get(6)?,
                prev_hash: String::new(),
                hash: String::new(),
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for mut row in rows {
        row.prev_hash = prev;
        let (id, hash) = (row.id, row.expected_hash());
        c.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE id = ?3",
            rusqlite::params![row.prev_hash, hash, id],
        )
        .unwrap();
        prev = hash;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_key_checkpoints_catch_a_cut_a_rewrite_and_forgeries() {
    let mut h = Harness::new().await;
    let key_path = h.tmp.path().join("audit.key");
    let key_arg = key_path.display().to_string();
    let (rc, public, err) = ccgate(&h, &["audit", "keygen", "--out", &key_arg]).await;
    assert_eq!(rc, 0, "{err}");
    let public = public.trim().to_string();
    assert_eq!(public.len(), 64, "{public}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (rc, _, err) = ccgate(&h, &["audit", "keygen", "--out", &key_arg]).await;
    assert_ne!(
        rc, 0,
        "an existing key file must never be overwritten: {err}"
    );

    h.set_env("AUDIT_SIGNING_KEY_FILE", &key_arg);
    h.set_env("AUDIT_CHECKPOINT_ROWS", "3");
    let (rc, printed, _) = ccgate(&h, &["audit", "pubkey"]).await;
    assert_eq!((rc, printed.trim()), (0, public.as_str()));

    h.start().await;
    for i in 0..7 {
        h.tg.inject_message(STRANGER, STRANGER, &format!("knock {i}"));
    }
    let db = h.db_path();
    wait_for("7 rejected strangers audited", || {
        h.audit_count("auth_rejected") >= 7
    })
    .await;
    wait_for("a checkpoint signed after 3 rows", || {
        count(
            &db,
            "SELECT COUNT(*) FROM audit_checkpoints WHERE reason = 'rows'",
        ) >= 1
    })
    .await;
    h.stop().await;

    // The clean shutdown signed the head.
    let (last_reason, last_row): (String, i64) = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT reason, audit_id FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(last_reason, "shutdown");
    assert_eq!(last_row, count(&db, "SELECT MAX(id) FROM audit_log"));

    let (rc, out, err) = ccgate(&h, &["audit", "verify", "--public-key", &public]).await;
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("audit log intact"), "{out}");
    assert!(
        out.contains("signatures checked with the key(s) given by --public-key"),
        "{out}"
    );
    assert!(
        !out.contains("PROBLEM") && !out.contains("unsigned tail"),
        "{out}"
    );
    // What an operator would note down elsewhere: "SEQ:DIGEST".
    let kept = out
        .split("(keep \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no checkpoint to keep in {out}"))
        .to_string();
    // Without --public-key the configured key is used, and said so.
    let (rc, out, _) = ccgate(&h, &["audit", "verify"]).await;
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("the configured key file"), "{out}");
    // Pinning another key: every checkpoint is reported as not signed by it.
    let other = FileKey::generate();
    let other_hex = hex::encode(other.public_key().as_bytes());
    let (rc, out, _) = ccgate(&h, &["audit", "verify", "--public-key", &other_hex]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("FORGED: signed by key"), "{out}");

    let head = count(&db, "SELECT MAX(id) FROM audit_log");

    // 1. Cut the tail: the chain alone still verifies, the checkpoint does not.
    let cut = copy_db(&mut h, "cut");
    rusqlite::Connection::open(&cut)
        .unwrap()
        .execute("DELETE FROM audit_log WHERE id > ?1", [head - 2])
        .unwrap();
    let (rc, out, _) = ccgate(&h, &["audit", "verify", "--public-key", &public]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("audit log intact"), "{out}");
    assert!(
        out.contains("tail CUT: checkpoint #")
            && out.contains(&format!(
                "signed row {head}, but the log ends at row {}",
                head - 2
            )),
        "{out}"
    );

    // 2. Rewrite a row and reseal every hash after it.
    let rewritten = copy_db(&mut h, "rewritten");
    rusqlite::Connection::open(&rewritten)
        .unwrap()
        .execute(
            "UPDATE audit_log SET details = '{\"innocent\":true}' WHERE id = ?1",
            [head - 1],
        )
        .unwrap();
    reseal_from(&rewritten, head - 1);
    let (rc, out, _) = ccgate(&h, &["audit", "verify", "--public-key", &public]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("audit log intact"),
        "the reseal fools the chain: {out}"
    );
    assert!(
        out.contains(&format!(
            "tail REWRITTEN: row {head} no longer has the hash"
        )),
        "{out}"
    );

    // 3. A forger cuts the log and re-signs every checkpoint with their own key.
    let forged = copy_db(&mut h, "forged");
    {
        let c = rusqlite::Connection::open(&forged).unwrap();
        c.execute("DELETE FROM audit_log WHERE id > ?1", [head - 2])
            .unwrap();
        c.execute("DELETE FROM audit_checkpoints", []).unwrap();
        let hash: String = c
            .query_row(
                "SELECT hash FROM audit_log WHERE id = ?1",
                [head - 2],
                |r| r.get(0),
            )
            .unwrap();
        let ck = make(
            &other,
            None,
            head - 2,
            &hash,
            reason::SHUTDOWN,
            "2026-01-01T00:00:00.000Z",
        )
        .unwrap();
        c.execute(
            "INSERT INTO audit_checkpoints (seq, at, audit_id, audit_hash, prev_digest, reason, algorithm, public_key, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![ck.seq, ck.at, ck.audit_id, ck.audit_hash, ck.prev_digest, ck.reason, ck.algorithm, ck.public_key, ck.signature],
        )
        .unwrap();
    }
    let (rc, out, _) = ccgate(&h, &["audit", "verify", "--public-key", &public]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("checkpoint #1 is FORGED: signed by key") && out.contains("not a pinned key"),
        "{out}"
    );
    // ... and the checkpoint recorded elsewhere is no longer there as it was.
    let (rc, out, _) = ccgate(
        &h,
        &[
            "audit",
            "verify",
            "--public-key",
            &public,
            "--checkpoint",
            &kept,
        ],
    )
    .await;
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("recorded elsewhere"), "{out}");

    // 4. An edited checkpoint (moved back to a shorter log) no longer verifies.
    let edited = copy_db(&mut h, "edited");
    {
        let c = rusqlite::Connection::open(&edited).unwrap();
        c.execute("DELETE FROM audit_log WHERE id > ?1", [head - 2])
            .unwrap();
        let hash: String = c
            .query_row(
                "SELECT hash FROM audit_log WHERE id = ?1",
                [head - 2],
                |r| r.get(0),
            )
            .unwrap();
        c.execute(
            "UPDATE audit_checkpoints SET audit_id = ?1, audit_hash = ?2 WHERE seq = (SELECT MAX(seq) FROM audit_checkpoints)",
            rusqlite::params![head - 2, hash],
        )
        .unwrap();
    }
    let (rc, out, _) = ccgate(&h, &["audit", "verify", "--public-key", &public]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("is FORGED: its signature does not verify"),
        "{out}"
    );

    // 5. The newest checkpoint deleted along with the rows it covered: invisible on its own,
    //    caught by the checkpoint kept elsewhere.
    let dropped = copy_db(&mut h, "dropped");
    {
        let c = rusqlite::Connection::open(&dropped).unwrap();
        let prev_row: i64 = c
            .query_row(
                "SELECT audit_id FROM audit_checkpoints ORDER BY seq DESC LIMIT 1 OFFSET 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        c.execute(
            "DELETE FROM audit_checkpoints WHERE seq = (SELECT MAX(seq) FROM audit_checkpoints)",
            [],
        )
        .unwrap();
        c.execute("DELETE FROM audit_log WHERE id > ?1", [prev_row])
            .unwrap();
    }
    let (rc, out, _) = ccgate(&h, &["audit", "verify", "--public-key", &public]).await;
    assert_eq!(rc, 0, "the documented blind spot: {out}");
    let (rc, out, _) = ccgate(
        &h,
        &[
            "audit",
            "verify",
            "--public-key",
            &public,
            "--checkpoint",
            &kept,
        ],
    )
    .await;
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("is gone"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_pinned_or_configured_key_checkpoints_are_not_vouched_for() {
    let mut h = Harness::new().await;
    let key = h.tmp.path().join("audit.key");
    let (rc, _, err) = ccgate(
        &h,
        &["audit", "keygen", "--out", &key.display().to_string()],
    )
    .await;
    assert_eq!(rc, 0, "{err}");
    h.set_env("AUDIT_SIGNING_KEY_FILE", &key.display().to_string());
    h.start().await;
    h.tg.inject_message(STRANGER, STRANGER, "knock");
    wait_for("a rejected stranger audited", || {
        h.audit_count("auth_rejected") >= 1
    })
    .await;
    h.stop().await;
    h.unset_env("AUDIT_SIGNING_KEY_FILE");
    let (rc, out, _) = ccgate(&h, &["audit", "verify"]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("signatures NOT checked: no key pinned"),
        "{out}"
    );
    // A pinned key in the configuration is enough.
    h.set_env("AUDIT_SIGNING_KEY_FILE", &key.display().to_string());
    let (_, public, _) = ccgate(&h, &["audit", "pubkey"]).await;
    h.unset_env("AUDIT_SIGNING_KEY_FILE");
    h.set_env("AUDIT_VERIFY_KEY", public.trim());
    let (rc, out, _) = ccgate(&h, &["audit", "verify"]).await;
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("signatures checked with AUDIT_VERIFY_KEY"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_notices_reach_the_admins_and_verify_compares_with_them() {
    let mut h = Harness::new().await;
    let key = h.tmp.path().join("audit.key");
    let (rc, public, err) = ccgate(
        &h,
        &["audit", "keygen", "--out", &key.display().to_string()],
    )
    .await;
    assert_eq!(rc, 0, "{err}");
    let public = public.trim().to_string();
    h.set_env("AUDIT_SIGNING_KEY_FILE", &key.display().to_string());
    h.set_env("AUDIT_CHECKPOINT_ROWS", "2");
    h.set_env("AUDIT_CHECKPOINT_NOTIFY", "on");
    h.set_env("USER_ROLES", &format!("{USER}:admin"));
    h.start().await;
    for i in 0..3 {
        h.tg.inject_message(STRANGER, STRANGER, &format!("knock {i}"));
    }
    let m = h
        .wait_message(USER, "the first checkpoint notice", |m| {
            m.text.contains("Audit checkpoint #1")
        })
        .await;
    let noted = m
        .text
        .split("--checkpoint ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no SEQ:DIGEST in {:?}", m.text))
        .to_string();
    assert!(noted.starts_with("1:"), "{noted}");
    h.stop().await;

    let (rc, out, _) = ccgate(
        &h,
        &[
            "audit",
            "verify",
            "--public-key",
            &public,
            "--checkpoint",
            &noted,
        ],
    )
    .await;
    assert_eq!(rc, 0, "{out}");

    // Every checkpoint deleted and the log cut back: only the noted one shows it.
    let db = copy_db(&mut h, "wiped");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("DELETE FROM audit_checkpoints", []).unwrap();
        c.execute("DELETE FROM audit_log WHERE id > 1", []).unwrap();
    }
    let (rc, out, _) = ccgate(&h, &["audit", "verify", "--public-key", &public]).await;
    assert_eq!(rc, 0, "no checkpoint left to contradict the cut: {out}");
    let (rc, out, _) = ccgate(
        &h,
        &[
            "audit",
            "verify",
            "--public-key",
            &public,
            "--checkpoint",
            &noted,
        ],
    )
    .await;
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("checkpoint #1 recorded elsewhere: is gone"),
        "{out}"
    );
}
