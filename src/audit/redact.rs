//! Secret masking for everything ccgate writes down or sends out.
//!
//! Why it exists: audit details, logs and relayed output routinely quote URLs, error bodies,
//! environment dumps and files — exactly where the bot token or an API key turns up. Masking
//! them in one place, for both the configured secrets and common credential shapes, means no
//! caller has to remember to; a secret that reached the log is a secret that leaked.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

/// Replaces a configured secret.
pub const MASK: &str = "[REDACTED]";

/// Replaces the credentials of a URL (`https://***@github.com/…`): the host stays visible.
pub const URL_CREDENTIALS_MASK: &str = "***";

/// Every mask this module writes. Masks contain only `[`, `]`, `:`, `*` and letters, so they
/// are safe inside HTML, JSON strings and URLs, and no pattern matches them.
pub const MASKS: &[&str] = &[
    MASK,
    URL_CREDENTIALS_MASK,
    "[REDACTED:privatekey]",
    "[REDACTED:github]",
    "[REDACTED:apikey]",
    "[REDACTED:awskey]",
    "[REDACTED:awssecret]",
    "[REDACTED:telegram]",
    "[REDACTED:slack]",
    "[REDACTED:bearer]",
    "[REDACTED:authorization]",
    "[REDACTED:credential]",
    "[REDACTED:logintoken]",
];

/// Shorter configured values are ignored: they would mask ordinary words.
pub const MIN_SECRET_CHARS: usize = 8;

/// A redaction pass can expose a new match at the edge of a mask (`[REDACTED]123456:…` now
/// starts at a word boundary); passes repeat until nothing changes, at most this many times.
const MAX_PASSES: usize = 8;

/// A credential shape.
struct Shape {
    mask: &'static str,
    re: Regex,
    /// Mask only the capture groups that took part (the value of `password=…`), not the whole
    /// match; when false the whole match is masked.
    groups_only: bool,
    /// Extra check on the masked text, to keep prose out.
    accept: fn(&str) -> bool,
}

fn always(_: &str) -> bool {
    true
}

/// `sk-` keys are random: they contain a digit. Hyphenated words (`sk-learn-compatible-…`)
/// do not.
fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// The userinfo of a URL (`user:password`, `:password`, or a lone token) is a credential unless
/// it is a plain user name: lowercase letters, `_`, `.` and `-` only, at most 32 characters
/// (`git@`, `deploy@`). A password part (any `:`) always is; so is anything with a digit or an
/// uppercase letter (tokens are random). Masks are not masked again.
fn url_credentials(userinfo: &str) -> bool {
    if userinfo.is_empty() || userinfo == URL_CREDENTIALS_MASK || userinfo.starts_with("[REDACTED")
    {
        return false;
    }
    let plain_name = userinfo.len() <= 32
        && userinfo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || matches!(b, b'_' | b'.' | b'-'));
    !plain_name
}

/// `(mask, pattern, groups_only, accept)`, see [`Shape`].
type ShapeSource = (&'static str, &'static str, bool, fn(&str) -> bool);

