//! TOTP (RFC 6238) step-up authentication for dangerous tool calls.
//!
//! A Telegram account can be stolen or a chat left open on an unlocked phone, so for the
//! tool calls that can do real damage ccgate asks for a fresh code from the operator's
//! authenticator app: a second factor that lives on a different device than the chat.
//! This module is pure (no I/O, no clock): callers pass the time and remember used steps.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Number of digits in a code, as authenticator apps show by default.
pub const DIGITS: u32 = 6;
/// Length of one time step in seconds (RFC 6238 default `X`).
pub const STEP_SECS: u64 = 30;

/// Issuer shown by authenticator apps next to the account label.
const ISSUER: &str = "ccgate";
/// Length of a freshly generated secret: 160 bits, the size RFC 4226 recommends for SHA-1.
const GENERATED_LEN: usize = 20;
/// Shortest secret accepted: RFC 4226 §4 requires at least 128 bits.
const MIN_LEN: usize = 16;

type HmacSha1 = Hmac<Sha1>;

/// A TOTP shared secret. `Debug` never prints the bytes.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// 20 fresh bytes from the operating system's CSPRNG.
    ///
    /// Panics only if the OS random source itself fails, which is not recoverable anyway.
    pub fn generate() -> TotpSecret {
        use rand::{Rng, TryRngCore};
        let mut bytes = vec![0u8; GENERATED_LEN];
        rand::rngs::OsRng.unwrap_err().fill(bytes.as_mut_slice());
        TotpSecret(bytes)
    }

    /// A secret from raw bytes; `None` if shorter than 16 bytes (128 bits).
    pub fn from_bytes(b: &[u8]) -> Option<TotpSecret> {
        (b.len() >= MIN_LEN).then(|| TotpSecret(b.to_vec()))
    }

    /// A secret from its base32 form, as typed or pasted by a person: whitespace anywhere,
    /// lowercase letters and trailing `=` padding (present or missing) are all accepted.
    /// `None` if it is not valid base32 or decodes to fewer than 16 bytes.
    pub fn from_base32(s: &str) -> Option<TotpSecret> {
        let cleaned: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let unpadded = cleaned.trim_end_matches('=');
        let bytes = BASE32_NOPAD.decode(unpadded.as_bytes()).ok()?;
        TotpSecret::from_bytes(&bytes)
    }

    /// Unpadded uppercase base32 (RFC 4648 alphabet), the form authenticator apps expect.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// The raw secret bytes (for storage; keep them out of logs).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The enrollment URI in the Key URI format understood by authenticator apps:
    /// `otpauth://totp/ccgate:<label>?secret=...&issuer=ccgate&algorithm=SHA1&digits=6&period=30`
    /// with the label and issuer percent-encoded.
    pub fn otpauth_uri(&self, label: &str) -> String {
        let issuer = percent_encode(ISSUER);
        format!(
            "otpauth://totp/{issuer}:{label}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            label = percent_encode(label),
            secret = self.to_base32(),
        )
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`),
/// so the result is safe in both the path and the query of a URI.
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// HOTP (RFC 4226): HMAC-SHA1 of the big-endian counter, dynamic truncation, the last
/// `digits` decimal digits zero-padded. `digits` is clamped to 1..=9 (a 31-bit value has
/// at most 10 digits and 10^10 does not fit a `u32`).
fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let digits = digits.clamp(1, 9);
    // HMAC accepts keys of any length, so this never fails; should it ever, an empty
    // code matches nothing (fail closed).
    let Ok(mut mac) = HmacSha1::new_from_slice(key) else {
        return String::new();
    };
    mac.update(&counter.to_be_bytes());
    let hash: [u8; 20] = mac.finalize().into_bytes().into();
    // Offset is at most 15, so hash[offset + 3] <= hash[18]: always in bounds.
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset],
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]) & 0x7fff_ffff;
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The code for a Unix time (seconds), RFC 6238 with HMAC-SHA1, dynamic truncation per
/// RFC 4226: zero-padded, [`DIGITS`] digits.
pub fn code_at(secret: &TotpSecret, unix_secs: u64) -> String {
    hotp(&secret.0, unix_secs / STEP_SECS, DIGITS)
}

/// Check a user-typed code against the codes for time steps t-1, t and t+1 (clock drift).
///
/// Whitespace is removed first (people type "123 456"); what is left must be exactly
/// [`DIGITS`] ASCII digits. Each candidate is compared in constant time and all three are
/// always compared (no early exit). Returns the matched time step (counter) so the caller can refuse a second
/// use of the same step (replay): remember the last accepted step and refuse any step not
/// greater than it. If a code happens to match more than one step, the highest is returned.
pub fn verify(secret: &TotpSecret, code: &str, unix_secs: u64) -> Option<u64> {
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    // Byte length and ASCII-only digits: any non-ASCII character (Arabic-Indic or
    // fullwidth digits included) fails here.
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = unix_secs / STEP_SECS;
    let mut found = Choice::from(0);
    let mut step = 0u64;
    // Ascending order, so a later (higher) match overrides an earlier one.
    for candidate in [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let expected = hotp(&secret.0, candidate, DIGITS);
        let matched = expected.as_bytes().ct_eq(typed.as_bytes());
        step.conditional_assign(&candidate, matched);
        found |= matched;
    }
    bool::from(found).then_some(step)
}

/// The enrollment picture for a terminal: the QR code of `uri` as unicode half-block
/// characters (two modules per character cell), with the quiet zone.
///
/// Colours are chosen for the usual light-on-dark terminal: dark modules are printed as
/// blanks and light modules as blocks. If the URI is too long to fit in a QR code, a
/// one-line explanation is returned instead (the caller should also print the secret).
pub fn qr_for_terminal(uri: &str) -> String {
    use qrcode::render::unicode::Dense1x2;
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(cannot draw a QR code for this URI: {e}; enter the secret by hand)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(RFC_KEY).expect("20-byte key")
    }

    #[test]
    fn rfc4226_appendix_d_hotp() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), *want, "counter {counter}");
        }
    }

    const RFC6238_SHA1: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc6238_appendix_b_sha1_eight_digits() {
        for (t, want) in RFC6238_SHA1 {
            assert_eq!(hotp(RFC_KEY, t / STEP_SECS, 8), want, "time {t}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_six_digits() {
        for (t, want8) in RFC6238_SHA1 {
            assert_eq!(code_at(&rfc_secret(), t), want8[2..], "time {t}");
        }
        assert_eq!(code_at(&rfc_secret(), 1_234_567_890), "005924");
    }

    #[test]
    fn hotp_digits_are_clamped_not_panicking() {
        assert_eq!(hotp(RFC_KEY, 0, 0).len(), 1);
        assert_eq!(hotp(RFC_KEY, 0, 9).len(), 9);
        assert_eq!(hotp(RFC_KEY, 0, u32::MAX).len(), 9);
        assert_eq!(hotp(b"", u64::MAX, 6).len(), 6);
    }

    #[test]
    fn code_at_extremes_do_not_panic() {
        let s = rfc_secret();
        assert_eq!(code_at(&s, 0).len(), 6);
        assert_eq!(code_at(&s, u64::MAX).len(), 6);
    }

    #[test]
    fn verify_accepts_previous_current_and_next_step() {
        let s = rfc_secret();
        let t = 1_111_111_111; // step 37_037_037
        let now = t / STEP_SECS;
        assert_eq!(verify(&s, &code_at(&s, t), t), Some(now));
        assert_eq!(verify(&s, &code_at(&s, t - STEP_SECS), t), Some(now - 1));
        assert_eq!(verify(&s, &code_at(&s, t + STEP_SECS), t), Some(now + 1));
    }

    #[test]
    fn verify_rejects_two_steps_away() {
        let s = rfc_secret();
        let t = 1_111_111_111;
        assert_eq!(verify(&s, &code_at(&s, t - 2 * STEP_SECS), t), None);
        assert_eq!(verify(&s, &code_at(&s, t + 2 * STEP_SECS), t), None);
    }

    #[test]
    fn verify_rfc_time_59_with_and_without_spaces() {
        let s = rfc_secret();
        assert_eq!(verify(&s, "287082", 59), Some(1));
        assert_eq!(verify(&s, "287 082", 59), Some(1));
        assert_eq!(verify(&s, "  287082\n", 59), Some(1));
        assert_eq!(verify(&s, "2 8 7 0 8 2", 59), Some(1));
    }

    #[test]
    fn verify_rejects_malformed_input() {
        let s = rfc_secret();
        for bad in [
            "",
            "   ",
            "28708",
            "2870820",
            "94287082",
            "12345a",
            "28708a",
            "-87082",
            "+87082",
            "١٢٣٤٥٦",
            "２８７０８２", // fullwidth digits
            "287082\0",
            "28708\u{0}2",
        ] {
            assert_eq!(verify(&s, bad, 59), None, "{bad:?}");
        }
    }

    #[test]
    fn verify_rejects_wrong_code() {
        let s = rfc_secret();
        let good = code_at(&s, 59);
        let wrong = if good == "000000" { "111111" } else { "000000" };
        assert_eq!(verify(&s, wrong, 59), None);
    }

    #[test]
    fn verify_at_time_zero_and_max_does_not_panic() {
        let s = rfc_secret();
        assert_eq!(verify(&s, &code_at(&s, 0), 0), Some(0));
        assert_eq!(verify(&s, &code_at(&s, 30), 0), Some(1));
        let max = u64::MAX;
        assert_eq!(verify(&s, &code_at(&s, max), max), Some(max / STEP_SECS));
    }

    #[test]
    fn verify_with_other_secret_fails() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        // Vanishingly unlikely to collide by chance across three steps; guard anyway.
        let code = code_at(&a, 1_000_000);
        let collides = (0..3).any(|i| code_at(&b, 1_000_000 - STEP_SECS + i * STEP_SECS) == code);
        if !collides {
            assert_eq!(verify(&b, &code, 1_000_000), None);
        }
    }

    #[test]
    fn generate_gives_distinct_20_byte_secrets() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        assert_eq!(a.as_bytes().len(), 20);
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_ne!(a.as_bytes(), &[0u8; 20]);
    }

    #[test]
    fn from_bytes_enforces_minimum_length() {
        assert!(TotpSecret::from_bytes(&[7u8; 15]).is_none());
        assert!(TotpSecret::from_bytes(&[]).is_none());
        assert_eq!(
            TotpSecret::from_bytes(&[7u8; 16]).unwrap().as_bytes(),
            &[7u8; 16]
        );
    }

    #[test]
    fn base32_of_rfc_secret() {
        let s = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(s.as_bytes(), RFC_KEY);
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn from_base32_is_tolerant() {
        for input in [
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
            "gezd gnbv gy3t qojq\tgezd gnbv gy3t qojq\n",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ========",
        ] {
            let s = TotpSecret::from_base32(input).unwrap_or_else(|| panic!("{input:?}"));
            assert_eq!(s.as_bytes(), RFC_KEY, "{input:?}");
        }
        // 16 bytes -> 26 chars, needs 6 '=' of padding in padded form.
        let sixteen = TotpSecret::from_bytes(&[0xa5; 16]).unwrap();
        let b32 = sixteen.to_base32();
        assert_eq!(b32.len(), 26);
        let padded = format!("{b32}======");
        assert_eq!(
            TotpSecret::from_base32(&padded).unwrap().as_bytes(),
            &[0xa5; 16]
        );
    }

    #[test]
    fn from_base32_rejects_garbage_and_short() {
        for bad in [
            "",
            "   ",
            "GEZDGNBVGY3TQOJQ", // 10 bytes: too short
            "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ",
            "GEZDGNBVGY3TQOJQ=GEZDGNBVGY3TQOJQ",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ0",
            "ĞEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "GEZDGNBVGY3TQOJQ-GEZDGNBVGY3TQOJQ",
        ] {
            assert!(TotpSecret::from_base32(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trip() {
        for _ in 0..32 {
            let s = TotpSecret::generate();
            let b32 = s.to_base32();
            assert_eq!(b32.len(), 32);
            assert!(b32
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
            assert_eq!(
                TotpSecret::from_base32(&b32).unwrap().as_bytes(),
                s.as_bytes()
            );
            let lower = b32.to_ascii_lowercase();
            assert_eq!(
                TotpSecret::from_base32(&lower).unwrap().as_bytes(),
                s.as_bytes()
            );
        }
        for len in 16..=40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let s = TotpSecret::from_bytes(&bytes).unwrap();
            assert!(!s.to_base32().contains('='));
            assert_eq!(
                TotpSecret::from_base32(&s.to_base32()).unwrap().as_bytes(),
                bytes
            );
        }
    }

    #[test]
    fn debug_does_not_leak() {
        let s = rfc_secret();
        let dbg = format!("{s:?}");
        assert_eq!(dbg, "TotpSecret(..)");
        assert_eq!(format!("{s:#?}"), "TotpSecret(..)");
        assert!(!dbg.contains("1234"));
        assert!(!dbg.contains("GEZD"));
    }

    fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn otpauth_uri_format_parses_back() {
        let s = rfc_secret();
        let label = "alice@example.com bot/1:ü&x=y?";
        let uri = s.otpauth_uri(label);
        assert!(uri.is_ascii());
        let rest = uri
            .strip_prefix("otpauth://totp/")
            .expect("scheme and type");
        let (path, query) = rest.split_once('?').expect("query");
        assert!(!query.contains('?'));
        let (issuer, account) = path.split_once(':').expect("issuer prefix");
        assert_eq!(issuer, "ccgate");
        assert!(!account.contains(':') && !account.contains('/') && !account.contains(' '));
        assert_eq!(percent_decode(account), label);

        let params: Vec<(&str, &str)> = query
            .split('&')
            .map(|kv| kv.split_once('=').expect("key=value"))
            .collect();
        assert_eq!(
            params,
            [
                ("secret", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
                ("issuer", "ccgate"),
                ("algorithm", "SHA1"),
                ("digits", "6"),
                ("period", "30"),
            ]
        );
        let secret = TotpSecret::from_base32(params[0].1).unwrap();
        assert_eq!(secret.as_bytes(), s.as_bytes());
    }

    #[test]
    fn otpauth_uri_simple_label() {
        let uri = rfc_secret().otpauth_uri("operator");
        assert_eq!(
            uri,
            "otpauth://totp/ccgate:operator?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=ccgate&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn qr_for_terminal_is_multiline_blocks() {
        let uri = TotpSecret::generate().otpauth_uri("operator@host");
        let qr = qr_for_terminal(&uri);
        assert!(!qr.is_empty());
        let lines: Vec<&str> = qr.lines().collect();
        assert!(lines.len() > 10, "{} lines", lines.len());
        let width = lines[0].chars().count();
        assert!(width > 20);
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(qr.contains('█'));
    }

    /// Reads the picture back into modules and compares with the encoder's matrix: proves
    /// the half-block packing and the polarity (block = light module, blank = dark module).
    #[test]
    fn qr_for_terminal_matches_the_code_matrix() {
        let uri = rfc_secret().otpauth_uri("operator");
        let code = qrcode::QrCode::new(uri.as_bytes()).unwrap();
        let width = code.width();
        let colors = code.to_colors();
        let quiet = 4;
        let size = width + 2 * quiet;
        let rows: Vec<Vec<char>> = qr_for_terminal(&uri)
            .lines()
            .map(|l| l.chars().collect())
            .collect();
        assert_eq!(rows.len(), size.div_ceil(2));
        for y in 0..size {
            for x in 0..size {
                let inside =
                    (quiet..quiet + width).contains(&x) && (quiet..quiet + width).contains(&y);
                let dark =
                    inside && colors[(y - quiet) * width + (x - quiet)] == qrcode::Color::Dark;
                let c = rows[y / 2][x];
                let lit = if y % 2 == 0 {
                    matches!(c, '█' | '▀')
                } else {
                    matches!(c, '█' | '▄')
                };
                assert_eq!(lit, !dark, "module ({x}, {y})");
            }
        }
    }

    #[test]
    fn qr_for_terminal_too_long_does_not_panic() {
        let huge = "x".repeat(10_000);
        let out = qr_for_terminal(&huge);
        assert!(!out.is_empty());
        assert_eq!(out.lines().count(), 1);
    }
}
