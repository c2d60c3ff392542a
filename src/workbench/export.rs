//! `/export md|html|json`: the chat's current session as a file.
//!
//! Why it exists: a session's history is worth keeping outside Telegram (a report, a review, a
//! bug), and a chat scrolls it away. The source is ccgate's own store — every turn's prompt and
//! answer as `record_turn` wrote them, already redacted — not the CLI's session JSONL in the
//! private HOME: that file is written by a process inside the boundary (so it is untrusted
//! input), its format is the CLI's internal one and changes between versions, and it holds
//! tool results that ccgate never showed. Every text is redacted again here (before escaping,
//! so a mask cannot be split by an entity), and the whole document once more on its way out,
//! like every outbound text.
//!
//! HTML is one self-contained page: every text escaped (`& < > " '`), inline CSS only, no
//! script, no external resource, and a Content-Security-Policy that forbids both should
//! anything slip through.

use serde_json::json;

use crate::store::TurnRow;

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

impl Format {
    /// `md`, `markdown`, `html`, `json` (any case); empty means Markdown.
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "md" | "markdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
        }
    }
}

/// What is exported.
#[derive(Debug, Clone)]
pub struct Session<'a> {
    pub session_id: &'a str,
    /// The project, relative to the approved directory.
    pub directory: &'a str,
    pub exported_at: &'a str,
    pub turns: &'a [TurnRow],
}

fn r(s: &str) -> String {
    crate::audit::redact::process().redact(s).into_owned()
}

/// The file name for `format`.
pub fn filename(session_id: &str, format: Format) -> String {
    let short: String = session_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(8)
        .collect();
    format!("ccgate-session-{short}.{}", format.extension())
}

/// Render `s` as `format`.
pub fn render(s: &Session<'_>, format: Format) -> String {
    match format {
        Format::Markdown => markdown(s),
        Format::Html => html(s),
        Format::Json => json(s),
    }
}

fn outcome(t: &TurnRow) -> String {
    let mut o = format!(
        "{} · ${:.4} · {:.1}s · {} turn{}",
        t.created_at
            .get(..19)
            .unwrap_or(&t.created_at)
            .replace('T', " "),
        t.cost_usd,
        t.duration_ms as f64 / 1000.0,
        t.num_turns,
        if t.num_turns == 1 { "" } else { "s" }
    );
    if t.is_error {
        o.push_str(&format!(
            " · error: {}",
            t.error_kind.as_deref().unwrap_or("unknown")
        ));
    }
    o
}

fn markdown(s: &Session<'_>) -> String {
    let mut out = format!(
        "# ccgate session `{}`\n\n- Directory: `{}`\n- Exported: {}\n- Turns: {}\n",
        r(s.session_id),
        r(s.directory),
        s.exported_at,
        s.turns.len()
    );
    for (i, t) in s.turns.iter().enumerate() {
        out.push_str(&format!("\n## {}. {}\n\n**You:**\n\n", i + 1, outcome(t)));
        for line in r(&t.prompt).lines() {
            out.push_str(&format!("> {line}\n"));
        }
        out.push_str("\n**Claude:**\n\n");
        match &t.response {
            Some(a) => {
                out.push_str(&r(a));
                out.push('\n');
            }
            None => out.push_str("_(no answer)_\n"),
        }
    }
    out
}