/// The patterns, compiled once. ASCII word boundaries keep the regex engine on its fast path for
/// non-ASCII text; the `regex` crate guarantees linear time.
const SHAPE_SOURCES: &[ShapeSource] = &[
    // PEM private keys, through the END line; if there is none, to the end of the text (but
    // not past a `<` or `"`, so surrounding HTML or JSON survives).
    (
        "[REDACTED:privatekey]",
        r#"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?:[^<"\\]|\\[^<])*?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\z)|-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?:[^<"\\]|\\[^<])*"#,
        false,
        always,
    ),
    // Credentials embedded in a URL: `scheme://user:pass@host`, `https://<token>@host`,
    // `git+https://x-access-token:…@github.com`, `postgres://u:p@h/db`, `redis://:pass@h`.
    // The userinfo runs to the last `@` before the host (passwords may hold a raw `@`); it
    // cannot cross `/ ? #`, whitespace, quotes or `<>\`, so it never leaves the URL's
    // authority. The scheme and host stay visible. Listed before the token shapes: a token that
    // is the whole userinfo is masked as a URL credential.
    (
        URL_CREDENTIALS_MASK,
        r#"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://([^\s/?#<>"'\\`]+)@"#,
        true,
        url_credentials,
    ),
    (
        "[REDACTED:github]",
        r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        false,
        always,
    ),
    (
        "[REDACTED:apikey]",
        r"(?-u:\b)sk-[A-Za-z0-9_-]{20,}",
        false,
        has_digit,
    ),
    (
        "[REDACTED:awskey]",
        r"(?-u:\b)(?:AKIA|ASIA)[0-9A-Z]{16}(?-u:\b)",
        false,
        always,
    ),
    (
        "[REDACTED:awssecret]",
        r#"(?i)aws_secret_access_key["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9/+=]{40,})"#,
        true,
        always,
    ),
    // Bot tokens in API URLs (`/bot123:AA…/getMe`), where no word boundary precedes the id.
    (
        "[REDACTED:telegram]",
        r"/bot([0-9]{3,}:[A-Za-z0-9_-]{10,})",
        true,
        always,
    ),
    (
        "[REDACTED:telegram]",
        r"(?-u:\b)[0-9]{6,12}:[A-Za-z0-9_-]{30,}",
        false,
        always,
    ),
    (
        "[REDACTED:slack]",
        r"(?-u:\b)xox[abprs]-[A-Za-z0-9-]{10,}",
        false,
        always,
    ),
    (
        "[REDACTED:authorization]",
        r#"(?i)(?-u:\b)authorization["']?[ \t]*[:=][ \t]*["']?(?:bearer|basic|token|bot)[ \t]+([^\s"'<>,;\\]+)"#,
        true,
        always,
    ),
    (
        "[REDACTED:bearer]",
        r"(?i)(?-u:\b)bearer[ \t]+([A-Za-z0-9._~+/=-]{20,})",
        true,
        always,
    ),
    // ccgate's own one-time login tokens (`auth::TOKEN_PREFIX` + 64 hex digits).
    (
        "[REDACTED:logintoken]",
        r"(?-u:\b)ccg_[0-9a-f]{64}(?-u:\b)",
        false,
        always,
    ),
    // `password=…`, `DB_PASSWORD="…"`, `?access_token=…&`: the value only.
    (
        "[REDACTED:credential]",
        r#"(?i)(?-u:\b)[A-Za-z0-9_]*(?:password|passwd|secret|token|api[_-]?key|apikey)=(?:"([^"\r\n\\]+)"|'([^'\r\n\\]+)'|([^\s&"'<>;,\\]+))"#,
        true,
        always,
    ),
    // The same in JSON: `"password": "…"`.
    (
        "[REDACTED:credential]",
        r#"(?i)"[A-Za-z0-9_]*(?:password|passwd|secret|token|api[_-]?key|apikey)"[ \t]*:[ \t]*"((?:[^"\\\r\n]|\\.)+)""#,
        true,
        always,
    ),
];

fn shapes() -> &'static [Shape] {
    static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        SHAPE_SOURCES
            .iter()
            .filter_map(|(mask, pattern, groups_only, accept)| {
                // The patterns are constants and a test compiles every one; never panic here.
                Regex::new(pattern).ok().map(|re| Shape {
                    mask,
                    re,
                    groups_only: *groups_only,
                    accept: *accept,
                })
            })
            .collect()
    })
}

/// Masks configured secrets and common credential shapes. Cheap to clone.
///
/// `Debug` shows only how many secrets are configured, never the values.
#[derive(Clone)]
pub struct Redactor {
    /// Every configured secret in every encoding we look for, longest first.
    literals: Vec<String>,
    configured: usize,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("configured_secrets", &self.configured)
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(Vec::new())
    }
}

