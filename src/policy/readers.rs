//! Whole-tree readers and listers: what `grep -r`, `rg`, Claude's `Grep` and `Glob`, `tar c`,
//! `ls -la`, `find` and `tree` really read or list of a directory, checked for secret files.
//!
//! Why it exists: such a program reaches secret files without naming them. Checking a fixed
//! subset of the tree (the old scan skipped `node_modules`, `target` and `.git`) misses what
//! `grep -r` reads there; refusing every search of a tree that holds a `.env` refuses `rg`,
//! which never reads it (hidden, and ignored by `.gitignore`). So each program is modelled by
//! the part of the tree it reaches ([`Reach`]): hidden entries or not, what `.gitignore`
//! ignores or not, version-control folders or not, its include and exclude globs, its depth.
//! The tree is then walked as that program would walk it (bounded by entries and time; an
//! incomplete walk is never an "allow") and every secret entry it would reach is reported.
//!
//! Reading and listing are one question: listing a secret file's *name* exposes it too
//! (ccgate never lists secret names), so `ls -la`, `find`, `tree` and `Glob` are readers of
//! names. Where a model is unsure it assumes more is reached: ignore files ccgate does not
//! evaluate (`.ignore`, `.rgignore`, global excludes) only make the real program read less.
//!
//! What is ignored comes from git itself (`git ls-files --others --ignored --exclude-standard
//! --directory`), the same rules ripgrep implements; outside a repository nothing is ignored,
//! as for ripgrep.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::secret_files::SecretFiles;

/// Most entries one walk looks at; a larger tree is "too large to check".
pub const WALK_LIMIT: usize = 200_000;
/// Longest one walk may take.
pub const WALK_TIME: Duration = Duration::from_secs(3);
/// Most secret entries reported.
const MAX_FOUND: usize = 100;

/// Version-control folders (Claude's Grep excludes these by name).
const VCS_DIRS: &[&str] = &[".git", ".svn", ".hg", ".bzr", ".jj", ".sl"];

/// A glob of a reader's include or exclude option.
#[derive(Debug, Clone)]
pub struct Pat {
    matcher: globset::GlobMatcher,
    /// Matched against the path relative to the walked folder (the glob has a `/`), or else
    /// against each entry's own name.
    anchored: bool,
}

impl Pat {
    /// A glob as programs take it (`*.rs`, `src/**`, `.env*`); `None` when it does not parse
    /// (the caller then treats the option as absent, which reaches more).
    pub fn new(glob: &str, case_insensitive: bool) -> Option<Pat> {
        let g = glob.trim_start_matches("./");
        let g = g.strip_suffix('/').unwrap_or(g);
        let anchored = g.contains('/');
        let g = g.strip_prefix('/').unwrap_or(g);
        let matcher = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .case_insensitive(case_insensitive)
            .build()
            .ok()?
            .compile_matcher();
        Some(Pat { matcher, anchored })
    }

    pub fn matches(&self, rel: &Path) -> bool {
        if self.anchored {
            self.matcher.is_match(rel)
        } else {
            rel.file_name().is_some_and(|n| self.matcher.is_match(n))
        }
    }
}

/// What of a directory a program reaches.
#[derive(Debug, Clone)]
pub struct Reach {
    /// Entries whose name starts with a dot.
    pub hidden: bool,
    /// What `.gitignore` (and `.git/info/exclude`) ignores.
    pub ignored: bool,
    /// Version-control folders (`.git`, …).
    pub vcs: bool,
    /// Below the first level (`ls` without `-R` lists one level).
    pub recursive: bool,
    /// Most levels below the folder (1 = its entries).
    pub max_depth: Option<usize>,
    /// Files are reached only if one of these matches (empty: all).
    pub include: Vec<Pat>,
    /// Files and folders matching one of these are not reached.
    pub exclude: Vec<Pat>,
    /// Folders matching one of these are not entered.
    pub exclude_dirs: Vec<Pat>,
    /// Folder names are listed only if one of these matches (empty: all); `find -name`.
    pub dir_include: Vec<Pat>,
    /// The names of folders are listed (`ls`, `find`, `tree`); readers reach only files.
    pub lists_dirs: bool,
    /// Files are reached (`find -type d` and `du` list folders only).
    pub files: bool,
}

