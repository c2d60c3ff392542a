//! Shell-command classifier for ccgate.
//!
//! An AI coding agent asks to run a shell command; before ccgate lets it
//! through, this module works out what the command could do.  It parses the
//! command with a real POSIX/bash parser ([`brush_parser`]), walks the syntax
//! tree (lists, pipelines, subshells, groups, loops, functions, redirections,
//! here-documents, `$(…)`, backticks, `<(…)`/`>(…)`) and classifies every
//! simple command it finds, including those nested inside `bash -c '…'`,
//! `sudo …`, `env …`, `xargs …`, `find -exec …` and command substitutions.
//! Paths named in the command are resolved against the working directory
//! (tracking `cd`), normalised and followed through symlinks, and compared with
//! the project root.
//!
//! The result is an [`Analysis`]: a severity [`Class`] (the maximum over all
//! [`Finding`]s), the findings themselves (short reasons to show the user) and
//! the complete list of simple commands as argv vectors, for other modules
//! (e.g. the secret-file checker) to inspect.
//!
//! # How it stays conservative
//!
//! * "Unparseable never means allow": anything the parser rejects, and any value
//!   that cannot be known before the command runs (`$VAR`, `$(…)`, arithmetic,
//!   brace expansion, xargs input…) that lands in a command name or a path
//!   argument, is [`Class::Unparseable`], the most severe class.
//! * Code we cannot see (`eval`, `source`, `exec`, `python -c`, `node -e`,
//!   a shell reading stdin, unknown `git` subcommands which may be aliases,
//!   variables such as `PATH`/`LD_PRELOAD` that change what runs) is
//!   Unparseable too.  `bash -c '…'` is the exception: its string is parsed and
//!   analysed recursively.
//! * Code whose content the classifier cannot see but which comes from the
//!   project — a program or script run by path (`./probe`, `bin/tool`,
//!   `python3 x.py`), build files (`make`, `just`, `cmake`), test runners and
//!   build tools (`pytest`, `cargo test|build|check`, whose `build.rs` and proc
//!   macros run, `npm run|test`, `go test|generate`), install scripts
//!   (`npm install`) and every program this module does not know — is
//!   [`Class::RunsCode`]: whatever the code does happens with the user's
//!   rights, so its effect is bounded only by the OS boundary around the
//!   `claude` process, not by this analysis (the engine allows it only when
//!   that boundary is active).  Their arguments are still checked as paths.
//!   Programs known to only write files (`cp`, `mv`, `touch`, `mkdir`, `ln`,
//!   `sed -i`, `tee`, `tar`…) stay [`Class::WritesInside`].
//!   Every non-option argument of a program that is not known to take plain
//!   strings is treated as a path.
//! * Git hooks and filters also run project code (`git commit` runs
//!   `.git/hooks/pre-commit`), but git commands stay WritesInside: the files
//!   that define hooks and filters (`.git/hooks/**`, `.git/config`,
//!   `.gitattributes`, `core.hooksPath` targets such as `.husky/`) can only be
//!   written after a human approved it (see `policy::config_files`), so the
//!   code a hook runs was seen by a human or was already in the repository the
//!   operator approved.
//! * Command substitutions never leave a command [`Class::ReadOnly`]; when a
//!   directory may or may not have changed (`cd x; …`, `cd x || …`) every
//!   possible working directory is checked.
//!
//! [`Analysis::writes`] lists the paths a command may write (redirection
//! targets, destinations of `cp`/`mv`/`ln`, files edited in place, the
//! repository's `.git/config` for `git config`/`git remote add`, and every
//! path argument of a program whose effects are unknown), so that the engine
//! can ask before configuration files are changed.
//!
//! Deliberately out of scope: recognising secret files (another module does
//! that using [`Analysis::commands`]) and the *content* of scripts that are run
//! by file name (a script inside the project is [`Class::RunsCode`]).
//!
//! # Layout
//!
//! The walk over the syntax tree is [`walker`]; words and parsing [`words`]; placing paths
//! [`paths`] and globs [`globs`]; reading an argv [`args`]. What programs do is [`programs`]
//! (the lists), [`dispatch`] (wrappers and programs that run programs), [`file_tools`],
//! [`network`], [`git`], [`build_tools`] (handlers) and [`scripts`] (`sed`/`awk` programs).

