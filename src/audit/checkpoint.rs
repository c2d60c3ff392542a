//! Signed checkpoints of the audit chain, and the check that reads them.
//!
//! Why it exists: the hash chain ([`super::chain`]) shows an edit or a deletion in the middle,
//! but someone with the disk can cut the tail off, or rewrite it and recompute every hash, and
//! still leave a valid chain. A checkpoint is the chain head (row id and hash) signed with a key
//! the database does not hold (Ed25519; a key file or a PKCS#11 token, see [`super::signer`]).
//! Once a checkpoint exists, the rows it covers can no longer be cut or rewritten unseen: the
//! row it names must still be there with the hash it signed.
//!
//! # Trust model
//! - **The verifier pins the key.** Each checkpoint stores the public key that signed it, but a
//!   forger who rewrites the database can store their own key next to their own signatures. So
//!   [`verify`] accepts a checkpoint only if it is signed by one of the keys it is *given*
//!   (`ccgate audit verify --public-key`, `AUDIT_VERIFY_KEY`, or the configured signer's key);
//!   the stored key is only matched against them. Pin it from somewhere the attacker cannot
//!   write (your notes, the admins' chat, configuration management).
//! - **A file key** (`AUDIT_SIGNING_KEY_FILE`) protects against whoever can write the database
//!   but not read the key (keep it outside the data directory, owner-only, or as a systemd
//!   credential). Whoever can read it can re-sign a rewritten history.
//! - **A PKCS#11 key** (HSM, TPM via tpm2-pkcs11, YubiKey, SoftHSM2) never leaves the token.
//!   An attacker with root on the running machine can still ask the token to sign while they
//!   are there; after they lose access they cannot sign again, so history they rewrote later, or
//!   checkpoints they did not make then, stay detectable.
//!
//! # What stays undetectable
//! - Rows written after the newest checkpoint (at most `AUDIT_CHECKPOINT_ROWS` rows or
//!   `AUDIT_CHECKPOINT_MINUTES` of activity; a clean shutdown signs the head): [`Report`] counts
//!   them as the unsigned tail.
//! - Deleting the newest checkpoints together with the rows they cover. Checkpoints chain to
//!   each other (`prev_digest`, consecutive `seq`), so deleting one from the middle is seen, but
//!   the last one must be known from elsewhere: `ccgate audit verify` prints its seq and digest,
//!   and `--checkpoint SEQ:DIGEST` checks one recorded earlier is still there.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::chain::{AuditEntry, BrokenLink, GENESIS};

/// Domain tag, the first element of every signed checkpoint. Bump it if the encoding changes.
pub const DOMAIN: &str = "ccgate-audit-checkpoint-v1";

/// The one signature algorithm (file keys and PKCS#11 `CKM_EDDSA` alike).
pub const ALGORITHM: &str = "ed25519";

/// Why a checkpoint was made.
pub mod reason {
    /// `AUDIT_CHECKPOINT_ROWS` rows since the last one.
    pub const ROWS: &str = "rows";
    /// `AUDIT_CHECKPOINT_MINUTES` since the last one, with new rows.
    pub const INTERVAL: &str = "interval";
    /// At start-up, over rows written while ccgate was not running (operator commands).
    pub const STARTUP: &str = "startup";
    /// A clean shutdown.
    pub const SHUTDOWN: &str = "shutdown";
}

/// One checkpoint as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// 1, 2, 3… without gaps.
    pub seq: i64,
    pub at: String,
    /// The newest audit row covered (0 for an empty log).
    pub audit_id: i64,
    /// That row's hash ([`GENESIS`] for an empty log).
    pub audit_hash: String,
    /// [`Checkpoint::digest`] of the previous checkpoint ([`GENESIS`] for the first).
    pub prev_digest: String,
    pub reason: String,
    pub algorithm: String,
    /// Hex of the 32-byte Ed25519 public key that signed it.
    pub public_key: String,
    /// Hex of the 64-byte signature over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes: the compact JSON array
    /// `["ccgate-audit-checkpoint-v1", seq, at, audit_id, audit_hash, prev_digest, reason,
    /// algorithm, public_key]` (as in [`super::chain::compute_hash`], rebuildable elsewhere).
    pub fn message(&self) -> Vec<u8> {
        serde_json::json!([
            DOMAIN,
            self.seq,
            self.at,
            self.audit_id,
            self.audit_hash,
            self.prev_digest,
            self.reason,
            self.algorithm,
            self.public_key
        ])
        .to_string()
        .into_bytes()
    }

    /// `hex(sha256(message))`: names this checkpoint (chained by the next one, printed by
    /// `audit verify`, worth keeping elsewhere).
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.message()))
    }

    /// Does the signature verify under `key`?
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        if self.algorithm != ALGORITHM || self.public_key != hex::encode(key.as_bytes()) {
            return false;
        }
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify_strict(&self.message(), &sig).is_ok()
    }
}

