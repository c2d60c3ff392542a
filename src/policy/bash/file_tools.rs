//! Handlers for programs that edit or write files: `sed`, `awk`, `sort -o`, the file writers
//! (`cp`, `mv`, `ln`, `install`, `touch`, `mkdir`, …), `tee`, `tar`, `mktemp`, `truncate`.
//!
//! Why it exists: for these programs *which argument is written* decides between
//! writes-inside and touches-outside, and only per-program knowledge of their options (a
//! destination, `-t DIR`, `-i` in place) tells the written path from the read one.

use super::*;

impl Walker {
    pub(super) fn h_sed(&mut self, args: &[Arg]) -> CmdInfo {
        let mut scripts: Vec<Arg> = Vec::new();
        let mut files: Vec<&Arg> = Vec::new();
        let mut in_place = false;
        let mut options_done = false;
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !options_done && a.is("--") {
                options_done = true;
                continue;
            }
            if options_done || !a.is_option() {
                files.push(a);
                continue;
            }
            if let Some(long) = a.text.strip_prefix("--") {
                let (key, value) = match long.split_once('=') {
                    Some((k, v)) => (k, Some(Arg::literal(v))),
                    None => (long, None),
                };
                let takes_value = matches!(key, "expression" | "file" | "line-length");
                let value = if takes_value && value.is_none() {
                    i += 1;
                    args.get(i - 1).cloned()
                } else {
                    value
                };
                match key {
                    "in-place" => in_place = true,
                    "expression" => scripts.extend(value),
                    "file" => self.emit(Class::Unparseable, "sed script read from a file"),
                    _ => {}
                }
                continue;
            }
            let chars: Vec<char> = a.text[1..].chars().collect();
            for (k, ch) in chars.iter().enumerate() {
                match ch {
                    'i' => {
                        in_place = true;
                        break;
                    }
                    'e' | 'f' | 'l' => {
                        let rest: String = chars[k + 1..].iter().collect();
                        let value = if rest.is_empty() {
                            i += 1;
                            args.get(i - 1).cloned()
                        } else {
                            Some(Arg::literal(&rest))
                        };
                        match ch {
                            'e' => scripts.extend(value),
                            'f' => self.emit(Class::Unparseable, "sed script read from a file"),
                            _ => {}
                        }
                        break;
                    }
                    _ => {}
                }
            }
        }
        if scripts.is_empty() && !files.is_empty() {
            scripts.push(files.remove(0).clone());
        }
        for script in &scripts {
            self.sed_script(script);
        }
        if in_place {
            self.emit(Class::WritesInside, "sed edits files in place");
        }
        let access = if in_place {
            Access::Write
        } else {
            Access::Read
        };
        for f in files {
            self.check_path(f, access);
        }
        CmdInfo::default()
    }

    pub(super) fn sed_script(&mut self, script: &Arg) {
        if script.dynamic {
            self.emit(Class::Unparseable, "sed script comes from an expansion");
            return;
        }
        let Some(fx) = scan_sed(&script.text) else {
            self.emit(
                Class::Unparseable,
                format!("sed script not understood: {}", script.text),
            );
            return;
        };
        if fx.exec {
            self.emit(Class::Unparseable, "sed script executes commands");
        }
        for w in fx.writes {
            self.redirect_path(&Arg::literal(&w), Access::Write);
        }
        for r in fx.reads {
            self.redirect_path(&Arg::literal(&r), Access::Read);
        }
    }

    pub(super) fn h_awk(&mut self, args: &[Arg]) -> CmdInfo {
        let mut program: Option<&Arg> = None;
        let mut program_file = false;
        let mut in_place = false;
        let mut files: Vec<&Arg> = Vec::new();
        let mut options_done = false;
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !options_done && a.is("--") {
                options_done = true;
                continue;
            }
            if options_done || !a.is_option() {
                if program.is_none() && !program_file {
                    program = Some(a);
                } else if split_env_assignment(&a.text).is_none() {
                    files.push(a);
                }
                continue;
            }
            let (flag, attached) = match a.text.strip_prefix("--") {
                Some(long) => match long.split_once('=') {
                    Some((k, v)) => (format!("--{k}"), Some(Arg::literal(v))),
                    None => (a.text.clone(), None),
                },
                None if a.text.chars().count() > 2 => {
                    let split = a
                        .text
                        .char_indices()
                        .nth(2)
                        .map_or(a.text.len(), |(i, _)| i);
                    (
                        a.text[..split].to_string(),
                        Some(Arg::literal(&a.text[split..])),
                    )
                }
                None => (a.text.clone(), None),
            };
            let takes_value = matches!(
                flag.as_str(),
                "-f" | "--file"
                    | "-E"
                    | "--exec"
                    | "-v"
                    | "--assign"
                    | "-F"
                    | "--field-separator"
                    | "-e"
                    | "--source"
                    | "-i"
                    | "--include"
                    | "-l"
                    | "--load"
            );
            if !takes_value {
                continue;
            }
            let value = match attached {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    args.get(i - 1).cloned()
                }
            };
            match flag.as_str() {
                "-f" | "--file" | "-E" | "--exec" => {
                    program_file = true;
                    if let Some(v) = value {
                        self.run_script(&v);
                    }
                }
                "-e" | "--source" => {
                    if let Some(v) = value {
                        self.awk_program(&v);
                    }
                    program_file = true;
                }
                "-i" | "--include" | "-l" | "--load" => {
                    if value.as_ref().is_some_and(|v| v.is("inplace")) {
                        in_place = true;
                    } else {
                        self.emit(Class::Unparseable, "awk loads an extension or library");
                    }
                }
                _ => {}
            }
        }
        if let Some(p) = program {
            if program_file {
                files.insert(0, p);
            } else {
                let p = p.clone();
                self.awk_program(&p);
            }
        }
        if in_place {
            self.emit(Class::WritesInside, "awk edits files in place");
        }
        let access = if in_place {
            Access::Write
        } else {
            Access::Read
        };
        for f in files {
            self.check_path(f, access);
        }
        CmdInfo::default()
    }

    pub(super) fn awk_program(&mut self, program: &Arg) {
        if program.dynamic {
            self.emit(Class::Unparseable, "awk program comes from an expansion");
        } else if awk_program_unsafe(&program.text) {
            self.emit(
                Class::Unparseable,
                "awk program can run commands or write files",
            );
        }
    }

    pub(super) fn h_sort(&mut self, args: &[Arg]) -> CmdInfo {
        if args
            .iter()
            .any(|a| a.text.starts_with("--compress-program"))
        {
            self.emit(Class::Unparseable, "sort --compress-program runs a program");
        }
        let scan_all = scan_opts(
            args,
            "ktoST",
            &[
                "output",
                "field-separator",
                "key",
                "buffer-size",
                "temporary-directory",
                "files0-from",
                "random-source",
                "batch-size",
                "parallel",
            ],
        );
        if let Some(out) = scan_all
            .value("-o")
            .or_else(|| scan_all.value("--output"))
            .cloned()
        {
            self.redirect_path(&out, Access::Write);
        }
        for flag in ["-T", "--temporary-directory"] {
            if let Some(dir) = scan_all.value(flag).cloned() {
                self.check_path(&dir, Access::Write);
            }
        }
        for a in &args[scan_all.rest..] {
            if a.is_option() {
                if let Some(v) = option_value_path(&a.text) {
                    self.check_path(&Arg::literal(v), Access::Any);
                }
            } else if !a.is("-") {
                self.check_path(a, Access::Read);
            }
        }
        CmdInfo::default()
    }

    /// A program of [`FILE_WRITERS`]. For `cp`, `mv`, `ln` and `install` the destination is told
    /// apart from the sources, and a destination directory counts as writing `dir/<source name>`
    /// (`cp x/CLAUDE.md .` writes `./CLAUDE.md`); the others may write every path they name.
    pub(super) fn h_file_writer(&mut self, name: &str, args: &[Arg]) -> CmdInfo {
        self.emit(Class::WritesInside, format!("{name} writes files"));
        let short_values = match name {
            "cp" | "mv" | "ln" | "link" => "tS",
            "install" => "tSmog",
            _ => {
                self.check_args_generic(args, Access::Any);
                return CmdInfo::default();
            }
        };
        let mut target_dir: Option<Arg> = None;
        let mut dirs_only = false;
        let mut pos: Vec<&Arg> = Vec::new();
        let mut options_done = false;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            i += 1;
            if !options_done && a.is("--") {
                options_done = true;
                continue;
            }
            if options_done || !a.is_option() {
                pos.push(a);
                continue;
            }
            if a.dynamic {
                self.emit(
                    Class::Unparseable,
                    format!("option comes from an expansion: {}", a.text),
                );
                continue;
            }
            let t = a.text.as_str();
            if let Some(long) = t.strip_prefix("--") {
                match long.split_once('=') {
                    Some(("target-directory", v)) => target_dir = Some(Arg::literal(v)),
                    _ if long == "target-directory" => {
                        target_dir = args.get(i).cloned();
                        i += 1;
                    }
                    _ if long == "directory" && name == "install" => dirs_only = true,
                    _ => {
                        if let Some(v) = option_value_path(t) {
                            self.check_path(&Arg::literal(v), Access::Any);
                        }
                    }
                }
                continue;
            }
            let flags = &t[1..];
            if name == "install" && flags.contains('d') {
                dirs_only = true;
            }
            if let Some(k) = flags.find(|c| short_values.contains(c)) {
                let attached = &flags[k + 1..];
                let value = if attached.is_empty() {
                    i += 1;
                    args.get(i - 1).cloned()
                } else {
                    Some(Arg::literal(attached))
                };
                if flags[k..].starts_with('t') {
                    target_dir = value;
                }
            }
        }
        if dirs_only {
            for p in pos {
                self.check_path(p, Access::Write);
            }
            return CmdInfo::default();
        }
        let single_link = matches!(name, "ln" | "link") && pos.len() == 1 && target_dir.is_none();
        let (sources, target): (&[&Arg], Option<Arg>) = if let Some(dir) = &target_dir {
            (&pos[..], Some(dir.clone()))
        } else if single_link {
            // `ln -s x/CLAUDE.md` creates `./CLAUDE.md`.
            (&pos[..], Some(Arg::literal(".")))
        } else if pos.len() >= 2 {
            (&pos[..pos.len() - 1], Some(pos[pos.len() - 1].clone()))
        } else {
            (&pos[..], None)
        };
        let source_access = if name == "mv" {
            Access::Write
        } else {
            Access::Read
        };
        let mut names: Vec<std::ffi::OsString> = Vec::new();
        for s in sources {
            for c in self.check_path(s, source_access).into_iter().flatten() {
                if let Some(n) = c.file_name() {
                    if !names.iter().any(|x| x == n) {
                        names.push(n.to_os_string());
                    }
                }
            }
            if let Some(n) = Path::new(&s.text).file_name() {
                if !s.dynamic && !s.glob && !names.iter().any(|x| x == n) {
                    names.push(n.to_os_string());
                }
            }
        }
        if let Some(t) = target {
            let resolved = self.check_path(&t, Access::Write);
            let into_dir = target_dir.is_some()
                || single_link
                || t.text.ends_with('/')
                || resolved.iter().flatten().any(|p| p.is_dir());
            if into_dir {
                for dir in resolved.into_iter().flatten() {
                    for n in &names {
                        self.note_write(dir.join(n));
                    }
                }
            }
        }
        CmdInfo::default()
    }

    pub(super) fn h_tee(&mut self, args: &[Arg]) -> CmdInfo {
        let targets = positionals(args);
        if !targets.is_empty() {
            self.emit(Class::WritesInside, "tee writes files");
        }
        for t in targets {
            self.redirect_path(t, Access::Write);
        }
        CmdInfo::default()
    }

    pub(super) fn h_tar(&mut self, args: &[Arg]) -> CmdInfo {
        const RUNS_PROGRAM: &[&str] = &[
            "--to-command",
            "--checkpoint-action",
            "--use-compress-program",
            "--rsh-command",
            "--info-script",
            "--new-volume-script",
            "--rmt-command",
            "--index-file",
        ];
        if args
            .iter()
            .any(|a| a.is("-I") || a.is("-F") || RUNS_PROGRAM.iter().any(|p| a.text.starts_with(p)))
        {
            self.emit(Class::Unparseable, "tar option runs an external program");
        }
        let mode = args
            .first()
            .map(|a| a.text.trim_start_matches('-').to_string())
            .unwrap_or_default();
        let listing = args.iter().any(|a| a.is("--list"))
            || (mode.contains('t')
                && !mode.contains(['c', 'x', 'r', 'u'])
                && !mode.starts_with('-'));
        if !listing {
            self.emit(Class::WritesInside, "tar writes files");
        }
        self.check_args_generic(args, Access::Any);
        CmdInfo::default()
    }

    pub(super) fn h_mktemp(&mut self, args: &[Arg]) -> CmdInfo {
        let scan = scan_opts(args, "p", &["suffix"]);
        self.emit(Class::WritesInside, "mktemp creates a file");
        let template = args.get(scan.rest);
        match scan.value("-p").or_else(|| scan.value("--tmpdir")).cloned() {
            Some(dir) => {
                self.check_path(&dir, Access::Write);
            }
            None if scan.has("-t") || scan.has("--tmpdir") || template.is_none() => {
                self.emit(
                    Class::TouchesOutside,
                    "mktemp creates a file in the system temporary directory",
                );
            }
            None => {
                if let Some(t) = template {
                    self.check_path(t, Access::Write);
                }
            }
        }
        CmdInfo::default()
    }

    pub(super) fn h_truncate(&mut self, args: &[Arg]) -> CmdInfo {
        self.emit(Class::WritesInside, "truncate changes file sizes");
        let scan = scan_opts(args, "sr", &["size", "reference"]);
        for t in positionals(&args[scan.rest..]) {
            let resolved = self.check_path(t, Access::Write);
            if resolved
                .iter()
                .any(|r| r.as_ref().is_none_or(|p| !self.inside(p)))
            {
                self.emit(
                    Class::Destructive,
                    format!("truncates a file outside the project: {}", t.text),
                );
            }
        }
        CmdInfo::default()
    }
}
