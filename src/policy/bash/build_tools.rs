//! Build tools and package managers: `cargo`, `npm`/`pnpm`/`yarn`/`bun`, `pip`, `docker`,
//! `go`.
//!
//! Why it exists: their subcommands range from read-only (`cargo fmt --check`, `npm ls`) to
//! running project code (`cargo test`, `npm run`) and downloading packages (`npm install`); each
//! subcommand's class is per-program knowledge.

use super::*;

impl Walker {
    pub(super) fn h_cargo(&mut self, args: &[Arg]) -> CmdInfo {
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            if a.dynamic || !(t.starts_with('-') || t.starts_with('+')) {
                break;
            }
            match t {
                "--manifest-path" | "-C" | "--target-dir" => {
                    if let Some(p) = args.get(i + 1) {
                        self.check_path(p, Access::Any);
                    }
                    i += 1;
                }
                "--config" => {
                    self.emit(
                        Class::Unparseable,
                        "cargo --config can change what cargo runs",
                    );
                    i += 1;
                }
                "-Z" | "--color" | "--explain" => i += 1,
                "--version" | "-V" | "--list" | "--help" | "-h" => return CmdInfo::default(),
                _ if t.starts_with("--config") => self.emit(
                    Class::Unparseable,
                    "cargo --config can change what cargo runs",
                ),
                _ => {
                    if let Some(v) = option_value_path(t) {
                        self.check_path(&Arg::literal(v), Access::Any);
                    }
                }
            }
            i += 1;
        }
        let Some(sub) = args.get(i) else {
            return CmdInfo::default();
        };
        if sub.dynamic {
            self.emit(
                Class::Unparseable,
                "cargo subcommand comes from an expansion",
            );
            return CmdInfo::default();
        }
        let rest = &args[i + 1..];
        match sub.text.as_str() {
            "version" | "help" | "locate-project" | "pkgid" | "verify-project"
            | "read-manifest" => {}
            "fmt" if rest.iter().any(|a| a.is("--check")) => {}
            "publish" | "install" | "fetch" | "update" | "search" | "login" | "logout"
            | "owner" | "yank" | "add" | "vendor" | "info" | "generate-lockfile" => {
                self.emit(
                    Class::Network,
                    format!("cargo {} uses the network", sub.text),
                );
            }
            "uninstall" => self.emit(
                Class::TouchesOutside,
                "cargo uninstall changes installed binaries",
            ),
            // These read manifests and write files; no build script or proc macro runs.
            "fmt" | "clean" | "new" | "init" | "remove" | "rm" | "metadata" | "tree" | "report" => {
                self.emit(
                    Class::WritesInside,
                    format!("cargo {} writes inside the project", sub.text),
                )
            }
            // build, check, test, run, bench, clippy, doc, fix, rustc, package, plugins, aliases:
            // build scripts and proc macros of the project and its dependencies run.
            s => self.emit(
                Class::RunsCode,
                format!("cargo {s} builds and runs code (build scripts, proc macros, tests)"),
            ),
        }
        self.check_args_generic(rest, Access::Any);
        CmdInfo::default()
    }

    pub(super) fn h_npm(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        if args
            .iter()
            .any(|a| a.is("-g") || a.is("--global") || a.is("--location=global"))
        {
            self.emit(
                Class::TouchesOutside,
                format!("{name} changes global packages"),
            );
        }
        let pos = positionals(args);
        let sub = pos.first().map(|a| a.text.clone()).unwrap_or_default();
        match sub.as_str() {
            "" if name == "yarn" => self.emit(
                Class::RunsCode,
                "yarn installs dependencies and runs their install scripts",
            ),
            "" | "ls" | "list" | "ll" | "la" | "why" | "explain" | "prefix" | "root" | "bin"
            | "help" | "get" => {}
            "install" | "i" | "ci" | "add" | "in" | "isntall" => {
                if pos.len() > 1 || sub == "add" {
                    self.emit(
                        Class::Network,
                        format!("{name} {sub} downloads new packages"),
                    );
                } else {
                    self.emit(
                        Class::RunsCode,
                        format!(
                            "{name} {sub} installs the project's dependencies and runs their install scripts"
                        ),
                    );
                }
            }
            "publish" | "unpublish" | "deprecate" | "login" | "adduser" | "logout" | "owner"
            | "access" | "dist-tag" | "view" | "info" | "show" | "search" | "audit"
            | "outdated" | "update" | "upgrade" | "up" | "exec" | "x" | "dlx" | "create"
            | "doctor" | "ping" | "token" | "whoami" | "link" | "ln" | "global" | "init" => {
                self.emit(Class::Network, format!("{name} {sub} uses the network"));
            }
            "config" | "c"
                if pos.get(1).is_some_and(|a| {
                    matches!(a.text.as_str(), "set" | "delete" | "edit" | "fix")
                }) =>
            {
                self.emit(
                    Class::TouchesOutside,
                    format!("{name} config changes user configuration"),
                );
            }
            "config" | "c" => {}
            _ => self.emit(
                Class::RunsCode,
                format!("{name} {sub} runs project scripts"),
            ),
        }
        self.check_args_generic(args, Access::Any);
        CmdInfo::default()
    }

    pub(super) fn h_pip(&mut self, args: &[Arg]) -> CmdInfo {
        let sub = first_positional(args)
            .map(|(_, a)| a.text.clone())
            .unwrap_or_default();
        match sub.as_str() {
            "install" | "download" | "wheel" | "search" | "index" => {
                self.emit(Class::Network, format!("pip {sub} uses the network"))
            }
            "" | "list" | "show" | "freeze" | "check" | "help" | "debug" | "inspect" | "cache" => {}
            "config"
                if args
                    .iter()
                    .any(|a| matches!(a.text.as_str(), "set" | "unset" | "edit")) =>
            {
                self.emit(
                    Class::TouchesOutside,
                    "pip config changes user configuration",
                );
            }
            "config" => {}
            "uninstall" => self.emit(Class::WritesInside, "pip uninstall removes packages"),
            _ => self.emit(Class::WritesInside, format!("pip {sub}")),
        }
        if args.iter().any(|a| a.is("--user")) {
            self.emit(
                Class::TouchesOutside,
                "pip --user installs into the home directory",
            );
        }
        self.check_args_generic(args, Access::Any);
        CmdInfo::default()
    }

    pub(super) fn h_docker(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        let scan = scan_opts(args, "Hcl", &["host", "context", "config", "log-level"]);
        let rest = &args[scan.rest..];
        let sub = rest.first().map(|a| a.text.as_str()).unwrap_or("");
        let sub2 = first_positional(rest.get(1..).unwrap_or(&[]))
            .map(|(_, a)| a.text.as_str())
            .unwrap_or("");
        match (sub, sub2) {
            (
                "" | "ps" | "images" | "logs" | "inspect" | "version" | "info" | "top" | "history"
                | "port" | "diff" | "stats",
                _,
            ) => {}
            ("compose", "ps" | "logs" | "config" | "ls" | "images" | "version") => {}
            ("pull" | "push" | "login" | "logout" | "search", _) | ("compose", "pull" | "push") => {
                self.emit(Class::Network, format!("{name} {sub} uses the network"));
            }
            _ => self.emit(
                Class::Privileged,
                format!("{name} {sub} controls containers (root-equivalent)"),
            ),
        }
        CmdInfo::default()
    }

    pub(super) fn h_go(&mut self, args: &[Arg]) -> CmdInfo {
        let sub = first_positional(args)
            .map(|(_, a)| a.text.clone())
            .unwrap_or_default();
        let sub2 = args
            .iter()
            .filter(|a| !a.is_option())
            .nth(1)
            .map(|a| a.text.clone())
            .unwrap_or_default();
        match sub.as_str() {
            "" | "version" | "help" | "doc" | "list" => {}
            "env" if args.iter().any(|a| a.is("-w") || a.is("-u")) => {
                self.emit(
                    Class::TouchesOutside,
                    "go env -w changes user configuration",
                );
            }
            "env" => {}
            "get" | "install" => self.emit(Class::Network, format!("go {sub} downloads code")),
            "mod"
                if matches!(
                    sub2.as_str(),
                    "download" | "tidy" | "vendor" | "verify" | "graph" | "why"
                ) =>
            {
                self.emit(
                    Class::Network,
                    format!("go mod {sub2} may download modules"),
                );
            }
            "clean"
                if args.iter().any(|a| {
                    a.text.starts_with("-cache")
                        || a.text.starts_with("-modcache")
                        || a.text.starts_with("-testcache")
                }) =>
            {
                self.emit(
                    Class::TouchesOutside,
                    "go clean removes caches outside the project",
                );
            }
            "fmt" | "clean" => self.emit(Class::WritesInside, format!("go {sub} writes files")),
            "mod" if matches!(sub2.as_str(), "init" | "edit") => {
                self.emit(Class::WritesInside, format!("go mod {sub2} writes go.mod"))
            }
            // build, test, run, generate, vet, tool…: cgo, //go:generate lines, tests and
            // -toolexec/-vettool programs run.
            _ => self.emit(
                Class::RunsCode,
                format!("go {sub} builds and runs code from the project"),
            ),
        }
        self.check_args_generic(args, Access::Any);
        CmdInfo::default()
    }
}
