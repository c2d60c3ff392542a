//! The policy engine: one decision — allow, deny, or ask a human — for every tool call.
//!
//! Why it exists: Claude asks before each tool call (`can_use_tool`); the answer must come from
//! one place that knows the tool and its input, the user's role, the project, the rules the
//! operator wrote, and the grants a human already gave. Every decision names the rule that made
//! it, so `ccgate policy check` and the audit log can explain it. Unknown or unparseable input
//! never becomes "allow".
//!
//! Two decisions do not come from the Bash class or tool table alone:
//!
//! - `runs_code` (a command that runs project code the classifier cannot see: `./probe`,
//!   `cargo test`, `make`, unknown programs) is allowed by default only because an OS boundary
//!   around the `claude` process limits what that code can reach. When
//!   [`ToolContext::contained`] says there is none (`SANDBOX=off`), an `allow` for this class
//!   becomes an `ask`: without the boundary nothing but a human stands between that code and the
//!   operator's account.
//! - Writes to configuration-as-code files (`.claude/**`, `CLAUDE.md`, `.git/hooks/**`,
//!   `.envrc`, … see [`super::config_files`]) ask (rule `config_files`) even inside the project,
//!   by file tools and by Bash commands that may write them: those files make tools run things
//!   later, outside any boundary. A `deny` of the command's class still wins.
//!
//! Secret files are refused whatever the class, by every route that reaches them: a path a
//! command names (`secret_files`), a file of git's history (`secret_files.git_history`, see
//! [`super::git_store`]), a listing that would show their names (`secret_files.listing`), and —
//! asked, not refused, because an exclusion is a normal fix — a whole-tree reader that would
//! read them (`secret_files.recursive`, see [`super::readers`]). What cannot be checked (a
//! tree too large, a git history too slow to read) asks; it never allows.

pub mod grants;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::bash::{self, Class};
use super::readers;
use super::{decide_file_tool_path, Tool, ToolContext};

/// What a rule may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Ask,
    Deny,
}

/// The decision about one tool call.
#[derive(Debug, Clone, PartialEq)]
///
/// Each carries the [`Classification`] of a Bash call the engine analysed (`None` for other
/// tools, and for calls refused before any analysis), and keeps it when a human or a grant
/// turns an ask into an answer: the audit row takes its level from it.
pub enum Decision {
    Allow {
        rule: String,
        class: Option<Classification>,
    },
    Deny {
        reason: String,
        rule: String,
        class: Option<Classification>,
    },
    /// A human must approve; `step_up` additionally requires a fresh TOTP code.
    Ask {
        reason: String,
        rule: String,
        step_up: bool,
        /// What a time-boxed grant for this call would cover, e.g. `Bash(curl:*)`.
        grant_scope: String,
        class: Option<Classification>,
    },
}

/// What the shell analysis found about a Bash call, as its decision carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub class: Class,
    /// The command may write a configuration-as-code file (see [`super::config_files`]).
    pub writes_config: bool,
}

impl Decision {
    pub fn rule(&self) -> &str {
        match self {
            Decision::Allow { rule, .. }
            | Decision::Deny { rule, .. }
            | Decision::Ask { rule, .. } => rule,
        }
    }
    /// The classification of the Bash call this decision is about, if it was analysed.
    pub fn class(&self) -> Option<Classification> {
        match self {
            Decision::Allow { class, .. }
            | Decision::Deny { class, .. }
            | Decision::Ask { class, .. } => *class,
        }
    }
    /// This decision, about a call classified as `c`.
    fn classified(mut self, c: Classification) -> Decision {
        match &mut self {
            Decision::Allow { class, .. }
            | Decision::Deny { class, .. }
            | Decision::Ask { class, .. } => *class = Some(c),
        }
        self
    }
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Allow { .. } => "allow",
            Decision::Deny { .. } => "deny",
            Decision::Ask { .. } => "ask",
        }
    }
}

/// Bash rules by class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BashRules {
    pub read_only: Action,
    pub writes_inside: Action,
    pub runs_code: Action,
    pub network: Action,
    pub touches_outside: Action,
    pub privileged: Action,
    pub destructive: Action,
    pub unparseable: Action,
}

impl Default for BashRules {
    fn default() -> Self {
        BashRules {
            read_only: Action::Allow,
            writes_inside: Action::Allow,
            // Only while an OS boundary is active; otherwise it asks (see the module doc).
            runs_code: Action::Allow,
            network: Action::Ask,
            touches_outside: Action::Ask,
            privileged: Action::Ask,
            destructive: Action::Ask,
            unparseable: Action::Deny,
        }
    }
}

