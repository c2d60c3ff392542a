//! From a command name to its handler, and the programs that run other programs: wrappers
//! (`env`, `nice`, `timeout`, `watch`), `sudo`/`su`, `xargs`, `find -exec`, `eval`/`source`,
//! shells and interpreters, `trap`.
//!
//! Why it exists: the command that really runs is often an argument of another one. The
//! dispatch strips wrappers and recurses (bounded depth) so that `sudo env X=1 bash -c 'rm -rf /'`
//! is judged by the `rm`, and decides the class of everything no handler knows.

use super::*;

impl Walker {
    /// Analyse one argv (a simple command, or the command inside a wrapper).
    pub(super) fn analyze_argv(&mut self, argv: &[Arg], cx: &Cx) -> CmdInfo {
        let start = self.findings.len();
        let display = display_argv(argv);
        let words: Vec<String> = argv
            .iter()
            .filter(|a| !a.synthetic)
            .map(|a| a.text.clone())
            .collect();
        self.commands.push(words.clone());
        self.argv_stack.push(words);
        self.command_cwds.push(
            self.cwds
                .iter()
                .filter_map(|c| match c {
                    Cwd::Known(d) => Some(d.clone()),
                    Cwd::Unknown => None,
                })
                .collect(),
        );
        let mut info = if self.depth > MAX_DEPTH {
            self.emit(Class::Unparseable, "commands nested too deeply to analyse");
            CmdInfo::default()
        } else {
            self.depth += 1;
            let info = self.dispatch_argv(argv, cx);
            self.depth -= 1;
            info
        };
        self.argv_stack.pop();
        info.display = display.clone();
        self.label(start, &display);
        info
    }

    pub(super) fn dispatch_argv(&mut self, argv: &[Arg], cx: &Cx) -> CmdInfo {
        let Some((name_arg, args)) = argv.split_first() else {
            return CmdInfo::default();
        };
        if name_arg.dynamic || name_arg.synthetic || name_arg.procsub {
            self.emit(
                Class::Unparseable,
                format!("command name comes from an expansion: {}", name_arg.text),
            );
            self.check_network_code(cx, "an expanded command name");
            return CmdInfo::default();
        }
        if name_arg.glob || name_arg.brace || name_arg.extglob {
            self.emit(
                Class::Unparseable,
                format!("command name is a pattern: {}", name_arg.text),
            );
            return CmdInfo::default();
        }
        if name_arg.text.is_empty() {
            self.emit(Class::Unparseable, "empty command name");
            return CmdInfo::default();
        }
        if name_arg.tilde {
            self.emit(
                Class::TouchesOutside,
                format!("runs a program from the home directory: {}", name_arg.text),
            );
        }
        let name = name_arg.text.as_str();
        if name.contains('/') {
            self.program_path(name_arg);
        } else if let Some(&changes_cwd) = self.functions.get(name) {
            // The body was analysed where the function was defined.
            if changes_cwd {
                merge_cwds(&mut self.cwds, &[Cwd::Unknown]);
            }
            self.check_args_generic(args, Access::Any);
            return CmdInfo::default();
        }
        let base = basename(name);
        if base.is_empty() {
            self.emit(Class::Unparseable, format!("not a program: {name}"));
            return CmdInfo::default();
        }
        if VARNAME_BUILTINS.contains(&base)
            && args
                .iter()
                .any(|a| a.text.contains('[') && (a.text.contains("$(") || a.text.contains('`')))
        {
            self.emit(
                Class::Unparseable,
                "variable name with a subscript that may execute code",
            );
        }
        self.dispatch(base, args, cx)
    }

    /// A command given with a path: system binaries are judged by name,
    /// anything else is a script we cannot see.
    pub(super) fn program_path(&mut self, name_arg: &Arg) {
        let dir = lexical_normalize(Path::new(&name_arg.text).parent().unwrap_or(Path::new("/")));
        if name_arg.text.starts_with('/') && SYSTEM_BIN_DIRS.iter().any(|d| Path::new(d) == dir) {
            return;
        }
        let resolved = self.check_path(name_arg, Access::Read);
        if resolved
            .iter()
            .all(|r| r.as_ref().is_some_and(|p| self.inside(p)))
        {
            self.emit(
                Class::RunsCode,
                format!("runs a program from the project: {}", name_arg.text),
            );
        }
    }

