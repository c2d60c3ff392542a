//! Configuration-as-code: files inside the project that make tools run things later.
//!
//! Why it exists: ccgate allows Claude to write inside the project, and an OS boundary may
//! contain whatever Claude runs *now*. But some files are read later, outside any boundary, by
//! programs that execute what they say: the next `claude` process loads `.claude/settings.json`
//! and runs its hooks (measured with 2.1.330: a `PreToolUse` hook written by a `Write` call ran
//! before the very next tool call); `CLAUDE.md` is injected into every future prompt and its
//! `@imports` are read without asking (measured: `@.env` in it reached the API); git runs `.git/hooks/*` and the filters, pagers and `core.fsmonitor`
//! commands of `.git/config` when the *operator* types `git commit` in a terminal; direnv
//! executes `.envrc` on `cd`; editors run tasks and language servers from `.vscode/`, `.idea/`,
//! `.zed/`; CI runs `.github/workflows/*` with the repository's secrets on the next push;
//! package managers run `.npmrc`/`.yarnrc.yml`/`.pnpmfile.cjs` settings and `yarnPath` scripts,
//! cargo runs `.cargo/config.toml` wrappers and `rust-toolchain.toml` may point at any
//! toolchain directory. A write there is a deferred command execution with the operator's
//! rights, so it needs a human's approval even though the path is inside the project.
//!
//! One mechanism: [`matched`] tests a path relative to the project root against one globset.
//! Callers pass both the path as written (normalised lexically: `.claude` may itself be a
//! symlink) and the path after symlink resolution (`docs/x` may point into `.claude/`).
//! Matching is ASCII case-insensitive, so `.CLAUDE/settings.json` on a case-insensitive file
//! system (macOS, Windows shares) is caught too; on a case-sensitive one that costs at most an
//! unnecessary question. Every pattern applies anywhere in the tree (`**/`): a chat may work in a
//! subdirectory that is a project (or a repository, or a workspace folder) of its own. A
//! directory pattern covers the directory itself as well, so replacing `.claude` by a symlink
//! or `mv evil .git/hooks` is caught.
//!
//! Deliberately not listed: files that are *the project itself* rather than tool configuration
//! (`Makefile`, `package.json`, `pyproject.toml`, `build.rs`, `conftest.py`, `flake.nix`):
//! editing them is the normal work of a coding agent, and running them is the `runs_code`
//! class. Reads of all these files stay allowed.
//!
//! Limits: a write is recognised when the path is named — by a file tool, a redirection, a
//! writer's argument, a destination directory plus the source name (`cp x/CLAUDE.md .`) or a
//! command known to write one (`git config` → `.git/config`). Archives and patches being
//! unpacked (`tar x`, `unzip`, `git apply`), trees copied wholesale (`cp -r tpl/. .`), checkouts
//! of other commits and code that runs (`python gen.py`) can create these files without naming
//! them; keeping them read-only for the contained process is the OS boundary's job.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Directories whose whole content configures tools (matched as `**/DIR` and `**/DIR/**`).
pub const CONFIG_DIRS: &[&str] = &[
    // Claude Code: settings (hooks, permissions, MCP), commands, agents, skills, output styles.
    ".claude",
    // Other coding agents that may run in this tree later (rules, MCP servers).
    ".cursor",
    ".gemini",
    ".codex",
    // git: hooks run on commit/checkout/merge, info/attributes select filters.
    ".git/hooks",
    ".git/info",
    ".git/**/hooks",
    ".githooks",
    ".husky",
    // Editors and dev containers: tasks, launch configs, language servers, post-create commands.
    ".vscode",
    ".idea",
    ".zed",
    ".helix",
    ".devcontainer",
    // CI: runs on the next push, with the repository's secrets.
    ".github/workflows",
    ".github/actions",
    ".gitea/workflows",
    ".forgejo/workflows",
    ".circleci",
    ".buildkite",
    ".woodpecker",
    ".azure-pipelines",
    // Package managers: plugins and the package manager binary itself (`yarnPath`).
    ".yarn/plugins",
    ".yarn/releases",
    ".mise",
];