impl Redactor {
    /// `secrets`: exact values to mask (the bot token, AUTH_TOKEN_SECRET, webhook secrets, API
    /// keys). Each is trimmed of surrounding whitespace; values shorter than
    /// [`MIN_SECRET_CHARS`] characters are ignored, since masking them would mangle ordinary
    /// words. Values that could occur inside the masks themselves (such as `REDACTED`) are
    /// ignored too, or redaction would never settle. Besides the raw value, its
    /// percent-encoded (upper- and lowercase hex, `%20` and `+` for spaces) and JSON-escaped
    /// forms are masked, so a secret inside a URL or in serialized details is caught.
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Redactor {
        let mut literals = Vec::new();
        let mut configured = 0;
        for secret in secrets {
            let secret = secret.trim();
            if secret.chars().count() < MIN_SECRET_CHARS || is_mask_like(secret) {
                continue;
            }
            configured += 1;
            literals.push(secret.to_string());
            let upper = percent_encode(secret, true);
            literals.push(upper.replace("%20", "+"));
            literals.push(percent_encode(secret, false));
            literals.push(upper);
            let json = serde_json::Value::String(secret.to_string()).to_string();
            if let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"')) {
                literals.push(inner.to_string());
            }
        }
        literals.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        literals.dedup();
        Redactor {
            literals,
            configured,
        }
    }

    /// How many configured secrets are in force (after dropping short ones).
    pub fn configured_secrets(&self) -> usize {
        self.configured
    }

    /// Mask every configured secret (`[REDACTED]`) and every common credential shape
    /// (`[REDACTED:<kind>]`). Returns `Cow::Borrowed` when nothing matched. Idempotent:
    /// `redact(redact(x)) == redact(x)`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut current: Cow<'a, str> = Cow::Borrowed(text);
        for _ in 0..MAX_PASSES {
            match self.pass(&current) {
                Some(next) => current = Cow::Owned(next),
                None => break,
            }
        }
        current
    }

    /// One pass: find every match in `text`, merge overlaps, mask. `None` if nothing matched.
    fn pass(&self, text: &str) -> Option<String> {
        let mut spans: Vec<(usize, usize, &'static str)> = Vec::new();
        for literal in &self.literals {
            spans.extend(
                text.match_indices(literal.as_str())
                    .map(|(start, m)| (start, start + m.len(), MASK)),
            );
        }
        for shape in shapes() {
            if shape.groups_only {
                for caps in shape.re.captures_iter(text) {
                    for m in caps.iter().skip(1).flatten() {
                        if !m.as_str().starts_with("[REDACTED") && (shape.accept)(m.as_str()) {
                            spans.push((m.start(), m.end(), shape.mask));
                        }
                    }
                }
            } else {
                for m in shape.re.find_iter(text) {
                    if (shape.accept)(m.as_str()) {
                        spans.push((m.start(), m.end(), shape.mask));
                    }
                }
            }
        }
        if spans.is_empty() {
            return None;
        }
        // Earliest first; at the same start the longest (and, stably, the earlier kind) wins.
        spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut iter = spans.into_iter().peekable();
        while let Some((start, mut end, mask)) = iter.next() {
            while let Some(&(next_start, next_end, _)) = iter.peek() {
                if next_start >= end {
                    break;
                }
                end = end.max(next_end);
                iter.next();
            }
            out.push_str(&text[copied..start]);
            out.push_str(mask);
            copied = end;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }
}

/// The process's redactor, for text that is cut or reshaped before it reaches one of the
/// outbound paths (which redact again): a credential cut in half by a truncation no longer
/// matches anything, so text is masked *before* it is cut (see `render::truncate`).
static PROCESS: OnceLock<Redactor> = OnceLock::new();

/// Install the process's redactor (with the configured secrets). The first call wins; returns
/// whether this one did.
pub fn install(redactor: Redactor) -> bool {
    PROCESS.set(redactor).is_ok()
}

/// The process's redactor: the installed one, or the credential shapes alone until then.
pub fn process() -> &'static Redactor {
    PROCESS.get_or_init(Redactor::default)
}

/// Whether `s` could appear inside a run of masks: it would match forever.
fn is_mask_like(s: &str) -> bool {
    let mask_alphabet = s
        .chars()
        .all(|c| c.is_ascii_alphabetic() || matches!(c, '[' | ']' | ':'));
    MASKS.iter().any(|m| m.contains(s)) || (mask_alphabet && s.contains(['[', ']']))
}