impl Reach {
    /// Everything below, hidden, ignored and version-control folders included.
    pub fn everything() -> Reach {
        Reach {
            hidden: true,
            ignored: true,
            vcs: true,
            recursive: true,
            max_depth: None,
            include: Vec::new(),
            exclude: Vec::new(),
            exclude_dirs: Vec::new(),
            dir_include: Vec::new(),
            lists_dirs: true,
            files: true,
        }
    }

    /// Claude Code's `Grep` tool (measured in the CLI 2.1.330): `rg --hidden --no-follow
    /// --glob '!.git' … [--glob G …]`: hidden files yes, `.gitignore` honoured, VCS folders
    /// excluded, `glob` split at whitespace and commas (unless it holds braces).
    pub fn grep_tool(glob: Option<&str>) -> Reach {
        let mut r = Reach {
            hidden: true,
            ignored: false,
            vcs: false,
            lists_dirs: false,
            ..Reach::everything()
        };
        for g in split_tool_globs(glob.unwrap_or("")) {
            r.add_rg_glob(&g, false);
        }
        r
    }

    /// Claude Code's `Glob` tool: `rg --files --glob PATTERN --no-ignore --hidden`: every file,
    /// hidden and ignored ones included, whose path matches the pattern.
    pub fn glob_tool(pattern: &str) -> Reach {
        let mut r = Reach {
            lists_dirs: false,
            ..Reach::everything()
        };
        r.add_rg_glob(pattern, false);
        r
    }

    /// A ripgrep `--glob`: `!G` excludes, anything else whitelists files.
    fn add_rg_glob(&mut self, glob: &str, icase: bool) {
        if let Some(neg) = glob.strip_prefix('!') {
            if let Some(p) = Pat::new(neg, icase) {
                self.exclude.push(p);
            }
        } else if let Some(p) = Pat::new(glob, icase) {
            self.include.push(p);
        } else {
            // A glob ripgrep may read differently: it reaches nothing we can vouch for.
            self.include.clear();
        }
    }
}

/// Claude's Grep splits its `glob` at whitespace and commas, except a word with braces.
fn split_tool_globs(glob: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in glob.split_whitespace() {
        if word.contains('{') && word.contains('}') {
            out.push(word.to_string());
        } else {
            out.extend(word.split(',').filter(|w| !w.is_empty()).map(String::from));
        }
    }
    out
}

/// The secret entries a program with `reach` reaches below `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Relative to `dir`, sorted; at most [`MAX_FOUND`].
    pub secret: Vec<PathBuf>,
    /// False when the walk stopped at its limit or time: there may be more.
    pub complete: bool,
}