/// Something that signs a checkpoint message (a key file or a PKCS#11 token).
pub trait Sign {
    fn public_key(&self) -> VerifyingKey;
    fn sign(&self, message: &[u8]) -> anyhow::Result<[u8; 64]>;
}

/// The checkpoint that follows `prev` (or the first one), over the head `(audit_id, audit_hash)`.
pub fn make(
    signer: &dyn Sign,
    prev: Option<&Checkpoint>,
    audit_id: i64,
    audit_hash: &str,
    reason: &str,
    at: &str,
) -> anyhow::Result<Checkpoint> {
    let mut c = Checkpoint {
        seq: prev.map_or(1, |p| p.seq + 1),
        at: at.to_string(),
        audit_id,
        audit_hash: audit_hash.to_string(),
        prev_digest: prev.map_or_else(|| GENESIS.to_string(), Checkpoint::digest),
        reason: reason.to_string(),
        algorithm: ALGORITHM.to_string(),
        public_key: hex::encode(signer.public_key().as_bytes()),
        signature: String::new(),
    };
    let sig = signer.sign(&c.message())?;
    c.signature = hex::encode(sig);
    // A token that signs with another key than it reports must not produce unverifiable rows.
    if !c.signed_by(&signer.public_key()) {
        anyhow::bail!("the signer's signature does not verify under its own public key");
    }
    Ok(c)
}

/// A hex Ed25519 public key (64 hex digits).
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let s = s.trim();
    let bytes = hex::decode(s).map_err(|_| format!("{s:?} is not hex"))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("{s:?} is not 32 bytes (64 hex digits)"))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| format!("{s:?} is not an Ed25519 public key"))
}

/// What is wrong with the checkpoints, each a sign of tampering.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The signature does not verify, or the signing key is not one of the pinned keys.
    Forged { seq: i64, why: String },
    /// Checkpoints are missing, inserted or reordered before this one.
    Unchained { seq: i64, why: String },
    /// The log ends before the row this checkpoint signed: its tail was cut.
    Cut {
        seq: i64,
        audit_id: i64,
        log_end: i64,
    },
    /// The row this checkpoint signed has another hash now: history up to it was rewritten.
    Rewritten { seq: i64, audit_id: i64 },
    /// A checkpoint recorded elsewhere (`--checkpoint SEQ:DIGEST`) is gone or differs.
    Expected { seq: i64, why: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Forged { seq, why } => write!(f, "checkpoint #{seq} is FORGED: {why}"),
            Problem::Unchained { seq, why } => write!(f, "checkpoint #{seq}: {why}"),
            Problem::Cut {
                seq,
                audit_id,
                log_end,
            } => write!(
                f,
                "tail CUT: checkpoint #{seq} signed row {audit_id}, but the log ends at row {log_end}"
            ),
            Problem::Rewritten { seq, audit_id } => write!(
                f,
                "tail REWRITTEN: row {audit_id} no longer has the hash checkpoint #{seq} signed"
            ),
            Problem::Expected { seq, why } => write!(f, "checkpoint #{seq} recorded elsewhere: {why}"),
        }
    }
}

/// A checkpoint the operator recorded elsewhere: its seq and (a prefix of, ≥ 16 hex digits)
/// its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub seq: i64,
    pub digest_prefix: String,
}

