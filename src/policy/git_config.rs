//! Which repository, and which of its configuration, the read-only `/git` panel may use.
//!
//! Why it exists: a repository is untrusted input. Its `.git/config` can name programs that
//! plain read-only commands run — `core.fsmonitor` (run by `git status`), `core.hooksPath`,
//! `core.pager`, `diff.<driver>.textconv` and `diff.<driver>.command` chosen by
//! `.gitattributes`, `filter.<driver>.clean` (run by `git status` and `git diff` on a changed
//! file), credential helpers, `include.path` pulling in more of the same. `-c` on the command
//! line wins over all of it for keys ccgate can name, but driver names are the repository's
//! choice and cannot be listed in advance. So the panel does not let git read the repository's
//! config at all: it reads it here (as data, includes not followed) and keeps only an
//! allowlist of keys that carry no program and no credential; that copy is mounted over
//! `.git/config` inside the OS boundary (`Jail::command_with`). Drivers named by
//! `.gitattributes` are then undefined, and git falls back to its built-in behaviour.
//!
//! Decisions:
//! - Allowlist, not denylist: a key git learns to run a program from tomorrow is dropped today.
//! - Kept: the repository format (`core.repositoryformatversion`, `core.bare`, file-system
//!   quirks, line-ending handling), `extensions.*` except `worktreeConfig` (which would read a
//!   second, unsanitised file), and what ahead/behind needs: `branch.<b>.remote`/`merge` and
//!   `remote.<r>.fetch`, with each remote's URL replaced by a placeholder (URLs may embed a
//!   token; no network is reachable anyway).
//! - The repository is found from the chat's directory upwards, never above the approved
//!   directory; a `.git` that is a symlink, or a file (linked worktrees, submodules, whose git
//!   directory lies elsewhere), is refused: its configuration lives outside what is mounted.

use std::path::{Path, PathBuf};

use super::workdir::{self, Refusal, Who};

/// Where the repository of a chat's directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repo {
    /// No repository from the directory up to the approved directory.
    None,
    /// The work tree's top and its `.git` directory.
    Found { top: PathBuf, git_dir: PathBuf },
    /// A repository the panel does not read, and why.
    Unsupported(String),
}

/// Find the repository holding `cwd` (canonical, inside the root): the nearest ancestor, up
/// to the approved directory, with a `.git` entry. The top must be usable by this user (as
/// `/cd` would check it).
pub fn locate(who: &Who<'_>, cwd: &Path) -> Result<Repo, Refusal> {
    workdir::check(who, cwd)?;
    for dir in cwd.ancestors() {
        if !dir.starts_with(who.root) {
            break;
        }
        let dot_git = dir.join(".git");
        let Ok(meta) = std::fs::symlink_metadata(&dot_git) else {
            continue;
        };
        workdir::check(who, dir)?;
        if meta.file_type().is_symlink() {
            return Ok(Repo::Unsupported(
                ".git is a symbolic link; ccgate does not follow it".into(),
            ));
        }
        if !meta.is_dir() {
            return Ok(Repo::Unsupported(
                ".git is a file (a linked worktree or submodule whose git directory lies elsewhere); run /git in the main repository".into(),
            ));
        }
        return Ok(Repo::Found {
            top: dir.to_path_buf(),
            git_dir: dot_git,
        });
    }
    Ok(Repo::None)
}

/// The URL every kept remote gets instead of its own.
pub const PLACEHOLDER_URL: &str = "ccgate-removed";

/// Is `key` (lower-cased, `section.sub.name` or `section.name`) one the panel's git may see?
fn keep(key: &str) -> bool {
    const CORE: &[&str] = &[
        "core.repositoryformatversion",
        "core.bare",
        "core.filemode",
        "core.ignorecase",
        "core.precomposeunicode",
        "core.symlinks",
        "core.autocrlf",
        "core.eol",
        "core.safecrlf",
        "core.checkstat",
        "core.trustctime",
        "core.abbrev",
    ];
    if CORE.contains(&key) {
        return true;
    }
    if let Some(ext) = key.strip_prefix("extensions.") {
        return !ext.contains('.') && ext != "worktreeconfig";
    }
    let last = key.rsplit('.').next().unwrap_or("");
    (key.starts_with("branch.") && matches!(last, "remote" | "merge"))
        || (key.starts_with("remote.") && last == "fetch")
}

/// A disarmed configuration file from the entries of `git config --list -z` (`key\nvalue\0`,
/// keys as git prints them: section and name lower-case, subsection as written).
pub fn sanitise(list: &[u8]) -> String {
    let mut out = String::new();
    let mut remotes: Vec<String> = Vec::new();
    let mut last_header = String::new();
    for entry in list.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let (key, value) = entry.split_once('\n').unwrap_or((&entry, "true"));
        let Some((section, rest)) = key.split_once('.') else {
            continue;
        };
        let (sub, name) = match rest.rsplit_once('.') {
            Some((sub, name)) => (Some(sub), name),
            None => (None, rest),
        };
        let norm = match sub {
            Some(sub) => format!("{section}.{sub}.{name}").to_ascii_lowercase(),
            None => format!("{section}.{name}").to_ascii_lowercase(),
        };
        if !keep(&norm) || !valid_name(section) || !valid_name(name) {
            continue;
        }
        let header = match sub {
            Some(sub) => format!("[{section} \"{}\"]", quote_sub(sub)),
            None => format!("[{section}]"),
        };
        if header != last_header {
            out.push_str(&header);
            out.push('\n');
            last_header = header;
        }
        out.push_str(&format!("\t{name} = \"{}\"\n", quote_value(value)));
        if section.eq_ignore_ascii_case("remote") {
            if let Some(sub) = sub {
                if !remotes.iter().any(|r| r == sub) {
                    remotes.push(sub.to_string());
                }
            }
        }
    }
    for r in remotes {
        out.push_str(&format!(
            "[remote \"{}\"]\n\turl = {PLACEHOLDER_URL}\n",
            quote_sub(&r)
        ));
    }
    out
}