/// Escape for HTML text and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn html(s: &Session<'_>) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n",
    );
    out.push_str(&format!(
        "<title>ccgate session {}</title>\n",
        esc(&r(s.session_id))
    ));
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
         .meta{color:#666;font-size:.9em}.turn{border-top:1px solid #ddd;padding:1rem 0}\
         .who{font-weight:bold;margin:.5rem 0}.text{white-space:pre-wrap;font-family:ui-monospace,monospace;\
         background:#f6f6f6;padding:.75rem;border-radius:4px;overflow-wrap:anywhere}\
         .error{color:#b00}</style>\n</head>\n<body>\n",
    );
    out.push_str(&format!(
        "<h1>ccgate session <code>{}</code></h1>\n<p class=\"meta\">Directory <code>{}</code> · exported {} · {} turn(s)</p>\n",
        esc(&r(s.session_id)),
        esc(&r(s.directory)),
        esc(s.exported_at),
        s.turns.len()
    ));
    for (i, t) in s.turns.iter().enumerate() {
        out.push_str(&format!(
            "<section class=\"turn\">\n<h2>{}.</h2>\n<p class=\"meta{}\">{}</p>\n",
            i + 1,
            if t.is_error { " error" } else { "" },
            esc(&outcome(t))
        ));
        out.push_str(&format!(
            "<div class=\"who\">You</div>\n<div class=\"text\">{}</div>\n",
            esc(&r(&t.prompt))
        ));
        out.push_str(&format!(
            "<div class=\"who\">Claude</div>\n<div class=\"text\">{}</div>\n</section>\n",
            match &t.response {
                Some(a) => esc(&r(a)),
                None => "<i>(no answer)</i>".into(),
            }
        ));
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn json(s: &Session<'_>) -> String {
    let turns: Vec<serde_json::Value> = s
        .turns
        .iter()
        .map(|t| {
            json!({
                "at": t.created_at,
                "prompt": r(&t.prompt),
                "response": t.response.as_deref().map(r),
                "cost_usd": t.cost_usd,
                "duration_ms": t.duration_ms,
                "num_turns": t.num_turns,
                "is_error": t.is_error,
                "error_kind": t.error_kind,
            })
        })
        .collect();
    let doc = json!({
        "format": "ccgate-session-export",
        "version": 1,
        "session_id": r(s.session_id),
        "directory": r(s.directory),
        "exported_at": s.exported_at,
        "turns": turns,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(prompt: &str, response: Option<&str>) -> TurnRow {
        TurnRow {
            prompt: prompt.into(),
            response: response.map(str::to_string),
            cost_usd: 0.01,
            duration_ms: 1200,
            num_turns: 1,
            is_error: false,
            error_kind: None,
            created_at: "2026-01-02T03:04:05.678Z".into(),
        }
    }

    #[test]
    fn html_escapes_everything_and_has_no_script() {
        let turns = vec![turn(
            "<script>alert('x')</script> & \"q\"",
            Some("<img src=x onerror=alert(1)> </div><script>"),
        )];
        let s = Session {
            session_id: "abc\"><script>",
            directory: "proj",
            exported_at: "now",
            turns: &turns,
        };
        let h = render(&s, Format::Html);
        assert!(!h.to_lowercase().contains("<script"), "{h}");
        assert!(!h.contains("<img"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
        assert!(h.contains("default-src 'none'"));
        assert!(!h.contains("http://") && !h.contains("https://"));
    }

    #[test]
    fn json_parses_and_credentials_are_masked() {
        let turns = vec![turn(
            "use ghp_abcdefghijklmnopqrstuvwxyz0123456789 \"quoted\"\n",
            None,
        )];
        let s = Session {
            session_id: "s1",
            directory: "proj",
            exported_at: "now",
            turns: &turns,
        };
        let j = render(&s, Format::Json);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        let p = v["turns"][0]["prompt"].as_str().unwrap();
        assert!(!p.contains("ghp_abcdefghijklmnop"), "{p}");
        assert!(p.contains("\"quoted\""));
        assert!(v["turns"][0]["response"].is_null());
        let md = render(&s, Format::Markdown);
        assert!(md.contains("> use ") && !md.contains("ghp_abcdefghijklmnop"));
        assert_eq!(
            filename("1234abcd-ef", Format::Json),
            "ccgate-session-1234abcd.json"
        );
        assert_eq!(Format::parse("HTML"), Some(Format::Html));
        assert_eq!(Format::parse("pdf"), None);
    }
}
