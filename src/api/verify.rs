//! Webhook authentication: GitHub's HMAC signature, Bearer tokens, signed timestamps.
//!
//! Why it exists: everything behind these checks may start a Claude run, so they are the
//! server's front door. They are pure functions over bytes (no axum types), compare in constant
//! time, never panic on hostile input (non-ASCII, odd lengths, huge headers), and say *why* a
//! request failed only to the audit log, never to the caller.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a request was refused (for the audit log and metrics; the client only sees 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Mismatch,
    Stale,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::Mismatch => "mismatch",
            AuthFailure::Stale => "stale timestamp",
        }
    }
}

/// The one accepted signature form: `sha256=` followed by exactly 64 lowercase hex digits —
/// what GitHub sends and what its own verification library (`@octokit/webhooks-methods`)
/// accepts, since that library compares the whole header with its own `sha256=<lowercase hex>`
/// byte for byte. Uppercase hex, another prefix (`sha1=`, `SHA256=`), no prefix, whitespace
/// anywhere and any other length are malformed. The check looks only at the header's shape,
/// never at the secret, so it needs no constant time; the digest comparison does.
pub fn parse_sha256_signature(header: &[u8]) -> Result<[u8; 32], AuthFailure> {
    let hex_sig = header
        .strip_prefix(b"sha256=")
        .ok_or(AuthFailure::Malformed)?;
    if hex_sig.len() != 64
        || !hex_sig
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(AuthFailure::Malformed);
    }
    let mut sig = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut sig).map_err(|_| AuthFailure::Malformed)?;
    Ok(sig)
}

/// Verify GitHub's `X-Hub-Signature-256: sha256=<hex>` over the raw body.
pub fn github_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&[u8]>,
) -> Result<(), AuthFailure> {
    let header = header.ok_or(AuthFailure::Missing)?;
    let sig = parse_sha256_signature(header)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sig).map_err(|_| AuthFailure::Mismatch)
}

/// Verify `Authorization: Bearer <secret>`. Any byte sequence is handled: a header that is not
/// the exact expected bytes fails, in time independent of where it differs (both sides are
/// hashed first, so even the length is not compared directly).
pub fn bearer(secret: &[u8], header: Option<&[u8]>) -> Result<(), AuthFailure> {
    let header = header.ok_or(AuthFailure::Missing)?;
    let token = header
        .strip_prefix(b"Bearer ")
        .ok_or(AuthFailure::Malformed)?;
    if same_secret(token, secret) {
        Ok(())
    } else {
        Err(AuthFailure::Mismatch)
    }
}

/// The first of `keys` that `check` accepts (during a rotation's overlap window two values
/// are accepted, the current one first). When none does, the failure of the first one: a
/// missing or malformed header fails alike for every key.
pub fn matching_key(
    keys: &[SecretString],
    check: impl Fn(&[u8]) -> Result<(), AuthFailure>,
) -> Result<&SecretString, AuthFailure> {
    let mut first = None;
    for k in keys {
        match check(k.expose_secret().as_bytes()) {
            Ok(()) => return Ok(k),
            Err(f) => {
                first.get_or_insert(f);
            }
        }
    }
    Err(first.unwrap_or(AuthFailure::Mismatch))
}

/// Whether any of `keys` passes `check` (see [`matching_key`]).
pub fn any_key(
    keys: &[SecretString],
    check: impl Fn(&[u8]) -> Result<(), AuthFailure>,
) -> Result<(), AuthFailure> {
    matching_key(keys, check).map(|_| ())
}

/// Whether `given` equals `secret`, in time independent of where they differ — or of their
/// lengths: both are hashed first, and the digests are compared in constant time.
pub fn same_secret(given: &[u8], secret: &[u8]) -> bool {
    bool::from(Sha256::digest(given).ct_eq(&Sha256::digest(secret)))
}

/// The signature a generic provider sends: `sha256=` + hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign_timestamped(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verify a generic provider's signed timestamp (`X-Ccgate-Timestamp`, unix seconds) and
/// signature (`X-Ccgate-Signature`, in the one form [`parse_sha256_signature`] accepts) and that the timestamp lies within `tolerance` of `now`.
/// Returns the timestamp, which (with the body) forms the replay key.
pub fn timestamped_signature(
    secret: &[u8],
    body: &[u8],
    timestamp: Option<&[u8]>,
    signature: Option<&[u8]>,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, AuthFailure> {
    let (ts_raw, sig_raw) = match (timestamp, signature) {
        (Some(t), Some(s)) => (t, s),
        _ => return Err(AuthFailure::Missing),
    };
    let ts_str = std::str::from_utf8(ts_raw).map_err(|_| AuthFailure::Malformed)?;
    if ts_str.is_empty() || ts_str.len() > 12 || !ts_str.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthFailure::Malformed);
    }
    let ts: i64 = ts_str.parse().map_err(|_| AuthFailure::Malformed)?;
    let sig = parse_sha256_signature(sig_raw)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(ts_str.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| AuthFailure::Mismatch)?;
    // Checked after the signature so an attacker learns nothing from the difference.
    if (now_unix - ts).abs() > tolerance_secs {
        return Err(AuthFailure::Stale);
    }
    Ok(ts)
}