/// Which asks also need a TOTP code.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepUp {
    /// Bash classes (snake_case names) whose asks need step-up.
    pub bash: Vec<String>,
    /// Tool names (or `prefix*` patterns) whose asks need step-up.
    pub tools: Vec<String>,
}

impl Default for StepUp {
    fn default() -> Self {
        StepUp {
            bash: vec!["privileged".into(), "destructive".into()],
            tools: Vec::new(),
        }
    }
}

/// The operator's rules (TOML), with secure defaults for everything left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    pub bash: BashRules,
    pub step_up: StepUp,
    /// Tool name or `prefix*` pattern → action, for tools without built-in handling (WebFetch,
    /// WebSearch, MCP tools…). `default` applies to anything unlisted.
    pub tools: BTreeMap<String, Action>,
    /// The MCP servers ccgate gave the CLI (`MCP_CONFIG_PATH`, see [`super::mcp`]); a tool of
    /// any other server is denied before the `[tools]` rules are read. Not from the TOML.
    #[serde(skip)]
    pub mcp_servers: std::collections::BTreeSet<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            bash: BashRules::default(),
            step_up: StepUp::default(),
            tools: BTreeMap::from([
                ("WebFetch".to_string(), Action::Ask),
                ("WebSearch".to_string(), Action::Ask),
                ("mcp__*".to_string(), Action::Ask),
                ("default".to_string(), Action::Deny),
            ]),
            mcp_servers: Default::default(),
        }
    }
}

/// The built-in rules as TOML, for `ccgate policy defaults` and the README.
pub const DEFAULT_RULES_TOML: &str = r#"# ccgate policy rules. Every key is optional; these are the defaults.
[bash]
read_only = "allow"        # ls, cat, grep, git status … on paths inside the project
writes_inside = "allow"    # touch, mkdir, git commit … inside the project (never for viewers)
runs_code = "allow"        # ./probe, cargo test, make, npm test, unknown programs: code ccgate
                           # cannot see; "allow" asks anyway while no OS boundary is active
network = "ask"            # curl, git push, npm install …
touches_outside = "ask"    # any path outside the project
privileged = "ask"         # sudo, chmod +s, systemctl …
destructive = "ask"        # rm -rf of the project root, git push --force, curl | sh …
unparseable = "deny"       # "ask" is the most lenient value accepted

[step_up]                  # these asks also need a TOTP code (ccgate totp enroll)
bash = ["privileged", "destructive"]
tools = []

[tools]                    # tools without built-in handling
WebFetch = "ask"
WebSearch = "ask"
"mcp__*" = "ask"
default = "deny"
"#;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("invalid policy rules: {0}")]
    Parse(String),
    #[error("{0}")]
    Unsafe(String),
}

impl Rules {
    pub fn from_toml(text: &str) -> Result<Rules, RulesError> {
        let rules: Rules = toml::from_str(text).map_err(|e| RulesError::Parse(e.to_string()))?;
        rules.validate()?;
        Ok(rules)
    }

    /// These rules, for a CLI given exactly the MCP servers `names`.
    pub fn with_mcp_servers(mut self, names: impl IntoIterator<Item = String>) -> Rules {
        self.mcp_servers = names.into_iter().collect();
        self
    }

    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RulesError::Read(path.display().to_string(), e))?;
        Self::from_toml(&text)
    }

    fn validate(&self) -> Result<(), RulesError> {
        if self.bash.unparseable == Action::Allow {
            return Err(RulesError::Unsafe(
                "bash.unparseable = \"allow\" is refused: a command ccgate cannot read is never allowed unseen".into(),
            ));
        }
        for c in &self.step_up.bash {
            if class_by_name(c).is_none() {
                return Err(RulesError::Parse(format!(
                    "step_up.bash: unknown class {c:?}"
                )));
            }
        }
        Ok(())
    }

    fn bash_action(&self, class: Class) -> Action {
        match class {
            Class::ReadOnly => self.bash.read_only,
            Class::WritesInside => self.bash.writes_inside,
            Class::RunsCode => self.bash.runs_code,
            Class::Network => self.bash.network,
            Class::TouchesOutside => self.bash.touches_outside,
            Class::Privileged => self.bash.privileged,
            Class::Destructive => self.bash.destructive,
            Class::Unparseable => self.bash.unparseable,
        }
    }

    /// The action for a tool without built-in handling, and the rule that gave it.
    fn tool_action(&self, tool: &str) -> (Action, String) {
        if let Some(a) = self.tools.get(tool) {
            return (*a, format!("tools.{tool}"));
        }
        // The longest matching `prefix*` pattern wins.
        let best = self
            .tools
            .iter()
            .filter_map(|(k, a)| {
                k.strip_suffix('*')
                    .filter(|p| tool.starts_with(p))
                    .map(|p| (p.len(), k, a))
            })
            .max_by_key(|(len, _, _)| *len);
        if let Some((_, k, a)) = best {
            return (*a, format!("tools.\"{k}\""));
        }
        (
            self.tools.get("default").copied().unwrap_or(Action::Deny),
            "tools.default".into(),
        )
    }

    fn step_up_for_tool(&self, tool: &str) -> bool {
        self.step_up
            .tools
            .iter()
            .any(|p| p == tool || p.strip_suffix('*').is_some_and(|pre| tool.starts_with(pre)))
    }
}