mod args;
mod build_tools;
mod dispatch;
mod file_tools;
mod git;
mod globs;
mod network;
mod paths;
mod programs;
mod scripts;
#[cfg(test)]
mod tests;
mod walker;
mod words;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};

use brush_parser::ast;
use brush_parser::word::{WordPiece, WordPieceWithSource};
use brush_parser::{Parser, ParserOptions};

#[cfg(test)]
pub(crate) use self::git::object_path;
pub(crate) use self::programs::SYSTEM_BIN_DIRS;
use self::{args::*, globs::*, paths::*, programs::*, scripts::*, walker::*, words::*};

/// Severity classes, ordered from harmless to "never allow automatically".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Only reads files inside the project (or reads nothing).
    ReadOnly,
    /// May create, modify or delete files inside the project.
    WritesInside,
    /// Runs code from the project (or a program ccgate does not know) whose
    /// content the classifier cannot see: only an OS boundary limits it.
    RunsCode,
    /// Talks to the network.
    Network,
    /// Reads or writes something outside the project directory.
    TouchesOutside,
    /// Needs or uses elevated privileges, or changes the system.
    Privileged,
    /// Likely to destroy data or the system.
    Destructive,
    /// Could not be analysed with confidence; never allow automatically.
    Unparseable,
}

impl Class {
    /// Every class, from harmless to "never allow automatically" (the order of `Ord`).
    pub const ALL: [Class; 8] = [
        Class::ReadOnly,
        Class::WritesInside,
        Class::RunsCode,
        Class::Network,
        Class::TouchesOutside,
        Class::Privileged,
        Class::Destructive,
        Class::Unparseable,
    ];
}

/// One reason why a command was put into a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The class this finding implies.
    pub class: Class,
    /// Short human-readable reason, e.g. "writes outside the project: /etc/passwd".
    pub reason: String,
    /// The simple command (words joined by spaces) this finding concerns.
    pub command: String,
}

/// The result of analysing one shell command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Maximum class over all findings, [`Class::ReadOnly`] if there are none.
    pub class: Class,
    /// Everything noteworthy that was found, in the order it was found.
    pub findings: Vec<Finding>,
    /// Every simple command found (argv after quote removal), in execution
    /// order, including commands nested in wrappers, `bash -c`, `$(…)` etc.
    pub commands: Vec<Vec<String>>,
    /// For each of [`Analysis::commands`], the working directories it may run in (empty when
    /// none is known), so that its relative arguments can be resolved.
    pub command_cwds: Vec<Vec<PathBuf>>,
    /// Every file path the command names as a path — arguments, redirection targets and glob
    /// matches — resolved against each possible working directory (and through symlinks);
    /// `~…` paths as written. For the secret-file check, which must see `cat < .env` too.
    pub paths: Vec<PathBuf>,
    /// The subset of [`Analysis::paths`] the command may write or delete (plus files it changes
    /// without naming them, such as `.git/config` for `git config`). Paths of programs whose
    /// effects are unknown count as written. For the configuration-file check.
    pub writes: Vec<PathBuf>,
    /// The simple commands (argv, as in [`Analysis::commands`]) that use the network: each one
    /// that produced a [`Class::Network`] finding, innermost first-hand (`sudo curl …` names
    /// `curl …`). An empty argv stands for a connection no command names (a `/dev/tcp/…`
    /// redirection). For grants, which tell a download from an upload.
    pub network: Vec<Vec<String>>,
    /// Some path could not be placed (relative to a directory unknown before the command runs,
    /// as after `cd -`), or more paths were named than are kept: [`Analysis::paths`] is not the
    /// whole list of what the command touches.
    pub unresolved_paths: bool,
    /// What each git invocation may print from the repository's history and index, which no
    /// path names (`git show HEAD:.env`, `git log -p`). For `policy::git_store`.
    pub git_reads: Vec<GitRead>,
}

