//! The operator's MCP servers (`MCP_CONFIG_PATH`): which may be started, and how.
//!
//! Why it exists: an MCP server is a program the `claude` CLI starts inside the OS boundary,
//! next to Claude itself. Everything it is given — its command line, its environment, the files
//! it needs — is therefore reachable by Claude too (a Bash call can read `/proc`, the server's
//! files, its arguments). So the file is read once at start and refused, naming the server and
//! the rule, when an entry could not work inside the boundary or would hand Claude something it
//! must not have:
//!
//! - names are `[A-Za-z0-9_-]{1,64}` without `__` (they form tool names `mcp__<name>__<tool>`),
//!   and `ccgate` is reserved for ccgate's own in-process server;
//! - only `stdio` servers: `http`/`sse` servers need the network, and the boundary has none but
//!   the model gateway;
//! - the command is absolute or found on the jail's `PATH`; it and every absolute path among the
//!   arguments is resolved (symlinks too) and, when the boundary does not show it already,
//!   mounted read-only at that same path — unless it is a secret file, holds one, or lies in
//!   ccgate's state (database folder, private HOMEs, lock folder, `.env`) or in the approved
//!   directory (where Claude could rewrite the operator's server);
//! - environment values that look like credentials (the redactor's shapes, `NAME=value` pairs
//!   of tokens and passwords) are refused: keep credentials out of MCP servers;
//! - the file itself must not be world-writable.
//!
//! Each tool call of a server is then decided by the engine's `[tools]` rules (default ask);
//! a call to a server that is not configured here is denied ([`is_known_server`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::secret_files::SecretFiles;

/// The name of ccgate's own in-process MCP server: refused in the operator's file.
pub const RESERVED: &str = "ccgate";

/// Most entries walked below a mounted folder to look for secret files.
const MOUNT_SCAN_LIMIT: usize = 20_000;

/// One stdio server, validated, its paths resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct McpServer {
    pub name: String,
    /// Canonical, absolute.
    pub command: PathBuf,
    /// As given, absolute paths that exist replaced by their canonical form.
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Host paths mounted read-only at the same place inside the boundary.
    pub mounts: Vec<PathBuf>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Environment values are not shown (logs, `doctor`); their names are.
        f.debug_struct("McpServer")
            .field("name", &self.name)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("mounts", &self.mounts)
            .finish()
    }
}

impl McpServer {
    /// One line for `doctor` and the start-up log.
    pub fn describe(&self) -> String {
        let mut s = format!("{}: {}", self.name, self.command.display());
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        if !self.env.is_empty() {
            let keys: Vec<&str> = self.env.keys().map(String::as_str).collect();
            s.push_str(&format!(" (env {})", keys.join(", ")));
        }
        s
    }

    /// The entry of `--mcp-config` for this server.
    pub fn config_entry(&self) -> Value {
        json!({
            "type": "stdio",
            "command": self.command.display().to_string(),
            "args": self.args,
            "env": self.env,
        })
    }
}

/// The operator's servers (none when `MCP_CONFIG_PATH` is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorMcp {
    /// The file they came from.
    pub source: Option<PathBuf>,
    pub servers: Vec<McpServer>,
}

impl OperatorMcp {
    pub fn names(&self) -> BTreeSet<String> {
        self.servers.iter().map(|s| s.name.clone()).collect()
    }

    /// Every host path to mount read-only inside the boundary, once each.
    pub fn mounts(&self) -> Vec<PathBuf> {
        let mut m: Vec<PathBuf> = self
            .servers
            .iter()
            .flat_map(|s| s.mounts.iter().cloned())
            .collect();
        m.sort();
        m.dedup();
        m
    }
}

/// What the checks need to know about the boundary and ccgate's own files.
pub struct Limits<'a> {
    /// Trees the boundary shows read-only already (system trees, `SANDBOX_READ_ONLY_PATHS`),
    /// canonical.
    pub visible: &'a [PathBuf],
    /// Never mounted: ccgate's state and the approved directory (canonical where they exist).
    pub forbidden: &'a [PathBuf],
    pub secrets: &'a SecretFiles,
    /// The `PATH` the CLI (and so the server) gets inside.
    pub path: Option<&'a str>,
    /// Values that must never be handed on (ccgate's configured secrets).
    pub secret_values: &'a [String],
}

