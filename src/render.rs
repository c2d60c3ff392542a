//! Turning what Claude did into what the user reads.
//!
//! Why it exists: the chat actor knows *that* a tool ran or a turn ended; how that looks on a
//! phone — the live progress message at each verbose level, the final answer with its footer,
//! error wording — is one concern, kept out of both the actor and the transport. Everything
//! returned here is Telegram HTML with all dynamic text escaped.

use std::time::Duration;

use serde_json::Value;

use crate::runner::TurnResult;
use crate::telegram::html::{escape, markdown_to_html, split_html, TELEGRAM_MAX_MESSAGE_LEN};

/// Progress lines kept on screen (older ones scroll away).
const MAX_PROGRESS_LINES: usize = 12;
const MAX_LINE_CHARS: usize = 160;

/// The live progress view of one turn.
#[derive(Debug, Clone)]
pub struct Progress {
    verbose: u8,
    lines: Vec<String>,
    tools: usize,
    hidden: usize,
}

impl Progress {
    pub fn new(verbose: u8) -> Self {
        Progress {
            verbose,
            lines: Vec::new(),
            tools: 0,
            hidden: 0,
        }
    }

    fn push(&mut self, line: String) {
        self.lines.push(line);
        if self.lines.len() > MAX_PROGRESS_LINES {
            self.lines.remove(0);
            self.hidden += 1;
        }
    }

    /// A tool call started. Returns whether the view changed.
    pub fn tool_use(&mut self, name: &str, input: &Value) -> bool {
        self.tools += 1;
        match self.verbose {
            0 => false,
            1 => {
                self.push(format!(
                    "{} {}",
                    tool_icon(name),
                    escape(&tool_summary(name, input))
                ));
                true
            }
            _ => {
                let detail = truncate(&compact_json(input), MAX_LINE_CHARS);
                self.push(format!(
                    "{} <b>{}</b> <code>{}</code>",
                    tool_icon(name),
                    escape(name),
                    escape(&detail)
                ));
                true
            }
        }
    }

    /// A tool finished; only failures are worth a line.
    pub fn tool_result(&mut self, is_error: bool, content: &str) -> bool {
        if !is_error || self.verbose == 0 {
            return false;
        }
        let first = content.lines().next().unwrap_or("");
        self.push(format!(
            "   ❌ {}",
            escape(&truncate(first, MAX_LINE_CHARS))
        ));
        true
    }

    /// Claude said something mid-turn (shown at verbose 2).
    pub fn text(&mut self, text: &str) -> bool {
        if self.verbose < 2 || text.trim().is_empty() {
            return false;
        }
        let first = text.trim().lines().next().unwrap_or("");
        self.push(format!(
            "💬 <i>{}</i>",
            escape(&truncate(first, MAX_LINE_CHARS))
        ));
        true
    }

    /// A policy denial, always shown: the user should know Claude was stopped.
    pub fn denied(&mut self, tool: &str, reason: &str) -> bool {
        self.push(format!(
            "🚫 {}: {}",
            escape(tool),
            escape(&truncate(reason, MAX_LINE_CHARS))
        ));
        true
    }

    /// The note shown while the API is being retried.
    pub fn note(&mut self, text: &str) -> bool {
        self.push(format!("⚠️ {}", escape(text)));
        true
    }