/// Walk `dir` as a program with `reach` would and collect the secret entries it reaches.
pub fn scan(secrets: &SecretFiles, dir: &Path, reach: &Reach) -> Found {
    let deadline = Instant::now() + WALK_TIME;
    let mut complete = true;
    let ignored = if reach.ignored {
        Ok(HashSet::new())
    } else {
        ignored_paths(dir)
    };
    let ignored = match ignored {
        Ok(i) => i,
        Err(_) => {
            complete = false;
            HashSet::new()
        }
    };
    let mut found: Vec<PathBuf> = Vec::new();
    let mut secret_dirs: HashSet<PathBuf> = HashSet::new();
    let mut n = 0usize;
    let walked = crate::walk::walk(dir, WALK_LIMIT, |path, meta| {
        n += 1;
        if n.is_multiple_of(256) && Instant::now() > deadline {
            complete = false;
        }
        if !complete {
            return false;
        }
        let rel = path.strip_prefix(dir).unwrap_or(path);
        let depth = rel.components().count();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_dir = meta.is_dir();
        if (!reach.hidden && name.starts_with('.'))
            || (!reach.vcs && is_dir && VCS_DIRS.contains(&name))
            || ignored.contains(path)
            || reach.exclude.iter().any(|p| p.matches(rel))
            || (is_dir && reach.exclude_dirs.iter().any(|p| p.matches(rel)))
            || reach.max_depth.is_some_and(|m| depth > m)
        {
            return false;
        }
        let inside_secret = path.parent().is_some_and(|p| secret_dirs.contains(p));
        let secret = inside_secret || secrets.is_secret_entry(path);
        if secret && is_dir {
            secret_dirs.insert(path.to_path_buf());
        }
        let reached = if is_dir {
            reach.lists_dirs
                && (reach.dir_include.is_empty()
                    || reach.dir_include.iter().any(|p| p.matches(rel)))
        } else {
            reach.files
                && (reach.include.is_empty() || reach.include.iter().any(|p| p.matches(rel)))
        };
        if secret && reached && found.len() < MAX_FOUND {
            // Report a secret folder once, not each file in it.
            let top = rel
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .filter(|a| secret_dirs.contains(&dir.join(a)))
                .last()
                .unwrap_or(rel)
                .to_path_buf();
            if !found.contains(&top) {
                found.push(top);
            }
        }
        is_dir && (reach.recursive || depth < 1) && !meta.file_type().is_symlink()
    });
    if walked.is_err() {
        complete = false;
    }
    found.sort();
    Found {
        secret: found,
        complete,
    }
}

/// What git ignores below `dir` (absolute paths; ignored folders as a whole). Empty outside a
/// repository.
fn ignored_paths(dir: &Path) -> Result<HashSet<PathBuf>, String> {
    let out = match super::git_store::git(
        dir,
        &[
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--directory",
        ],
        &[],
    ) {
        Ok(o) => o,
        Err(e) if e.contains("not a git repository") => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    Ok(out
        .split(|b| *b == 0)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let s = String::from_utf8_lossy(l);
            dir.join(s.trim_end_matches('/'))
        })
        .collect())
}

/// Option words of one command: flags, `--name=value` and `--name value` pairs.
struct Opts<'a> {
    args: &'a [String],
}

impl<'a> Opts<'a> {
    fn has(&self, flags: &[&str]) -> bool {
        self.args.iter().any(|a| flags.contains(&a.as_str()))
    }

    /// A short flag, also inside a cluster (`-rn` has `r`).
    fn short(&self, c: char) -> bool {
        self.args.iter().any(|a| {
            a.len() > 1
                && a.starts_with('-')
                && !a.starts_with("--")
                && a[1..]
                    .chars()
                    .all(|x| x.is_ascii_alphanumeric() || x == '.')
                && a[1..].contains(c)
        })
    }

    /// How many times a short flag is given (`-uu` is two).
    fn count(&self, c: char) -> usize {
        self.args
            .iter()
            .filter(|a| a.starts_with('-') && !a.starts_with("--"))
            .map(|a| a[1..].chars().filter(|x| *x == c).count())
            .sum()
    }

    /// Values of `--long=V`, `--long V` and `-s V` / `-sV`.
    fn values(&self, long: &[&str], short: &[&str]) -> Vec<&'a str> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.args.len() {
            let a = self.args[i].as_str();
            let next = self.args.get(i + 1).map(String::as_str);
            for l in long {
                if a == *l {
                    if let Some(v) = next {
                        out.push(v);
                    }
                } else if let Some(v) = a.strip_prefix(&format!("{l}=")) {
                    out.push(v);
                }
            }
            for s in short {
                if a == *s {
                    if let Some(v) = next {
                        out.push(v);
                    }
                } else if let Some(v) = a.strip_prefix(s).filter(|v| !v.is_empty()) {
                    if s.len() == 2 && !a.starts_with("--") {
                        out.push(v);
                    }
                }
            }
            i += 1;
        }
        out
    }
}