pub fn class_name(c: Class) -> &'static str {
    match c {
        Class::ReadOnly => "read_only",
        Class::WritesInside => "writes_inside",
        Class::RunsCode => "runs_code",
        Class::Network => "network",
        Class::TouchesOutside => "touches_outside",
        Class::Privileged => "privileged",
        Class::Destructive => "destructive",
        Class::Unparseable => "unparseable",
    }
}

/// The inverse of [`class_name`].
pub fn class_by_name(n: &str) -> Option<Class> {
    Class::ALL.into_iter().find(|c| class_name(*c) == n)
}

/// What a grant for a Bash command covers: the program and, for multi-command tools like git,
/// its subcommand — `Bash(cargo test:*)`, `Bash(git push:*)`, `Bash(curl:*)`. The scope is only
/// half of a grant: [`grants::Footprint`] bounds what a call of that scope may do. A command line with several commands
/// gets the scopes of all of them joined (`Bash(cargo test:*) + Bash(curl:*)`), so a grant for one
/// command never covers a different command chained after it. A program run by path keeps its
/// path (`Bash(./probe:*)`): a grant for the project's `./test.sh` must not cover
/// `../../elsewhere/test.sh`; only programs in system directories go by name (`/usr/bin/curl`
/// is `curl`).
pub fn bash_grant_scope(analysis: &bash::Analysis) -> String {
    let mut scopes: Vec<String> = Vec::new();
    for argv in &analysis.commands {
        let scope = command_scope(argv);
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return "Bash(:*)".into();
    }
    scopes.join(" + ")
}

fn command_scope(argv: &[String]) -> String {
    let written = argv.first().map(String::as_str).unwrap_or("");
    let base = written.rsplit('/').next().unwrap_or(written);
    let in_system_dir = written.rsplit_once('/').is_some_and(|(dir, _)| {
        bash::SYSTEM_BIN_DIRS
            .iter()
            .any(|d| Path::new(d) == Path::new(dir))
    });
    let prog = if written.contains('/') && !in_system_dir {
        written
    } else {
        base
    };
    let Some(value_opts) = SUBCOMMAND_TOOLS
        .iter()
        .find(|(tool, _)| *tool == base)
        .map(|(_, opts)| *opts)
    else {
        return format!("Bash({prog}:*)");
    };
    // The subcommand: the first word after the tool's global options (`git -C dir push` is
    // `git push`); an option whose value is not known here is taken for a flag.
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        if value_opts.contains(&a.as_str()) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return format!("Bash({prog} {a}:*)");
        }
    }
    format!("Bash({prog}:*)")
}