    pub(super) fn dispatch(&mut self, name: &str, args: &[Arg], cx: &Cx) -> CmdInfo {
        match name {
            "cd" | "pushd" => self.h_cd(args),
            "popd" => {
                self.cwds = vec![Cwd::Unknown];
                CmdInfo::default()
            }
            "rm" | "unlink" => self.h_rm(args),
            "chmod" | "chown" | "chgrp" => self.h_chmod(name, args),
            "find" => self.h_find(args, cx),
            "xargs" => self.h_xargs(args, cx),
            "sudo" | "doas" | "pkexec" | "run0" => self.h_sudo(name, args, cx),
            "su" | "runuser" => self.h_su(name, args),
            "env" => self.h_env(args, cx),
            "nice" | "nohup" | "timeout" | "time" | "command" | "builtin" | "stdbuf" | "ionice"
            | "setsid" | "busybox" | "unbuffer" | "chronic" | "caffeinate" => {
                self.h_wrapper(name, args, cx)
            }
            "watch" => self.h_watch(args, cx),
            "eval" => self.h_eval(args, cx),
            "source" | "." => self.h_source(args, cx),
            "exec" => {
                self.emit(Class::Unparseable, "exec replaces the shell");
                let scan = scan_opts(args, "a", &[]);
                self.h_wrapped(&args[scan.rest..], cx)
            }
            "git" => self.h_git(args, cx),
            "cargo" => self.h_cargo(args),
            "npm" | "pnpm" | "yarn" => self.h_npm(name, args),
            "bun" | "deno" => self.h_js_runtime(name, args, cx),
            "docker" | "podman" | "nerdctl" => self.h_docker(name, args),
            "go" => self.h_go(args),
            "sed" | "gsed" => self.h_sed(args),
            "awk" | "gawk" | "mawk" | "nawk" => self.h_awk(args),
            "sort" => self.h_sort(args),
            "tee" => self.h_tee(args),
            "tar" | "bsdtar" | "gtar" => self.h_tar(args),
            "mktemp" => self.h_mktemp(args),
            "truncate" => self.h_truncate(args),
            "rsync" => self.h_rsync(args),
            "ssh" | "scp" | "sftp" => self.h_ssh(name, args),
            "nc" | "ncat" | "netcat" | "socat" => self.h_netcat(name, args),
            "curl" | "wget" => self.h_curl(name, args),
            "trap" => self.h_trap(args),
            "kill"
                if args.iter().filter(|a| !a.dynamic).any(|a| a.text == "-1")
                    && args.len() >= 2 =>
            {
                self.emit(
                    Class::Destructive,
                    "kill -1 signals every process of the user",
                );
                CmdInfo::default()
            }
            "let" => {
                for a in args {
                    self.check_arithmetic(&a.text, false);
                }
                CmdInfo::default()
            }
            _ => self.dispatch_simple(name, args, cx),
        }
    }

