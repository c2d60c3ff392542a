//! Operator verbs: what `ccgate token`, `pair`, `totp`, `unlock`, `audit`, `policy`, `schedule`,
//! `check` and `doctor` do, as functions that return what they found.
//!
//! Why it exists: the command line (`src/main.rs`) parses arguments and prints; the work —
//! opening the store, issuing a token, deciding a tool call, verifying the audit chain — lives
//! here, where it can be tested without spawning the binary and where nothing prints or picks
//! a process exit code. A verb returns a [`Report`] (or a typed result like
//! [`check::Item`]); `main` writes it out and maps [`Report::ok`] to the exit status.
//!
//! Files follow the operator's concerns: [`access`] (who may use the bot: tokens, pairing,
//! TOTP, lockouts), [`audit`] (the trail and its keys), [`policy`] (a decision explained),
//! [`schedule`] (cron jobs), [`check`] (is this configuration going to work).

pub mod access;
pub mod audit;
pub mod check;
pub mod history;
pub mod policy;
pub mod rotate;
pub mod schedule;
pub mod service;

use crate::config::Config;
use crate::store::Store;

/// One piece of a verb's output, in the order it was produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// The result itself (a token, a listing, a decision): stdout, exactly this text.
    Out(String),
    /// Guidance for the human at the terminal (how to use a token, a warning): stderr.
    Note(String),
}

/// What an operator verb produced. `ok` is false when the verb ran but its answer is "no"
/// (a broken audit chain, an unknown pairing code); errors it could not get past are `Err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub chunks: Vec<Chunk>,
    pub ok: bool,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            chunks: Vec::new(),
            ok: true,
        }
    }
}

impl Report {
    /// A line of result (a newline is added).
    pub fn line(&mut self, text: impl Into<String>) -> &mut Self {
        let mut text = text.into();
        text.push('\n');
        self.chunks.push(Chunk::Out(text));
        self
    }

    /// Result text as is (no newline added).
    pub fn text(&mut self, text: impl Into<String>) -> &mut Self {
        self.chunks.push(Chunk::Out(text.into()));
        self
    }

    /// A line of guidance (a newline is added).
    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        let mut text = text.into();
        text.push('\n');
        self.chunks.push(Chunk::Note(text));
        self
    }

    /// The verb's answer is "no".
    pub fn fail(&mut self) -> &mut Self {
        self.ok = false;
        self
    }

    /// Everything meant for stdout, concatenated.
    pub fn stdout(&self) -> String {
        self.chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::Out(t) => Some(t.as_str()),
                Chunk::Note(_) => None,
            })
            .collect()
    }

    /// Everything meant for stderr, concatenated.
    pub fn stderr(&self) -> String {
        self.chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::Note(t) => Some(t.as_str()),
                Chunk::Out(_) => None,
            })
            .collect()
    }
}

/// The configured database, with the configured secrets masked in what it writes.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::open(&config.database_path)?
        .with_redactor(crate::audit::Redactor::new(config.redacted_values())))
}

/// `30m`, `8h`, `2d`, `90s`, or plain seconds.
pub fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30m, 8h or 2d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    if secs == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// A configuration for unit tests: a fresh approved directory and `extra` settings.
#[cfg(test)]
pub(crate) fn test_config(extra: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = std::collections::HashMap::from([
        (
            "TELEGRAM_BOT_TOKEN".to_string(),
            "123456:ABCdefGHIjklMNOpqrsTUVwxyz_-12345".to_string(),
        ),
        (
            "APPROVED_DIRECTORY".to_string(),
            dir.path().display().to_string(),
        ),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_map(&vars).unwrap();
    (dir, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_units_and_refuse_zero_and_nonsense() {
        assert_eq!(parse_ttl("90").unwrap().as_secs(), 90);
        assert_eq!(parse_ttl("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_ttl(" 8h ").unwrap().as_secs(), 8 * 3600);
        assert_eq!(parse_ttl("2d").unwrap().as_secs(), 2 * 86_400);
        assert!(parse_ttl("0m").unwrap_err().contains("positive"));
        assert!(parse_ttl("3w").unwrap_err().contains("unknown unit"));
        assert!(parse_ttl("h").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn a_report_keeps_results_and_notes_apart_in_order() {
        let mut r = Report::default();
        r.note("first").line("result").text("raw").note("last");
        assert_eq!(r.stdout(), "result\nraw");
        assert_eq!(r.stderr(), "first\nlast\n");
        assert!(matches!(&r.chunks[0], Chunk::Note(t) if t == "first\n"));
        assert!(r.ok);
        assert!(!r.fail().ok);
    }
}