/// How `argv` reaches into directory trees, if it does: the part it reaches, and whether it
/// reads content (`true`) or lists names (`false`). `None` for programs that read or list
/// only what they name.
pub fn reach_of(argv: &[String]) -> Option<(Reach, bool)> {
    let prog = argv.first().map(String::as_str).unwrap_or("");
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    let args = &argv[argv.len().min(1)..];
    let o = Opts { args };
    let globs =
        |vals: Vec<&str>| -> Vec<Pat> { vals.iter().filter_map(|v| Pat::new(v, false)).collect() };
    match prog {
        "grep" | "egrep" | "fgrep" => {
            let recursive = o.short('r')
                || o.short('R')
                || o.has(&["--recursive", "--dereference-recursive"])
                || o.values(&["--directories"], &["-d"]).contains(&"recurse");
            recursive.then(|| {
                (
                    Reach {
                        include: globs(o.values(&["--include"], &[])),
                        exclude: globs(o.values(&["--exclude"], &[])),
                        exclude_dirs: globs(o.values(&["--exclude-dir"], &[])),
                        lists_dirs: false,
                        ..Reach::everything()
                    },
                    true,
                )
            })
        }
        "rg" => {
            let u = o.count('u') + o.args.iter().filter(|a| *a == "--unrestricted").count();
            let hidden = u >= 2 || o.short('.') || o.has(&["--hidden"]);
            let ignored = u >= 1
                || o.has(&[
                    "--no-ignore",
                    "--no-ignore-vcs",
                    "--no-ignore-dot",
                    "--no-ignore-files",
                ]);
            let mut r = Reach {
                hidden,
                ignored,
                vcs: hidden,
                lists_dirs: false,
                ..Reach::everything()
            };
            for g in o.values(&["--glob"], &["-g"]) {
                r.add_rg_glob(g, false);
            }
            for g in o.values(&["--iglob"], &[]) {
                r.add_rg_glob(g, true);
            }
            // `rg --files` lists the names of what it would search.
            Some((r, !o.has(&["--files"])))
        }
        "ag" | "pt" => {
            let unrestricted = o.has(&["-u", "--unrestricted"]);
            Some((
                Reach {
                    hidden: unrestricted || o.has(&["--hidden"]),
                    ignored: unrestricted || o.has(&["-U", "--skip-vcs-ignores"]),
                    vcs: false,
                    lists_dirs: false,
                    ..Reach::everything()
                },
                true,
            ))
        }
        "ack" => Some((
            Reach {
                vcs: false,
                lists_dirs: false,
                ..Reach::everything()
            },
            true,
        )),
        // Archivers and copiers read every file they are given, excludes aside.
        "tar" | "bsdtar" => {
            let create = args
                .first()
                .is_some_and(|a| !a.starts_with('-') && a.contains(['c', 'r', 'u']))
                || o.has(&["--create", "--append", "--update"])
                || o.short('c')
                || o.short('r')
                || o.short('u');
            create.then(|| {
                (
                    Reach {
                        vcs: !o.has(&["--exclude-vcs"]),
                        exclude: globs(o.values(&["--exclude"], &[])),
                        ..Reach::everything()
                    },
                    true,
                )
            })
        }
        "zip" => o.short('r').then(|| {
            (
                Reach {
                    exclude: globs(o.values(&["--exclude"], &["-x"])),
                    ..Reach::everything()
                },
                true,
            )
        }),
        "7z" | "7za" | "7zr" => Some((Reach::everything(), true)),
        "rsync" => Some((
            Reach {
                exclude: globs(o.values(&["--exclude"], &[])),
                ..Reach::everything()
            },
            true,
        )),
        "find" => {
            let runs = o.has(&["-exec", "-execdir", "-ok", "-okdir"]);
            Some((find_reach(args), runs))
        }
        "ls" | "dir" | "vdir" => {
            if o.short('d') || o.has(&["--directory"]) {
                return None; // lists the names it is given, which are checked as paths
            }
            let all = o.short('a') || o.short('A') || o.has(&["--all", "--almost-all"]);
            let mut exclude = globs(o.values(&["--ignore"], &["-I"]));
            if !all {
                exclude.extend(globs(o.values(&["--hide"], &[])));
            }
            Some((
                Reach {
                    hidden: all,
                    recursive: o.short('R') || o.has(&["--recursive"]),
                    exclude,
                    ..Reach::everything()
                },
                false,
            ))
        }
        "tree" => {
            let mut exclude = Vec::new();
            for v in o.values(&["--ignore"], &["-I"]) {
                exclude.extend(v.split('|').filter_map(|g| Pat::new(g, false)));
            }
            let mut include = Vec::new();
            for v in o.values(&[], &["-P"]) {
                include.extend(v.split('|').filter_map(|g| Pat::new(g, false)));
            }
            let depth = o
                .values(&[], &["-L"])
                .first()
                .and_then(|v| v.parse::<usize>().ok());
            Some((
                Reach {
                    hidden: o.short('a'),
                    max_depth: depth,
                    include,
                    exclude,
                    files: !o.short('d'),
                    ..Reach::everything()
                },
                false,
            ))
        }
        "du" => {
            if o.short('s') || o.has(&["--summarize"]) {
                return None;
            }
            let depth = o
                .values(&["--max-depth"], &["-d"])
                .first()
                .and_then(|v| v.parse::<usize>().ok());
            Some((
                Reach {
                    files: o.short('a') || o.has(&["--all"]),
                    max_depth: depth,
                    exclude: globs(o.values(&["--exclude"], &[])),
                    ..Reach::everything()
                },
                false,
            ))
        }
        "git" => {
            let sub = args.iter().position(|a| a == "grep" || a == "ls-files")?;
            let rest = Opts {
                args: &args[sub + 1..],
            };
            if args[sub] == "grep" {
                let no_index = rest.has(&["--no-index"]);
                (no_index || rest.has(&["--untracked"])).then(|| {
                    (
                        Reach {
                            ignored: no_index,
                            vcs: false,
                            lists_dirs: false,
                            ..Reach::everything()
                        },
                        true,
                    )
                })
            } else {
                (rest.has(&["-o", "--others"])).then(|| {
                    (
                        Reach {
                            ignored: !rest.has(&["--exclude-standard"]),
                            vcs: false,
                            lists_dirs: false,
                            ..Reach::everything()
                        },
                        false,
                    )
                })
            }
        }
        _ => None,
    }
}