impl std::str::FromStr for Expected {
    type Err = String;
    /// `SEQ:DIGEST`, e.g. `42:9f86d081884c7d65`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (seq, digest) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} should look like SEQ:DIGEST"))?;
        let seq: i64 = seq
            .trim()
            .trim_start_matches('#')
            .parse()
            .map_err(|_| format!("{seq:?} is not a checkpoint number"))?;
        let digest = digest.trim().to_ascii_lowercase();
        if digest.len() < 16 || digest.len() > 64 || !digest.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(format!("{digest:?} is not 16 to 64 hex digits of a digest"));
        }
        Ok(Expected {
            seq,
            digest_prefix: digest,
        })
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows in the log.
    pub rows: usize,
    /// The id and hash of the newest row ([`GENESIS`] and 0 for an empty log).
    pub head: (i64, String),
    /// The chain's own check ([`super::chain::verify`]).
    pub chain: Result<usize, BrokenLink>,
    pub checkpoints: usize,
    /// The newest checkpoint and its digest.
    pub last: Option<(Checkpoint, String)>,
    /// Rows after the newest checkpoint: not protected yet (all rows when there is none).
    pub unsigned_tail: i64,
    /// Whether signatures were checked (false: no key was given).
    pub keys_given: bool,
    pub problems: Vec<Problem>,
}

impl Report {
    /// Nothing shows tampering and the checkpoints could be checked (or there are none).
    pub fn ok(&self) -> bool {
        self.chain.is_ok() && self.problems.is_empty() && (self.keys_given || self.checkpoints == 0)
    }
}