/// Files that configure tools (matched as `**/FILE`).
pub const CONFIG_FILES: &[&str] = &[
    // Claude Code and other agents: instructions injected into every prompt (`@imports` read
    // any file), MCP servers started at launch.
    "CLAUDE.md",
    "CLAUDE.local.md",
    ".mcp.json",
    "AGENTS.md",
    "GEMINI.md",
    ".cursorrules",
    ".windsurfrules",
    ".aider.conf.yml",
    ".github/copilot-instructions.md",
    // git: `.git` itself (a `gitdir:` file or a symlink moves the whole repository), its
    // config (aliases, `core.fsmonitor`, `core.hooksPath`, pagers, filters), attributes and
    // submodules.
    ".git",
    ".git/config",
    ".git/config.worktree",
    ".git/**/config",
    ".git/**/config.worktree",
    ".gitattributes",
    ".gitmodules",
    ".gitconfig",
    ".pre-commit-config.yaml",
    "lefthook.yml",
    ".lefthook.yml",
    "lefthook-local.yml",
    // Shell environments run on `cd`.
    ".envrc",
    "mise.toml",
    ".mise.toml",
    "mise.local.toml",
    // Editors.
    ".devcontainer.json",
    "*.code-workspace",
    ".exrc",
    ".nvimrc",
    ".nvim.lua",
    ".dir-locals.el",
    ".dir-locals-2.el",
    // CI.
    ".gitlab-ci.yml",
    ".travis.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    "Jenkinsfile",
    ".drone.yml",
    ".woodpecker.yml",
    // Package managers and toolchains.
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".pnpmfile.cjs",
    ".pnpmfile.mjs",
    "bunfig.toml",
    ".cargo/config",
    ".cargo/config.toml",
    "rust-toolchain",
    "rust-toolchain.toml",
    "pip.conf",
    ".bundle/config",
    ".condarc",
];

fn set() -> &'static GlobSet {
    static SET: OnceLock<GlobSet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut b = GlobSetBuilder::new();
        let mut add = |pattern: String| {
            let glob = GlobBuilder::new(&pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .expect("built-in config-file pattern");
            b.add(glob);
        };
        for d in CONFIG_DIRS {
            add(format!("**/{d}"));
            add(format!("**/{d}/**"));
        }
        for f in CONFIG_FILES {
            add(format!("**/{f}"));
        }
        b.build().expect("built-in config-file globset")
    })
}

/// If `path` (absolute) lies inside `root` and is a configuration file, the path relative to the
/// root, for messages and grant scopes.
pub fn matched(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    if rel.as_os_str().is_empty() {
        return None;
    }
    set().is_match(rel).then(|| rel.display().to_string())
}

/// Whether `path` as written — relative or absolute, not resolved — names a configuration file
/// (for the audit log's risk levels, which judge text, not the file system).
pub fn names_config_file(path: &str) -> bool {
    let p = lexical(Path::new("/"), path);
    p.parent().is_some() && set().is_match(&p)
}

/// The configuration files among `paths` (absolute), relative to `root`, without repeats.
pub fn matched_all<'a>(root: &Path, paths: impl IntoIterator<Item = &'a PathBuf>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        if let Some(rel) = matched(root, p) {
            if !out.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out
}

