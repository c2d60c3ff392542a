//! Provisional Bash classification (replaced by the full parser): conservative word scanning.
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    ReadOnly,
    WritesInside,
    Network,
    TouchesOutside,
    Privileged,
    Destructive,
    Unparseable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub class: Class,
    pub reason: String,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub class: Class,
    pub findings: Vec<Finding>,
    pub commands: Vec<Vec<String>>,
}

const READ_ONLY: &[&str] = &[
    "ls", "cat", "head", "tail", "wc", "grep", "rg", "echo", "pwd", "printf", "find", "stat",
    "file", "diff", "sort", "uniq", "true", "false", "date", "which",
];
const PRIVILEGED: &[&str] = &["sudo", "su", "doas", "pkexec", "chroot", "mount", "umount"];
const NETWORK: &[&str] = &[
    "curl", "wget", "nc", "ncat", "ssh", "scp", "rsync", "ftp", "telnet", "socat",
];

pub fn analyze(command: &str, root: &Path, cwd: &Path) -> Analysis {
    let mut findings = Vec::new();
    let mut add = |class, reason: &str| {
        findings.push(Finding {
            class,
            reason: reason.into(),
            command: command.into(),
        })
    };
    if command.trim().is_empty() {
        add(Class::Unparseable, "empty command");
    }
    for t in ["$", "`", "<(", ">(", "~"] {
        if command.contains(t) {
            add(Class::Unparseable, "shell expansions cannot be checked");
        }
    }
    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, c)
                if c.is_whitespace() || matches!(c, ';' | '|' | '&' | '<' | '>' | '(' | ')') =>
            {
                if !cur.is_empty() {
                    commands
                        .last_mut()
                        .expect("nonempty")
                        .push(std::mem::take(&mut cur));
                }
                if matches!(c, ';' | '|' | '&') {
                    commands.push(Vec::new());
                }
                if c == '>' {
                    add(Class::WritesInside, "output redirection");
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        add(Class::Unparseable, "unbalanced quotes");
    }
    if !cur.is_empty() {
        commands.last_mut().expect("nonempty").push(cur);
    }
    commands.retain(|c| !c.is_empty());
    for argv in &commands {
        let prog = argv[0].as_str();
        if PRIVILEGED.contains(&prog) {
            add(Class::Privileged, "privileged command");
        } else if NETWORK.contains(&prog) {
            add(Class::Network, "network tool");
        } else if !READ_ONLY.contains(&prog) {
            add(Class::WritesInside, "may write files");
        }
        for arg in argv {
            let cand = arg.rsplit_once('=').map(|(_, v)| v).unwrap_or(arg);
            if cand.split('/').any(|p| p == "..") {
                add(Class::TouchesOutside, "parent-directory reference");
            } else if (cand.contains('/') || cand.starts_with('.'))
                && super::sandbox::resolve_within(root, cwd, cand).is_err()
                && (cand.starts_with('/') || cand.starts_with('.'))
            {
                add(Class::TouchesOutside, "path outside the project");
            }
        }
    }
    let class = findings
        .iter()
        .map(|f| f.class)
        .max()
        .unwrap_or(Class::ReadOnly);
    Analysis {
        class,
        findings,
        commands,
    }
}
