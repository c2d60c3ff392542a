//! Signed audit checkpoints with a key inside a PKCS#11 token (SoftHSM2), through the real
//! binary: the key is made by the test with cryptoki, never leaves the token, signs the
//! checkpoints of a running bot, and `ccgate audit verify` checks them with its public key.
//!
//! SoftHSM2 is part of what is tested: without it this test fails (`.ci/run` and
//! `scripts/test.sh` install it), it never skips. Its own file (one test process): the token
//! configuration is chosen by `SOFTHSM2_CONF` in this process's environment.

mod support;

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use support::{wait_for, Harness, STRANGER};

const TOKEN: &str = "ccgate-test";
const SO_PIN: &str = "12345678";
const PIN: &str = "87654321";
const KEY: &str = "audit-checkpoints";

fn softhsm_module() -> PathBuf {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("SoftHSM2 is not installed (apt-get install softhsm2); this test needs it")
}

/// A private SoftHSM2 configuration with one initialized token.
fn init_token(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            SO_PIN,
            "--pin",
            PIN,
        ])
        .output()
        .expect("softhsm2-util is not installed (apt-get install softhsm2); this test needs it");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

/// Make an Ed25519 key pair on the token with cryptoki, as an operator's own tooling would;
/// returns the public key (hex) read back from `CKA_EC_POINT`.
fn generate_key(module: &Path) -> String {
    let ctx = Pkcs11::new(module).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .expect("the token");
    let mechanisms = ctx.get_mechanism_list(slot).unwrap();
    assert!(
        mechanisms.contains(&cryptoki::mechanism::MechanismType::EDDSA)
            && mechanisms.contains(&cryptoki::mechanism::MechanismType::ECC_EDWARDS_KEY_PAIR_GEN),
        "this SoftHSM2 has no Ed25519: {mechanisms:?}"
    );
    let session = ctx.open_rw_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from(PIN.to_string())))
        .unwrap();
    let label = Attribute::Label(KEY.as_bytes().to_vec());
    let (public, private) = session
        .generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(ccgate::audit::signer::ED25519_EC_PARAMS.to_vec()),
                label.clone(),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                label,
            ],
        )
        .unwrap();
    // The private key cannot be read out.
    let attrs = session
        .get_attributes(private, &[AttributeType::Extractable])
        .unwrap();
    assert!(matches!(attrs[..], [Attribute::Extractable(false)]));
    let point = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .unwrap();
    let Attribute::EcPoint(p) = &point[0] else {
        panic!("no EC point: {point:?}")
    };
    let raw = if p.len() == 34 { &p[2..] } else { &p[..] };
    assert_eq!(raw.len(), 32);
    session.logout().unwrap();
    drop(session);
    ctx.finalize().unwrap();
    hex::encode(raw)
}

#[test]
fn softhsm2_key_signs_checkpoints_that_verify() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let module = softhsm_module();
    let conf = init_token(dir.path());
    // Before any other thread of this test process exists that could read the environment.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let public = generate_key(&module);
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut h = Harness::new().await;
        h.set_env("SOFTHSM2_CONF", &conf.display().to_string());
        h.set_env("AUDIT_PKCS11_MODULE", &module.display().to_string());
        h.set_env("AUDIT_PKCS11_TOKEN_LABEL", TOKEN);
        h.set_env("AUDIT_PKCS11_PIN_FILE", &pin_file.display().to_string());
        h.set_env("AUDIT_PKCS11_KEY_LABEL", KEY);
        h.set_env("AUDIT_CHECKPOINT_ROWS", "2");

        let out = h
            .command()
            .args(["audit", "pubkey"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public);

        let out = h.command().arg("check").output().await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.lines()
                .any(|l| l.contains("ok    audit checkpoints") && l.contains(&public)),
            "{text}"
        );

        h.start().await;
        for i in 0..4 {
            h.tg.inject_message(STRANGER, STRANGER, &format!("knock {i}"));
        }
        let db = h.db_path();
        let signed = |why: &str| -> i64 {
            rusqlite::Connection::open(&db)
                .unwrap()
                .query_row(
                    "SELECT COUNT(*) FROM audit_checkpoints WHERE reason = ?1",
                    [why],
                    |r| r.get(0),
                )
                .unwrap()
        };
        wait_for("a checkpoint signed by the token after 2 rows", || {
            signed("rows") >= 1
        })
        .await;
        h.stop().await;
        assert_eq!(signed("shutdown"), 1);
        let stored_key: String = h
            .db()
            .query_row(
                "SELECT DISTINCT public_key FROM audit_checkpoints",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored_key, public);

        let out = h
            .command()
            .args(["audit", "verify", "--public-key", &public])
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("audit log intact"), "{text}");
        assert!(
            !text.contains("PROBLEM") && !text.contains("unsigned tail"),
            "{text}"
        );

        // Someone rewrites the newest row in place (no reseal): the chain catches it and the
        // token-signed checkpoint names the rewrite too.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute(
                "UPDATE audit_log SET hash = ?1 WHERE id = (SELECT MAX(id) FROM audit_log)",
                [ccgate::audit::chain::GENESIS],
            )
            .unwrap();
        let out = h
            .command()
            .args(["audit", "verify", "--public-key", &public])
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains("BROKEN") && text.contains("tail REWRITTEN"),
            "{text}"
        );

        // `audit keygen --pkcs11` makes a second key on the token; it signs like the first.
        h.set_env("AUDIT_PKCS11_KEY_LABEL", "second");
        let out = h
            .command()
            .args(["audit", "keygen", "--pkcs11"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let second = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(second.len(), 64);
        assert_ne!(second, public);
        let out = h
            .command()
            .args(["audit", "pubkey"])
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), second);
        let out = h
            .command()
            .args(["audit", "keygen", "--pkcs11"])
            .output()
            .await
            .unwrap();
        assert!(
            !out.status.success(),
            "a second key with the same label is refused"
        );
    });
}