/// Tools whose grants are per subcommand (`git push` is not `git fetch`), with their global
/// options that take a separate value.
const SUBCOMMAND_TOOLS: &[(&str, &[&str])] = &[
    (
        "git",
        &[
            "-C",
            "-c",
            "--git-dir",
            "--work-tree",
            "--namespace",
            "--config-env",
        ],
    ),
    ("cargo", &["-C", "-Z", "--config", "--color"]),
    ("npm", &["--prefix", "-w", "--workspace"]),
    ("pnpm", &["-C", "--dir", "--filter", "-F"]),
    ("yarn", &["--cwd"]),
    (
        "docker",
        &[
            "-H",
            "--host",
            "-c",
            "--context",
            "--config",
            "-l",
            "--log-level",
        ],
    ),
    (
        "podman",
        &["--url", "-c", "--connection", "--root", "--runroot"],
    ),
    (
        "kubectl",
        &[
            "-n",
            "--namespace",
            "--context",
            "--cluster",
            "--user",
            "-s",
            "--server",
            "--kubeconfig",
        ],
    ),
    (
        "helm",
        &["-n", "--namespace", "--kube-context", "--kubeconfig"],
    ),
    ("go", &[]),
    ("pip", &[]),
    ("pip3", &[]),
    ("uv", &["--directory", "--project"]),
    ("make", &["-C", "-f", "--file", "-j", "-I"]),
    (
        "aws",
        &[
            "--profile",
            "--region",
            "--output",
            "--endpoint-url",
            "--query",
        ],
    ),
    ("gcloud", &["--project", "--account", "--configuration"]),
    ("az", &["--subscription", "-o", "--output"]),
    ("gsutil", &["-o", "-h", "-u"]),
    ("s3cmd", &["-c", "--config"]),
    ("rclone", &["--config"]),
    ("gh", &["-R", "--repo"]),
    ("brew", &[]),
    ("gem", &[]),
    ("bundle", &[]),
    ("composer", &["-d", "--working-dir"]),
    ("poetry", &["-C", "--directory"]),
    ("pipx", &[]),
    ("rustup", &[]),
    ("terraform", &["-chdir"]),
    ("openssl", &[]),
    ("bun", &["--cwd"]),
    ("deno", &[]),
];

/// What a grant for changing configuration files covers: exactly those files.
fn config_scope(files: &[String]) -> String {
    format!("Config({})", files.join(", "))
}

/// The configuration files a file tool writing `p` would change: `p` as written (lexically: a
/// `.claude` that is itself a symlink is still what Claude Code reads) and after symlink
/// resolution (`docs/link` may point into `.claude/`).
fn config_file_targets(ctx: &ToolContext<'_>, p: &str) -> Vec<String> {
    let mut candidates = vec![super::config_files::lexical(ctx.cwd, p)];
    if let Ok(resolved) = super::sandbox::resolve_within(ctx.root, ctx.cwd, p) {
        candidates.push(resolved);
    }
    super::config_files::matched_all(ctx.root, &candidates)
}

/// A few names for messages.
fn some_names(found: &[std::path::PathBuf]) -> String {
    let mut names: Vec<String> = found
        .iter()
        .take(3)
        .map(|p| p.display().to_string())
        .collect();
    if found.len() > 3 {
        names.push(format!("and {} more", found.len() - 3));
    }
    names.join(", ")
}

/// Claude's Grep reads what `rg --hidden` reads (see [`super::readers::Reach::grep_tool`]): a
/// search over a tree where that reaches secret files must carry a `glob` that excludes them.
fn grep_avoids_secrets(ctx: &ToolContext<'_>, input: &Value) -> Result<(), String> {
    let dir = match input.get("path").and_then(Value::as_str) {
        Some(p) => match super::sandbox::resolve_within(ctx.root, ctx.cwd, p) {
            Ok(d) => d,
            Err(e) => return Err(format!("{p}: {e}")),
        },
        None => ctx.cwd.to_path_buf(),
    };
    if !dir.is_dir() {
        return Ok(()); // a single file, already checked
    }
    let glob = input.get("glob").and_then(Value::as_str);
    let found = readers::scan(ctx.secrets, &dir, &readers::Reach::grep_tool(glob));
    if !found.complete {
        return Err(format!(
            "ccgate policy: {} is too large to check for secret files; search a subdirectory",
            dir.display()
        ));
    }
    if found.secret.is_empty() {
        return Ok(());
    }
    Err(match glob {
        None => format!(
            "ccgate policy: searching {} would read secret files ({}); pass a `glob` that excludes them (e.g. \"*.rs\") or search a subdirectory",
            dir.display(),
            some_names(&found.secret)
        ),
        Some(g) => format!(
            "ccgate policy: the glob {g:?} would include secret files ({}); use a narrower glob",
            some_names(&found.secret)
        ),
    })
}

