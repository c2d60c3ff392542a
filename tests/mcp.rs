//! End to end: the operator's MCP servers (`MCP_CONFIG_PATH`) run inside the boundary, and each
//! of their tools is decided by ccgate's policy; a project's `.mcp.json` is never started.

mod support;

use std::path::{Path, PathBuf};

use support::{button_data, Harness, USER};

/// A tiny stdio MCP server (newline-delimited JSON-RPC): `echo`, `write_marker`, `probe`.
const SERVER_PY: &str = r#"
import json, os, socket, sys
TOOLS = [
  {"name": "echo", "description": "Echo the text back",
   "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
  {"name": "write_marker", "description": "Write a marker file",
   "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
  {"name": "probe", "description": "Report what this server can see",
   "inputSchema": {"type": "object", "properties": {}}},
]
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def probe():
    own = os.path.exists(os.path.abspath(__file__))
    host = os.path.exists(os.environ.get("PROBE_FILE", "/nonexistent"))
    try:
        socket.create_connection(("127.0.0.1", int(os.environ.get("PROBE_PORT", "9"))), timeout=3).close()
        net = "reached"
    except Exception:
        net = "unreachable"
    return "probe: own_file=%s host_file=%s network=%s hostname=%s" % (own, host, net, socket.gethostname())
for line in sys.stdin:
    try:
        m = json.loads(line)
    except Exception:
        continue
    mid, method = m.get("id"), m.get("method")
    if mid is None:
        continue
    if method == "initialize":
        v = m.get("params", {}).get("protocolVersion", "2025-06-18")
        send({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": v,
              "capabilities": {"tools": {}}, "serverInfo": {"name": "demo", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        name, args = m["params"]["name"], m["params"].get("arguments") or {}
        if name == "echo":
            text = "echo:" + args.get("text", "")
        elif name == "write_marker":
            open(args["path"], "w").write("marker")
            text = "wrote " + args["path"]
        else:
            text = probe()
        send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": text}]}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no such method"}})
"#;

/// Write the server and an MCP config naming it `demo`; returns the config's path. Next to the
/// server lies `host-only.txt`, a host file the server must not see.
fn demo_config(h: &Harness) -> PathBuf {
    demo_config_with(h, serde_json::json!({}))
}

/// [`demo_config`] with more servers (`extra`: name → entry).
fn demo_config_with(h: &Harness, extra: serde_json::Value) -> PathBuf {
    let dir = h.tmp.path().join("mcp");
    std::fs::create_dir_all(&dir).unwrap();
    let server = dir.join("server.py");
    std::fs::write(&server, SERVER_PY).unwrap();
    std::fs::write(dir.join("host-only.txt"), "only on the host\n").unwrap();
    let port = h.model.base_url().rsplit(':').next().unwrap().to_string();
    let port = port.trim_end_matches('/').to_string();
    let mut servers = serde_json::json!({"demo": {
        "command": "/usr/bin/python3",
        "args": [server],
        "env": {"PROBE_FILE": dir.join("host-only.txt"), "PROBE_PORT": port},
    }});
    for (k, v) in extra.as_object().unwrap() {
        servers[k] = v.clone();
    }
    let cfg = serde_json::json!({ "mcpServers": servers });
    write_config(h, "mcp.json", &cfg)
}

fn write_config(h: &Harness, name: &str, cfg: &serde_json::Value) -> PathBuf {
    let path = h.tmp.path().join(name);
    std::fs::write(&path, cfg.to_string()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn policy(h: &Harness, toml: &str) -> PathBuf {
    let p = h.tmp.path().join("policy.toml");
    std::fs::write(&p, toml).unwrap();
    p
}

fn tool(name: &str, input: serde_json::Value) -> String {
    format!("[[tool:{name}:{input}]]")
}

/// The final answer of the turn started after message `mark`.
async fn final_after(h: &Harness, mark: i64, what: &str) -> String {
    h.wait_message(USER, what, |m| {
        m.message_id > mark && m.text.contains("FAKE:") && m.text.contains("💰")
    })
    .await
    .text
}

/// A "server" that only leaves `marker` when it is started.
fn starter(marker: &Path) -> serde_json::Value {
    serde_json::json!({
        "command": "/usr/bin/python3",
        "args": ["-c", format!("open({:?}, 'w').write('x')", marker.display().to_string())],
    })
}

/// Every `tool_result` text the model received.
fn tool_results(h: &Harness) -> Vec<String> {
    let mut out = Vec::new();
    for r in h.model.requests() {
        for msg in r["messages"].as_array().into_iter().flatten() {
            for block in msg["content"].as_array().into_iter().flatten() {
                if block["type"] == "tool_result" {
                    out.push(block["content"].to_string());
                }
            }
        }
    }
    out
}

/// The audited decisions about `tool`: (decision, rule).
fn decisions(h: &Harness, tool: &str) -> Vec<(String, String)> {
    let db = h.db();
    let mut st = db
        .prepare("SELECT details FROM audit_log WHERE event = 'tool_decision'")
        .unwrap();
    let rows: Vec<String> = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.iter()
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter(|d| d["tool"] == tool)
        .map(|d| {
            (
                d["decision"].as_str().unwrap_or("").to_string(),
                d["rule"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_mcp_tool_runs_inside_the_boundary_and_its_result_reaches_the_model() {
    let mut h = Harness::new().await;
    let cfg = demo_config(&h);
    h.set_env("MCP_CONFIG_PATH", &cfg.display().to_string());
    let pol = policy(
        &h,
        "[tools]\n\"mcp__demo__echo\" = \"allow\"\n\"mcp__demo__probe\" = \"allow\"\n",
    );
    h.set_env("POLICY_FILE", &pol.display().to_string());
    h.start().await;

    let text = h
        .ask(
            &tool("mcp__demo__echo", serde_json::json!({"text": "hello-mcp"})),
            "FAKE: tool",
        )
        .await;
    assert!(
        text.contains("FAKE: tool result was: echo:hello-mcp"),
        "{text}"
    );
    assert!(
        tool_results(&h)
            .iter()
            .any(|r| r.contains("echo:hello-mcp")),
        "the model got the tool's result: {:?}",
        tool_results(&h)
    );
    assert_eq!(
        decisions(&h, "mcp__demo__echo"),
        vec![("allow".into(), "tools.mcp__demo__echo".into())]
    );
    // No human was asked.
    assert!(!h
        .tg
        .messages(USER)
        .iter()
        .any(|m| m.text.contains("Approval needed")));

    // The server runs inside the boundary: it sees its own (mounted) script, not the host file
    // next to it, has no network, and the sandbox's host name.
    let mark = h.last_message_id(USER);
    h.send(&tool("mcp__demo__probe", serde_json::json!({})));
    let text = final_after(&h, mark, "the probe's result").await;
    assert!(text.contains("probe: own_file=True"), "{text}");
    assert!(text.contains("host_file=False"), "{text}");
    assert!(text.contains("network=unreachable"), "{text}");
    assert!(text.contains("hostname=ccgate-sandbox"), "{text}");
    // The same probe from the host reaches what the server could not.
    assert!(std::net::TcpStream::connect(
        h.model
            .base_url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
    )
    .is_ok());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_tool_asks_by_default_and_a_deny_from_the_phone_reaches_the_model() {
    let mut h = Harness::new().await;
    let cfg = demo_config(&h);
    h.set_env("MCP_CONFIG_PATH", &cfg.display().to_string());
    h.start().await;
    let marker = h.approved().join("marker-denied.txt");
    h.send(&tool(
        "mcp__demo__write_marker",
        serde_json::json!({"path": marker, "token": "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}),
    ));
    let p = h
        .wait_message(USER, "an approval prompt", |m| {
            m.text.contains("Approval needed") && m.reply_markup.is_some()
        })
        .await;
    assert!(p.text.contains("MCP: demo · write_marker"), "{}", p.text);
    assert!(
        p.text.contains(&format!("path: {}", marker.display())),
        "{}",
        p.text
    );
    // Arguments are shown redacted.
    assert!(!p.text.contains("ghp_0123456789"), "{}", p.text);
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "Deny"));
    let text = final_after(&h, p.message_id, "the denial").await;
    assert!(text.contains("FAKE: tool error was"), "{text}");
    assert!(text.contains("denied"), "{text}");
    assert!(!marker.exists(), "a denied MCP call ran");
    let d = decisions(&h, "mcp__demo__write_marker");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, "deny");

    // Allowed from the phone, the same tool runs (inside the project, which the server sees).
    let marker = h.approved().join("marker-allowed.txt");
    let mark = h.last_message_id(USER);
    h.send(&tool(
        "mcp__demo__write_marker",
        serde_json::json!({"path": marker}),
    ));
    let p = h
        .wait_message(USER, "a second approval prompt", |m| {
            m.message_id > mark && m.text.contains("Approval needed") && m.reply_markup.is_some()
        })
        .await;
    h.tg.inject_callback(USER, USER, p.message_id, &button_data(&p, "Allow once"));
    let text = final_after(&h, p.message_id, "the allowed call's result").await;
    assert!(text.contains("FAKE: tool result was: wrote"), "{text}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "marker");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_rule_refuses_an_mcp_tool_without_asking_and_a_project_mcp_json_never_starts() {
    let mut h = Harness::new().await;
    // The same kind of entry in the operator's file is started (the marker shows it can).
    let operator_marker = h.approved().join("operator-started");
    let cfg = demo_config_with(
        &h,
        serde_json::json!({"starter": starter(&operator_marker)}),
    );
    h.set_env("MCP_CONFIG_PATH", &cfg.display().to_string());
    let pol = policy(&h, "[tools]\n\"mcp__demo__write_marker\" = \"deny\"\n");
    h.set_env("POLICY_FILE", &pol.display().to_string());
    // The project ships its own server; were it started, it would leave a file.
    let evil_marker = h.approved().join("evil-started");
    let project_mcp = serde_json::json!({"mcpServers": {"evil": starter(&evil_marker)}});
    std::fs::write(h.approved().join(".mcp.json"), project_mcp.to_string()).unwrap();
    // …and approves it in its own settings, as a repository may.
    let approve =
        serde_json::json!({"enableAllProjectMcpServers": true, "enabledMcpjsonServers": ["evil"]});
    std::fs::create_dir_all(h.approved().join(".claude")).unwrap();
    for f in ["settings.json", "settings.local.json"] {
        std::fs::write(h.approved().join(".claude").join(f), approve.to_string()).unwrap();
    }
    h.start().await;

    let marker = h.approved().join("marker-rule.txt");
    let text = h
        .ask(
            &tool(
                "mcp__demo__write_marker",
                serde_json::json!({"path": marker}),
            ),
            "FAKE: tool",
        )
        .await;
    assert!(text.contains("FAKE: tool error was"), "{text}");
    assert!(text.contains("not allowed"), "{text}");
    assert!(!marker.exists());
    assert!(!h
        .tg
        .messages(USER)
        .iter()
        .any(|m| m.text.contains("Approval needed")));
    assert_eq!(
        decisions(&h, "mcp__demo__write_marker"),
        vec![("deny".into(), "tools.mcp__demo__write_marker".into())]
    );

    // The project's server: its tool is unknown to the CLI, and the server never ran, although
    // the turn finished (the CLI starts its servers before the first model request).
    let text = h
        .ask(
            &tool("mcp__evil__anything", serde_json::json!({})),
            "FAKE: tool",
        )
        .await;
    assert!(text.contains("FAKE: tool error was"), "{text}");
    assert!(
        operator_marker.exists(),
        "the operator's servers were started"
    );
    assert!(!evil_marker.exists(), "the project's .mcp.json was started");
    h.stop().await;
}

async fn start_fails(h: &Harness, cfg: &Path) -> String {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        h.command().env("MCP_CONFIG_PATH", cfg).arg("run").output(),
    )
    .await
    .expect("ccgate did not stop")
    .unwrap();
    assert!(
        !out.status.success(),
        "ccgate started with {}",
        cfg.display()
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_mcp_config_stops_the_start_with_the_reason() {
    let h = Harness::new().await;
    let http = write_config(
        &h,
        "http.json",
        &serde_json::json!({"mcpServers": {"remote": {"type": "http", "url": "https://mcp.example/x"}}}),
    );
    let out = start_fails(&h, &http).await;
    assert!(out.contains("MCP_CONFIG_PATH"), "{out}");
    assert!(out.contains("server \"remote\""), "{out}");
    assert!(out.contains("no network but the model gateway"), "{out}");

    let reserved = write_config(
        &h,
        "reserved.json",
        &serde_json::json!({"mcpServers": {"ccgate": {"command": "python3"}}}),
    );
    let out = start_fails(&h, &reserved).await;
    assert!(out.contains("reserved"), "{out}");

    // `ccgate check` names the problem, and lists a good file's servers.
    let out = h
        .command()
        .env("MCP_CONFIG_PATH", &reserved)
        .arg("check")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("FAIL  mcp servers") && text.contains("reserved"),
        "{text}"
    );
    let good = demo_config(&h);
    let out = h
        .command()
        .env("MCP_CONFIG_PATH", &good)
        .arg("check")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok    mcp servers"), "{text}");
    assert!(text.contains("demo: /usr/bin/python3"), "{text}");
}