/// Percent-encode every byte outside the URL-unreserved set.
fn percent_encode(s: &str, upper: bool) -> String {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let digits = if upper { UPPER } else { LOWER };
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(digits[usize::from(b >> 4)]));
            out.push(char::from(digits[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn plain() -> Redactor {
        Redactor::new(Vec::new())
    }

    fn assert_masked(r: &Redactor, text: &str, secret: &str, mask: &str) {
        let out = r.redact(text);
        assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
        assert!(out.contains(mask), "{mask} missing in {out:?}");
        assert_eq!(r.redact(&out), out, "not idempotent for {text:?}");
    }

    #[test]
    fn every_shape_compiles() {
        assert_eq!(shapes().len(), SHAPE_SOURCES.len());
    }

    #[test]
    fn pem_private_keys() {
        let r = plain();
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy\n0AHB7MhgHcTz6sE2I2yPB\n-----END RSA PRIVATE KEY-----";
        let text = format!("before\n{key}\nafter");
        let out = r.redact(&text);
        assert_eq!(out, "before\n[REDACTED:privatekey]\nafter");
        for header in [
            "OPENSSH PRIVATE KEY",
            "PRIVATE KEY",
            "EC PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
        ] {
            let k = format!(
                "-----BEGIN {header}-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END {header}-----"
            );
            assert_eq!(r.redact(&format!("x {k} y")), "x [REDACTED:privatekey] y");
        }
        // Unterminated: masked to the end.
        let cut = "log: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nabc";
        assert_eq!(r.redact(cut), "log: [REDACTED:privatekey]");
        // ...but not through surrounding HTML or JSON.
        let html = "<pre>-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq</pre>";
        assert_eq!(r.redact(html), "<pre>[REDACTED:privatekey]</pre>");
        let json = serde_json::json!({"out": "-----BEGIN PRIVATE KEY-----\nMIIEv\\\"QIBA", "n": 1})
            .to_string();
        let out = r.redact(&json);
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["out"], "[REDACTED:privatekey]");
        assert_eq!(back["n"], 1);
        // PGP blocks and keys inside JSON with escaped newlines.
        let pgp =
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----";
        assert_eq!(r.redact(pgp), "[REDACTED:privatekey]");
        let escaped = serde_json::json!({"k": key}).to_string();
        assert_eq!(r.redact(&escaped), "{\"k\":\"[REDACTED:privatekey]\"}");
        // A public key is not a secret.
        let public = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----";
        assert!(matches!(r.redact(public), Cow::Borrowed(_)));
    }

    #[test]
    fn credential_shapes() {
        let r = plain();
        let cases = [
            ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 here", "ghp_aBcDeF", "[REDACTED:github]"),
            ("gho_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "gho_", "[REDACTED:github]"),
            ("ghs_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghs_", "[REDACTED:github]"),
            ("github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJ", "github_pat_", "[REDACTED:github]"),
            ("key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abc end", "sk-ant", "[REDACTED:apikey]"),
            ("OPENAI=sk-proj-Ab12Cd34Ef56Gh78Ij90KlMnOp", "sk-proj", "[REDACTED"),
            ("sk-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij", "sk-AbCd", "[REDACTED:apikey]"),
            ("id AKIAIOSFODNN7EXAMPLE in config", "AKIAIOSFODNN7EXAMPLE", "[REDACTED:awskey]"),
            ("ASIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE", "[REDACTED:awskey]"),
            ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "[REDACTED:awssecret]"),
            ("AWS_SECRET_ACCESS_KEY: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"", "wJalrXUtnFEMI", "[REDACTED:awssecret]"),
            ("bot token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw.", "AAHdqTcvCH1v", "[REDACTED:telegram]"),
            ("GET https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe", "AAHdqTcvCH1v", "/bot[REDACTED:telegram]/getMe"),
            ("https://api.telegram.org/bot1234:AAHdqTcvCH1v/sendMessage", "AAHdqTcvCH1v", "/bot[REDACTED:telegram]/"),
            ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-", "[REDACTED:slack]"),
            ("xoxp-1234567890-abcdef", "xoxp-", "[REDACTED:slack]"),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "eyJhbGci", "Authorization: Bearer [REDACTED"),
            ("authorization: token shorttok", "shorttok", "[REDACTED:authorization]"),
            ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "[REDACTED:authorization]"),
            ("curl -H 'Authorization: Bearer abc123'", "abc123", "[REDACTED:authorization]"),
            ("using bearer AbCdEfGhIjKlMnOpQrStUvWx for it", "AbCdEfGhIj", "bearer [REDACTED:bearer] for"),
            ("https://x.y/cb?user=me&password=hunter22&next=1", "hunter22", "password=[REDACTED:credential]&next=1"),
            ("https://x.y/?access_token=abc.def-ghi&x=1", "abc.def-ghi", "access_token=[REDACTED:credential]&x=1"),
            ("DB_PASSWORD=s3cr3t!x", "s3cr3t!x", "DB_PASSWORD=[REDACTED:credential]"),
            ("export AUTH_TOKEN_SECRET=\"long value with spaces\"", "long value", "AUTH_TOKEN_SECRET=\"[REDACTED:credential]\""),
            ("passwd='p@ss w0rd'", "p@ss", "passwd='[REDACTED:credential]'"),
            ("API_KEY=abcdef123", "abcdef123", "API_KEY=[REDACTED:credential]"),
            ("x-api-key=abcdef123", "abcdef123", "api-key=[REDACTED:credential]"),
            ("secret=xyz; path=/", "xyz", "secret=[REDACTED:credential]; path=/"),
            ("{\"password\": \"hunter2\\\"x\", \"user\": \"bob\"}", "hunter2", "\"password\": \"[REDACTED:credential]\", \"user\": \"bob\""),
            ("{\"client_secret\":\"abc\"}", "abc", "{\"client_secret\":\"[REDACTED:credential]\"}"),
            (
                "/login ccg_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "0123456789abcdef",
                "/login [REDACTED:logintoken]",
            ),
        ];
        for (text, secret, mask) in cases {
            assert_masked(&r, text, secret, mask);
        }
    }

    #[test]
    fn credentials_in_urls_are_masked_and_the_host_stays() {
        let r = plain();
        // (text, the secret that must go, the exact result)
        let masked = [
            ("https://user:hunter22@example.com/x", "hunter22", "https://***@example.com/x"),
            ("https://ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789@github.com/o/r.git", "ghp_", "https://***@github.com/o/r.git"),
            ("https://0123456789abcdef0123@host", "0123456789abcdef", "https://***@host"),
            ("https://AbCdEfGhIjKl@host/p", "AbCdEfGhIjKl", "https://***@host/p"),
            ("git+https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r", "ghs_16C7e42F", "git+https://***@github.com/o/r"),
            ("postgres://app:s3cret@db.internal:5432/main", "s3cret", "postgres://***@db.internal:5432/main"),
            ("postgresql://u:p@h/db", "u:p", "postgresql://***@h/db"),
            ("redis://:redispass@cache:6379/0", "redispass", "redis://***@cache:6379/0"),
            ("mongodb+srv://admin:pw%40x@cluster0.mongodb.net/?retryWrites=true", "pw%40x", "mongodb+srv://***@cluster0.mongodb.net/?retryWrites=true"),
            ("amqp://guest:guest@rabbit", "guest:guest", "amqp://***@rabbit"),
            ("HTTPS://User:Pass1@Example.com", "Pass1", "HTTPS://***@Example.com"),
            // A raw `@` in the password: everything up to the host goes.
            ("https://bob:p@ss@host/x", "p@ss", "https://***@host/x"),
            // Inside a command line, JSON and HTML.
            ("git clone https://oauth2:glpat-abcdefghij1234567890@gitlab.com/g/p.git && ls", "glpat-", "git clone https://***@gitlab.com/g/p.git && ls"),
            (r#"{"command":"curl https://u:pw123@api.x.io/v1"}"#, "pw123", r#"{"command":"curl https://***@api.x.io/v1"}"#),
            ("<code>https://u:pw123@h</code>", "pw123", "<code>https://***@h</code>"),
            // A user name with a password is masked whole (the name may be an account id).
            ("ftp://deploy:x@files.example", "deploy:x", "ftp://***@files.example"),
            ("https://user:@host", "user:", "https://***@host"),
        ];
        for (text, secret, want) in masked {
            let out = r.redact(text);
            assert_eq!(out, want, "{text}");
            assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
            assert_eq!(r.redact(&out), out, "not idempotent for {text:?}");
        }
        // Kept: plain user names, `@` outside the authority, hosts with ports, no scheme.
        let kept = [
            "ssh://git@github.com/org/repo.git",
            "https://deploy@host.example/x",
            "https://x-access-token@github.com/",
            "git@github.com:org/repo.git",
            "https://github.com/users/a@b.c",
            "https://example.com/?email=me@example.com",
            "https://example.com/#frag@x",
            "mailto:someone@example.com",
            "write to someone@example.com",
            "http://localhost:3000/path",
            "https://example.com:8443/a:b@c",
            "https://***@github.com/o/r",
            "see https:// and @home",
        ];
        for text in kept {
            assert!(
                matches!(r.redact(text), Cow::Borrowed(_)),
                "{text} -> {}",
                r.redact(text)
            );
        }
    }

    #[test]
    fn configured_secrets_anywhere() {
        let secret = "hunter2-super/secret value";
        let r = Redactor::new(vec![format!("  {secret}\n"), BOT_TOKEN.to_string()]);
        assert_eq!(r.configured_secrets(), 2);
        assert_eq!(r.redact(secret), "[REDACTED]");
        assert_eq!(r.redact(&format!("start {secret}")), "start [REDACTED]");
        assert_eq!(r.redact(&format!("{secret} end")), "[REDACTED] end");
        assert_eq!(
            r.redact(&format!("a{secret}b{secret}c")),
            "a[REDACTED]b[REDACTED]c"
        );
        // Percent-encoded in a URL, in both hex cases, and form-encoded.
        assert_eq!(
            r.redact("https://x.y/?q=hunter2-super%2Fsecret%20value&z=1"),
            "https://x.y/?q=[REDACTED]&z=1"
        );
        assert_eq!(r.redact("q=hunter2-super%2fsecret%20value"), "q=[REDACTED]");
        assert_eq!(r.redact("q=hunter2-super%2Fsecret+value"), "q=[REDACTED]");
        // The bot token raw in a URL: the configured value wins over the shape.
        assert_eq!(
            r.redact(&format!(
                "https://api.telegram.org/bot{BOT_TOKEN}/getUpdates"
            )),
            "https://api.telegram.org/bot[REDACTED]/getUpdates"
        );
        assert_eq!(
            r.redact(
                "https://api.telegram.org/bot123456789%3AAAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/x"
            ),
            "https://api.telegram.org/bot[REDACTED]/x"
        );
        // JSON-escaped, as in serialized audit details, and the result stays valid JSON.
        let quoted = Redactor::new(vec!["pa\"ss\\word123".to_string()]);
        let json = serde_json::json!({"t": "x pa\"ss\\word123 y"}).to_string();
        let out = quoted.redact(&json);
        assert_eq!(out, "{\"t\":\"x [REDACTED] y\"}");
        assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
        // Overlapping configured secrets: the union is masked once.
        let both = Redactor::new(vec!["abcdefgh1234".to_string(), "1234wxyz5678".to_string()]);
        assert_eq!(both.redact("-abcdefgh1234wxyz5678-"), "-[REDACTED]-");
        // Debug never shows values.
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("AAHdq"), "{dbg}");
    }

    #[test]
    fn short_and_mask_like_secrets_are_ignored() {
        let r = Redactor::new(vec![
            "short".to_string(),
            "1234567".to_string(),
            "   abc   ".to_string(),
            String::new(),
            "REDACTED".to_string(),
            "[REDACTED:github]".to_string(),
            "ED][REDAC".to_string(),
        ]);
        assert_eq!(r.configured_secrets(), 0);
        let text = "a short note about 1234567 and abc";
        assert!(matches!(r.redact(text), Cow::Borrowed(_)));
        let masks = MASKS.concat();
        assert!(matches!(r.redact(&masks), Cow::Borrowed(_)));
        // Exactly eight characters is enough.
        let r8 = Redactor::new(vec!["abcd1234".to_string()]);
        assert_eq!(r8.redact("x abcd1234 y"), "x [REDACTED] y");
        // Multi-byte characters count as characters, not bytes.
        let r_short = Redactor::new(vec!["ééééééé".to_string()]);
        assert_eq!(r_short.configured_secrets(), 0);
    }

    #[test]
    fn no_false_positives() {
        let r = Redactor::new(vec!["correct-horse-battery".to_string()]);
        let clean = [
            "sk-learn is a library",
            "use sk-learn-compatible-estimators-and-transformers for this",
            "the task-list is long; mask-rcnn-resnet50 too",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
            "id 550e8400-e29b-41d4-a716-446655440000",
            "git update-index --skip-worktree config.toml",
            "the bearer of bad news",
            "max_tokens=1024 is a parameter name, token_count=5",
            "password: see the vault",
            "The tokenizer splits words; secrets are not here.",
            "time 12:30:45, ratio 16:9, port localhost:8080",
            "<b>bold</b> <a href=\"https://example.com/?q=1&amp;r=2\">link</a>",
            "fn main() { let x = 1; }",
            "AKIA is a prefix; AKIAshort",
            "Привет, мир! ёжик в тумане",
            "",
        ];
        for text in clean {
            let out = r.redact(text);
            assert!(
                matches!(out, Cow::Borrowed(_)),
                "false positive: {text:?} -> {out:?}"
            );
        }
    }

    #[test]
    fn html_survives() {
        let r = Redactor::new(vec![BOT_TOKEN.to_string()]);
        let html = format!(
            "<pre><code>curl https://api.telegram.org/bot{BOT_TOKEN}/getMe\nexport API_KEY=abc123def</code></pre>\n<b>done</b> &amp; ok"
        );
        let out = r.redact(&html);
        assert_eq!(
            out,
            "<pre><code>curl https://api.telegram.org/bot[REDACTED]/getMe\nexport API_KEY=[REDACTED:credential]</code></pre>\n<b>done</b> &amp; ok"
        );
    }

    #[test]
    fn idempotent() {
        let r = Redactor::new(vec![
            "mysecret12".to_string(),
            BOT_TOKEN.to_string(),
            "ED]x1234!".to_string(),
        ]);
        let inputs = [
            format!("mysecret12{BOT_TOKEN}"),
            "mysecret123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawxx".to_string(),
            "[REDACTED]x1234! token=[REDACTED:credential] password=\"[REDACTED]\"".to_string(),
            "Authorization: Bearer [REDACTED:bearer]".to_string(),
            "PASSWORD=mysecret12&token=sk-abcdefghijklmnopqrstuvwxyz012345".to_string(),
            "-----BEGIN PRIVATE KEY-----\nmysecret12".to_string(),
            MASKS.join(" "),
        ];
        for text in inputs {
            let once = r.redact(&text).into_owned();
            let twice = r.redact(&once);
            assert_eq!(twice, once, "input {text:?}");
            assert!(
                matches!(twice, Cow::Borrowed(_)),
                "second pass changed {once:?}"
            );
        }
    }

    #[test]
    fn borrowed_when_clean() {
        let r = Redactor::new(vec!["abcdefgh12345".to_string()]);
        assert!(matches!(r.redact("nothing to see here"), Cow::Borrowed(_)));
        assert!(matches!(r.redact("abcdefgh12345"), Cow::Owned(_)));
    }

    #[test]
    fn megabyte_input_is_fast() {
        let r = Redactor::new(vec![
            BOT_TOKEN.to_string(),
            "correct-horse-battery".to_string(),
        ]);
        let chunk = "ordinary log line with sk- and ghp_ and bearer and password and -----BEGIN and 12345678: и юникод\n";
        let mut big = chunk.repeat(1_000_000 / chunk.len());
        big.push_str("-----BEGIN RSA PRIVATE KEY-----\n");
        big.push_str(&"A".repeat(100_000));
        big.push_str("\ntail password=abc correct-horse-battery");
        let start = std::time::Instant::now();
        let out = r.redact(&big);
        let elapsed = start.elapsed();
        assert!(
            out.ends_with("[REDACTED:privatekey]"),
            "{}",
            &out[out.len() - 60..]
        );
        assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
        let colons = "1234567:".repeat(150_000);
        let start = std::time::Instant::now();
        assert!(matches!(r.redact(&colons), Cow::Borrowed(_)));
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }
}
