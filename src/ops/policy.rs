//! `policy check` and `policy defaults`: the tool-call policy explained to the operator.
//!
//! Why a file of its own: an operator tuning POLICY_FILE needs to see exactly what the running
//! bot would decide for a call — the same `policy::engine::decide` with the configured rules,
//! secrets and sandbox — and why; nothing here decides anything itself.

use anyhow::{anyhow, bail};

use super::Report;
use crate::config::Config;
use crate::policy::engine::{self, Decision};
use crate::policy::roles::Role;

/// The built-in rules as TOML (a starting point for POLICY_FILE).
pub fn defaults() -> Report {
    let mut report = Report::default();
    report.text(engine::DEFAULT_RULES_TOML);
    report
}

/// Decide one tool call given as JSON: `{"tool_name": …, "input": {…}}`, optionally with
/// `"cwd"` (inside the approved directory), `"role"` and `"contained"` (default: SANDBOX).
pub fn check(config: &Config, call: &str) -> anyhow::Result<Report> {
    let v: serde_json::Value =
        serde_json::from_str(call).map_err(|e| anyhow!("the tool call must be JSON: {e}"))?;
    let tool = v["tool_name"].as_str().or(v["tool"].as_str()).unwrap_or("");
    if tool.is_empty() {
        bail!("the JSON needs a \"tool_name\"");
    }
    let root = &config.approved_directory;
    let cwd = match v["cwd"].as_str() {
        Some(c) => crate::policy::sandbox::resolve_dir_within(root, root, c)
            .map_err(|e| anyhow!("cwd {c:?}: {e}"))?,
        None => root.clone(),
    };
    let role = match v["role"].as_str() {
        Some(r) => Role::parse(r).ok_or_else(|| anyhow!("unknown role {r:?}"))?,
        None => config.default_role,
    };
    let secrets = config.secret_files()?;
    let rules = config
        .rules()?
        .with_mcp_servers(config.mcp_servers()?.names());
    let ctx = crate::policy::ToolContext {
        root,
        cwd: &cwd,
        role,
        secrets: &secrets,
        plans_dir: None,
        // As configured (SANDBOX); `"contained": false` shows the decision without an OS
        // boundary.
        contained: v["contained"].as_bool().unwrap_or(config.sandbox.enabled),
    };
    let d = engine::decide(&rules, &ctx, tool, &v["input"]);
    let mut report = Report::default();
    report
        .line(format!("decision: {}", d.label()))
        .line(format!("rule:     {}", d.rule()));
    match &d {
        Decision::Deny { reason, .. } => {
            report.line(format!("reason:   {reason}"));
        }
        Decision::Ask {
            reason,
            step_up,
            grant_scope,
            ..
        } => {
            let covers = engine::grants::footprint(&ctx, tool, &v["input"]);
            report
                .line(format!("reason:   {reason}"))
                .line(format!(
                    "step-up:  {}",
                    if *step_up { "TOTP required" } else { "no" }
                ))
                .line(format!("grant:    {grant_scope}"))
                .line(format!("covers:   {}", covers.describe()));
        }
        Decision::Allow { .. } => {}
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_is_explained_and_bad_input_refused() {
        let (_dir, config) = super::super::test_config(&[]);
        let r = check(&config, r#"{"tool_name":"Bash","input":{"command":"ls"}}"#).unwrap();
        assert_eq!(r.stdout(), "decision: allow\nrule:     bash.read_only\n");
        let r = check(
            &config,
            r#"{"tool_name":"Bash","input":{"command":"curl https://example.com"}}"#,
        )
        .unwrap();
        let out = r.stdout();
        assert!(out.starts_with("decision: ask\n"), "{out}");
        assert!(out.contains("grant:    Bash(curl:*)\n"), "{out}");
        for (call, why) in [
            ("nojson", "must be JSON"),
            ("{}", "needs a \"tool_name\""),
            (
                r#"{"tool_name":"Read","cwd":"../.."}"#,
                "outside the approved directory",
            ),
            (r#"{"tool_name":"Read","role":"boss"}"#, "unknown role"),
        ] {
            let e = check(&config, call).unwrap_err().to_string();
            assert!(e.contains(why), "{call}: {e}");
        }
        assert_eq!(defaults().stdout(), engine::DEFAULT_RULES_TOML);
    }
}
