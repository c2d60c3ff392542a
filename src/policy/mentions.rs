//! `@path` mentions: files the Claude CLI reads by itself, before ccgate is asked anything.
//!
//! Why it exists: a user prompt that mentions a file (`explain @src/main.rs`) is expanded by the
//! CLI itself — it reads the file and sends its content to the model as if the Read tool had been
//! called — with **no** `can_use_tool` request, so ccgate's policy never sees that read. Without
//! this module, `@.env`, `@~/.ssh/id_rsa` or `@/etc/shadow` typed into Telegram would reach
//! Anthropic; a webhook payload or a scheduled job's text could do the same unattended. So chat
//! prompts are checked here exactly like a `Read` of every path they mention ([`check`]), and
//! text ccgate does not trust is defused so the CLI expands nothing in it ([`neutralise`]).
//!
//! # What Claude Code 2.1.330 expands (measured)
//!
//! Method: the real CLI (`-p --input-format stream-json --output-format stream-json --verbose
//! --permission-prompt-tool stdio`, ccgate's own flags) in a scratch project with a private
//! `HOME` and `CLAUDE_CONFIG_DIR`, `ANTHROPIC_BASE_URL` pointing at the reference fake
//! (`fake_anthropic.py`); each file held a unique marker, and the fake's request log showed
//! which markers reached the API (as a `<system-reminder>` "Called the Read tool with the
//! following input: {"file_path": …}" plus the content). The functions doing it (`Pdr`, `bHo`,
//! `wHo`, `gFi` in the bundled JavaScript) were then read to confirm the rules:
//!
//! | written | expanded? |
//! |---|---|
//! | `@file`, `@./file`, `@dir/file`, `@ünï.txt`, `@.env` | yes — any name, hidden files, no extension needed |
//! | `@/abs/path`, `@../outside/x` | yes — **outside the working directory too** |
//! | `@~/file` | yes, against the CLI's `$HOME` |
//! | `@"path with spaces"`, `@"~/x"`, `@"dir/f#L2"` | yes (double quotes only; `@'x y'`, `@x\ y` are not) |
//! | `@file#L2-4`, `@file#L3` | yes, only those lines; anything after the first `#` is dropped (`@f#foo` reads all of `f`) |
//! | `@dir`, `@dir/`, `@"."`, `@".."`, `@"/"`, `@"~"` | a directory **listing** (names, not contents), also outside |
//! | at text start, after a space, tab, newline, NBSP, U+3000, U+2028, U+FEFF, or after `。 、 ？ ！` | yes |
//! | inside a fenced code block (on its own line or after `cat `) | yes — there is no Markdown awareness |
//! | `` `@file` ``, `(@file)`, `x,@file`, `x:@file`, `x.@file`, `a@file`, `\@file`, `@@file`, `a@b.c` | no: the `@` must start a whitespace-separated word or follow `。、？！` |
//! | `@file,` `@file.` `@file)` `@file!` `@file;` `@file"` `@file…` | yes: trailing characters other than `[A-Za-z0-9_]` are cut off (`@x.txt!` reads `x.txt`); inside the word they stay (`@paren).txt`) |
//! | `@.`, `@..`, `@/`, `@~` unquoted | no (everything is cut off) |
//! | `@dir/*.md`, `@file:2-4`, `@srv:res` (no MCP server) | no: no globbing; `:` is no line syntax |
//! | U+2060 WORD JOINER, U+200D, U+200B before `@`; `＠` (U+FF20), `﹫` (U+FE6B) | no |
//!
//! Up to 100 mentions per prompt are expanded. `@"name (agent)"` and `@agent-x` name subagents;
//! `@server:uri` with a configured MCP server reads an MCP resource (ccgate configures none; it
//! is still checked here as a path, as the CLI also tries it as a file). With
//! `CLAUDE_CODE_DISABLE_FILE_MENTIONS=1` in its environment the CLI reads nothing and tells the
//! model "The user @-mentioned X … read them with your file tools", so every read goes through
//! `can_use_tool` — a second layer for the process environment to add.
//!
//! Not covered here: `@imports` inside a project's `CLAUDE.md` are expanded by the CLI when a
//! session starts, also without `can_use_tool` (measured: `@.env` in `CLAUDE.md` reached the
//! API; `@~/x` and `@../x` did not). Writing `CLAUDE.md` asks (see `config_files`), but a
//! `CLAUDE.md` already in the project is read as it is.
//!
//! # Extraction errs on the side of more
//!
//! [`extract`] treats any `@` not preceded by an ASCII letter, digit or `_` (or by the
//! [`WORD_JOINER`] of [`neutralise`]) as a mention, quoted or not, and checks every reading the
//! CLI might use: the word as written, with trailing punctuation cut off, and before the first
//! `#`. A prompt it wrongly suspects costs a refusal the user can rephrase; a missed one sends a
//! file. E-mail addresses (`a@b.c`) are not mentions.
//!
//! # Neutralising untrusted text
//!
//! [`neutralise`] puts U+2060 WORD JOINER in front of every `@` that could start a mention. The
//! CLI then sees `@` in the middle of a word and expands nothing (verified with the real CLI,
//! quoted and unquoted, at line starts). Chosen over the alternatives: U+2060 is a format
//! character, neither `\s` in JavaScript nor Unicode `White_Space`, so no tokenizer splits on it
//! (U+FEFF *is* `\s` in JavaScript and was expanded; U+200B was once a space character), and
//! unlike a lookalike `＠` it survives NFKC normalisation as a non-`@` — NFKC maps `＠` back to
//! `@` — while leaving e-mail addresses and the visible text unchanged for the model.