/// `find`: everything below (hidden included), unless its expression is a plain conjunction of
/// name and type tests: then only what those select.
fn find_reach(args: &[String]) -> Reach {
    let mut r = Reach::everything();
    let expr_start = args
        .iter()
        .position(|a| a.starts_with('-') || a == "(" || a == "!")
        .unwrap_or(args.len());
    let expr = &args[expr_start..];
    let mut i = 0;
    let mut plain = true;
    let mut include = Vec::new();
    while i < expr.len() {
        let a = expr[i].as_str();
        let v = expr.get(i + 1).map(String::as_str);
        match a {
            "-name" | "-iname" => {
                match v.and_then(|v| Pat::new(v, a == "-iname")) {
                    Some(p) => include.push(p),
                    None => plain = false,
                }
                i += 1;
            }
            "-type" => {
                match v {
                    Some("d") => r.files = false,
                    Some("f") => r.lists_dirs = false,
                    _ => {}
                }
                i += 1;
            }
            "-maxdepth" => {
                r.max_depth = v.and_then(|v| v.parse().ok());
                i += 1;
            }
            "-mindepth" | "-newer" | "-mtime" | "-mmin" | "-size" | "-user" | "-group"
            | "-perm" | "-atime" | "-ctime" => i += 1,
            "-print" | "-print0" | "-ls" | "-a" | "-and" | "-xdev" | "-mount" | "-empty"
            | "-readable" | "-writable" | "-executable" | "-depth" | "-follow" | "-L" | "-P"
            | "-H" => {}
            _ if a.starts_with('-') => plain = false,
            _ => {}
        }
        i += 1;
    }
    if plain && !include.is_empty() {
        // A name test selects folders too: `find . -name '.ssh'` lists the folder.
        r.include = include.clone();
        r.dir_include = include;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::super::engine::{decide, Decision, Rules};
    use super::super::roles::Role;
    use super::super::ToolContext;
    use super::*;
    use serde_json::json;

    fn sh(dir: &Path, script: &str) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
    }

    /// A repository whose secrets sit where the old scan never looked (`node_modules`,
    /// `target`, `.git`), one ignored `.env`, one hidden, and a clean folder.
    fn with_tree(f: impl FnOnce(&ToolContext<'_>, &Path)) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let p = root.join("proj");
        std::fs::create_dir_all(&p).unwrap();
        sh(
            &p,
            "git init -q . && mkdir -p src/deep node_modules/pkg target/debug clean/x docs \
             && echo 'fn main(){}' > src/main.rs && echo 'x' > src/deep/a.rs \
             && printf 'node_modules/\\ntarget/\\n.env\\n' > .gitignore \
             && echo KEY=1 > .env && echo 'k' > node_modules/pkg/npm.pem \
             && echo 'k' > target/debug/test.key && echo 'y' > clean/x/b.rs \
             && echo 'doc' > docs/guide.md",
        );
        let secrets = SecretFiles::defaults().unwrap();
        let ctx = ToolContext {
            root: &root,
            cwd: &p,
            role: Role::Developer,
            secrets: &secrets,
            plans_dir: None,
            contained: true,
        };
        f(&ctx, &p);
    }

    fn bash(ctx: &ToolContext<'_>, c: &str) -> Decision {
        decide(&Rules::default(), ctx, "Bash", &json!({"command": c}))
    }

    #[test]
    fn whole_tree_readers_reach_what_the_program_reads() {
        with_tree(|ctx, _| {
            // These read a secret file (ask, naming it); the old scan skipped these folders.
            for (c, shown) in [
                ("grep -r KEY .", "npm.pem"),
                ("grep -rn KEY", "test.key"),
                ("grep -R KEY --include='npm*' .", "npm.pem"),
                ("grep -r KEY --exclude-dir=node_modules .", "test.key"),
                ("egrep --recursive KEY", ".env"),
                ("rg --hidden --no-ignore KEY", ".env"),
                ("rg -uu KEY", ".env"),
                ("rg -u KEY", "npm.pem"),
                ("rg --no-ignore KEY", "test.key"),
                ("rg -g 'test*' --no-ignore KEY", "test.key"),
                ("ag -u KEY", ".env"),
                ("ack KEY", ".env"),
                ("tar czf all.tgz .", ".env"),
                ("tar -c --exclude=.env -f all.tar .", "npm.pem"),
                ("zip -r all.zip .", ".env"),
                ("find . -type f -exec cat {} +", ".env"),
                ("git grep --no-index KEY", ".env"),
            ] {
                match bash(ctx, c) {
                    Decision::Ask { rule, reason, .. } => {
                        assert_eq!(rule, "secret_files.recursive", "{c}");
                        assert!(reason.contains(shown), "{c}: {reason}");
                    }
                    d => panic!("{c}: {d:?}"),
                }
            }
            // These do not reach one: allowed.
            for c in [
                "rg KEY",
                // `.env` is hidden *and* ignored: --hidden alone still skips it.
                "rg --hidden KEY",
                "rg -n KEY src",
                "rg --hidden -g '!.env' KEY src",
                "rg --hidden -g '*.rs' KEY",
                "rg -u -g '*.rs' KEY",
                "ag KEY",
                "grep -rn KEY src",
                "grep -r KEY --include='*.rs' .",
                "grep -r KEY --exclude-dir=node_modules --exclude-dir=target --exclude=.env .",
                "grep -r KEY clean docs",
                "tar czf all.tgz src docs",
                "tar -czf all.tgz --exclude=.env --exclude=node_modules --exclude=target .",
                "tar xzf x.tgz",
                "git grep --untracked KEY",
                "git grep KEY",
            ] {
                let d = bash(ctx, c);
                assert!(matches!(d, Decision::Allow { .. }), "{c}: {d:?}");
            }
        });
    }

    #[test]
    fn claude_grep_reads_hidden_files_and_honours_gitignore() {
        with_tree(|ctx, p| {
            let grep = |input: serde_json::Value| decide(&Rules::default(), ctx, "Grep", &input);
            // `.env`, node_modules and target are ignored by .gitignore: the tool never reads them.
            assert!(matches!(
                grep(json!({"pattern": "KEY"})),
                Decision::Allow { .. }
            ));
            // A hidden secret that is not ignored is read.
            std::fs::create_dir_all(p.join("conf")).unwrap();
            std::fs::write(p.join("conf/.env.local"), "K=2").unwrap();
            std::fs::write(p.join("conf/app.toml"), "x=1").unwrap();
            for input in [
                json!({"pattern": "KEY"}),
                json!({"pattern": "KEY", "path": "conf"}),
                json!({"pattern": "KEY", "glob": ".env*"}),
                json!({"pattern": "KEY", "glob": "*.toml, .env.local"}),
                json!({"pattern": "KEY", "glob": "!*.rs"}),
            ] {
                let d = grep(input.clone());
                assert!(
                    matches!(&d, Decision::Deny { rule, .. } if rule == "secret_files.search"),
                    "{input}: {d:?}"
                );
            }
            for input in [
                json!({"pattern": "KEY", "glob": "*.toml"}),
                json!({"pattern": "KEY", "glob": "*.{rs,toml}"}),
                json!({"pattern": "KEY", "glob": "!conf/**"}),
                json!({"pattern": "KEY", "path": "src"}),
                json!({"pattern": "KEY", "path": "conf/app.toml"}),
            ] {
                let d = grep(input.clone());
                assert!(matches!(d, Decision::Allow { .. }), "{input}: {d:?}");
            }
        });
    }

    #[test]
    fn listing_secret_names_is_refused_and_ordinary_listings_are_not() {
        with_tree(|ctx, p| {
            std::fs::create_dir_all(p.join("deploy/.ssh")).unwrap();
            std::fs::write(p.join("deploy/.ssh/id_ed25519"), "k").unwrap();
            std::fs::write(p.join("deploy/prod.pem"), "k").unwrap();
            std::fs::write(p.join("deploy/run.sh"), "x").unwrap();
            for c in [
                "ls -la",
                "ls -A",
                "ls deploy",
                "ls -l deploy/",
                "ls -R",
                "ls -laR src deploy",
                "find .",
                "find . -type f",
                "find deploy -name 'prod*'",
                "find . -name 'id_*'",
                "find . -name '.s?h'",
                "find . -iname 'PROD.*'",
                "find . -maxdepth 1",
                "tree",
                "tree -a deploy",
                "du -a",
                "du -ah deploy",
                "du",
                "rg --files -uu",
                "rg --files",
                "git ls-files --others",
                "git ls-files -o --exclude-standard",
                "cd deploy && ls",
            ] {
                let d = bash(ctx, c);
                assert!(
                    matches!(&d, Decision::Deny { rule, .. } if rule == "secret_files.listing"),
                    "{c}: {d:?}"
                );
            }
            for c in [
                "ls",
                "ls -l",
                "ls src",
                "ls -la src docs",
                "ls -la -I .env -I .git -I .gitignore src",
                "ls -la --ignore=.env --ignore=.git",
                "ls -d deploy",
                "ls -R src",
                "find src -type f",
                "find . -name '*.rs'",
                "find . -type d -name src",
                "find deploy -maxdepth 1 -name '*.sh'",
                "tree src",
                "tree -I 'deploy|node_modules|target'",
                "du -sh .",
                "du -a src",
                "rg --files src docs",
                "git ls-files",
                "git ls-files --others --exclude-standard src",
            ] {
                let d = bash(ctx, c);
                assert!(matches!(d, Decision::Allow { .. }), "{c}: {d:?}");
            }
            // Hidden secrets only show with -a: `ls` of the root is fine though `.env` is there.
            let d = bash(ctx, "ls -a");
            let Decision::Deny { reason, .. } = d else {
                panic!("{d:?}")
            };
            assert!(reason.contains(".env"), "{reason}");
            // LS (older CLIs) lists hidden entries.
            let ls = |p: &str| decide(&Rules::default(), ctx, "LS", &json!({"path": p}));
            assert!(matches!(ls("."), Decision::Deny { .. }));
            assert!(matches!(ls("deploy/.ssh"), Decision::Deny { .. }));
            assert!(matches!(ls("src"), Decision::Allow { .. }));
        });
    }

    #[test]
    fn glob_patterns_stay_in_the_project_and_away_from_secret_names() {
        with_tree(|ctx, p| {
            let glob = |input: serde_json::Value| decide(&Rules::default(), ctx, "Glob", &input);
            let inside = format!("{}/src/**/*.rs", p.display());
            let outside = format!("{}/../**/*", p.display());
            for (input, rule) in [
                (json!({"pattern": "/etc/*"}), "file.outside_project"),
                (json!({"pattern": "/**/id_rsa"}), "file.outside_project"),
                (json!({"pattern": "../**/*.rs"}), "file.outside_project"),
                (json!({"pattern": "src/../../*"}), "file.outside_project"),
                (json!({"pattern": outside}), "file.outside_project"),
                (json!({"pattern": "~/.ssh/*"}), "file.outside_project"),
                (
                    json!({"pattern": "*", "path": "/etc"}),
                    "file.outside_project",
                ),
                (json!({"pattern": "**/.env*"}), "secret_files.listing"),
                (json!({"pattern": "**/*.pem"}), "secret_files.listing"),
                (json!({"pattern": "**/id_rsa"}), "secret_files.listing"),
                (json!({"pattern": "**/.ssh/**"}), "secret_files.listing"),
                (json!({"pattern": "**/*.{pem,key}"}), "secret_files.listing"),
                (
                    json!({"pattern": "**/.aws/credentials"}),
                    "secret_files.listing",
                ),
                (json!({"pattern": "**/*.tfstate"}), "secret_files.listing"),
                (json!({"pattern": ".npmrc"}), "file.path_type"),
                (json!({"pattern": "**/*"}), "secret_files.listing"),
                (
                    json!({"pattern": "**/*.key", "path": "target"}),
                    "secret_files.listing",
                ),
                (
                    json!({"pattern": "node_modules/**"}),
                    "secret_files.listing",
                ),
                (json!({"pattern": 7}), "file.path_type"),
            ] {
                let d = glob(input.clone());
                if rule == "file.path_type" && input["pattern"] == ".npmrc" {
                    // An ordinary name, not there: nothing to list.
                    assert!(matches!(d, Decision::Allow { .. }), "{input}: {d:?}");
                    continue;
                }
                assert!(
                    matches!(&d, Decision::Deny { rule: r, .. } if r == rule),
                    "{input}: {d:?}"
                );
            }
            for input in [
                json!({"pattern": "**/*.rs"}),
                json!({"pattern": "src/**/*.rs"}),
                json!({"pattern": inside}),
                json!({"pattern": "**/*.md"}),
                json!({"pattern": "*", "path": "src"}),
                json!({"pattern": "**/*", "path": "clean"}),
                json!({"pattern": "**/*.{rs,md}"}),
                json!({"pattern": ".gitignore"}),
            ] {
                let d = glob(input.clone());
                assert!(matches!(d, Decision::Allow { .. }), "{input}: {d:?}");
            }
        });
    }
}