    pub fn render(&self, elapsed: Duration, queued: usize) -> String {
        let mut out = format!("⏳ <b>Working…</b> {}s", elapsed.as_secs());
        if self.tools > 0 {
            out.push_str(&format!(
                " · {} tool call{}",
                self.tools,
                plural(self.tools)
            ));
        }
        if queued > 0 {
            out.push_str(&format!(" · {queued} queued"));
        }
        if self.hidden > 0 {
            out.push_str(&format!("\n… {} earlier", self.hidden));
        }
        for l in &self.lines {
            out.push('\n');
            out.push_str(l);
        }
        // Lines are bounded, but be certain the edit is never refused for length.
        if out.chars().count() > TELEGRAM_MAX_MESSAGE_LEN {
            out = format!("⏳ <b>Working…</b> {}s", elapsed.as_secs());
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn tool_icon(name: &str) -> &'static str {
    match name {
        "Read" | "NotebookRead" => "📖",
        "Write" => "📝",
        "Edit" | "MultiEdit" | "NotebookEdit" => "✏️",
        "Bash" => "💻",
        "Glob" | "Grep" | "LS" => "🔍",
        "WebFetch" | "WebSearch" => "🌐",
        "Task" | "Agent" => "🤖",
        "TodoWrite" => "📋",
        _ => "🔧",
    }
}

/// A one-line human summary of a tool call (plain text, unescaped).
pub fn tool_summary(name: &str, input: &Value) -> String {
    let field = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or("");
    let target = match name {
        "Read" | "Write" | "Edit" | "MultiEdit" => field("file_path").to_string(),
        "NotebookEdit" | "NotebookRead" => field("notebook_path").to_string(),
        "Bash" => field("command").to_string(),
        "Glob" | "Grep" => field("pattern").to_string(),
        "LS" => field("path").to_string(),
        "WebFetch" => field("url").to_string(),
        "WebSearch" => field("query").to_string(),
        "Task" | "Agent" => field("description").to_string(),
        _ => String::new(),
    };
    let target = target.lines().next().unwrap_or("").to_string();
    if let Some(shown) = crate::policy::mcp::shown_name(name) {
        shown
    } else if target.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {}", truncate(&target, MAX_LINE_CHARS))
    }
}

fn compact_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Cut to at most `max` characters, marking the cut. Secrets are masked first (by the process's
/// redactor): a credential cut in half (`https://user:hunter…`) would no longer be recognised
/// by the redaction on the way out, so the cut is made in already-masked text.
pub fn truncate(s: &str, max: usize) -> String {
    let s = crate::audit::redact::process().redact(s);
    if s.chars().count() <= max {
        return s.into_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The footer under every answer: this turn's cost (and today's total, when known), turns,
/// time, and how to continue in a terminal.
pub fn footer(
    result: &TurnResult,
    elapsed: Duration,
    session_id: Option<&str>,
    today_usd: Option<f64>,
) -> String {
    let today = today_usd
        .map(|t| format!(" (today ${t:.2})"))
        .unwrap_or_default();
    let mut f = format!(
        "💰 ${:.4}{today} · 🔄 {} turn{} · ⏱ {:.1}s",
        result.cost_usd,
        result.num_turns,
        plural(result.num_turns.max(0) as usize),
        elapsed.as_secs_f64()
    );
    if let Some(sid) = session_id {
        f.push_str(&format!("\n<code>claude --resume {}</code>", escape(sid)));
    }
    f
}

/// How a turn ended, from the user's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Done,
    StoppedByUser,
    TimedOut,
}

/// The final answer, already split into messages that each fit Telegram's limit.
pub fn final_messages(
    result: &TurnResult,
    fallback_text: &str,
    ending: Ending,
    elapsed: Duration,
    session_id: Option<&str>,
    today_usd: Option<f64>,
) -> Vec<String> {
    let foot = footer(result, elapsed, session_id, today_usd);
    let body = match ending {
        Ending::StoppedByUser => "⏹ <b>Stopped.</b>".to_string(),
        Ending::TimedOut => {
            "⌛ <b>Timed out</b>: the request took too long and was stopped.".to_string()
        }
        Ending::Done if result.is_error => {
            let mut detail: Vec<String> = result.errors.clone();
            if let Some(r) = result.result.as_deref().filter(|r| !r.trim().is_empty()) {
                detail.insert(0, r.to_string());
            }
            let detail = detail.join("\n");
            let mut b = format!(
                "❌ <b>Claude stopped with an error</b>: {}",
                escape(&result.error_label())
            );
            if !detail.trim().is_empty() {
                b.push_str(&format!(
                    "\n<pre>{}</pre>",
                    escape(&truncate(detail.trim(), 1500))
                ));
            }
            b
        }
        Ending::Done => {
            let text = result
                .result
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or(fallback_text);
            if text.trim().is_empty() {
                "✅ <i>Done (no text answer).</i>".to_string()
            } else {
                markdown_to_html(text)
            }
        }
    };
    let denials = if result.permission_denials.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = result
            .permission_denials
            .iter()
            .filter_map(|d| d.get("tool_name").and_then(Value::as_str))
            .map(escape)
            .collect();
        format!("\n🚫 denied: {}", names.join(", "))
    };
    let full = format!("{body}\n\n{foot}{denials}");
    split_html(&full, TELEGRAM_MAX_MESSAGE_LEN)
}

/// An error that happened around Claude rather than inside it (spawn failure, crash).
pub fn failure_message(what: &str, detail: &str) -> String {
    let mut s = format!("❌ <b>{}</b>", escape(what));
    if !detail.trim().is_empty() {
        s.push_str(&format!(
            "\n<pre>{}</pre>",
            escape(&truncate(detail.trim(), 1500))
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncation_masks_before_it_cuts() {
        // Cut inside the password, before the `@` that makes it recognisable.
        let text = "clone https://ci:VeryLongPassword0123456789@ci.example.com/x please";
        let cut = truncate(text, 30);
        assert!(!cut.contains("VeryLong") && !cut.contains("ci:"), "{cut}");
        assert!(cut.starts_with("clone https://***@"), "{cut}");
        assert!(cut.chars().count() <= 30 && cut.ends_with('…'), "{cut}");
        // A token cut in half.
        let token = format!(
            "key {}",
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
        );
        assert!(
            !truncate(&token, 20).contains("sk-ant"),
            "{}",
            truncate(&token, 20)
        );
        // Short clean text is unchanged; long clean text is cut.
        assert_eq!(truncate("hello", 10), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
    }

    #[test]
    fn verbose_levels() {
        let input = json!({"command": "cargo test <all>"});
        let mut quiet = Progress::new(0);
        assert!(!quiet.tool_use("Bash", &input));
        assert!(!quiet.render(Duration::from_secs(3), 0).contains("cargo"));
        assert!(quiet
            .render(Duration::from_secs(3), 0)
            .contains("1 tool call"));

        let mut normal = Progress::new(1);
        assert!(normal.tool_use("Bash", &input));
        assert!(!normal.text("thinking out loud"));
        let r = normal.render(Duration::from_secs(1), 2);
        assert!(r.contains("Bash: cargo test &lt;all&gt;"), "{r}");
        assert!(r.contains("2 queued"));

        let mut detailed = Progress::new(2);
        detailed.tool_use("Bash", &input);
        assert!(detailed.text("Let me <check>"));
        let r = detailed.render(Duration::from_secs(1), 0);
        assert!(r.contains("&quot;command&quot;"), "{r}");
        assert!(r.contains("Let me &lt;check&gt;"));
    }

    #[test]
    fn progress_scrolls_and_stays_short() {
        let mut p = Progress::new(2);
        for i in 0..100 {
            p.tool_use(
                "Read",
                &json!({"file_path": format!("{i}/{}", "x".repeat(500))}),
            );
        }
        let r = p.render(Duration::from_secs(1), 0);
        assert!(r.contains("earlier"));
        assert!(r.chars().count() <= TELEGRAM_MAX_MESSAGE_LEN);
    }

    #[test]
    fn error_result_is_never_done() {
        let r = TurnResult {
            is_error: true,
            subtype: "error_max_turns".into(),
            errors: vec!["Reached maximum number of turns (1)".into()],
            num_turns: 2,
            ..Default::default()
        };
        let m = final_messages(
            &r,
            "",
            Ending::Done,
            Duration::from_secs(1),
            Some("sid-1"),
            None,
        )
        .join("");
        assert!(m.contains("❌"));
        assert!(m.contains("maximum number of turns"));
        assert!(m.contains("claude --resume sid-1"));
        assert!(!m.contains("✅"));
    }

    #[test]
    fn footer_has_cost_turns_and_resume_line() {
        let r = TurnResult {
            total_cost_usd: 0.5,
            cost_usd: 0.0123,
            num_turns: 2,
            result: Some("**hi**".into()),
            ..Default::default()
        };
        let m = final_messages(
            &r,
            "",
            Ending::Done,
            Duration::from_millis(1500),
            Some("abc"),
            Some(1.25),
        );
        let all = m.join("");
        assert!(all.contains("$0.0123 (today $1.25)"), "{all}");
        assert!(
            !all.contains("0.5"),
            "the session's running total is not this turn's cost"
        );
        assert!(all.contains("2 turns"));
        assert!(all.contains("<code>claude --resume abc</code>"));
        assert!(all.contains("<b>hi</b>"));
    }
}