/// `input` (absolute, or relative to `cwd`) with `.` and `..` folded, no symlink followed: the
/// path as the program that reads it later will spell it.
pub fn lexical(cwd: &Path, input: &str) -> PathBuf {
    super::sandbox::normalize(&cwd.join(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_paths_anywhere_in_the_tree_and_in_any_case() {
        let root = Path::new("/p");
        let yes = [
            ".claude",
            ".claude/settings.json",
            ".claude/settings.local.json",
            ".claude/hooks/pre.sh",
            "sub/.claude/commands/x.md",
            ".CLAUDE/Settings.json",
            "CLAUDE.md",
            "docs/deep/CLAUDE.md",
            "claude.md",
            "CLAUDE.local.md",
            ".mcp.json",
            "pkg/.mcp.json",
            ".git",
            ".git/config",
            ".git/CONFIG",
            ".git/hooks",
            ".git/hooks/pre-commit",
            ".git/info/attributes",
            ".git/modules/lib/hooks/post-checkout",
            ".git/modules/lib/config",
            ".git/worktrees/w/config.worktree",
            "vendor/lib/.git/config",
            ".gitattributes",
            ".gitmodules",
            ".envrc",
            "services/api/.envrc",
            ".vscode/tasks.json",
            ".idea/workspace.xml",
            ".devcontainer/devcontainer.json",
            ".devcontainer.json",
            ".husky/pre-commit",
            ".pre-commit-config.yaml",
            ".github/workflows/ci.yml",
            ".github/workflows",
            ".github/actions/setup/action.yml",
            ".gitlab-ci.yml",
            ".npmrc",
            ".yarnrc",
            ".yarnrc.yml",
            ".yarn/releases/yarn-4.cjs",
            ".pnpmfile.cjs",
            ".cargo/config",
            ".cargo/config.toml",
            "rust-toolchain.toml",
            "proj.code-workspace",
            "AGENTS.md",
        ];
        for rel in yes {
            assert!(
                matched(root, &root.join(rel)).is_some(),
                "{rel} should be a config file"
            );
        }
        let no = [
            "",
            "README.md",
            "src/main.rs",
            "Makefile",
            "package.json",
            "Cargo.toml",
            "build.rs",
            "claude.md.bak",
            "CLAUDE.md/../x",
            "notclaude/settings.json",
            ".claudex/settings.json",
            "my.claude",
            ".git/objects/ab/cdef",
            ".git/HEAD",
            ".git/refs/heads/main",
            ".github/ISSUE_TEMPLATE/bug.md",
            ".github/CODEOWNERS",
            "docs/.gitattributes.md",
            ".cargo/registry/x",
            ".envrc.example",
            ".npmrc.sample",
            "src/hooks/pre-commit",
        ];
        for rel in no {
            assert!(
                matched(root, &lexical(root, rel)).is_none(),
                "{rel:?} is not a config file"
            );
        }
        // Outside the project: not this module's business (the sandbox refuses it).
        assert!(matched(root, Path::new("/home/u/.claude/settings.json")).is_none());
        assert!(matched(root, Path::new("/pother/.claude/settings.json")).is_none());
    }

    #[test]
    fn lexical_folds_dots_without_following_links() {
        let cwd = Path::new("/p/src");
        assert_eq!(lexical(cwd, "../.claude/x"), PathBuf::from("/p/.claude/x"));
        assert_eq!(lexical(cwd, "./a/../b"), PathBuf::from("/p/src/b"));
        assert_eq!(lexical(cwd, "/abs/./x"), PathBuf::from("/abs/x"));
        assert_eq!(lexical(cwd, "../../../.."), PathBuf::from("/"));
        let found = matched_all(
            Path::new("/p"),
            &[
                PathBuf::from("/p/CLAUDE.md"),
                PathBuf::from("/p/a.txt"),
                PathBuf::from("/p/CLAUDE.md"),
            ],
        );
        assert_eq!(found, vec!["CLAUDE.md".to_string()]);
        // As written, for the audit log.
        for p in [
            "CLAUDE.md",
            "./CLAUDE.md",
            "/p/CLAUDE.md",
            "../x/.claude/a",
            ".git/hooks/x",
            "~/.claude/settings.json",
        ] {
            assert!(names_config_file(p), "{p}");
        }
        for p in ["", "/", ".", "README.md", "src/claude.rs", ".git/HEAD"] {
            assert!(!names_config_file(p), "{p:?}");
        }
    }
}
