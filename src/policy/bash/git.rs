//! Git: subcommands and their classes, global options, `-c`/`git config` keys that change what
//! git runs, pushes, branches, and what each invocation may print from the repository's
//! history ([`super::GitRead`], for `policy::git_store`).
//!
//! Why it exists: git is the one program agents run most, with dozens of subcommands that read,
//! write, talk to remotes or run hooks, and with aliases and configuration that can turn any of
//! them into arbitrary code. Its knowledge is large enough to be its own module.

use super::*;

/// The path of a `<rev>:<path>` object name (`HEAD:.env` → `.env`, `:0:x` → `x`, `:x` → `x`,
/// `v1.0:` → ``), or `None` for a word that names no tree entry. A colon inside `@{…}`
/// (`HEAD@{2024-01-01 10:00}`) belongs to the revision; `:/text` searches commit messages.
pub(crate) fn object_path(word: &str) -> Option<&str> {
    let start = match word.rfind("@{") {
        Some(at) => at + word[at..].find('}')?,
        None => 0,
    };
    let colon = start + word[start..].find(':')?;
    let rest = &word[colon + 1..];
    if colon == 0 {
        if rest.starts_with('/') {
            return None;
        }
        // `:0:path` … `:3:path` name index stages.
        if let Some(p) = rest
            .strip_prefix(['0', '1', '2', '3'])
            .and_then(|r| r.strip_prefix(':'))
        {
            return Some(p);
        }
    }
    if word.contains("://") {
        return None;
    }
    Some(rest)
}

pub(super) fn git_config_key_safe(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SAFE_GIT_CONFIG_PREFIXES.iter().any(|p| key.starts_with(p))
}