    /// Programs whose handling depends only on a few flags or list membership.
    pub(super) fn dispatch_simple(&mut self, name: &str, args: &[Arg], cx: &Cx) -> CmdInfo {
        let has = |flag: &str| {
            args.iter()
                .any(|a| a.is(flag) || a.text.starts_with(&format!("{flag}=")))
        };
        match name {
            _ if DECLARE_BUILTINS.contains(&name) => {
                for a in args.iter().filter(|a| !a.is_option()) {
                    if let Some((n, v)) = split_env_assignment(&a.text) {
                        let value = Arg {
                            text: v.to_string(),
                            dynamic: a.dynamic,
                            ..Arg::default()
                        };
                        self.check_env_assignment(n, &value);
                    }
                }
            }
            "alias" if args.iter().any(|a| a.text.contains('=')) => {
                self.emit(Class::Unparseable, "alias changes what commands run");
            }
            "shopt" if has("expand_aliases") || has("extdebug") => {
                self.emit(Class::Unparseable, "shopt option changes what commands run");
            }
            "hash" if has("-p") => {
                self.emit(Class::Unparseable, "hash -p changes what commands run")
            }
            "mapfile" | "readarray" if has("-C") => {
                self.emit(Class::Unparseable, "mapfile -C runs a callback")
            }
            "umask" if !args.is_empty() => {
                self.emit(Class::WritesInside, "changes default file permissions")
            }
            "date" if has("-s") || has("--set") => {
                self.emit(Class::Privileged, "sets the system clock")
            }
            "hostname" if first_positional(args).is_some() => {
                self.emit(Class::Privileged, "sets the host name")
            }
            "rg" if has("--pre") => {
                self.emit(Class::Unparseable, "rg --pre runs a program on each file")
            }
            "fd" | "fdfind" if has("-x") || has("--exec") || has("-X") || has("--exec-batch") => {
                self.emit(Class::Unparseable, "fd --exec runs a program on each match");
            }
            _ if EDITORS_AND_PAGERS.contains(&name) => {
                let runs_commands = args.iter().any(|a| {
                    (a.text.starts_with('+') && a.text.len() > 1)
                        || [
                            "-c",
                            "--cmd",
                            "-S",
                            "-s",
                            "-u",
                            "--eval",
                            "-l",
                            "--load",
                            "-f",
                            "--funcall",
                            "--batch",
                            "-P",
                            "--pager",
                            "-H",
                        ]
                        .contains(&a.text.as_str())
                        || a.text.starts_with("--eval=")
                        || a.text.starts_with("--pager=")
                });
                if runs_commands {
                    self.emit(Class::Unparseable, format!("{name} option runs commands"));
                } else if !matches!(name, "less" | "more" | "man") {
                    self.emit(Class::WritesInside, format!("{name} edits files"));
                }
                let access = if matches!(name, "less" | "more" | "man") {
                    Access::Read
                } else {
                    Access::Any
                };
                if name != "man" {
                    self.check_args_generic(args, access);
                }
            }
            _ if COMMAND_RUNNING_TOOLS.contains(&name) => {
                self.emit(
                    Class::Unparseable,
                    format!("{name} runs commands that are not analysed"),
                );
            }
            n if MAKE_TOOLS.contains(&n) => {
                self.emit(
                    Class::RunsCode,
                    format!("{name} runs the project's build rules"),
                );
                self.check_args_generic(args, Access::Any);
            }
            "tree" => {
                if let Some(out) = scan_opts(args, "oPILH", &[]).value("-o").cloned() {
                    self.redirect_path(&out, Access::Write);
                }
                self.check_args_generic(args, Access::Read);
            }
            "uniq" | "xxd" => {
                let pos = positionals(args);
                for (i, a) in pos.iter().enumerate() {
                    if i == 1 {
                        self.redirect_path(a, Access::Write);
                    } else {
                        self.check_path(a, Access::Read);
                    }
                }
            }
            "unzip" if has("-l") || has("-t") || has("-v") || has("-Z") => {
                self.check_args_generic(args, Access::Read)
            }
            "pip" | "pip3" => return self.h_pip(args),
            "uv" if args.first().is_some_and(|a| a.is("pip")) => return self.h_pip(&args[1..]),
            "command_not_found_handle" => self.emit(Class::Unparseable, "special shell hook"),
            _ if SHELLS.contains(&name) => return self.h_shell(name, args, cx),
            _ if find_interpreter(name).is_some() => {
                if let Some(spec) = find_interpreter(name) {
                    return self.h_interpreter(spec, name, args, cx);
                }
            }
            _ if CODE_EVAL_BUILTINS.contains(&name) => {
                self.emit(
                    Class::Unparseable,
                    format!("{name} runs code that cannot be analysed"),
                );
            }
            _ if NO_PATH_PROGRAMS.contains(&name) || DECLARE_BUILTINS.contains(&name) => {}
            _ if matches!(
                name,
                "alias"
                    | "shopt"
                    | "hash"
                    | "mapfile"
                    | "readarray"
                    | "umask"
                    | "date"
                    | "hostname"
            ) => {}
            _ if READ_ONLY_PROGRAMS.contains(&name) || matches!(name, "rg" | "fd" | "fdfind") => {
                let args = without_exclusion_patterns(name, args);
                self.check_args_generic(&args, Access::Read);
            }
            _ if FILE_WRITERS.contains(&name) => return self.h_file_writer(name, args),
            _ if BUILD_AND_TEST_TOOLS.contains(&name) => {
                self.emit(
                    Class::RunsCode,
                    format!("{name} runs project code (tests, build scripts or plugins)"),
                );
                self.check_args_generic(args, Access::Any);
            }
            _ if NETWORK_PROGRAMS.contains(&name) => {
                self.emit(Class::Network, format!("{name} uses the network"));
                self.check_args_generic(args, Access::Any);
            }
            _ if network_subcommand(name, args).is_some() => {
                if let Some(i) = network_subcommand(name, args) {
                    self.emit(
                        Class::Network,
                        format!("{name} {} uses the network", args[i].text),
                    );
                    let rest: Vec<Arg> = args
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, a)| a.clone())
                        .collect();
                    self.check_args_generic(&rest, Access::Any);
                }
            }
            _ if PRIVILEGED_PROGRAMS.contains(&name) => {
                self.emit(
                    Class::Privileged,
                    format!("{name} needs elevated privileges or changes the system"),
                );
                self.check_args_generic(args, Access::Read);
            }
            _ if DESTRUCTIVE_PROGRAMS.contains(&name) || name.starts_with("mkfs") => {
                self.emit(
                    Class::Destructive,
                    format!("{name} can destroy disks or data"),
                );
            }
            _ if SYSTEM_PROGRAMS.contains(&name) => {
                self.emit(
                    Class::TouchesOutside,
                    format!("{name} acts on processes or programs outside the project"),
                );
            }
            _ => {
                self.emit(
                    Class::RunsCode,
                    format!("{name} is not a program ccgate knows; it may run any code"),
                );
                self.check_args_generic(args, Access::Any);
            }
        }
        CmdInfo::default()
    }

    pub(super) fn h_wrapped(&mut self, argv: &[Arg], cx: &Cx) -> CmdInfo {
        if argv.is_empty() {
            return CmdInfo::default();
        }
        self.analyze_argv(argv, cx)
    }

    /// Leading `NAME=value` words (after `env`, `sudo`); returns how many.
    pub(super) fn leading_assignments(&mut self, args: &[Arg]) -> usize {
        let mut n = 0;
        for a in args {
            match split_env_assignment(&a.text) {
                Some((name, value)) if !a.procsub => {
                    let value = Arg {
                        text: value.to_string(),
                        dynamic: a.dynamic,
                        ..Arg::default()
                    };
                    self.check_env_assignment(name, &value);
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }

    /// Run something by file name: inside the project it runs project code
    /// we cannot see; outside is reported by the path check.
    pub(super) fn run_script(&mut self, script: &Arg) {
        let resolved = self.check_path(script, Access::Read);
        if resolved
            .iter()
            .all(|r| r.as_ref().is_some_and(|p| self.inside(p)))
        {
            self.emit(
                Class::RunsCode,
                format!("runs a script from the project: {}", script.text),
            );
        }
    }

    // ---- directory changes ----

    pub(super) fn h_cd(&mut self, args: &[Arg]) -> CmdInfo {
        let target = args.iter().find(|a| {
            !(a.is_option() && matches!(a.text.as_str(), "-L" | "-P" | "-e" | "-@" | "--"))
        });
        match target {
            None => {
                self.emit(Class::TouchesOutside, "cd to the home directory");
                self.cwds = vec![Cwd::Unknown];
            }
            Some(a) if a.is("-") => {
                self.emit(
                    Class::TouchesOutside,
                    "cd - returns to an unknown directory",
                );
                self.cwds = vec![Cwd::Unknown];
            }
            Some(a) => {
                let resolved = self.check_path(a, Access::Read);
                self.set_cwds_from(resolved);
            }
        }
        CmdInfo::default()
    }

    // ---- deleting, permissions ----

    pub(super) fn h_rm(&mut self, args: &[Arg]) -> CmdInfo {
        let mut recursive = false;
        let mut no_preserve_root = false;
        let mut targets = Vec::new();
        let mut options_done = false;
        for a in args {
            if !options_done && a.is("--") {
                options_done = true;
            } else if !options_done && a.is_option() {
                match a.text.as_str() {
                    "--recursive" => recursive = true,
                    "--no-preserve-root" => no_preserve_root = true,
                    t if !t.starts_with("--") && t.contains(['r', 'R']) => recursive = true,
                    _ => {}
                }
            } else {
                targets.push(a);
            }
        }
        self.emit(Class::WritesInside, "deletes files");
        if no_preserve_root {
            self.emit(Class::Destructive, "rm --no-preserve-root");
        }
        for t in targets {
            let resolved = self.check_path(t, Access::Write);
            if !recursive {
                continue;
            }
            let git_dir = self.root.join(".git");
            let dangerous = t.tilde
                || resolved.iter().any(|r| match r {
                    None => true,
                    Some(p) => !self.inside(p) || self.is_root_or_above(p) || *p == git_dir,
                })
                || (t.glob && self.glob_wipes_directory_at_or_above_root(t));
            if dangerous {
                self.emit(
                    Class::Destructive,
                    format!(
                        "recursive delete of the project, its history or outside it: {}",
                        t.text
                    ),
                );
            }
        }
        CmdInfo::default()
    }

    /// `rm -rf *` (or `.*`, `dir/../*`) where the directory is the project
    /// root or above.
    pub(super) fn glob_wipes_directory_at_or_above_root(&self, t: &Arg) -> bool {
        let (dir, last) = match t.pattern.rsplit_once('/') {
            Some((d, l)) => (if d.is_empty() { "/" } else { d }, l),
            None => (".", t.pattern.as_str()),
        };
        let all_wild = last.contains('*') && last.chars().all(|c| matches!(c, '*' | '?' | '.'));
        if !all_wild || has_glob_meta(dir) {
            return false;
        }
        let dir_arg = Arg::literal(&unescape_pattern(dir));
        self.candidates(&dir_arg).iter().any(|r| {
            r.as_ref()
                .is_none_or(|p| !self.inside(p) || self.is_root_or_above(p))
        })
    }

    pub(super) fn h_chmod(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        let recursive = args
            .iter()
            .any(|a| a.is("--recursive") || is_short_cluster_with(a, "R"));
        let mut skipped_first = args.iter().any(|a| a.text.starts_with("--reference"));
        let mut targets = Vec::new();
        let mut options_done = false;
        for a in args {
            if !options_done && a.is("--") {
                options_done = true;
                continue;
            }
            let mode_like = name == "chmod" && a.is_option() && looks_like_mode(&a.text[1..]);
            if !options_done && a.is_option() && !mode_like {
                continue;
            }
            if !skipped_first {
                skipped_first = true;
                continue;
            }
            targets.push(a);
        }
        self.emit(
            Class::WritesInside,
            format!("{name} changes permissions or ownership"),
        );
        for t in targets {
            let resolved = self.check_path(t, Access::Write);
            let outside = t.tilde
                || resolved
                    .iter()
                    .any(|r| r.as_ref().is_none_or(|p| !self.inside(p)));
            if outside {
                self.emit(
                    Class::Privileged,
                    format!("{name} on a path outside the project: {}", t.text),
                );
                if recursive {
                    self.emit(
                        Class::Destructive,
                        format!("recursive {name} outside the project: {}", t.text),
                    );
                }
            }
        }
        CmdInfo::default()
    }

    // ---- wrappers ----

    pub(super) fn h_sudo(&mut self, name: &str, args: &[Arg], cx: &Cx) -> CmdInfo {
        self.emit(
            Class::Privileged,
            format!("{name} runs a command with elevated privileges"),
        );
        let (short, long): (&str, &[&str]) = match name {
            "sudo" => (
                "ugpCDrtTUR",
                &[
                    "user",
                    "group",
                    "prompt",
                    "close-from",
                    "chdir",
                    "role",
                    "type",
                    "command-timeout",
                    "other-user",
                    "host",
                    "chroot",
                ],
            ),
            "doas" => ("uC", &[]),
            "pkexec" => ("", &["user"]),
            _ => (
                "ugD",
                &[
                    "user",
                    "group",
                    "chdir",
                    "nice",
                    "setenv",
                    "unit",
                    "property",
                    "description",
                    "slice",
                ],
            ),
        };
        let scan = scan_opts(args, short, long);
        if let Some(root) = scan.value("-R").or_else(|| scan.value("--chroot")).cloned() {
            self.check_path(&root, Access::Read);
        }
        let chdir = scan.value("-D").or_else(|| scan.value("--chdir")).cloned();
        let saved = self.cwds.clone();
        if let Some(dir) = chdir {
            let resolved = self.check_path(&dir, Access::Read);
            self.set_cwds_from(resolved);
        }
        let info = self.h_sudo_command(&scan, &args[scan.rest..], cx);
        self.cwds = saved;
        info
    }

    pub(super) fn h_sudo_command(&mut self, scan: &OptScan, rest: &[Arg], cx: &Cx) -> CmdInfo {
        if scan.has("-e") || scan.has("--edit") {
            for file in rest {
                self.check_path(file, Access::Write);
            }
            return CmdInfo::default();
        }
        let n = self.leading_assignments(rest);
        let command = &rest[n..];
        if command.is_empty() {
            if scan.has("-i") || scan.has("-s") || scan.has("--login") || scan.has("--shell") {
                self.emit(Class::Unparseable, "opens an interactive root shell");
            }
            return CmdInfo::default();
        }
        self.h_wrapped(command, cx)
    }

    pub(super) fn h_su(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        self.emit(
            Class::Privileged,
            format!("{name} runs commands as another user"),
        );
        let scan = scan_opts(
            args,
            "cgGsw",
            &[
                "command",
                "group",
                "supp-group",
                "shell",
                "whitelist-environment",
                "session-command",
            ],
        );
        let code = scan
            .value("-c")
            .or_else(|| scan.value("--command"))
            .or_else(|| scan.value("--session-command"))
            .cloned();
        match code {
            Some(c) if c.dynamic => self.emit(
                Class::Unparseable,
                format!("{name} -c runs code from an expansion"),
            ),
            Some(c) => self.analyze_source_isolated(&c.text),
            None => self.emit(
                Class::Unparseable,
                format!("{name} opens an interactive shell"),
            ),
        }
        CmdInfo::default()
    }

    pub(super) fn h_env(&mut self, args: &[Arg], cx: &Cx) -> CmdInfo {
        let scan = scan_opts(args, "uCSP", &["unset", "chdir", "split-string"]);
        if scan.has("-S") || scan.has("--split-string") || scan.has("-P") {
            self.emit(
                Class::Unparseable,
                "env -S/-P changes how the command is found or split",
            );
        }
        let mut rest = &args[scan.rest..];
        if rest.first().is_some_and(|a| a.is("-")) {
            rest = &rest[1..];
        }
        let n = self.leading_assignments(rest);
        let command = &rest[n..];
        if command.is_empty() {
            return CmdInfo::default();
        }
        match scan.value("-C").or_else(|| scan.value("--chdir")).cloned() {
            Some(dir) => {
                let saved = self.cwds.clone();
                let resolved = self.check_path(&dir, Access::Read);
                self.set_cwds_from(resolved);
                let info = self.h_wrapped(command, cx);
                self.cwds = saved;
                info
            }
            None => self.h_wrapped(command, cx),
        }
    }

    pub(super) fn h_wrapper(&mut self, name: &str, args: &[Arg], cx: &Cx) -> CmdInfo {
        let (short, long): (&str, &[&str]) = match name {
            "nice" => ("n", &["adjustment"]),
            "timeout" => ("sk", &["signal", "kill-after"]),
            "time" => ("fo", &["format", "output"]),
            "stdbuf" => ("ioe", &["input", "output", "error"]),
            "ionice" => ("cnpPu", &["class", "classdata", "pid", "pgid", "uid"]),
            _ => ("", &[]),
        };
        let scan = scan_opts(args, short, long);
        let mut rest = &args[scan.rest..];
        match name {
            "nohup" => self.emit(Class::WritesInside, "nohup may write nohup.out"),
            "time" => {
                if let Some(out) = scan.value("-o").or_else(|| scan.value("--output")).cloned() {
                    self.redirect_path(&out, Access::Write);
                }
            }
            "timeout" => rest = rest.get(1..).unwrap_or(&[]),
            "command" if scan.has("-v") || scan.has("-V") => return CmdInfo::default(),
            "ionice"
                if ["-p", "-P", "-u", "--pid", "--pgid", "--uid"]
                    .iter()
                    .any(|f| scan.has(f)) =>
            {
                self.emit(
                    Class::TouchesOutside,
                    "changes the priority of other processes",
                );
                return CmdInfo::default();
            }
            _ => {}
        }
        self.h_wrapped(rest, cx)
    }

    pub(super) fn h_watch(&mut self, args: &[Arg], cx: &Cx) -> CmdInfo {
        let scan = scan_opts(args, "nqs", &["interval", "equexit", "shotsdir"]);
        let rest = &args[scan.rest..];
        if rest.is_empty() {
            return CmdInfo::default();
        }
        if scan.has("-x") || scan.has("--exec") {
            return self.h_wrapped(rest, cx);
        }
        if rest.iter().any(|a| a.dynamic) {
            self.emit(
                Class::Unparseable,
                "watch runs a command built from an expansion",
            );
            return CmdInfo::default();
        }
        let code = rest
            .iter()
            .map(|a| a.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        self.analyze_source_isolated(&code);
        CmdInfo::default()
    }

    pub(super) fn h_xargs(&mut self, args: &[Arg], cx: &Cx) -> CmdInfo {
        let mut replace: Option<String> = None;
        let mut i = 0;
        while i < args.len() && args[i].is_option() {
            let t = args[i].text.clone();
            if t == "--" {
                i += 1;
                break;
            }
            if let Some(long) = t.strip_prefix("--") {
                let (key, value) = match long.split_once('=') {
                    Some((k, v)) => (k, Some(v.to_string())),
                    None => (long, None),
                };
                let takes_value = matches!(
                    key,
                    "arg-file"
                        | "delimiter"
                        | "eof"
                        | "max-lines"
                        | "max-args"
                        | "max-procs"
                        | "max-chars"
                        | "process-slot-var"
                );
                let value = if takes_value && value.is_none() {
                    i += 1;
                    args.get(i).map(|a| a.text.clone())
                } else {
                    value
                };
                match key {
                    "replace" => replace = Some(value.unwrap_or_else(|| "{}".to_string())),
                    "arg-file" => {
                        if let Some(v) = value {
                            self.check_path(&Arg::literal(&v), Access::Read);
                        }
                    }
                    _ => {}
                }
            } else {
                let flag = t.chars().nth(1).unwrap_or('-');
                let attached: String = t.chars().skip(2).collect();
                match flag {
                    'a' | 'd' | 'E' | 'I' | 'L' | 'n' | 'P' | 's' => {
                        let value = if attached.is_empty() {
                            i += 1;
                            args.get(i).map(|a| a.text.clone())
                        } else {
                            Some(attached)
                        };
                        if flag == 'I' {
                            replace = value;
                        } else if flag == 'a' {
                            if let Some(v) = value {
                                self.check_path(&Arg::literal(&v), Access::Read);
                            }
                        }
                    }
                    'i' => {
                        replace = Some(if attached.is_empty() {
                            "{}".to_string()
                        } else {
                            attached
                        })
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        let command = &args[i.min(args.len())..];
        if command.is_empty() {
            return CmdInfo::default();
        }
        let mut sub: Vec<Arg> = command.to_vec();
        match &replace {
            Some(r) if !r.is_empty() => {
                for a in sub.iter_mut().skip(1) {
                    if a.text.contains(r.as_str()) {
                        a.dynamic = true;
                    }
                }
            }
            _ => sub.push(Arg {
                text: "<xargs input>".to_string(),
                dynamic: true,
                synthetic: true,
                ..Arg::default()
            }),
        }
        let program = basename(&command[0].text).to_string();
        let mut code_sink = false;
        if is_code_runner(&program) || program == "xargs" {
            self.emit(Class::Unparseable, format!("xargs {program} {STDIN_CODE}"));
            code_sink = true;
        }
        let mut info = self.h_wrapped(&sub, cx);
        info.code_sink |= code_sink;
        info
    }

    pub(super) fn h_find(&mut self, args: &[Arg], cx: &Cx) -> CmdInfo {
        let mut i = 0;
        let mut follow = false;
        while let Some(a) = args.get(i) {
            match a.text.as_str() {
                "-H" | "-P" => {}
                "-L" => follow = true,
                "-D" => i += 1,
                t if t.starts_with("-O") && !a.dynamic => {}
                _ => break,
            }
            i += 1;
        }
        let mut starts = Vec::new();
        while let Some(a) = args.get(i) {
            if !a.dynamic
                && (a.text.starts_with('-') || matches!(a.text.as_str(), "(" | "!" | ")" | ","))
            {
                break;
            }
            starts.push(a.clone());
            i += 1;
        }
        if starts.is_empty() {
            starts.push(Arg::literal("."));
        }
        let mut resolved = Vec::new();
        for s in &starts {
            resolved.extend(self.check_path(s, Access::Read));
        }
        let expression = &args[i.min(args.len())..];
        let filtered = expression
            .iter()
            .any(|a| !a.dynamic && FIND_FILTER_TESTS.contains(&a.text.as_str()));
        let mut info = CmdInfo::default();
        let mut j = 0;
        while j < expression.len() {
            let t = expression[j].text.clone();
            match t.as_str() {
                "-follow" => follow = true,
                "-delete" => self.find_delete(&resolved, filtered),
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let end = expression[j + 1..]
                        .iter()
                        .position(|a| a.is(";") || a.is("+"))
                        .map_or(expression.len(), |p| j + 1 + p);
                    let command = &expression[j + 1..end];
                    if command.is_empty() {
                        self.emit(Class::Unparseable, format!("find {t} without a command"));
                    }
                    for s in &starts {
                        let sub: Vec<Arg> = command
                            .iter()
                            .map(|a| substitute_braces(a, s, filtered))
                            .collect();
                        info.code_sink |= self.h_wrapped(&sub, cx).code_sink;
                    }
                    j = end;
                }
                "-fprint" | "-fprint0" | "-fls" | "-fprintf" => {
                    if let Some(file) = expression.get(j + 1).cloned() {
                        self.redirect_path(&file, Access::Write);
                    }
                    j += if t == "-fprintf" { 2 } else { 1 };
                }
                _ if FIND_VALUE_TESTS.contains(&t.as_str()) || t.starts_with("-newer") => j += 1,
                _ => {}
            }
            j += 1;
        }
        if follow {
            self.emit(
                Class::TouchesOutside,
                "find follows symlinks, which may lead outside the project",
            );
        }
        info
    }

    pub(super) fn find_delete(&mut self, resolved: &[Option<PathBuf>], filtered: bool) {
        for p in resolved.iter().flatten() {
            self.note_write(p.clone());
        }
        let outside = resolved
            .iter()
            .any(|r| r.as_ref().is_none_or(|p| !self.inside(p)));
        let whole_project = resolved
            .iter()
            .any(|r| r.as_ref().is_some_and(|p| self.is_root_or_above(p)));
        if outside || (whole_project && !filtered) {
            self.emit(
                Class::Destructive,
                "find -delete on the whole project or outside it",
            );
        } else {
            self.emit(Class::WritesInside, "find -delete removes files");
        }
    }

    // ---- code runners ----

    pub(super) fn h_eval(&mut self, args: &[Arg], cx: &Cx) -> CmdInfo {
        self.emit(Class::Unparseable, "eval runs a string as shell code");
        if args.iter().any(|a| a.dynamic) {
            self.check_network_code(cx, "eval");
        } else if !args.is_empty() {
            let code = args
                .iter()
                .map(|a| a.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            self.analyze_source(&code);
        }
        CmdInfo::default()
    }

    pub(super) fn h_source(&mut self, args: &[Arg], cx: &Cx) -> CmdInfo {
        self.emit(
            Class::Unparseable,
            "source runs a script in the current shell",
        );
        match args.first() {
            Some(a) if a.dynamic || a.procsub => self.check_network_code(cx, "source"),
            Some(a) => {
                self.check_path(a, Access::Read);
            }
            None => {}
        }
        CmdInfo::default()
    }

    pub(super) fn h_shell(&mut self, name: &str, args: &[Arg], cx: &Cx) -> CmdInfo {
        let mut command_mode = false;
        let mut read_stdin = false;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let t = a.text.as_str();
            if a.dynamic || a.procsub || t.len() < 2 || !(t.starts_with('-') || t.starts_with('+'))
            {
                if a.is("-") {
                    i += 1;
                }
                break;
            }
            if t == "--" {
                i += 1;
                break;
            }
            if let Some(long) = t.strip_prefix("--") {
                if matches!(long, "rcfile" | "init-file") {
                    i += 1;
                }
            } else {
                let flags = &t[1..];
                command_mode |= t.starts_with('-') && flags.contains('c');
                read_stdin |= flags.contains('s') || flags.contains('i');
                if flags.contains('o') || flags.contains('O') {
                    i += 1;
                }
            }
            i += 1;
        }
        let rest = &args[i.min(args.len())..];
        if command_mode {
            match rest.first() {
                None => self.emit(
                    Class::Unparseable,
                    format!("{name} -c without a command string"),
                ),
                Some(code) if code.dynamic || code.procsub => {
                    self.emit(
                        Class::Unparseable,
                        format!("{name} -c runs code from an expansion"),
                    );
                    self.check_network_code(cx, name);
                }
                Some(code) => self.analyze_source_isolated(&code.text),
            }
            return CmdInfo::default();
        }
        match rest.first() {
            Some(script) if !read_stdin => {
                if script.dynamic || script.procsub {
                    self.emit(
                        Class::Unparseable,
                        format!("{name} runs a script from an expansion"),
                    );
                    self.check_network_code(cx, name);
                } else {
                    self.run_script(script);
                }
                self.check_args_generic(&rest[1..], Access::Any);
                CmdInfo::default()
            }
            _ => match cx.stdin.clone() {
                Some(code) => {
                    self.analyze_source_isolated(&code);
                    CmdInfo::default()
                }
                None => {
                    self.emit(Class::Unparseable, format!("{name} {STDIN_CODE}"));
                    CmdInfo {
                        code_sink: true,
                        ..CmdInfo::default()
                    }
                }
            },
        }
    }

    pub(super) fn h_interpreter(
        &mut self,
        spec: &Interpreter,
        name: &str,
        args: &[Arg],
        cx: &Cx,
    ) -> CmdInfo {
        let mut i = 0;
        let mut interactive = false;
        let mut info_only = false;
        while let Some(a) = args.get(i) {
            if !a.is_option() {
                break;
            }
            let t = a.text.as_str();
            if t == "--" {
                i += 1;
                break;
            }
            let long_code = spec
                .code_flags
                .iter()
                .any(|f| f.starts_with("--") && t.starts_with(&format!("{f}=")));
            let cluster_code =
                !t.starts_with("--") && t[1..].contains(|c| spec.code_chars.contains(c));
            if spec.code_flags.contains(&t) || long_code || cluster_code {
                self.emit(
                    Class::Unparseable,
                    format!("{name} runs inline code that cannot be analysed"),
                );
                if args.get(i + 1).is_some_and(|a| a.dynamic) {
                    self.check_network_code(cx, name);
                }
                return CmdInfo::default();
            }
            let python_module = t == "-m" || (!t.starts_with("--") && t.ends_with('m'));
            if matches!(spec.name, "python" | "pypy") && python_module {
                return self.python_module(args.get(i + 1), args.get(i + 2..).unwrap_or(&[]));
            }
            interactive |= spec.stdin_flags.contains(&t);
            info_only |= matches!(t, "--version" | "-V" | "--help" | "-h" | "-v");
            if spec.value_flags.contains(&t) {
                i += 1;
            }
            i += 1;
        }
        let rest = &args[i.min(args.len())..];
        match rest.first() {
            Some(script) if !script.is("-") && !interactive => {
                if script.dynamic || script.procsub {
                    self.emit(
                        Class::Unparseable,
                        format!("{name} runs a script from an expansion"),
                    );
                    self.check_network_code(cx, name);
                } else {
                    self.run_script(script);
                }
                self.check_args_generic(&rest[1..], Access::Any);
                CmdInfo::default()
            }
            None if info_only && !interactive => CmdInfo::default(),
            _ => {
                self.emit(Class::Unparseable, format!("{name} {STDIN_CODE}"));
                CmdInfo {
                    code_sink: true,
                    ..CmdInfo::default()
                }
            }
        }
    }

    pub(super) fn python_module(&mut self, module: Option<&Arg>, rest: &[Arg]) -> CmdInfo {
        let Some(module) = module.filter(|m| !m.dynamic) else {
            self.emit(Class::Unparseable, "python -m with an unknown module");
            return CmdInfo::default();
        };
        match module.text.as_str() {
            "pip" | "pip3" => return self.h_pip(rest),
            m if PYTHON_NETWORK_MODULES.contains(&m) => {
                self.emit(Class::Network, format!("python -m {m} uses the network"));
            }
            // The current directory comes first on `sys.path`: any module may be project code.
            m => self.emit(
                Class::RunsCode,
                format!("python -m {m} runs a module that may come from the project"),
            ),
        }
        self.check_args_generic(rest, Access::Any);
        CmdInfo::default()
    }

    pub(super) fn h_js_runtime(&mut self, name: &str, args: &[Arg], cx: &Cx) -> CmdInfo {
        let code_flag = args
            .iter()
            .any(|a| a.is("-e") || a.is("--eval") || a.is("-p") || a.is("--print"));
        let sub = first_positional(args)
            .map(|(_, a)| a.text.clone())
            .unwrap_or_default();
        if code_flag || (name == "deno" && sub == "eval") {
            self.emit(
                Class::Unparseable,
                format!("{name} runs inline code that cannot be analysed"),
            );
            self.check_network_code(cx, name);
            return CmdInfo::default();
        }
        match sub.as_str() {
            "" | "repl" => {
                if args
                    .iter()
                    .any(|a| a.is("--version") || a.is("-v") || a.is("-V"))
                {
                    return CmdInfo::default();
                }
                self.emit(Class::Unparseable, format!("{name} {STDIN_CODE}"));
                return CmdInfo {
                    code_sink: true,
                    ..CmdInfo::default()
                };
            }
            "install" | "i" | "add" | "remove" | "update" | "upgrade" | "x" | "create" | "pm"
            | "publish" | "outdated" | "link" => {
                self.emit(Class::Network, format!("{name} {sub} uses the network"));
            }
            _ => self.emit(Class::RunsCode, format!("{name} runs project code")),
        }
        if args.iter().any(|a| a.text.contains("://")) {
            self.emit(Class::Network, format!("{name} runs code from a URL"));
        }
        self.check_args_generic(args, Access::Any);
        CmdInfo::default()
    }

    pub(super) fn h_trap(&mut self, args: &[Arg]) -> CmdInfo {
        let pos = positionals(args);
        if pos.len() >= 2 {
            let action = pos[0];
            if action.dynamic {
                self.emit(Class::Unparseable, "trap action comes from an expansion");
            } else if !action.text.is_empty() && action.text != "-" {
                let code = action.text.clone();
                self.analyze_source_isolated(&code);
            }
        }
        CmdInfo::default()
    }
}