/// Read and validate the file at `path`. Errors name the file, the server and the rule.
pub fn load(path: &Path, limits: &Limits<'_>) -> Result<OperatorMcp, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(format!(
            "{shown} is world-writable: anyone on this machine could add a server that runs next to Claude; chmod o-w it"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut mcp = parse(&text, limits).map_err(|e| format!("{shown}: {e}"))?;
    mcp.source = Some(path.to_path_buf());
    Ok(mcp)
}

/// Validate the text of an MCP configuration (Claude's own format).
pub fn parse(text: &str, limits: &Limits<'_>) -> Result<OperatorMcp, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(top) = v.as_object() else {
        return Err("must be a JSON object {\"mcpServers\": {…}}".into());
    };
    if let Some(k) = top.keys().find(|k| *k != "mcpServers") {
        return Err(format!(
            "unknown key {k:?}; the file holds only \"mcpServers\""
        ));
    }
    let Some(servers) = top.get("mcpServers").and_then(Value::as_object) else {
        return Err("\"mcpServers\" must be an object of servers by name".into());
    };
    let mut out = Vec::new();
    for (name, entry) in servers {
        out.push(server(name, entry, limits).map_err(|e| format!("server {name:?}: {e}"))?);
    }
    Ok(OperatorMcp {
        source: None,
        servers: out,
    })
}

/// Is `name` usable as a server name (`[A-Za-z0-9_-]{1,64}`, no `__`, not reserved)?
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("the name must be 1–64 characters of A–Z, a–z, 0–9, _ and -".into());
    }
    if name.contains("__") {
        return Err(
            "the name must not contain \"__\": it separates server and tool in mcp__<server>__<tool>"
                .into(),
        );
    }
    if name == RESERVED {
        return Err(format!(
            "the name {RESERVED:?} is reserved for ccgate's own MCP server"
        ));
    }
    Ok(())
}

fn server(name: &str, entry: &Value, limits: &Limits<'_>) -> Result<McpServer, String> {
    check_name(name)?;
    let Some(e) = entry.as_object() else {
        return Err("must be an object with \"command\"".into());
    };
    match e.get("type").map(|t| t.as_str()) {
        None | Some(Some("stdio")) => {}
        Some(Some(t @ ("http" | "sse" | "ws"))) => {
            return Err(format!(
                "type {t:?} is refused: only stdio servers run inside the boundary, which has no network but the model gateway"
            ))
        }
        Some(t) => return Err(format!("unknown type {t:?}; only \"stdio\" is supported")),
    }
    if e.contains_key("url") {
        return Err("\"url\" servers are refused: the boundary has no network but the model gateway; run the server as a stdio command".into());
    }
    if let Some(k) = e
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "command" | "args" | "env"))
    {
        return Err(format!(
            "unknown key {k:?}; a stdio server has \"command\", \"args\" and \"env\""
        ));
    }
    let command = e
        .get("command")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or("needs a \"command\" (a string)")?;
    let args: Vec<String> = match e.get("args") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("\"args\" must be a list of strings")?,
        Some(_) => return Err("\"args\" must be a list of strings".into()),
    };
    let env = match e.get("env") {
        None => BTreeMap::new(),
        Some(Value::Object(m)) => env_of(m, limits)?,
        Some(_) => return Err("\"env\" must be an object of strings".into()),
    };
    let mut mounts = Vec::new();
    let command = resolve_command(command, limits.path)?;
    place(&command, limits, &mut mounts).map_err(|e| format!("command: {e}"))?;
    let mut resolved_args = Vec::new();
    for a in args {
        let p = Path::new(&a);
        if p.is_absolute() && std::fs::symlink_metadata(p).is_ok() {
            let c = p
                .canonicalize()
                .map_err(|e| format!("argument {a}: cannot resolve: {e}"))?;
            place(&c, limits, &mut mounts).map_err(|e| format!("argument {a}: {e}"))?;
            resolved_args.push(c.display().to_string());
        } else {
            resolved_args.push(a);
        }
    }
    Ok(McpServer {
        name: name.to_string(),
        command,
        args: resolved_args,
        env,
        mounts,
    })
}