/// `:!x`, `:^x`, `:(exclude)x`: a git pathspec that removes paths.
fn is_pathspec_exclusion(arg: &str) -> bool {
    arg.starts_with(":!")
        || arg.starts_with(":^")
        || arg
            .strip_prefix(":(")
            .and_then(|m| m.split_once(')'))
            .is_some_and(|(m, _)| m.split(',').any(|x| x.trim() == "exclude"))
}

/// Claude's Glob lists every file (hidden and ignored ones too) whose path matches `pattern`
/// below `path` (see [`super::readers::Reach::glob_tool`]). The pattern must stay inside the
/// project (no `..`, no `~`; an absolute pattern only below a folder of the project), must
/// not be written to find secret names (`**/.env*`, `**/*.pem`, `**/id_rsa`), and must not
/// match a secret file that is there. On refusal: (reason, rule).
fn glob_avoids_secrets(ctx: &ToolContext<'_>, input: &Value) -> Result<(), (String, &'static str)> {
    let Some(pattern) = input.get("pattern").and_then(Value::as_str) else {
        return Err(("Glob needs a string pattern".into(), "file.path_type"));
    };
    let outside = |why: &str| {
        Err((
            format!("the pattern {pattern:?} {why}"),
            "file.outside_project",
        ))
    };
    if pattern.is_empty() || pattern.contains('\0') {
        return outside("is not a usable pattern");
    }
    if pattern.starts_with('~') {
        return outside("names the home folder, which is outside the project");
    }
    if pattern.split('/').any(|c| c == "..") {
        return outside("leaves its folder with `..`; give the folder as `path`");
    }
    let base = match input.get("path").and_then(Value::as_str) {
        Some(p) => super::sandbox::resolve_within(ctx.root, ctx.cwd, p)
            .map_err(|e| (format!("{p}: {e}"), "file.outside_project"))?,
        None => ctx.cwd.to_path_buf(),
    };
    // An absolute pattern: its literal leading folders must lie inside the project.
    let (base, rel) = if pattern.starts_with('/') {
        let parts: Vec<&str> = pattern.split('/').collect();
        let lit = parts
            .iter()
            .position(|c| c.contains(['*', '?', '[', '{']))
            .unwrap_or(parts.len() - 1);
        let prefix = parts[..lit].join("/");
        let prefix = if prefix.is_empty() {
            "/".to_string()
        } else {
            prefix
        };
        match super::sandbox::resolve_within(ctx.root, ctx.cwd, &prefix) {
            Ok(b) => (b, parts[lit..].join("/")),
            Err(_) => return outside("reaches outside the project"),
        }
    } else {
        (base, pattern.to_string())
    };
    let Some(pat) = readers::Pat::new(&rel, false) else {
        return Err((
            format!("the pattern {pattern:?} is not a valid glob"),
            "file.path_type",
        ));
    };
    if super::secret_files::targets_secret_names(|p| pat.matches(p)) {
        return Err((
            format!(
                "the pattern {pattern:?} looks for secret files, whose names ccgate never lists"
            ),
            "secret_files.listing",
        ));
    }
    if !base.is_dir() {
        return Ok(());
    }
    let found = readers::scan(ctx.secrets, &base, &readers::Reach::glob_tool(&rel));
    if !found.complete {
        return Err((
            format!(
                "{} is too large to check for secret files; glob in a subdirectory",
                base.display()
            ),
            "secret_files.listing",
        ));
    }
    if !found.secret.is_empty() {
        return Err((
            format!(
                "the pattern {pattern:?} would list secret files ({}); use a narrower pattern",
                some_names(&found.secret)
            ),
            "secret_files.listing",
        ));
    }
    Ok(())
}

/// What a whole-tree reader or lister in `analysis` would reach of secret files.
enum TreeReach {
    /// Reads the content of secret files (`grep -r`, `rg --hidden`, `tar c`).
    Reads(String),
    /// Lists secret names (`ls -la`, `find`, `tree`).
    Lists(String),
    /// Too large or slow to check.
    Unknown(String),
}