use std::path::Path;

use serde_json::json;

use super::{decide_file_tool_path, ToolContext};

/// The invisible character [`neutralise`] puts before an `@`.
pub const WORD_JOINER: char = '\u{2060}';

/// One mention the CLI may expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The mention as written, `@` included: `@src/a.rs#L2-5`, `@"my file.txt"`.
    pub text: String,
    /// The paths the CLI may read for it (before `~` expansion), the CLI's own reading first.
    pub paths: Vec<String>,
}

/// Why a prompt is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionRefusal {
    /// The mention as written.
    pub mention: String,
    /// The path that was refused.
    pub path: String,
    /// The policy's reason.
    pub reason: String,
    /// The policy rule: `secret_files` or `file.outside_project`.
    pub rule: &'static str,
}

impl MentionRefusal {
    /// The audit event, the same one other layers write for such a refusal.
    pub fn audit_event(&self) -> crate::audit::Event {
        if self.rule == "secret_files" {
            crate::audit::Event::SecretFileBlocked
        } else {
            crate::audit::Event::PathRejected
        }
    }

    /// The audit details.
    pub fn audit_details(&self) -> serde_json::Value {
        json!({"via": "mention", "mention": self.mention, "path": self.path,
               "reason": self.reason, "rule": self.rule})
    }
}