/// What one git invocation may print from the repository's object store or index: files of
/// any revision, by object name or as patches, trees, archives and grep matches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitRead {
    /// Where git runs: each possible working directory (after `-C`).
    pub dirs: Vec<PathBuf>,
    /// The repository or work tree is named explicitly (`--git-dir`, `--work-tree`), so it
    /// cannot be found from `dirs`.
    pub explicit_repo: bool,
    /// The paths of `<rev>:<path>` object names (`HEAD:.env` → `.env`, `:0:x` → `x`,
    /// `HEAD:` → ``, `-L1,5:src/x` → `./src/x`): relative to the work tree's top unless they
    /// start with `./` or `../`.
    pub objects: Vec<String>,
    /// Prints content or names of entries no argument names: patches (`log -p`, `show
    /// <commit>`, `diff <rev>`), trees (`ls-tree`, `ls-files`), archives, grep matches, objects
    /// named by id or read from standard input.
    pub entries: bool,
    /// Pathspecs as written (`src/`, `:!.env`, `:(glob)**/*.rs`), relative to the directory git
    /// runs in; they narrow `entries`. Empty: the whole tree.
    pub pathspecs: Vec<String>,
    /// Which versions `entries` come from.
    pub scope: GitScope,
}

/// The versions of files a git command prints entries of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GitScope {
    /// Any revision of the history (and the index).
    #[default]
    History,
    /// Only tracked files as they are in the index and the work tree (`git diff`, `git grep`,
    /// `git ls-files` without a revision).
    Index,
    /// The index and `HEAD` (`git diff --cached`).
    IndexAndHead,
}

/// Most paths kept in [`Analysis::paths`].
const MAX_NOTED_PATHS: usize = 4096;

/// Analyse `command` as it would be run by bash in `cwd`, for a project
/// rooted at `root` (both absolute; `root` canonical).
pub fn analyze(command: &str, root: &Path, cwd: &Path) -> Analysis {
    let root = canonical_or_resolved(root);
    let cwd = if cwd.is_absolute() {
        canonical_or_resolved(cwd)
    } else {
        canonical_or_resolved(&root.join(cwd))
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut walker = Walker::new(root, cwd);
        walker.analyze_source(command);
        walker.finish(command)
    }));
    result.unwrap_or_else(|_| Analysis {
        class: Class::Unparseable,
        findings: vec![Finding {
            class: Class::Unparseable,
            reason: "internal error while analysing the command".to_string(),
            command: truncate_text(command, MAX_REASON_CHARS),
        }],
        commands: Vec::new(),
        command_cwds: Vec::new(),
        paths: Vec::new(),
        writes: Vec::new(),
        network: Vec::new(),
        unresolved_paths: true,
        git_reads: Vec::new(),
    })
}

/// Where [`analyze_unplaced`] places the project: a path that names no directory.
pub const UNPLACED_ROOT: &str = "/nonexistent/ccgate-unplaced-project";

/// Analyse `command` for a project whose location is not known — an audit row keeps the
/// command, not the directory it ran in: relative paths count as inside the project, absolute
/// and `~` paths as outside it. Same analysis as [`analyze`], with [`UNPLACED_ROOT`] as root
/// and working directory.
pub fn analyze_unplaced(command: &str) -> Analysis {
    let root = Path::new(UNPLACED_ROOT);
    analyze(command, root, root)
}

// ----- limits ------------------------------------------------------------------------------

/// Longest command we are willing to parse.
const MAX_SOURCE_LEN: usize = 100_000;
/// Deepest bracket nesting we accept before parsing (guards the parser's stack).
const MAX_BRACKET_NESTING: usize = 64;
/// Deepest nesting of wrappers / `bash -c` / substitutions we follow.
const MAX_DEPTH: usize = 24;
/// Most glob matches we expand for one word.
const MAX_GLOB_MATCHES: usize = 10_000;
/// Longest reason / command text kept in a finding.
const MAX_REASON_CHARS: usize = 300;
/// Most outside paths reported for one argument (globs can match many).
const MAX_REPORTED_PATHS: usize = 5;
/// Most symlinks followed while resolving one path.
const MAX_SYMLINKS: u32 = 40;

/// Reason suffix for programs that run code read from stdin; in a pipeline
/// fed by the network such findings become [`Class::Destructive`].
const STDIN_CODE: &str = "runs code read from standard input";