impl Walker {
    pub(super) fn h_git(&mut self, args: &[Arg], cx: &Cx) -> CmdInfo {
        let saved = self.cwds.clone();
        let mut explicit_repo = false;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a.dynamic {
                self.emit(
                    Class::Unparseable,
                    format!("git argument comes from an expansion: {}", a.text),
                );
                return CmdInfo::default();
            }
            if !a.is_option() {
                break;
            }
            let t = a.text.clone();
            match t.as_str() {
                "-C" => {
                    if let Some(dir) = args.get(i + 1) {
                        let resolved = self.check_path(dir, Access::Any);
                        self.set_cwds_from(resolved);
                    }
                    i += 1;
                }
                "-c" => {
                    if let Some(kv) = args.get(i + 1) {
                        self.git_config_pair(kv);
                    }
                    i += 1;
                }
                "--git-dir" | "--work-tree" => {
                    if let Some(dir) = args.get(i + 1) {
                        self.check_path(dir, Access::Any);
                    }
                    explicit_repo = true;
                    i += 1;
                }
                "--namespace" | "--super-prefix" => i += 1,
                _ if t.starts_with("--exec-path=") || t.starts_with("--config-env") => {
                    self.emit(Class::Unparseable, format!("git {t} changes what git runs"));
                }
                _ => {
                    if let Some(v) = t
                        .strip_prefix("--git-dir=")
                        .or_else(|| t.strip_prefix("--work-tree="))
                    {
                        explicit_repo = true;
                        self.check_path(&Arg::literal(v), Access::Any);
                    }
                }
            }
            i += 1;
        }
        let info = match args.get(i) {
            Some(sub) if !sub.dynamic => {
                let sub = sub.text.clone();
                let saved_explicit = std::mem::replace(&mut self.git_explicit_repo, explicit_repo);
                self.git_read(&sub, &args[i + 1..]);
                let info = self.git_subcommand(&sub, &args[i + 1..], cx);
                self.git_explicit_repo = saved_explicit;
                info
            }
            Some(sub) => {
                self.emit(
                    Class::Unparseable,
                    format!("git subcommand comes from an expansion: {}", sub.text),
                );
                CmdInfo::default()
            }
            None => CmdInfo::default(),
        };
        self.cwds = saved;
        info
    }

    pub(super) fn git_config_pair(&mut self, kv: &Arg) {
        let key = kv.text.split('=').next().unwrap_or("");
        if kv.dynamic || !git_config_key_safe(key) {
            self.emit(
                Class::Unparseable,
                format!("git config {key} can change what git runs"),
            );
        }
    }

    /// Path-check git arguments, skipping values that are messages or patterns.
    pub(super) fn git_paths(&mut self, args: &[Arg], access: Access) {
        const MESSAGE_FLAGS: &[&str] = &[
            "-m",
            "--message",
            "--author",
            "--date",
            "--format",
            "--pretty",
            "--grep",
            "-S",
            "-G",
            "--since",
            "--until",
            "--committer",
            "-e",
            "--onto",
            "--trailer",
        ];
        let mut skip_next = false;
        let mut rest = Vec::new();
        for a in args {
            if skip_next {
                skip_next = false;
                continue;
            }
            if !a.dynamic && MESSAGE_FLAGS.contains(&a.text.as_str()) {
                skip_next = true;
                continue;
            }
            let long_message = MESSAGE_FLAGS
                .iter()
                .any(|f| f.starts_with("--") && a.text.starts_with(&format!("{f}=")));
            let short_cluster_m =
                a.is_option() && !a.text.starts_with("--") && a.text.contains('m');
            if short_cluster_m {
                // `-am msg` takes the next word, `-mmsg` has it attached.
                skip_next = a.text.ends_with('m');
                continue;
            }
            if long_message {
                continue;
            }
            // Pathspec magic: an exclusion reads nothing; `:(top)x`, `:/x` name `x`.
            if !a.dynamic && a.text.starts_with(':') {
                let t = a.text.as_str();
                let excluded = t.starts_with(":!")
                    || t.starts_with(":^")
                    || t.strip_prefix(":(")
                        .and_then(|m| m.split_once(')'))
                        .is_some_and(|(m, _)| m.split(',').any(|x| x.trim() == "exclude"));
                if excluded {
                    continue;
                }
                let named = t
                    .strip_prefix(":(")
                    .and_then(|m| m.split_once(')'))
                    .map(|(_, r)| r)
                    .or_else(|| t.strip_prefix(":/"));
                if let Some(named) = named {
                    if !named.is_empty() {
                        rest.push(Arg::literal(named));
                    }
                    continue;
                }
            }
            rest.push(a.clone());
        }
        self.check_args_generic(&rest, access);
    }

    pub(super) fn git_subcommand(&mut self, sub: &str, rest: &[Arg], cx: &Cx) -> CmdInfo {
        let has = |flag: &str| {
            rest.iter()
                .any(|a| a.is(flag) || a.text.starts_with(&format!("{flag}=")))
        };
        let first = first_positional(rest)
            .map(|(_, a)| a.text.clone())
            .unwrap_or_default();
        let runs_program = rest.iter().any(|a| {
            [
                "--upload-pack",
                "--receive-pack",
                "--exec=",
                "--extcmd",
                "--open-files-in-pager",
            ]
            .iter()
            .any(|p| a.text.starts_with(p))
                || a.text.contains("ext::")
                || a.text.starts_with("-O")
        }) || (matches!(sub, "clone" | "fetch" | "ls-remote" | "pull")
            && has("-u"))
            || (matches!(sub, "difftool" | "mergetool") && has("-x"))
            || (sub == "filter-branch"
                && rest
                    .iter()
                    .any(|a| a.text.ends_with("-filter") || a.text.contains("-filter=")));
        if runs_program {
            self.emit(
                Class::Unparseable,
                format!("git {sub} option runs an external program"),
            );
        }
        for (i, a) in rest.iter().enumerate() {
            if matches!(sub, "clone" | "submodule") && (a.is("-c") || a.is("--config")) {
                if let Some(kv) = rest.get(i + 1) {
                    self.git_config_pair(kv);
                }
            }
        }
        // Subcommands that read the paths they name (`git add CLAUDE.md` stages it, the file
        // stays as it is); anything else may write them (`git checkout -- CLAUDE.md`).
        let path_access = if GIT_READ_ONLY.contains(&sub)
            || matches!(sub, "grep" | "add" | "stage" | "commit" | "notes")
        {
            Access::Read
        } else {
            Access::Any
        };
        self.git_paths(rest, path_access);
        match sub {
            _ if GIT_READ_ONLY.contains(&sub) => {
                if has("--output") {
                    self.emit(
                        Class::WritesInside,
                        format!("git {sub} --output writes a file"),
                    );
                    let out = rest.iter().enumerate().find_map(|(i, a)| {
                        a.text
                            .strip_prefix("--output=")
                            .map(Arg::literal)
                            .or_else(|| a.is("--output").then(|| rest.get(i + 1).cloned())?)
                    });
                    if let Some(out) = out {
                        self.check_path(&out, Access::Write);
                    }
                }
            }
            "grep" => {}
            "push" => self.git_push(rest),
            _ if GIT_NETWORK.contains(&sub) => {
                self.emit(Class::Network, format!("git {sub} talks to a remote"))
            }
            "clean" => {
                let force = rest
                    .iter()
                    .any(|a| a.is("--force") || is_short_cluster_with(a, "f"));
                if has("-n") || has("--dry-run") {
                } else if force {
                    self.emit(
                        Class::Destructive,
                        "git clean permanently deletes untracked files",
                    );
                } else {
                    self.emit(Class::WritesInside, "git clean");
                }
            }
            "branch" => self.git_branch(rest),
            "tag" => {
                if !(rest.is_empty() || has("-l") || has("--list") || has("-n")) {
                    self.emit(Class::WritesInside, "git tag changes tags");
                }
            }
            "stash" if matches!(first.as_str(), "list" | "show") => {}
            "remote" => match first.as_str() {
                "" | "get-url" => {
                    // Remote URLs come from the repository's config and may carry a token.
                    if first == "get-url" || has("-v") || has("--verbose") {
                        self.note_repo_read(&[".git/config"]);
                    }
                }
                "show" | "update" | "prune" | "set-head" => {
                    self.note_repo_read(&[".git/config"]);
                    self.emit(
                        Class::Network,
                        format!("git remote {first} talks to a remote"),
                    )
                }
                _ => {
                    self.emit(
                        Class::WritesInside,
                        "git remote changes the repository configuration",
                    );
                    self.note_repo_files(&[".git/config"]);
                }
            },
            "worktree" if first == "list" => {}
            "config" => self.git_config(rest),
            "submodule" => match first.as_str() {
                "" | "status" | "summary" => {}
                "foreach" => self.emit(Class::Unparseable, "git submodule foreach runs a command"),
                "init" | "deinit" | "absorbgitdirs" | "set-branch" | "set-url" => {
                    self.emit(Class::WritesInside, format!("git submodule {first}"));
                    self.note_repo_files(&[".git/config", ".gitmodules"]);
                }
                _ => {
                    self.emit(
                        Class::Network,
                        format!("git submodule {first} talks to a remote"),
                    );
                    self.note_repo_files(&[".git/config", ".gitmodules"]);
                }
            },
            "bisect" => {
                self.emit(Class::WritesInside, "git bisect changes the checkout");
                if first == "run" {
                    if let Some(pos) = rest.iter().position(|a| a.is("run")) {
                        return self.h_wrapped(&rest[pos + 1..], cx);
                    }
                }
            }
            "reflog" if matches!(first.as_str(), "expire" | "delete") => {
                self.emit(
                    Class::Destructive,
                    "git reflog expire/delete destroys recovery information",
                );
            }
            "reflog" => {}
            "archive" => {
                if has("--remote") {
                    self.emit(Class::Network, "git archive --remote talks to a remote");
                } else {
                    self.emit(Class::WritesInside, "git archive writes an archive");
                }
            }
            "rebase" => {
                self.emit(Class::WritesInside, "git rebase rewrites local history");
                self.git_rebase_exec(rest);
            }
            "difftool" | "mergetool" => self.emit(
                Class::RunsCode,
                format!("git {sub} runs the configured tool"),
            ),
            _ if GIT_WRITERS.contains(&sub)
                || matches!(sub, "stash" | "worktree" | "filter-branch") =>
            {
                self.emit(
                    Class::WritesInside,
                    format!("git {sub} changes the repository"),
                );
            }
            _ => self.emit(
                Class::Unparseable,
                format!("unknown git subcommand {sub} (may be an alias)"),
            ),
        }
        CmdInfo::default()
    }

    pub(super) fn git_push(&mut self, rest: &[Arg]) {
        self.emit(Class::Network, "git push talks to a remote");
        const FORCE_FLAGS: &[&str] = &[
            "--force",
            "--force-with-lease",
            "--force-if-includes",
            "--mirror",
            "--delete",
            "--prune",
        ];
        let forced = rest.iter().any(|a| {
            FORCE_FLAGS
                .iter()
                .any(|f| a.text == *f || a.text.starts_with(&format!("{f}=")))
                || is_short_cluster_with(a, "fd")
                || (!a.is_option()
                    && !a.dynamic
                    && (a.text.starts_with('+')
                        || a.text.starts_with(':')
                        || a.text.contains(":+")))
        });
        if forced {
            self.emit(
                Class::Destructive,
                "git push with force/delete rewrites remote history",
            );
        }
    }

    pub(super) fn git_branch(&mut self, rest: &[Arg]) {
        const LISTING: &[&str] = &[
            "-a",
            "-r",
            "-l",
            "-v",
            "-vv",
            "--all",
            "--remotes",
            "--list",
            "--verbose",
            "--show-current",
            "--no-color",
            "--color",
            "--column",
            "--no-column",
        ];
        const LISTING_PREFIXES: &[&str] = &[
            "--contains",
            "--no-contains",
            "--merged",
            "--no-merged",
            "--sort",
            "--format",
            "--points-at",
            "--color=",
            "--abbrev",
        ];
        let listing_only = rest.iter().all(|a| {
            a.is_option()
                && (LISTING.contains(&a.text.as_str())
                    || LISTING_PREFIXES.iter().any(|p| a.text.starts_with(p)))
        });
        let list_mode = rest.iter().any(|a| a.is("-l") || a.is("--list"));
        if !(listing_only || list_mode) {
            self.emit(Class::WritesInside, "git branch changes branches");
        }
    }

    pub(super) fn git_config(&mut self, rest: &[Arg]) {
        const READ_FLAGS: &[&str] = &[
            "--get",
            "--get-all",
            "--get-regexp",
            "--get-urlmatch",
            "--list",
            "-l",
            "--get-color",
            "--get-colorbool",
        ];
        const WRITE_FLAGS: &[&str] = &[
            "--unset",
            "--unset-all",
            "--add",
            "--replace-all",
            "--rename-section",
            "--remove-section",
            "--edit",
            "-e",
        ];
        let outside_repo = rest.iter().any(|a| a.is("--global") || a.is("--system"));
        if outside_repo {
            self.emit(
                Class::TouchesOutside,
                "git config outside the repository (global/system)",
            );
        }
        // `-f FILE` names the file written; its value is no key.
        let mut file: Option<Arg> = None;
        let mut words: Vec<Arg> = Vec::new();
        let mut i = 0;
        while let Some(a) = rest.get(i) {
            if a.is("-f") || a.is("--file") || a.is("--blob") {
                if !a.is("--blob") {
                    file = rest.get(i + 1).cloned();
                }
                i += 2;
                continue;
            }
            if let Some(v) = a.text.strip_prefix("--file=") {
                file = Some(Arg::literal(v));
            } else {
                words.push(a.clone());
            }
            i += 1;
        }
        let rest = &words[..];
        let pos = positionals(rest);
        let first = pos.first().map(|a| a.text.as_str()).unwrap_or("");
        let new_syntax_read = matches!(first, "get" | "list");
        let new_syntax_write = matches!(
            first,
            "set" | "unset" | "rename-section" | "remove-section" | "edit"
        );
        let reading = new_syntax_read
            || rest.iter().any(|a| READ_FLAGS.contains(&a.text.as_str()))
            || (!new_syntax_write
                && pos.len() <= 1
                && !rest.iter().any(|a| WRITE_FLAGS.contains(&a.text.as_str())));
        if reading {
            // Values of the repository's config are printed: its remotes may carry a token.
            if file.is_none() && !outside_repo {
                self.note_repo_read(&[".git/config"]);
            }
            return;
        }
        match &file {
            Some(f) => {
                self.check_path(f, Access::Write);
            }
            None if outside_repo => {}
            None if rest.iter().any(|a| a.is("--worktree")) => {
                self.note_repo_files(&[".git/config.worktree"])
            }
            None => self.note_repo_files(&[".git/config"]),
        }
        let key = if new_syntax_write {
            pos.get(1)
        } else {
            pos.first()
        };
        match key {
            Some(k) if k.dynamic || !git_config_key_safe(&k.text) => {
                self.emit(
                    Class::Unparseable,
                    format!("git config {} can change what git runs", k.text),
                );
            }
            _ => self.emit(
                Class::WritesInside,
                "git config changes the repository configuration",
            ),
        }
    }

    /// Note `files` (relative to the repository's top) as read, like [`Self::note_repo_files`]:
    /// git prints what they hold without any argument naming them.
    pub(super) fn note_repo_read(&mut self, files: &[&str]) {
        for top in self.repo_tops() {
            for f in files {
                self.note_path(top.join(f), Access::Read);
            }
        }
    }

    /// The repository top git works in from each possible working directory: the nearest
    /// directory inside the project that holds `.git`, or the project root.
    pub(super) fn repo_tops(&self) -> Vec<PathBuf> {
        let mut tops: Vec<PathBuf> = Vec::new();
        for cwd in &self.cwds {
            let top = match cwd {
                Cwd::Known(d) => d
                    .ancestors()
                    .take_while(|a| a.starts_with(&self.root))
                    .find(|a| a.join(".git").exists())
                    .map(Path::to_path_buf),
                Cwd::Unknown => None,
            }
            .unwrap_or_else(|| self.root.clone());
            if !tops.contains(&top) {
                tops.push(top);
            }
        }
        tops
    }

    /// Record what a git subcommand may print from the object store and the index (see
    /// [`GitRead`]): which `<rev>:<path>` objects it names, whether it prints entries no
    /// argument names, and the pathspecs narrowing those.
    ///
    /// Positionals follow git's own rule: before `--`, a word that exists as a path is a
    /// pathspec and anything else a revision; after `--` everything is a pathspec. Words with
    /// pathspec magic (`:!x`, `:^x`, `:(exclude)x`) are pathspecs wherever they stand.
    pub(super) fn git_read(&mut self, sub: &str, rest: &[Arg]) {
        /// Options of git's log, diff and grep families that take the next word as value.
        const VALUE_FLAGS: &[&str] = &[
            "-n",
            "--max-count",
            "--skip",
            "--author",
            "--committer",
            "--grep",
            "-S",
            "-G",
            "--since",
            "--until",
            "--after",
            "--before",
            "-e",
            "-f",
            "--format",
            "-o",
            "--output",
            "--prefix",
            "--remote",
            "--exec",
            "-m",
            "--message",
            "--date",
            "--encoding",
            "-O",
            "-A",
            "-B",
            "-C",
            "--max-depth",
            "--threads",
            "--contains",
            "--abbrev",
            "--diff-filter",
            "--stat-width",
            "--submodule",
            "--decorate-refs",
        ];
        /// Log-family options that print patches or the names of changed files.
        const PRINTS_ENTRIES: &[&str] = &[
            "-p",
            "-u",
            "--patch",
            "--patch-with-stat",
            "--patch-with-raw",
            "--unified",
            "--stat",
            "--numstat",
            "--name-only",
            "--name-status",
            "--raw",
            "--summary",
            "--dirstat",
            "-X",
            "--cumulative",
            "--compact-summary",
            "--cc",
            "-c",
            "--word-diff",
            "--color-words",
            "--word-diff-regex",
            "--binary",
            "--objects",
            "--objects-edge",
            "--objects-edge-aggressive",
            "-t",
            "--full-diff",
            "--remerge-diff",
            "--dd",
        ];
        let first = first_positional(rest)
            .map(|(_, a)| a.text.as_str())
            .unwrap_or("");
        let log_flags = || {
            rest.iter().any(|a| {
                !a.dynamic
                    && (PRINTS_ENTRIES.iter().any(|f| {
                        a.text == *f
                            || (f.starts_with("--") && a.text.starts_with(&format!("{f}=")))
                    }) || (a.text.starts_with("-U") && a.text.len() > 2)
                        || (a.text.starts_with("-L"))
                        || (a.is_option()
                            && !a.text.starts_with("--")
                            && a.text[1..].chars().all(|c| c.is_ascii_alphanumeric())
                            && a.text[1..].chars().any(|c| c == 'p' || c == 'u')))
            })
        };
        let entries = match sub {
            "show" | "whatchanged" | "diff" | "diff-tree" | "diff-index" | "diff-files"
            | "range-diff" | "format-patch" | "archive" | "grep" | "ls-tree" | "ls-files"
            | "merge-tree" | "unpack-file" => true,
            "log" | "rev-list" | "shortlog" | "cherry" => log_flags(),
            "reflog" => matches!(first, "" | "show") && log_flags(),
            "stash" => first == "show" || (first == "list" && log_flags()),
            "cat-file" => !rest
                .iter()
                .any(|a| a.is("-t") || a.is("-s") || a.is("-e") || a.is("--batch-check")),
            _ => return,
        };
        let pattern_first = sub == "grep"
            && !rest
                .iter()
                .any(|a| a.is("-e") || a.is("-f") || a.text.starts_with("--patterns"));
        let mut read = GitRead {
            dirs: self
                .cwds
                .iter()
                .filter_map(|c| match c {
                    Cwd::Known(d) => Some(d.clone()),
                    Cwd::Unknown => None,
                })
                .collect(),
            explicit_repo: self.git_explicit_repo
                || self.cwds.iter().any(|c| matches!(c, Cwd::Unknown)),
            ..GitRead::default()
        };
        let mut revisions = 0usize;
        let mut after_dashdash = false;
        let mut skip_next = false;
        let mut pattern_seen = false;
        // `stash show`, `reflog show`: the subcommand's own word is no revision.
        let own_word = first_positional(rest)
            .filter(|(_, a)| {
                matches!(sub, "stash" | "reflog") && matches!(a.text.as_str(), "show" | "list")
            })
            .map(|(i, _)| i);
        for (i, a) in rest.iter().enumerate() {
            if Some(i) == own_word {
                continue;
            }
            if skip_next {
                skip_next = false;
                continue;
            }
            if a.dynamic {
                // Unknown words: nothing narrows what is printed.
                read.entries = true;
                read.pathspecs.clear();
                after_dashdash = true;
                revisions += 1;
                continue;
            }
            if !after_dashdash && a.is("--") {
                after_dashdash = true;
                continue;
            }
            if after_dashdash {
                read.pathspecs.push(a.text.clone());
                continue;
            }
            if a.is_option() {
                if let Some(range) = a.text.strip_prefix("-L").filter(|r| !r.is_empty()) {
                    if let Some((_, file)) = range.rsplit_once(':') {
                        read.objects.push(format!("./{file}"));
                    }
                } else if a.is("-L") || VALUE_FLAGS.contains(&a.text.as_str()) {
                    skip_next = true;
                }
                continue;
            }
            if pattern_first && !pattern_seen {
                pattern_seen = true;
                continue;
            }
            let t = a.text.as_str();
            if t.starts_with(":!") || t.starts_with(":^") || t.starts_with(":(") {
                read.pathspecs.push(t.to_string());
            } else if let Some(path) = object_path(t) {
                read.objects.push(path.to_string());
            } else if self.cwds.iter().any(|c| match c {
                Cwd::Known(d) => d.join(t).symlink_metadata().is_ok(),
                Cwd::Unknown => false,
            }) && !t.is_empty()
            {
                read.pathspecs.push(t.to_string());
            } else {
                revisions += 1;
            }
        }
        // `-L <range>:<file>` with the range as a separate word.
        for (i, a) in rest.iter().enumerate() {
            if a.is("-L") {
                if let Some((_, file)) = rest.get(i + 1).and_then(|v| v.text.rsplit_once(':')) {
                    read.objects.push(format!("./{file}"));
                }
            }
        }
        // Only `<rev>:<path>` objects named, no other revision: those objects are all it prints
        // (`git show HEAD:src/x.rs`, `git diff HEAD:a HEAD:b`, `git cat-file -p :x`).
        let only_objects = !read.objects.is_empty() && revisions == 0;
        read.entries = entries
            && !(only_objects
                && matches!(
                    sub,
                    "show" | "cat-file" | "diff" | "archive" | "ls-tree" | "grep" | "unpack-file"
                ));
        let has = |f: &str| rest.iter().any(|a| a.is(f));
        if revisions == 0 && read.objects.is_empty() && !has("--no-index") {
            read.scope = match sub {
                "diff" if has("--cached") || has("--staged") => GitScope::IndexAndHead,
                "diff" | "diff-files" | "grep" | "ls-files" => GitScope::Index,
                _ => GitScope::History,
            };
        }
        if read.entries || !read.objects.is_empty() {
            self.git_reads.push(read);
        }
    }

    /// Note `files` (relative to the repository's top) as written, for the repository git works
    /// on from each possible working directory: the nearest directory inside the project that
    /// holds `.git`, or the project root.
    pub(super) fn note_repo_files(&mut self, files: &[&str]) {
        for top in self.repo_tops() {
            for f in files {
                self.note_write(top.join(f));
            }
        }
    }

    pub(super) fn git_rebase_exec(&mut self, rest: &[Arg]) {
        for (i, a) in rest.iter().enumerate() {
            let code = if a.is("-x") || a.is("--exec") {
                rest.get(i + 1).cloned()
            } else {
                a.text.strip_prefix("--exec=").map(Arg::literal)
            };
            match code {
                Some(c) if c.dynamic => self.emit(
                    Class::Unparseable,
                    "git rebase --exec runs code from an expansion",
                ),
                Some(c) => self.analyze_source_isolated(&c.text),
                None => {}
            }
        }
    }

    // ---- language package managers and build tools ----
}
