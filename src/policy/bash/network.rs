//! Handlers for programs that reach other hosts: `rsync`, `ssh`/`scp`/`sftp`, netcat, `curl`
//! and `wget`.
//!
//! Why it exists: grants tell a download from an upload and a local copy from a remote one, so
//! these handlers say which arguments name a host, which name local files read or written, and
//! record each network command in [`super::Analysis::network`].

use super::*;

impl Walker {
    pub(super) fn h_rsync(&mut self, args: &[Arg]) -> CmdInfo {
        let rsh_unsafe = args.iter().enumerate().any(|(i, a)| {
            let value = if a.is("-e") || a.is("--rsh") {
                args.get(i + 1).map(|v| v.text.as_str())
            } else {
                a.text
                    .strip_prefix("--rsh=")
                    .or_else(|| a.text.strip_prefix("-e").filter(|v| !v.is_empty()))
            };
            a.text.starts_with("--rsync-path")
                || value.is_some_and(|v| !(v == "ssh" || v.starts_with("ssh ")))
        });
        if rsh_unsafe {
            self.emit(
                Class::Unparseable,
                "rsync runs a custom remote shell or program",
            );
        }
        let pos = positionals(args);
        if pos.iter().any(|a| !a.dynamic && is_remote_spec(&a.text)) {
            self.emit(Class::Network, "rsync copies to or from a remote host");
        } else {
            self.emit(Class::WritesInside, "rsync copies files");
        }
        for a in pos {
            if a.dynamic || !is_remote_spec(&a.text) {
                self.check_path(a, Access::Any);
            }
        }
        CmdInfo::default()
    }

    pub(super) fn h_ssh(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        self.emit(Class::Network, format!("{name} connects to a remote host"));
        let runs_local = args.iter().any(|a| {
            let lower = a.text.to_ascii_lowercase();
            [
                "proxycommand",
                "localcommand",
                "knownhostscommand",
                "proxyjump=",
                "-oproxy",
            ]
            .iter()
            .any(|k| lower.contains(k))
        }) || (name != "ssh" && args.iter().any(|a| a.is("-S")));
        if runs_local {
            self.emit(
                Class::Unparseable,
                format!("{name} option runs a local command"),
            );
        }
        if name != "ssh" {
            for a in positionals(args) {
                if a.dynamic || !is_remote_spec(&a.text) {
                    self.check_path(a, Access::Any);
                }
            }
        }
        CmdInfo::default()
    }

    pub(super) fn h_netcat(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        self.emit(Class::Network, format!("{name} opens network connections"));
        let exposes = if name == "socat" {
            args.iter().any(|a| {
                let upper = a.text.to_ascii_uppercase();
                upper.contains("EXEC:") || upper.contains("SYSTEM:")
            })
        } else {
            args.iter().any(|a| {
                a.is("-e")
                    || a.is("-c")
                    || ["--exec", "--sh-exec", "--lua-exec"]
                        .iter()
                        .any(|f| a.text.starts_with(f))
            })
        };
        if exposes {
            self.emit(
                Class::Destructive,
                format!("{name} connects a program to the network (remote shell)"),
            );
        }
        CmdInfo::default()
    }

    pub(super) fn h_curl(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        self.emit(
            Class::Network,
            format!("{name} downloads or uploads over the network"),
        );
        self.check_args_generic(args, Access::Any);
        for a in args.iter().filter(|a| !a.dynamic) {
            let uploaded = a
                .text
                .strip_prefix('@')
                .or_else(|| a.text.split_once("=@").map(|(_, f)| f));
            let uploaded = uploaded.or_else(|| a.text.strip_prefix("file://"));
            if let Some(file) = uploaded.filter(|f| !f.is_empty() && *f != "-") {
                self.check_path(&Arg::literal(file), Access::Read);
            }
        }
        CmdInfo::default()
    }

    // ---- git ----
}

/// `host:path`, `user@host:path` or `rsync://…`.
pub(super) fn is_remote_spec(text: &str) -> bool {
    text.starts_with("rsync://")
        || text
            .find(':')
            .is_some_and(|colon| colon > 0 && !text[..colon].contains('/'))
}