impl std::fmt::Display for MentionRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rule == "secret_files" {
            write!(
                f,
                "{} is a secret file: ccgate never sends it to Claude",
                self.mention
            )
        } else {
            write!(
                f,
                "{} is not a file inside the project ({}): ccgate never sends it to Claude",
                self.mention, self.reason
            )
        }
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Separators of the CLI's words: JavaScript's `\s` (Rust's whitespace plus U+FEFF).
fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Whether the `@` at byte `i` of `text` may start a mention.
fn starts_mention(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_none_or(|prev| !is_word(prev) && prev != WORD_JOINER)
}

/// The readings of one mentioned word: as written, with trailing non-word characters cut off
/// (the CLI's reading), and each before its first `#` (line ranges).
fn readings(word: &str, quoted: bool) -> Vec<String> {
    let mut base = vec![word.to_string()];
    if !quoted {
        let cut = word.trim_end_matches(|c: char| !is_word(c));
        base.insert(0, cut.to_string());
    }
    let mut out: Vec<String> = Vec::new();
    for w in base {
        let before_hash = w.split('#').next().unwrap_or("").to_string();
        for r in [before_hash, w] {
            if !r.is_empty() && !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// Every mention in `prompt` the CLI may expand (and some it would not; see the module doc).
pub fn extract(prompt: &str) -> Vec<Mention> {
    let mut out: Vec<Mention> = Vec::new();
    for (i, _) in prompt.match_indices('@') {
        if !starts_mention(prompt, i) {
            continue;
        }
        let after = &prompt[i + 1..];
        let quoted = after
            .strip_prefix('"')
            .and_then(|q| q.find('"').map(|end| &q[..end]))
            .filter(|inner| !inner.is_empty());
        let (text, paths) = match quoted {
            Some(inner) => (format!("@\"{inner}\""), readings(inner, true)),
            None => {
                let word: &str = after.split(is_space).next().unwrap_or("");
                (format!("@{word}"), readings(word, false))
            }
        };
        if paths.is_empty() || out.iter().any(|m| m.text == text) {
            continue;
        }
        out.push(Mention { text, paths });
    }
    out
}

/// `path` with a leading `~` resolved against the CLI's home directory, as the CLI does.
fn expand_home(path: &str, home: Option<&Path>) -> Result<String, String> {
    let rest = if path == "~" {
        Some("")
    } else {
        path.strip_prefix("~/")
    };
    match (rest, home) {
        (Some(rest), Some(h)) => Ok(h.join(rest).display().to_string()),
        (Some(_), None) => Err("the home directory is not known".into()),
        // `~user/…`: another user's home, never the project.
        (None, _) if path.starts_with('~') => Err("another user's home directory".into()),
        (None, _) => Ok(path.to_string()),
    }
}

/// Check every mention of `prompt` like a `Read` of each path it may name, for the CLI running
/// in `ctx.cwd` with `home` as its `$HOME`. The first refused mention is returned.
pub fn check(
    prompt: &str,
    ctx: &ToolContext<'_>,
    home: Option<&Path>,
) -> Result<(), MentionRefusal> {
    for m in extract(prompt) {
        for p in &m.paths {
            let refused = match expand_home(p, home) {
                Ok(target) => decide_file_tool_path(ctx, &target).err(),
                Err(why) => Some((format!("{p}: {why}"), "file.outside_project")),
            };
            if let Some((reason, rule)) = refused {
                return Err(MentionRefusal {
                    mention: m.text.clone(),
                    path: p.clone(),
                    reason,
                    rule,
                });
            }
        }
    }
    Ok(())
}

/// `text` with every `@` that could start a mention preceded by [`WORD_JOINER`], so that the CLI
/// expands nothing in it. Idempotent; e-mail addresses and the visible text stay as they are.
pub fn neutralise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        if c == '@' && starts_mention(text, i) {
            out.push(WORD_JOINER);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::roles::Role;
    use crate::policy::secret_files::SecretFiles;

    fn paths_of(prompt: &str) -> Vec<Vec<String>> {
        extract(prompt).into_iter().map(|m| m.paths).collect()
    }

    /// Every row the CLI was seen to expand must be found, with the CLI's reading among the
    /// paths; every row it did not expand may or may not be found (extraction errs on more),
    /// except the ones that must never count: e-mail addresses and neutralised text.
    #[test]
    fn extraction_covers_what_the_cli_expands() {
        let expanded: &[(&str, &str)] = &[
            ("@plain.txt", "plain.txt"),
            ("see @./plain.txt now", "./plain.txt"),
            ("see @\"sp ace.txt\" now", "sp ace.txt"),
            ("see @~/homefile.txt now", "~/homefile.txt"),
            ("see @/tmp/x/abs.txt now", "/tmp/x/abs.txt"),
            ("see @../outside/abs.txt now", "../outside/abs.txt"),
            ("see @dir/ now", "dir"),
            ("see @dir now", "dir"),
            ("see @lines.txt#L2-4 now", "lines.txt"),
            ("see @lines.txt#L5-6#x", "lines.txt"),
            ("see @lines.txt#foo", "lines.txt"),
            ("```\n@plain.txt\n```", "plain.txt"),
            ("a\n\n```sh\ncat @plain.txt\n```", "plain.txt"),
            ("line1\n@plain.txt", "plain.txt"),
            ("\t@plain.txt", "plain.txt"),
            ("see @plain.txt, then", "plain.txt"),
            ("see @plain.txt. then", "plain.txt"),
            ("see @plain.txt) then", "plain.txt"),
            ("see @x.txt! now", "x.txt"),
            ("see @plain.txt\u{2026}", "plain.txt"),
            ("see @plain.txt\"", "plain.txt"),
            ("see @.env now", ".env"),
            ("see @ünï.txt now", "ünï.txt"),
            ("see @paren).txt", "paren).txt"),
            ("see @com,ma.txt", "com,ma.txt"),
            ("see @q'uote.txt", "q'uote.txt"),
            ("see @back\\slash.txt", "back\\slash.txt"),
            ("see @\"lines.txt#L5\"", "lines.txt"),
            ("see @\"..\" now", ".."),
            ("see @\"/\" now", "/"),
            ("see @\"~\" now", "~"),
            ("see @\"sp ace.txt\"extra", "sp ace.txt"),
            ("x\u{3002}@plain.txt", "plain.txt"),
            ("x\u{3001}@plain.txt", "plain.txt"),
            ("x\u{ff1f}@plain.txt", "plain.txt"),
            ("x\u{ff01}@plain.txt", "plain.txt"),
            ("\u{a0}@plain.txt", "plain.txt"),
            ("x\u{3000}@plain.txt", "plain.txt"),
            ("x\u{2028}@plain.txt", "plain.txt"),
            ("x\u{feff}@plain.txt", "plain.txt"),
            ("see @plain.txt @x.txt", "x.txt"),
            ("@./dir/inner.txt\n@dir/other.md", "dir/other.md"),
        ];
        for (prompt, want) in expanded {
            let found = paths_of(prompt);
            assert!(
                found.iter().any(|ps| ps.iter().any(|p| p == want)),
                "{prompt:?} must yield {want:?}: {found:?}"
            );
        }
        // Both mentions of one prompt.
        assert_eq!(extract("@a.txt and @b.txt").len(), 2);
        // The CLI cuts the word off at the next whitespace, wherever a quote is.
        assert_eq!(paths_of("@\"unterminated and more")[0][0], "\"unterminated");
    }

    #[test]
    fn not_mentions() {
        for prompt in [
            "mail a@b.c now",
            "user@example.com",
            "a@plain.txt",
            "x_@plain.txt",
            "9@plain.txt",
            "no at sign at all",
            "@",
            "@ alone",
            "\u{2060}@plain.txt",
            "x \u{2060}@\"sp ace.txt\"",
        ] {
            assert!(
                extract(prompt).is_empty(),
                "{prompt:?}: {:?}",
                extract(prompt)
            );
        }
        // Erring on more: the CLI does not expand these, ccgate still checks them.
        for prompt in [
            "(@.env)",
            "x,@.env",
            "`@.env`",
            "\\@.env",
            "@@.env",
            "x\u{200d}@.env",
        ] {
            assert!(
                extract(prompt)
                    .iter()
                    .any(|m| m.paths.iter().any(|p| p == ".env")),
                "{prompt:?}: {:?}",
                extract(prompt)
            );
        }
    }

    fn with_project(f: impl FnOnce(&ToolContext<'_>, &Path)) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("root");
        let proj = root.join("proj");
        let home = base.join("home");
        std::fs::create_dir_all(proj.join("src")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(proj.join("README.md"), "# r").unwrap();
        std::fs::write(proj.join(".env"), "KEY=1").unwrap();
        std::fs::write(proj.join("src/main.rs"), "fn main(){}").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", proj.join("innocent.txt")).unwrap();
        std::os::unix::fs::symlink(proj.join(".env"), proj.join("notes.txt")).unwrap();
        let secrets = SecretFiles::defaults().unwrap();
        let ctx = ToolContext {
            root: &root,
            cwd: &proj,
            role: Role::Viewer,
            secrets: &secrets,
            plans_dir: None,
            contained: true,
        };
        f(&ctx, &home);
    }

    #[test]
    fn mentions_are_checked_like_reads() {
        with_project(|ctx, home| {
            let ok = [
                "explain @README.md",
                "look at @src/main.rs#L1-3 and @src/",
                "@./README.md, please",
                "compare @\"README.md\" with @src/main.rs",
                "mail me at me@example.com",
                "@.env.example is a template",
                "no mentions",
                "@",
            ];
            for p in ok {
                assert_eq!(check(p, ctx, Some(home)), Ok(()), "{p}");
            }
            let secret = [
                ("what is in @.env", "@.env"),
                ("@.env", "@.env"),
                ("see @.env, then", "@.env,"),
                ("@./.env#L1", "@./.env#L1"),
                ("@\".env\"", "@\".env\""),
                ("@src/../.env", "@src/../.env"),
                ("@notes.txt", "@notes.txt"),
                ("(@.env)", "@.env)"),
                ("`@.env`", "@.env`"),
                ("x\u{3002}@.env", "@.env"),
                ("x\u{feff}@.env", "@.env"),
                ("ok @README.md but @.env", "@.env"),
                ("@certs/server.key", "@certs/server.key"),
                ("@.ssh/id_ed25519", "@.ssh/id_ed25519"),
            ];
            for (p, mention) in secret {
                let e = check(p, ctx, Some(home)).expect_err(p);
                assert_eq!(e.rule, "secret_files", "{p}: {e:?}");
                assert_eq!(e.mention, mention, "{p}");
                assert_eq!(e.audit_event(), "secret_file_blocked");
                assert!(e.to_string().contains("is a secret file"), "{e}");
            }
            let outside = [
                "@/etc/passwd",
                "@../../etc/passwd",
                "@~/.ssh/id_rsa",
                "@~/notes.txt",
                "@\"~\"",
                "@\"../..\"",
                "@\"/\"",
                "@../..",
                "@~root/.bashrc",
                "@innocent.txt",
                "@%2e%2e/x",
                "@\"a\nb\"",
            ];
            for p in outside {
                let e = check(p, ctx, Some(home)).expect_err(p);
                assert_eq!(e.rule, "file.outside_project", "{p}: {e:?}");
                assert_eq!(e.audit_event(), "path_rejected");
                assert!(e.to_string().contains("ccgate never sends it"), "{e}");
            }
            // Without a known home, `~` paths are refused too.
            assert!(check("@~/x", ctx, None).is_err());
        });
    }

    #[test]
    fn home_inside_the_project_resolves_like_the_cli() {
        with_project(|ctx, _| {
            // A CLI whose HOME is the project: `@~/README.md` is a project file.
            assert_eq!(check("@~/README.md", ctx, Some(ctx.cwd)), Ok(()));
            assert!(check("@~/.env", ctx, Some(ctx.cwd)).is_err());
        });
    }

    #[test]
    fn neutralised_text_has_no_mentions_and_reads_the_same() {
        let inputs = [
            "@.env",
            "see @.env and @\"~/.ssh/id_rsa\"",
            "line\n@/etc/passwd",
            "(@x) `@y` x,@z @@w",
            "x\u{3002}@a x\u{feff}@b \u{a0}@c",
            "mail a@b.c and @d",
            "{\"body\": \"@.env please\", \"author\": \"x@y.z\"}",
            "\u{2060}@already",
        ];
        for text in inputs {
            let n = neutralise(text);
            assert!(
                extract(&n).is_empty(),
                "{text:?} -> {n:?}: {:?}",
                extract(&n)
            );
            assert_eq!(n.replace(WORD_JOINER, ""), text.replace(WORD_JOINER, ""));
            assert_eq!(neutralise(&n), n, "idempotent");
        }
        assert_eq!(
            neutralise("a@b.c"),
            "a@b.c",
            "e-mail addresses are untouched"
        );
        assert_eq!(neutralise("@x"), "\u{2060}@x");
        // Adversarial volume: many mentions, long words, odd characters.
        let mut rng = crate::test_rng::Rng(0x5eed_2060);
        let alphabet: Vec<char> = "@\"'`~/.#a_1 \n\t\u{3002}\u{feff}\u{a0}\u{2060}(),é"
            .chars()
            .collect();
        for _ in 0..2000 {
            let len = rng.below(40);
            let s: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let n = neutralise(&s);
            assert!(extract(&n).is_empty(), "{s:?} -> {n:?}");
            for m in extract(&s) {
                assert!(
                    m.text.starts_with('@') && !m.paths.is_empty(),
                    "{s:?}: {m:?}"
                );
            }
        }
    }
}