/// Walk what each whole-tree reader or lister of `analysis` reaches (see `policy::readers`):
/// the folders it names, or its working directory when it names none.
fn tree_reach(ctx: &ToolContext<'_>, analysis: &bash::Analysis) -> Option<TreeReach> {
    for (i, argv) in analysis.commands.iter().enumerate() {
        let Some((reach, reads)) = readers::reach_of(argv) else {
            continue;
        };
        let cwds: Vec<std::path::PathBuf> = match analysis.command_cwds.get(i) {
            Some(c) if !c.is_empty() => c.clone(),
            _ => vec![ctx.cwd.to_path_buf()],
        };
        let mut named_any = false;
        let mut dirs: Vec<std::path::PathBuf> = Vec::new();
        for arg in argv.iter().skip(1).filter(|a| !a.starts_with('-')) {
            for cwd in &cwds {
                if let Ok(p) = super::sandbox::resolve_within(ctx.root, cwd, arg) {
                    if p.exists() {
                        named_any = true;
                        if p.is_dir() && !dirs.contains(&p) {
                            dirs.push(p);
                        }
                    }
                }
            }
        }
        if !named_any {
            dirs = cwds;
        }
        for d in dirs {
            let found = readers::scan(ctx.secrets, &d, &reach);
            let shown = super::sandbox::display_relative(ctx.root, &d);
            if !found.complete {
                return Some(TreeReach::Unknown(format!(
                    "reaches all of {shown}, too large to check for secret files"
                )));
            }
            if found.secret.is_empty() {
                continue;
            }
            let names = some_names(&found.secret);
            return Some(if reads {
                TreeReach::Reads(format!(
                    "reads all of {shown}, which holds secret files ({names})"
                ))
            } else {
                TreeReach::Lists(format!(
                    "would list the names of secret files in {shown} ({names}); list without them (`ls` without -a, `ls -la -I .env`, `find … -name '*.rs'`) or name the files you need"
                ))
            });
        }
    }
    None
}

/// Does `analysis` read (or list) secret files through a whole-tree reader, or reach a tree
/// too large to check? The reason, if so (grants never cover such calls).
pub(super) fn recursive_secret_read(
    ctx: &ToolContext<'_>,
    analysis: &bash::Analysis,
) -> Option<String> {
    match tree_reach(ctx, analysis)? {
        TreeReach::Reads(r) | TreeReach::Lists(r) | TreeReach::Unknown(r) => Some(r),
    }
}

/// Decide about one tool call (grants are applied by the caller on top of an `Ask`).
pub fn decide(rules: &Rules, ctx: &ToolContext<'_>, tool: &str, input: &Value) -> Decision {
    let kind = Tool::parse(tool);
    let deny = |reason: String, rule: &str| Decision::Deny {
        reason: format!("ccgate policy: {reason}"),
        rule: rule.to_string(),
        class: None,
    };
    if !ctx.role.can_write() && kind.writes_files() {
        return deny(
            format!("your role (viewer) is read-only; {tool} is not allowed"),
            "role.viewer",
        );
    }
    if let Some(keys) = kind.path_keys() {
        let mut config: Vec<String> = Vec::new();
        for key in keys {
            let Some(raw) = input.get(*key) else { continue };
            let Some(p) = raw.as_str() else {
                return deny(format!("{key} must be a string path"), "file.path_type");
            };
            if let Err((reason, rule)) = decide_file_tool_path(ctx, p) {
                return deny(reason, rule);
            }
            if kind.writes_files() {
                config.extend(config_file_targets(ctx, p));
            }
        }
        if !config.is_empty() {
            config.dedup();
            return Decision::Ask {
                reason: format!(
                    "{tool} changes {}, which configures tools that run later",
                    config.join(", ")
                ),
                rule: "config_files".into(),
                step_up: false,
                grant_scope: config_scope(&config),
                class: None,
            };
        }
        if kind == Tool::Grep {
            if let Err(reason) = grep_avoids_secrets(ctx, input) {
                return deny(reason, "secret_files.search");
            }
        }
        if kind == Tool::Glob {
            if let Err((reason, rule)) = glob_avoids_secrets(ctx, input) {
                return deny(reason, rule);
            }
        }
        // LS (older CLIs) lists a folder's entries, hidden ones included.
        if kind == Tool::LS {
            let dir = input
                .get("path")
                .and_then(Value::as_str)
                .and_then(|p| super::sandbox::resolve_within(ctx.root, ctx.cwd, p).ok())
                .unwrap_or_else(|| ctx.cwd.to_path_buf());
            let reach = readers::Reach {
                recursive: false,
                ..readers::Reach::everything()
            };
            let found = readers::scan(ctx.secrets, &dir, &reach);
            if !found.secret.is_empty() || !found.complete {
                return deny(
                    format!(
                        "listing {} would show secret file names ({})",
                        super::sandbox::display_relative(ctx.root, &dir),
                        some_names(&found.secret)
                    ),
                    "secret_files.listing",
                );
            }
        }
        return Decision::Allow {
            rule: "file.inside_project".into(),
            class: None,
        };
    }
    if kind == Tool::Bash {
        let Some(cmd) = input.get("command").and_then(Value::as_str) else {
            return deny("a Bash call without a command".into(), "bash.no_command");
        };
        let analysis = bash::analyze(cmd, ctx.root, ctx.cwd);
        let config = super::config_files::matched_all(ctx.root, &analysis.writes);
        let classification = Classification {
            class: analysis.class,
            writes_config: !config.is_empty(),
        };
        return decide_bash(rules, ctx, &analysis, config).classified(classification);
    }
    if let Tool::Mcp { server, .. } = &kind {
        if !super::mcp::is_known_server(&rules.mcp_servers, server) {
            return deny(
                format!("the MCP server {server:?} is not one ccgate configured (MCP_CONFIG_PATH)"),
                "mcp.unknown_server",
            );
        }
    }
    if kind.is_harmless() {
        return Decision::Allow {
            rule: "tools.harmless".into(),
            class: None,
        };
    }
    // ccgate's own tool: the call itself is judged when it runs (`policy::send_out`), so the
    // permission ask only sees whether the operator switched it off by name.
    if tool == super::send_out::SEND_FILE_TOOL && !rules.tools.contains_key(tool) {
        return Decision::Allow {
            rule: "tools.ccgate_send_file".into(),
            class: None,
        };
    }
    let (action, rule) = rules.tool_action(tool);
    match action {
        Action::Allow => Decision::Allow { rule, class: None },
        Action::Deny => deny(
            format!("the tool {tool} is not allowed from this chat"),
            &rule,
        ),
        Action::Ask => Decision::Ask {
            reason: format!("{tool} reaches outside the machine or the project"),
            step_up: rules.step_up_for_tool(tool),
            grant_scope: tool.to_string(),
            rule,
            class: None,
        },
    }
}