fn env_of(m: &Map<String, Value>, limits: &Limits<'_>) -> Result<BTreeMap<String, String>, String> {
    let redactor = crate::audit::redact::Redactor::new(limits.secret_values.to_vec());
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let Some(v) = v.as_str() else {
            return Err(format!("env {k}: the value must be a string"));
        };
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("env {k:?}: not a variable name"));
        }
        if looks_like_credential(&redactor, k, v) {
            return Err(format!(
                "env {k}: the value looks like a credential. Everything given to an MCP server is reachable by Claude, which runs in the same boundary: keep credentials out"
            ));
        }
        out.insert(k.clone(), v.to_string());
    }
    Ok(out)
}

/// A value the redactor would mask, or a `NAME=value` pair of a token, password or key.
fn looks_like_credential(redactor: &crate::audit::redact::Redactor, k: &str, v: &str) -> bool {
    !v.is_empty()
        && (redactor.redact(v) != v
            || super::secret_files::holds_credential(&format!("{k}={v}"), false))
}

/// The command's real path: absolute as given, else the first match on the jail's `PATH`.
fn resolve_command(command: &str, path: Option<&str>) -> Result<PathBuf, String> {
    let p = Path::new(command);
    let found = if p.is_absolute() {
        p.is_file().then(|| p.to_path_buf())
    } else if command.contains('/') {
        return Err(format!(
            "command {command:?} is relative; give an absolute path or a name on PATH"
        ));
    } else {
        path.into_iter()
            .flat_map(std::env::split_paths)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(command))
            .find(|c| c.is_file())
    };
    let found = found.ok_or_else(|| {
        format!("command {command:?} was not found (absolute, or on the jail's PATH)")
    })?;
    found
        .canonicalize()
        .map_err(|e| format!("command {command:?}: cannot resolve: {e}"))
}

/// May the (canonical) host path `p` be used inside the boundary? When the boundary does not
/// show it already, it is added to `mounts`.
pub fn place(p: &Path, limits: &Limits<'_>, mounts: &mut Vec<PathBuf>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = p.display();
    if limits.secrets.is_secret(p) {
        return Err(format!(
            "{shown} is a secret file; it never enters the boundary"
        ));
    }
    if let Some(f) = limits
        .forbidden
        .iter()
        .find(|f| p.starts_with(f) || f.starts_with(p))
    {
        return Err(format!(
            "{shown} overlaps {} (ccgate's state or the approved directory), which is never mounted for an MCP server",
            f.display()
        ));
    }
    let meta = std::fs::metadata(p).map_err(|e| format!("{shown}: {e}"))?;
    if meta.permissions().mode() & 0o002 != 0 && !meta.is_dir() {
        return Err(format!("{shown} is world-writable; chmod o-w it"));
    }
    if limits.visible.iter().any(|v| p.starts_with(v)) {
        return Ok(());
    }
    if meta.is_dir() {
        let mut secret = None;
        let walked = crate::walk::walk(p, MOUNT_SCAN_LIMIT, |entry, _| {
            if secret.is_none() && limits.secrets.is_secret_entry(entry) {
                secret = Some(entry.to_path_buf());
            }
            secret.is_none()
        });
        if let Some(s) = secret {
            return Err(format!(
                "the folder {shown} holds a secret file ({}); mount a folder without it",
                s.display()
            ));
        }
        if walked.is_err() {
            return Err(format!(
                "the folder {shown} is too large to check for secret files (more than {MOUNT_SCAN_LIMIT} entries)"
            ));
        }
    }
    if !mounts.iter().any(|m| p.starts_with(m)) {
        mounts.push(p.to_path_buf());
    }
    Ok(())
}

/// May a call of a tool of MCP server `server` be decided by the rules at all? Only servers
/// ccgate configured exist; anything else is denied.
pub fn is_known_server(known: &BTreeSet<String>, server: &str) -> bool {
    server == RESERVED || known.contains(server)
}

