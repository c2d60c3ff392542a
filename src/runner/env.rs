//! The environment a `claude` child process gets: an allowlist, never a copy of ours.
//!
//! Why it exists: ccgate's own environment holds the bot token and other secrets. Claude runs
//! arbitrary tools (Bash!) with whatever environment it inherits, so anything not explicitly
//! needed by the CLI stays out. The rule is: start empty, copy allowlisted names, and drop any
//! variable whose value equals a configured secret even if its name was allowed.

/// Names copied from ccgate's environment when present.
const ALLOWED_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "TMPDIR",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CONFIG_DIR",
    "DISABLE_TELEMETRY",
    "DISABLE_AUTOUPDATER",
    "DISABLE_ERROR_REPORTING",
    "DO_NOT_TRACK",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "IS_SANDBOX",
];

/// Name prefixes copied when present (the CLI's own switches, locale categories, cloud
/// provider selection for Bedrock/Vertex users).
const ALLOWED_PREFIXES: &[&str] = &["CLAUDE_CODE_", "LC_", "AWS_REGION", "CLOUD_ML_REGION"];

/// Names that never pass, whatever the allowlist or passthrough says.
const DENIED_PREFIXES: &[&str] = &[
    "TELEGRAM_",
    "CCGATE_",
    "AUTH_TOKEN_SECRET",
    "WEBHOOK_",
    "GITHUB_WEBHOOK",
];

/// Build the child's environment from `source` (normally `std::env::vars()`).
///
/// `extra` are operator-chosen names (`CLAUDE_ENV_PASSTHROUGH`); `secrets` are values that
/// must never appear, compared exactly.
pub fn child_env(
    source: impl IntoIterator<Item = (String, String)>,
    extra: &[String],
    secrets: &[String],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = source
        .into_iter()
        .filter(|(k, _)| {
            ALLOWED_NAMES.contains(&k.as_str())
                || ALLOWED_PREFIXES.iter().any(|p| k.starts_with(p))
                || extra.iter().any(|e| e == k)
        })
        .filter(|(k, _)| !DENIED_PREFIXES.iter().any(|p| k.starts_with(p)))
        .filter(|(_, v)| {
            !secrets
                .iter()
                .any(|s| !s.is_empty() && v.contains(s.as_str()))
        })
        .collect();
    out.sort();
    // Quiet by default: no telemetry or auto-update traffic from a headless gateway.
    for (k, v) in [
        ("DISABLE_AUTOUPDATER", "1"),
        ("DISABLE_TELEMETRY", "1"),
        ("DISABLE_ERROR_REPORTING", "1"),
    ] {
        if !out.iter().any(|(n, _)| n == k) {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Vec<(String, String)> {
        [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("TELEGRAM_BOT_TOKEN", "123:secret"),
            ("AUTH_TOKEN_SECRET", "hmac"),
            ("ANTHROPIC_API_KEY", "sk-ant"),
            ("CLAUDE_CODE_MAX_RETRIES", "0"),
            ("LC_ALL", "C.UTF-8"),
            ("AWS_SECRET_ACCESS_KEY", "aws"),
            ("RANDOM_VAR", "x"),
            ("LEAKY", "prefix-123:secret-suffix"),
            ("MY_TOOL_HOME", "/opt/tool"),
            ("TELEGRAM_PASSTHROUGH_ATTEMPT", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn only_allowlisted_names_pass_and_secrets_never() {
        let env = child_env(
            src(),
            &[
                "MY_TOOL_HOME".into(),
                "LEAKY".into(),
                "TELEGRAM_PASSTHROUGH_ATTEMPT".into(),
            ],
            &["123:secret".into()],
        );
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        for must in [
            "PATH",
            "HOME",
            "ANTHROPIC_API_KEY",
            "CLAUDE_CODE_MAX_RETRIES",
            "LC_ALL",
            "MY_TOOL_HOME",
        ] {
            assert!(names.contains(&must), "{must} missing from {names:?}");
        }
        for never in [
            "TELEGRAM_BOT_TOKEN",
            "AUTH_TOKEN_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "RANDOM_VAR",
            "LEAKY",
            "TELEGRAM_PASSTHROUGH_ATTEMPT",
        ] {
            assert!(!names.contains(&never), "{never} leaked");
        }
        assert!(env.iter().all(|(_, v)| !v.contains("123:secret")));
        assert!(names.contains(&"DISABLE_TELEMETRY"));
    }
}