/// The decision about a Bash call, from its analysis (`config`: the configuration files it may
/// write).
fn decide_bash(
    rules: &Rules,
    ctx: &ToolContext<'_>,
    analysis: &bash::Analysis,
    config: Vec<String>,
) -> Decision {
    let deny = |reason: String, rule: &str| Decision::Deny {
        reason: format!("ccgate policy: {reason}"),
        rule: rule.to_string(),
        class: None,
    };
    let class = analysis.class;
    let why = analysis
        .findings
        .iter()
        .max_by_key(|f| f.class)
        .map(|f| f.reason.clone())
        .unwrap_or_else(|| "read-only".into());
    let rule = format!("bash.{}", class_name(class));
    if !ctx.role.can_write() && class != Class::ReadOnly {
        return deny(
            format!("your role (viewer) allows read-only commands only ({why})"),
            "role.viewer",
        );
    }
    // Secret files are never touched, whatever the class: every path the command names
    // (arguments, redirections, glob matches, inside the project or not).
    let named = analysis
        .paths
        .iter()
        .map(|p| (p.display().to_string(), p.clone()))
        .chain(analysis.commands.iter().flat_map(|argv| {
            let git = argv
                .first()
                .is_some_and(|p| p == "git" || p.ends_with("/git"));
            let prog = argv.first().map(String::as_str).unwrap_or("");
            let prog = prog.rsplit('/').next().unwrap_or(prog);
            let lister = matches!(prog, "ls" | "dir" | "vdir" | "tree");
            argv.iter().enumerate().skip(1).filter_map(move |(i, arg)| {
                // Exclusion patterns (`--exclude=.env`, `ls -I .env`) read nothing.
                let prev = &argv[i - 1];
                let excl = ["--exclude", "--exclude-dir", "--ignore", "--hide"];
                if excl
                    .iter()
                    .any(|l| arg.starts_with(&format!("{l}=")) || prev == l)
                    || (lister && (prev == "-I" || (arg.starts_with("-I") && arg.len() > 2)))
                {
                    return None;
                }
                let candidate = arg.rsplit_once('=').map(|(_, v)| v).unwrap_or(arg);
                if candidate.starts_with('-') || candidate.is_empty() {
                    return None;
                }
                // A git pathspec exclusion (`:!**/.env`) keeps a path out; it reads nothing.
                if git && is_pathspec_exclusion(arg) {
                    return None;
                }
                super::sandbox::resolve_within(ctx.root, ctx.cwd, candidate)
                    .ok()
                    .map(|p| (candidate.to_string(), p))
            })
        }));
    for (shown, path) in named {
        if ctx.secrets.is_secret(&path) {
            return deny(
                format!("{shown} is a protected secret file"),
                "secret_files",
            );
        }
    }
    // git prints files of any revision without naming them as paths (`git show HEAD:.env`,
    // `git log -p`): the same rule, against what the repository's history holds.
    let git = super::git_store::check(ctx.secrets, &analysis.git_reads);
    if let super::git_store::Verdict::Secret(reason) = &git {
        return deny(reason.clone(), "secret_files.git_history");
    }
    // Whole-tree readers and listers reach secret files no argument names.
    let tree = tree_reach(ctx, analysis);
    if let Some(TreeReach::Lists(reason)) = &tree {
        return deny(reason.clone(), "secret_files.listing");
    }
    let action = rules.bash_action(class);
    // Configuration files make tools run things later: a human approves each change.
    if !config.is_empty() && action != Action::Deny {
        let mut reason = format!(
            "may change {}, which configures tools that run later",
            config.join(", ")
        );
        if action == Action::Ask {
            reason.push_str(&format!("; also: {why}"));
        }
        return Decision::Ask {
            reason,
            rule: "config_files".into(),
            step_up: action == Action::Ask
                && rules.step_up.bash.iter().any(|c| c == class_name(class)),
            grant_scope: format!("{} + {}", bash_grant_scope(analysis), config_scope(&config)),
            class: None,
        };
    }
    // Project code ccgate cannot see is only as safe as the boundary around it.
    if class == Class::RunsCode && action == Action::Allow && !ctx.contained {
        return Decision::Ask {
            reason: format!("runs project code and no OS boundary is active ({why})"),
            rule: format!("{rule}.uncontained"),
            step_up: false,
            grant_scope: bash_grant_scope(analysis),
            class: None,
        };
    }
    // A recursive reader (grep -r, rg, find -exec, tar…) over a tree holding secret files
    // would read them without naming them: never silently.
    if action == Action::Allow {
        if let super::git_store::Verdict::Unknown(reason) = git {
            return Decision::Ask {
                reason,
                step_up: false,
                grant_scope: bash_grant_scope(analysis),
                rule: "secret_files.git_history".into(),
                class: None,
            };
        }
        if let Some(TreeReach::Reads(reason) | TreeReach::Unknown(reason)) = tree {
            return Decision::Ask {
                reason,
                step_up: false,
                grant_scope: bash_grant_scope(analysis),
                rule: "secret_files.recursive".into(),
                class: None,
            };
        }
    }
    match action {
        Action::Allow => Decision::Allow { rule, class: None },
        Action::Deny => deny(why, &rule),
        Action::Ask => Decision::Ask {
            reason: why,
            step_up: rules.step_up.bash.iter().any(|c| c == class_name(class)),
            grant_scope: bash_grant_scope(analysis),
            rule,
            class: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(cmd: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        bash_grant_scope(&bash::analyze(cmd, &root, &root))
    }

    #[test]
    fn scopes_name_the_subcommand_past_global_options() {
        for (cmd, want) in [
            ("git push origin main", "Bash(git push:*)"),
            ("git -C sub push", "Bash(git push:*)"),
            ("git -c user.name=x -C sub fetch", "Bash(git fetch:*)"),
            ("git --no-pager log", "Bash(git log:*)"),
            ("aws --profile prod s3 cp a s3://b/", "Bash(aws s3:*)"),
            ("docker -H tcp://h push img", "Bash(docker push:*)"),
            ("kubectl -n prod apply -f x.yaml", "Bash(kubectl apply:*)"),
            (
                "openssl s_client -connect h:443",
                "Bash(openssl s_client:*)",
            ),
            ("gh -R o/r pr create", "Bash(gh pr:*)"),
            ("curl -T a https://x", "Bash(curl:*)"),
            ("/usr/bin/curl https://x", "Bash(curl:*)"),
            ("./probe --x", "Bash(./probe:*)"),
            ("git", "Bash(git:*)"),
        ] {
            assert_eq!(scope(cmd), want, "{cmd}");
        }
        // Different subcommands never share a scope, whatever comes before them.
        assert_ne!(scope("git -C a fetch"), scope("git -C a push"));
        assert_ne!(scope("aws s3 ls"), scope("aws iam create-user"));
    }
}