/// A section or variable name git accepts (letters, digits, `-`).
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn quote_sub(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '\n' && *c != '\0')
        .flat_map(|c| match c {
            '\\' => vec!['\\', '\\'],
            '"' => vec!['\\', '"'],
            c => vec![c],
        })
        .collect()
}

fn quote_value(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out
}

/// The disarmed configuration of the repository at `git_dir`: its `config` read as data by a
/// disarmed git (`--file` follows no includes), then [`sanitise`]d. A missing file is an
/// empty configuration.
pub fn disarmed_config(git_dir: &Path) -> Result<String, String> {
    let file = git_dir.join("config");
    if !file.exists() {
        return Ok(String::new());
    }
    let file = file.to_string_lossy().into_owned();
    // Run from `/`: no repository is discovered, nothing of it is read but the named file.
    let out = super::git_store::git(
        Path::new("/"),
        &["config", "--file", &file, "--no-includes", "--list", "-z"],
        &[],
    )
    .map_err(|e| format!("cannot read the repository's configuration: {e}"))?;
    Ok(sanitise(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (k, val) in entries {
            v.extend_from_slice(format!("{k}\n{val}\0").as_bytes());
        }
        v
    }

    #[test]
    fn programs_and_credentials_are_dropped_and_the_format_kept() {
        let cfg = sanitise(&list(&[
            ("core.repositoryformatversion", "0"),
            ("core.bare", "false"),
            ("core.fsmonitor", "touch /tmp/pwned"),
            ("core.hookspath", "evil-hooks"),
            ("core.pager", "sh -c 'touch x'"),
            ("core.sshcommand", "touch x"),
            ("diff.evil.textconv", "touch x"),
            ("diff.evil.command", "touch x"),
            ("filter.evil.clean", "touch x"),
            ("credential.helper", "store"),
            ("include.path", "../evil.cfg"),
            ("includeif.gitdir:/.path", "../evil.cfg"),
            ("extensions.objectformat", "sha256"),
            ("extensions.worktreeconfig", "true"),
            (
                "remote.origin.url",
                "https://user:ghp_secret@github.com/x/y",
            ),
            ("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"),
            ("branch.main.remote", "origin"),
            ("branch.main.merge", "refs/heads/main"),
            ("branch.main.description", "x"),
        ]));
        for bad in [
            "fsmonitor",
            "hookspath",
            "pager",
            "sshcommand",
            "textconv",
            "command",
            "filter",
            "credential",
            "include",
            "worktreeconfig",
            "ghp_secret",
            "description",
        ] {
            assert!(!cfg.to_lowercase().contains(bad), "{bad} kept:\n{cfg}");
        }
        assert!(cfg.contains("[core]\n\trepositoryformatversion = \"0\"\n\tbare = \"false\""));
        assert!(cfg.contains("objectformat = \"sha256\""));
        assert!(
            cfg.contains("[remote \"origin\"]\n\tfetch = \"+refs/heads/*:refs/remotes/origin/*\"")
        );
        assert!(cfg.contains(&format!("url = {PLACEHOLDER_URL}")));
        assert!(
            cfg.contains("[branch \"main\"]\n\tremote = \"origin\"\n\tmerge = \"refs/heads/main\"")
        );
    }

    #[test]
    fn hostile_names_and_values_cannot_break_out_of_their_line() {
        let cfg = sanitise(&list(&[
            (
                "branch.a\"]\n[core]\nfsmonitor = x.remote",
                "o\"\n[core]\n\tpager = evil",
            ),
            ("branch.b.merge", "refs/heads/b\\"),
        ]));
        // Every line is a header, or one `name = "value"` whose quotes are balanced.
        for line in cfg.lines() {
            assert!(
                line.starts_with('[') || line.starts_with('\t'),
                "stray line {line:?} in\n{cfg}"
            );
        }
        assert!(!cfg.contains("\n[core]"), "{cfg}");
        assert!(cfg.contains("merge = \"refs/heads/b\\\\\""), "{cfg}");
    }

    #[test]
    fn the_sanitised_file_reads_back_with_git() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let cfg = sanitise(&list(&[
            ("core.repositoryformatversion", "0"),
            ("branch.we\"ird.merge", "refs/heads/we\"ird"),
            ("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"),
        ]));
        std::fs::write(&file, &cfg).unwrap();
        let out = crate::policy::git_store::git(
            Path::new("/"),
            &["config", "--file", file.to_str().unwrap(), "--list"],
            &[],
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("branch.we\"ird.merge=refs/heads/we\"ird"),
            "{out}"
        );
        assert!(
            out.contains(&format!("remote.origin.url={PLACEHOLDER_URL}")),
            "{out}"
        );
    }
}