/// Check the rows (all of them, id order), the checkpoints (seq order) and their signatures
/// under `keys`. Without keys the signatures are not checked and the report is not ok if there
/// are checkpoints (a check against the stored keys would prove nothing).
pub fn verify(
    rows: &[AuditEntry],
    checkpoints: &[Checkpoint],
    keys: &[VerifyingKey],
    expected: &[Expected],
) -> Report {
    let chain = super::chain::verify(rows);
    let head = rows
        .last()
        .map(|r| (r.id, r.hash.clone()))
        .unwrap_or((0, GENESIS.to_string()));
    let hash_of = |id: i64| -> Option<&str> {
        // Ids are consecutive from 1 in an intact log; search in case they are not.
        let i = rows.partition_point(|r| r.id < id);
        rows.get(i).filter(|r| r.id == id).map(|r| r.hash.as_str())
    };
    let mut problems = Vec::new();
    let mut prev: Option<&Checkpoint> = None;
    for c in checkpoints {
        if !keys.is_empty() && !keys.iter().any(|k| c.signed_by(k)) {
            let pinned = keys
                .iter()
                .any(|k| hex::encode(k.as_bytes()) == c.public_key);
            problems.push(Problem::Forged {
                seq: c.seq,
                why: if pinned {
                    "its signature does not verify".into()
                } else {
                    format!("signed by key {}, which is not a pinned key", c.public_key)
                },
            });
        }
        let (want_seq, want_prev) = match prev {
            None => (1, GENESIS.to_string()),
            Some(p) => (p.seq + 1, p.digest()),
        };
        if c.seq != want_seq {
            problems.push(Problem::Unchained {
                seq: c.seq,
                why: format!("expected #{want_seq} here: checkpoints were deleted or inserted"),
            });
        } else if c.prev_digest != want_prev {
            problems.push(Problem::Unchained {
                seq: c.seq,
                why: "does not chain to the checkpoint before it: one was replaced".into(),
            });
        }
        if let Some(p) = prev {
            if c.audit_id < p.audit_id {
                problems.push(Problem::Unchained {
                    seq: c.seq,
                    why: format!(
                        "covers row {} after #{} covered row {}: the log went backwards",
                        c.audit_id, p.seq, p.audit_id
                    ),
                });
            }
        }
        if c.audit_id > head.0 {
            problems.push(Problem::Cut {
                seq: c.seq,
                audit_id: c.audit_id,
                log_end: head.0,
            });
        } else {
            let actual = if c.audit_id == 0 {
                Some(GENESIS)
            } else {
                hash_of(c.audit_id)
            };
            if actual != Some(c.audit_hash.as_str()) {
                problems.push(Problem::Rewritten {
                    seq: c.seq,
                    audit_id: c.audit_id,
                });
            }
        }
        prev = Some(c);
    }
    for e in expected {
        match checkpoints.iter().find(|c| c.seq == e.seq) {
            None => problems.push(Problem::Expected {
                seq: e.seq,
                why: "is gone: checkpoints and the rows they covered were deleted".into(),
            }),
            Some(c) if !c.digest().starts_with(&e.digest_prefix) => {
                problems.push(Problem::Expected {
                    seq: e.seq,
                    why: format!(
                        "has digest {}, not {}…: it was replaced",
                        c.digest(),
                        e.digest_prefix
                    ),
                })
            }
            Some(_) => {}
        }
    }
    let last = checkpoints.last().map(|c| (c.clone(), c.digest()));
    let unsigned_tail = (head.0 - last.as_ref().map_or(0, |(c, _)| c.audit_id)).max(0);
    Report {
        rows: rows.len(),
        head,
        chain,
        checkpoints: checkpoints.len(),
        last,
        unsigned_tail,
        keys_given: !keys.is_empty(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::signer::FileKey;

    fn rows(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for id in 1..=n {
            let prev = out.last().map_or(GENESIS.to_string(), |r| r.hash.clone());
            let mut e = AuditEntry {
                id,
                at: format!("2026-01-01T00:00:{:02}.000Z", id % 60),
                user_id: Some(id),
                chat_id: None,
                event: "command".into(),
                risk: "low".into(),
                details: format!("{{\"n\":{id}}}"),
                prev_hash: prev,
                hash: String::new(),
            };
            e.hash = e.expected_hash();
            out.push(e);
        }
        out
    }

    /// Checkpoints at the given row ids, signed by `key`.
    fn ckpts(log: &[AuditEntry], at: &[i64], key: &FileKey) -> Vec<Checkpoint> {
        let mut out: Vec<Checkpoint> = Vec::new();
        for &id in at {
            let hash = if id == 0 {
                GENESIS.to_string()
            } else {
                log[id as usize - 1].hash.clone()
            };
            let c = make(
                key,
                out.last(),
                id,
                &hash,
                reason::ROWS,
                "2026-01-01T00:01:00.000Z",
            )
            .unwrap();
            out.push(c);
        }
        out
    }

    fn reseal(log: &mut [AuditEntry], from: usize) {
        for i in from..log.len() {
            log[i].prev_hash = if i == 0 {
                GENESIS.into()
            } else {
                log[i - 1].hash.clone()
            };
            log[i].hash = log[i].expected_hash();
        }
    }

    #[test]
    fn intact_log_with_checkpoints_verifies() {
        let key = FileKey::generate();
        let log = rows(30);
        let cs = ckpts(&log, &[0, 10, 20, 25], &key);
        let r = verify(&log, &cs, &[key.public_key()], &[]);
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.checkpoints, 4);
        assert_eq!(r.unsigned_tail, 5);
        assert_eq!(r.last.as_ref().unwrap().0.seq, 4);
        assert_eq!(r.last.as_ref().unwrap().1, cs[3].digest());
    }

    #[test]
    fn a_cut_tail_is_reported_with_the_checkpoint_that_shows_it() {
        let key = FileKey::generate();
        let mut log = rows(30);
        let cs = ckpts(&log, &[10, 20], &key);
        log.truncate(15);
        let r = verify(&log, &cs, &[key.public_key()], &[]);
        assert!(r.chain.is_ok(), "a cut chain still verifies on its own");
        assert!(!r.ok());
        assert_eq!(
            r.problems,
            vec![Problem::Cut {
                seq: 2,
                audit_id: 20,
                log_end: 15
            }]
        );
        assert!(r.problems[0].to_string().contains("tail CUT"));
    }

    #[test]
    fn a_rewritten_and_resealed_tail_is_reported() {
        let key = FileKey::generate();
        let mut log = rows(30);
        let cs = ckpts(&log, &[10, 20], &key);
        log[17].details = "{\"innocent\":true}".into();
        reseal(&mut log, 17);
        let r = verify(&log, &cs, &[key.public_key()], &[]);
        assert!(r.chain.is_ok());
        assert_eq!(
            r.problems,
            vec![Problem::Rewritten {
                seq: 2,
                audit_id: 20
            }]
        );
        // Rewriting only rows after the newest checkpoint is the documented blind spot.
        let mut log = rows(30);
        log[25].details = "{}".into();
        reseal(&mut log, 25);
        let r = verify(&log, &cs, &[key.public_key()], &[]);
        assert!(r.ok());
        assert_eq!(r.unsigned_tail, 10);
    }

    #[test]
    fn forged_checkpoints_are_reported_whoever_signed_them() {
        let key = FileKey::generate();
        let forger = FileKey::generate();
        let mut log = rows(30);
        let cs = ckpts(&log, &[10, 20], &key);
        // The forger cuts the log and re-signs checkpoints over the shorter one with their key.
        log.truncate(15);
        let forged = ckpts(&log, &[10, 15], &forger);
        let r = verify(&log, &forged, &[key.public_key()], &[]);
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
        assert!(r
            .problems
            .iter()
            .all(|p| matches!(p, Problem::Forged { why, .. } if why.contains("not a pinned key"))));

        // An edited checkpoint keeps the key but breaks the signature.
        let mut edited = cs.clone();
        edited[1].audit_id = 15;
        edited[1].audit_hash = log[14].hash.clone();
        let r = verify(&log, &edited, &[key.public_key()], &[]);
        assert!(
            matches!(&r.problems[0], Problem::Forged { seq: 2, why } if why.contains("does not verify"))
        );

        // Without a pinned key nothing can be vouched for.
        let r = verify(&log, &forged, &[], &[]);
        assert!(r.problems.is_empty());
        assert!(!r.ok());
        assert!(verify(&log, &[], &[], &[]).ok());
    }

    #[test]
    fn deleted_or_replaced_checkpoints_break_their_chain() {
        let key = FileKey::generate();
        let log = rows(30);
        let mut cs = ckpts(&log, &[5, 10, 20], &key);
        cs.remove(1);
        let r = verify(&log, &cs, &[key.public_key()], &[]);
        assert!(
            matches!(&r.problems[..], [Problem::Unchained { seq: 3, why }] if why.contains("expected #2"))
        );

        // Replaced by a validly signed one (the key holder re-signing history) that does not
        // chain to its predecessor.
        let mut cs = ckpts(&log, &[5, 10, 20], &key);
        cs[1] = make(&key, None, 10, &log[9].hash, reason::ROWS, "x").unwrap();
        cs[1].seq = 2;
        let r = verify(&log, &cs, &[key.public_key()], &[]);
        assert!(r
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Unchained { seq: 2, .. })));
    }

    #[test]
    fn a_checkpoint_recorded_elsewhere_must_still_be_there() {
        let key = FileKey::generate();
        let mut log = rows(30);
        let cs = ckpts(&log, &[10, 20], &key);
        let kept: Expected = format!("2:{}", &cs[1].digest()[..16]).parse().unwrap();
        assert!(verify(&log, &cs, &[key.public_key()], std::slice::from_ref(&kept)).ok());
        // The newest checkpoint and the rows after row 10 deleted: invisible without the record.
        log.truncate(10);
        let r = verify(&log, &cs[..1], &[key.public_key()], &[]);
        assert!(r.ok());
        let r = verify(&log, &cs[..1], &[key.public_key()], &[kept]);
        assert!(
            matches!(&r.problems[..], [Problem::Expected { seq: 2, why }] if why.contains("gone"))
        );
        assert!("2:abc".parse::<Expected>().is_err());
        assert!("x:0123456789abcdef".parse::<Expected>().is_err());
    }

    #[test]
    fn the_signed_message_is_pinned() {
        let c = Checkpoint {
            seq: 1,
            at: "t".into(),
            audit_id: 0,
            audit_hash: GENESIS.into(),
            prev_digest: GENESIS.into(),
            reason: "rows".into(),
            algorithm: "ed25519".into(),
            public_key: "ab".into(),
            signature: "cd".into(),
        };
        assert_eq!(
            String::from_utf8(c.message()).unwrap(),
            format!("[\"ccgate-audit-checkpoint-v1\",1,\"t\",0,\"{GENESIS}\",\"{GENESIS}\",\"rows\",\"ed25519\",\"ab\"]")
        );
        assert!(parse_public_key("zz").is_err());
        assert!(parse_public_key(&"00".repeat(31)).is_err());
    }
}