/// The `--mcp-config` JSON: the operator's servers and `extra` entries (ccgate's own), or
/// `None` when there are none (then no flag is passed).
pub fn mcp_config_json(operator: &OperatorMcp, extra: &[(String, Value)]) -> Option<String> {
    if operator.servers.is_empty() && extra.is_empty() {
        return None;
    }
    let mut servers = Map::new();
    for s in &operator.servers {
        servers.insert(s.name.clone(), s.config_entry());
    }
    for (name, entry) in extra {
        servers.insert(name.clone(), entry.clone());
    }
    Some(json!({ "mcpServers": servers }).to_string())
}

/// How the approval prompt names an MCP tool: `MCP: <server> · <tool>`.
pub fn shown_name(tool: &str) -> Option<String> {
    match super::Tool::parse(tool) {
        super::Tool::Mcp { server, tool } => Some(format!("MCP: {server} · {tool}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        secrets: SecretFiles,
        visible: Vec<PathBuf>,
        forbidden: Vec<PathBuf>,
        secret_values: Vec<String>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().canonicalize().unwrap();
            for d in ["srv", "data", "approved"] {
                std::fs::create_dir_all(root.join(d)).unwrap();
            }
            std::fs::write(root.join("srv/server.py"), "print()\n").unwrap();
            Fixture {
                visible: vec![PathBuf::from("/usr")],
                forbidden: vec![root.join("data"), root.join("approved")],
                secrets: SecretFiles::defaults().unwrap(),
                secret_values: vec!["the-bot-token-value-123".into()],
                dir,
            }
        }
        fn root(&self) -> PathBuf {
            self.dir.path().canonicalize().unwrap()
        }
        fn limits(&self) -> Limits<'_> {
            Limits {
                visible: &self.visible,
                forbidden: &self.forbidden,
                secrets: &self.secrets,
                path: Some("/usr/bin:/bin"),
                secret_values: &self.secret_values,
            }
        }
        fn parse(&self, servers: Value) -> Result<OperatorMcp, String> {
            parse(
                &json!({ "mcpServers": servers }).to_string(),
                &self.limits(),
            )
        }
    }

    #[test]
    fn a_stdio_server_is_resolved_and_its_files_mounted() {
        let f = Fixture::new();
        let script = f.root().join("srv/server.py");
        let m = f
            .parse(json!({"demo": {"command": "python3", "args": [script, "-v"], "env": {"MODE": "test"}}}))
            .unwrap();
        let s = &m.servers[0];
        assert!(s.command.is_absolute() && s.command.starts_with("/usr"));
        assert_eq!(s.args, vec![script.display().to_string(), "-v".into()]);
        // python3 is visible already; the script is not.
        assert_eq!(m.mounts(), vec![script.clone()]);
        let cfg: Value = serde_json::from_str(&mcp_config_json(&m, &[]).unwrap()).unwrap();
        assert_eq!(cfg["mcpServers"]["demo"]["type"], "stdio");
        assert_eq!(cfg["mcpServers"]["demo"]["env"]["MODE"], "test");
        assert_eq!(mcp_config_json(&OperatorMcp::default(), &[]), None);
        let with_own = mcp_config_json(
            &OperatorMcp::default(),
            &[(RESERVED.into(), json!({"type": "sdk", "name": RESERVED}))],
        )
        .unwrap();
        assert!(with_own.contains("\"sdk\""));
    }

    #[test]
    fn names_types_and_shapes_are_refused_with_the_reason() {
        let f = Fixture::new();
        let refused = |servers: Value, needle: &str| {
            let e = f.parse(servers).unwrap_err();
            assert!(e.contains(needle), "{e}");
        };
        refused(json!({"ccgate": {"command": "python3"}}), "reserved");
        refused(json!({"a__b": {"command": "python3"}}), "\"__\"");
        refused(json!({"a b": {"command": "python3"}}), "1–64");
        refused(json!({"x".repeat(65): {"command": "python3"}}), "1–64");
        refused(
            json!({"web": {"type": "http", "url": "https://x"}}),
            "no network but the model gateway",
        );
        refused(json!({"web": {"type": "sse", "url": "https://x"}}), "sse");
        refused(
            json!({"web": {"url": "https://x", "command": "python3"}}),
            "url",
        );
        refused(
            json!({"x": {"command": "no-such-program-xyz"}}),
            "not found",
        );
        refused(json!({"x": {"command": "bin/python3"}}), "relative");
        refused(
            json!({"x": {"command": "python3", "cwd": "/"}}),
            "unknown key",
        );
        refused(
            json!({"x": {"command": "python3", "args": [1]}}),
            "list of strings",
        );
        assert!(parse("[]", &f.limits()).is_err());
        assert!(parse("{\"servers\": {}}", &f.limits()).is_err());
    }

    #[test]
    fn credentials_in_env_are_refused() {
        let f = Fixture::new();
        for (k, v) in [
            ("GITHUB_TOKEN", "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"),
            ("KEY", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"),
            ("DB", "postgres://user:hunter2@db.example/x"),
            ("API_TOKEN", "plainvalue"),
            ("X", "the-bot-token-value-123"),
        ] {
            let e = f
                .parse(json!({"x": {"command": "python3", "env": {k: v}}}))
                .unwrap_err();
            assert!(e.contains("reachable by Claude"), "{k}: {e}");
        }
        assert!(f
            .parse(json!({"x": {"command": "python3", "env": {"LOG_LEVEL": "debug", "EMPTY_TOKEN": ""}}}))
            .is_ok());
    }

    #[test]
    fn paths_in_ccgate_state_secret_or_world_writable_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let f = Fixture::new();
        let root = f.root();
        std::fs::write(root.join("data/tool.py"), "").unwrap();
        std::fs::write(root.join("approved/tool.py"), "").unwrap();
        std::fs::write(root.join("srv/.env"), "A=b\n").unwrap();
        std::fs::create_dir_all(root.join("clean")).unwrap();
        std::fs::write(root.join("clean/lib.py"), "").unwrap();
        let with_arg = |a: &Path| json!({"x": {"command": "python3", "args": [a]}});
        for (p, needle) in [
            (root.join("data/tool.py"), "ccgate's state"),
            (root.join("approved/tool.py"), "approved directory"),
            (root.join("srv/.env"), "secret"),
            (root.join("srv"), "holds a secret file"),
            (root.clone(), "overlaps"),
        ] {
            let e = f.parse(with_arg(&p)).unwrap_err();
            assert!(e.contains(needle), "{}: {e}", p.display());
        }
        // A clean folder is mounted as a whole; a symlink resolves to its target.
        std::os::unix::fs::symlink(root.join("clean"), root.join("link")).unwrap();
        let m = f.parse(with_arg(&root.join("link"))).unwrap();
        assert_eq!(m.mounts(), vec![root.join("clean")]);
        assert_eq!(
            m.servers[0].args,
            vec![root.join("clean").display().to_string()]
        );
        // The command itself is checked like an argument.
        let e = f
            .parse(json!({"x": {"command": root.join("data/tool.py")}}))
            .unwrap_err();
        assert!(e.contains("command"), "{e}");
        let ww = root.join("clean/lib.py");
        std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(f
            .parse(with_arg(&ww))
            .unwrap_err()
            .contains("world-writable"));
        // The file itself.
        let file = root.join("mcp.json");
        std::fs::write(&file, "{\"mcpServers\":{}}").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o646)).unwrap();
        assert!(load(&file, &f.limits())
            .unwrap_err()
            .contains("world-writable"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load(&file, &f.limits()).unwrap().servers, vec![]);
    }

    #[test]
    fn only_configured_servers_are_known() {
        let known: BTreeSet<String> = ["demo".to_string()].into();
        assert!(is_known_server(&known, "demo"));
        assert!(is_known_server(&known, RESERVED));
        assert!(!is_known_server(&known, "evil"));
        assert_eq!(
            shown_name("mcp__demo__echo").as_deref(),
            Some("MCP: demo · echo")
        );
        assert_eq!(shown_name("Bash"), None);
    }
}