/// Hex SHA-256 of a body (replay keys, audit details).
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's published example (docs: "Validating webhook deliveries").
    const GH_SECRET: &[u8] = b"It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_SIG: &[u8] =
        b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_published_example_verifies() {
        assert_eq!(github_signature(GH_SECRET, GH_BODY, Some(GH_SIG)), Ok(()));
    }

    #[test]
    fn github_attacks_fail() {
        let hex_sig = std::str::from_utf8(&GH_SIG[7..]).unwrap();
        let upper = format!("sha256={}", hex_sig.to_ascii_uppercase());
        // One digit upper-cased: GitHub never sends it, its library refuses it.
        let one_upper = format!("sha256={}E17", &hex_sig[..61]);
        let bare = hex_sig.to_string();
        let sha1_prefixed = format!("sha1={hex_sig}");
        let doubled = format!("sha256=sha256={hex_sig}");
        let long = format!("sha256={hex_sig}0");
        let twice = format!("sha256={hex_sig}{hex_sig}");
        let mut wrong_digit = GH_SIG.to_vec();
        wrong_digit[70] = b'6';
        let ws: Vec<Vec<u8>> = [
            format!(" sha256={hex_sig}"),
            format!("sha256={hex_sig} "),
            format!("sha256= {hex_sig}"),
            format!("sha256={hex_sig}\n"),
            format!("sha256={hex_sig}\r\n"),
            format!("\tsha256={hex_sig}"),
            format!("sha256={} {}", &hex_sig[..32], &hex_sig[32..]),
            format!("sha256 ={hex_sig}"),
            format!("sha256={hex_sig}\0"),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        type Case<'a> = (Option<&'a [u8]>, &'a [u8], AuthFailure);
        let mut cases: Vec<Case<'_>> = vec![
            (None, GH_BODY, AuthFailure::Missing),
            (Some(b""), GH_BODY, AuthFailure::Malformed),
            (Some(b"sha256="), GH_BODY, AuthFailure::Malformed),
            (Some(b"sha1=757107ea"), GH_BODY, AuthFailure::Malformed),
            (
                Some(sha1_prefixed.as_bytes()),
                GH_BODY,
                AuthFailure::Malformed,
            ),
            (Some(b"sha256=zz"), GH_BODY, AuthFailure::Malformed),
            (Some(b"sha256=757"), GH_BODY, AuthFailure::Malformed),
            (Some("sha256=ü".as_bytes()), GH_BODY, AuthFailure::Malformed),
            (Some(b"\xff\xfe"), GH_BODY, AuthFailure::Malformed),
            // The right digest in a form GitHub does not send.
            (Some(upper.as_bytes()), GH_BODY, AuthFailure::Malformed),
            (Some(one_upper.as_bytes()), GH_BODY, AuthFailure::Malformed),
            (Some(bare.as_bytes()), GH_BODY, AuthFailure::Malformed),
            (Some(doubled.as_bytes()), GH_BODY, AuthFailure::Malformed),
            (Some(long.as_bytes()), GH_BODY, AuthFailure::Malformed),
            (Some(twice.as_bytes()), GH_BODY, AuthFailure::Malformed),
            // Truncated signature (valid hex, wrong length).
            (
                Some(b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e"),
                GH_BODY,
                AuthFailure::Malformed,
            ),
            // Upper-case prefix is not GitHub's format.
            (
                Some(b"SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
                GH_BODY,
                AuthFailure::Malformed,
            ),
            // Well-formed, wrong digest.
            (Some(&wrong_digit), GH_BODY, AuthFailure::Mismatch),
            // Right signature, tampered body.
            (Some(GH_SIG), b"Hello, World?", AuthFailure::Mismatch),
            (Some(GH_SIG), b"Hello, World! ", AuthFailure::Mismatch),
        ];
        for w in &ws {
            cases.push((Some(w), GH_BODY, AuthFailure::Malformed));
        }
        for (header, body, want) in cases {
            assert_eq!(
                github_signature(GH_SECRET, body, header),
                Err(want),
                "{:?}",
                header.map(String::from_utf8_lossy)
            );
        }
        // Wrong secret.
        assert_eq!(
            github_signature(b"It's a Secret to Everybody!", GH_BODY, Some(GH_SIG)),
            Err(AuthFailure::Mismatch)
        );
        // The exact form is accepted, for any body and secret.
        let mut mac = HmacSha256::new_from_slice(b"another-secret-1234").unwrap();
        mac.update(b"{\"zen\":\"x\"}");
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            github_signature(
                b"another-secret-1234",
                b"{\"zen\":\"x\"}",
                Some(sig.as_bytes())
            ),
            Ok(())
        );
    }

    #[test]
    fn the_signature_form_is_exact() {
        let ok = format!("sha256={}", "0123456789abcdef".repeat(4));
        assert!(parse_sha256_signature(ok.as_bytes()).is_ok());
        for c in ['A', 'F', 'g', 'G', 'x', ' ', '+', '-'] {
            let mut bad = ok.clone().into_bytes();
            bad[20] = c as u8;
            assert_eq!(
                parse_sha256_signature(&bad),
                Err(AuthFailure::Malformed),
                "{c:?}"
            );
        }
    }

    #[test]
    fn bearer_accepts_only_the_exact_secret() {
        let secret = b"0123456789abcdef-secret";
        assert_eq!(
            bearer(secret, Some(b"Bearer 0123456789abcdef-secret")),
            Ok(())
        );
        for bad in [
            &b"Bearer 0123456789abcdef-secreT"[..],
            b"Bearer 0123456789abcdef-secret ",
            b"Bearer 0123456789abcdef-secre",
            b"bearer 0123456789abcdef-secret",
            b"Bearer",
            b"Bearer ",
            b"Basic MDEyMzQ1Njc4OWFiY2RlZi1zZWNyZXQ=",
            b"0123456789abcdef-secret",
            "Bearer 0123456789abcdef-secretü".as_bytes(),
            b"Bearer \xff\xfe\x00",
            b"Bearer 0123456789abcdef-secret\x00",
        ] {
            assert!(bearer(secret, Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(bearer(secret, None), Err(AuthFailure::Missing));
    }

    #[test]
    fn timestamped_signatures_bind_time_and_body() {
        let secret = b"generic-provider-secret";
        let now = 1_800_000_000;
        let ts = now.to_string();
        let sig = sign_timestamped(secret, &ts, b"{\"a\":1}");
        let ok = |body: &[u8], ts: &str, sig: &str, now: i64| {
            timestamped_signature(
                secret,
                body,
                Some(ts.as_bytes()),
                Some(sig.as_bytes()),
                now,
                300,
            )
        };
        assert_eq!(ok(b"{\"a\":1}", &ts, &sig, now), Ok(now));
        assert_eq!(ok(b"{\"a\":1}", &ts, &sig, now + 300), Ok(now));
        assert_eq!(
            ok(b"{\"a\":1}", &ts, &sig, now + 301),
            Err(AuthFailure::Stale)
        );
        assert_eq!(
            ok(b"{\"a\":1}", &ts, &sig, now - 301),
            Err(AuthFailure::Stale)
        );
        assert_eq!(ok(b"{\"a\":2}", &ts, &sig, now), Err(AuthFailure::Mismatch));
        // The same exact form as GitHub's: no uppercase hex, no bare hex, no whitespace.
        let upper = format!("sha256={}", sig["sha256=".len()..].to_ascii_uppercase());
        let bare = sig["sha256=".len()..].to_string();
        let spaced = format!("{sig} ");
        for bad in [&upper, &bare, &spaced] {
            assert_eq!(
                ok(b"{\"a\":1}", &ts, bad, now),
                Err(AuthFailure::Malformed),
                "{bad}"
            );
        }
        // Moving the timestamp forward to dodge the window breaks the signature.
        let later = (now + 1000).to_string();
        assert_eq!(
            ok(b"{\"a\":1}", &later, &sig, now + 1000),
            Err(AuthFailure::Mismatch)
        );
        for bad_ts in ["", "-5", "1e9", " 1800000000", "18000000000000", "１２"] {
            assert_eq!(
                ok(b"{\"a\":1}", bad_ts, &sig, now),
                Err(AuthFailure::Malformed),
                "{bad_ts}"
            );
        }
        assert_eq!(
            timestamped_signature(secret, b"", None, Some(b"x"), now, 300),
            Err(AuthFailure::Missing)
        );
    }
}
