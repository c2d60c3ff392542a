//! The syntax-tree walker: lists, pipelines, compound commands, functions, `[[ … ]]`, word
//! expansion, redirections, here-documents and substitutions, with the working directories a
//! command may run in and the checks on every path it names.
//!
//! Why it exists: every simple command must be found wherever the shell grammar hides it, and
//! its words expanded as far as they can be known before it runs. The walker gathers findings,
//! commands and paths into one [`super::Analysis`]; what each *program* does is decided by the
//! dispatch in [`super::dispatch`] and the per-program handlers.

use super::*;

/// A possible working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cwd {
    Known(PathBuf),
    /// After `cd` to somewhere we cannot know (`cd`, `cd -`, `cd "$X"`).
    Unknown,
}

/// What a command tells the pipeline it is part of.
#[derive(Debug, Clone, Default)]
pub(super) struct CmdInfo {
    /// Runs code read from its standard input (`sh`, `python`, `xargs sh`…).
    pub(super) code_sink: bool,
    /// Text to show for the command.
    pub(super) display: String,
}

/// Context for analysing one argv.
#[derive(Debug, Clone, Default)]
pub(super) struct Cx {
    /// Known content of standard input (here-document / here-string).
    pub(super) stdin: Option<String>,
    /// Index of the first finding produced for the enclosing simple command
    /// (used to see whether its substitutions talked to the network).
    pub(super) net_start: usize,
}

pub(super) struct Walker {
    pub(super) root: PathBuf,
    pub(super) cwds: Vec<Cwd>,
    pub(super) findings: Vec<Finding>,
    pub(super) commands: Vec<Vec<String>>,
    pub(super) command_cwds: Vec<Vec<PathBuf>>,
    pub(super) paths: Vec<PathBuf>,
    pub(super) writes: Vec<PathBuf>,
    pub(super) network: Vec<Vec<String>>,
    pub(super) unresolved_paths: bool,
    /// The argv being analysed, innermost last (the one a network finding belongs to).
    pub(super) argv_stack: Vec<Vec<String>>,
    pub(super) git_reads: Vec<GitRead>,
    /// The git invocation being analysed names its repository (`--git-dir`, `--work-tree`).
    pub(super) git_explicit_repo: bool,
    /// Functions defined so far, and whether their body changes directory.
    pub(super) functions: HashMap<String, bool>,
    pub(super) depth: usize,
    pub(super) options: ParserOptions,
}

pub(super) fn merge_cwds(into: &mut Vec<Cwd>, from: &[Cwd]) {
    for c in from {
        if !into.contains(c) {
            into.push(c.clone());
        }
    }
}

impl Walker {
    pub(super) fn new(root: PathBuf, cwd: PathBuf) -> Self {
        Walker {
            root,
            cwds: vec![Cwd::Known(cwd)],
            findings: Vec::new(),
            commands: Vec::new(),
            command_cwds: Vec::new(),
            paths: Vec::new(),
            writes: Vec::new(),
            network: Vec::new(),
            unresolved_paths: false,
            argv_stack: Vec::new(),
            git_reads: Vec::new(),
            git_explicit_repo: false,
            functions: HashMap::new(),
            depth: 0,
            options: ParserOptions::default(),
        }
    }

    pub(super) fn finish(mut self, command: &str) -> Analysis {
        self.label(0, command.trim());
        let class = self
            .findings
            .iter()
            .map(|f| f.class)
            .max()
            .unwrap_or(Class::ReadOnly);
        Analysis {
            class,
            findings: self.findings,
            commands: self.commands,
            command_cwds: self.command_cwds,
            paths: self.paths,
            writes: self.writes,
            network: self.network,
            unresolved_paths: self.unresolved_paths,
            git_reads: self.git_reads,
        }
    }

    // ---- findings ----

    pub(super) fn emit(&mut self, class: Class, reason: impl Into<String>) {
        if class == Class::Network {
            let argv = self.argv_stack.last().cloned().unwrap_or_default();
            if self.network.len() < MAX_NOTED_PATHS && !self.network.contains(&argv) {
                self.network.push(argv);
            }
        }
        let reason = truncate_text(&reason.into(), MAX_REASON_CHARS);
        self.findings.push(Finding {
            class,
            reason,
            command: String::new(),
        });
    }

    /// Attach `display` to the unlabelled findings produced since `start`.
    pub(super) fn label(&mut self, start: usize, display: &str) {
        for f in &mut self.findings[start..] {
            if f.command.is_empty() {
                f.command = truncate_text(display, MAX_REASON_CHARS);
            }
        }
    }

    pub(super) fn network_since(&self, start: usize) -> bool {
        self.findings
            .get(start..)
            .is_some_and(|fs| fs.iter().any(|f| f.class == Class::Network))
    }

    /// Code whose text comes from a substitution that used the network.
    pub(super) fn check_network_code(&mut self, cx: &Cx, what: &str) {
        if self.network_since(cx.net_start) {
            self.emit(
                Class::Destructive,
                format!("{what} runs code downloaded from the network"),
            );
        }
    }

    // ---- sources ----

    /// Parse and walk a piece of shell source in the current state.
    pub(super) fn analyze_source(&mut self, src: &str) {
        if let Some(reason) = precheck(src) {
            self.emit(Class::Unparseable, reason);
            return;
        }
        if self.depth > MAX_DEPTH {
            self.emit(Class::Unparseable, "commands nested too deeply to analyse");
            return;
        }
        match parse_program(src, &self.options) {
            Ok(program) if program.complete_commands.is_empty() => {
                self.emit(Class::Unparseable, "no command found");
            }
            Ok(program) => {
                self.depth += 1;
                for list in &program.complete_commands {
                    self.walk_list(list);
                }
                self.depth -= 1;
            }
            Err(e) => self.emit(
                Class::Unparseable,
                format!("cannot parse shell syntax: {e}"),
            ),
        }
    }

    /// Walk source that runs in a child process (cwd changes do not persist).
    pub(super) fn analyze_source_isolated(&mut self, src: &str) {
        let saved = self.cwds.clone();
        self.analyze_source(src);
        self.cwds = saved;
    }

    // ---- syntax tree ----

    pub(super) fn walk_list(&mut self, list: &ast::CompoundList) -> CmdInfo {
        let mut info = CmdInfo::default();
        for ast::CompoundListItem(and_or, sep) in &list.0 {
            let item = if matches!(sep, ast::SeparatorOperator::Async) {
                let saved = self.cwds.clone();
                let item = self.walk_and_or(and_or);
                self.cwds = saved;
                item
            } else {
                self.walk_and_or(and_or)
            };
            info.code_sink |= item.code_sink;
            info.display = item.display;
        }
        info
    }

    pub(super) fn walk_and_or(&mut self, list: &ast::AndOrList) -> CmdInfo {
        let mut seen = self.cwds.clone();
        let mut info = self.walk_pipeline(&list.first);
        merge_cwds(&mut seen, &self.cwds);
        for next in &list.additional {
            let pipeline = match next {
                ast::AndOr::And(p) => p,
                ast::AndOr::Or(p) => {
                    // Runs when something before failed: any state seen so far.
                    self.cwds = seen.clone();
                    p
                }
            };
            let item = self.walk_pipeline(pipeline);
            info.code_sink |= item.code_sink;
            merge_cwds(&mut seen, &self.cwds);
        }
        // Later commands may run after any of these succeeded or failed.
        self.cwds = seen;
        info
    }

    pub(super) fn walk_pipeline(&mut self, pipeline: &ast::Pipeline) -> CmdInfo {
        if pipeline.seq.len() == 1 {
            return self.walk_command(&pipeline.seq[0]);
        }
        let start = self.findings.len();
        let mut network_before = false;
        let mut feeds_network_to_code = false;
        let mut displays = Vec::new();
        let mut info = CmdInfo::default();
        for cmd in &pipeline.seq {
            let elem_start = self.findings.len();
            let saved = self.cwds.clone();
            let item = self.walk_command(cmd);
            self.cwds = saved;
            if item.code_sink && network_before {
                feeds_network_to_code = true;
                for f in &mut self.findings[elem_start..] {
                    if f.class == Class::Unparseable && f.reason.ends_with(STDIN_CODE) {
                        f.class = Class::Destructive;
                        f.reason = format!("{} (fed from the network)", f.reason);
                    }
                }
            }
            network_before |= self.network_since(elem_start);
            info.code_sink |= item.code_sink;
            displays.push(item.display);
        }
        info.display = displays.join(" | ");
        if feeds_network_to_code {
            self.emit(
                Class::Destructive,
                "pipes network output into a shell or interpreter",
            );
        }
        let display = info.display.clone();
        self.label(start, &display);
        info
    }

    pub(super) fn walk_command(&mut self, cmd: &ast::Command) -> CmdInfo {
        match cmd {
            ast::Command::Simple(simple) => self.walk_simple(simple),
            ast::Command::Compound(compound, redirects) => {
                let start = self.findings.len();
                self.walk_redirect_list(redirects.as_ref());
                let mut info = self.walk_compound(compound);
                if info.display.is_empty() {
                    info.display = "(compound command)".to_string();
                }
                self.label(start, "(compound command)");
                info
            }
            ast::Command::Function(def) => self.walk_function(def),
            ast::Command::ExtendedTest(test, redirects) => {
                let start = self.findings.len();
                self.walk_redirect_list(redirects.as_ref());
                self.walk_ext_test(&test.expr);
                self.label(start, "[[ … ]]");
                CmdInfo {
                    code_sink: false,
                    display: "[[ … ]]".to_string(),
                }
            }
        }
    }

    pub(super) fn walk_redirect_list(&mut self, redirects: Option<&ast::RedirectList>) {
        if let Some(list) = redirects {
            let mut stdin = None;
            for r in &list.0 {
                self.redirect(r, &mut stdin);
            }
        }
    }

    pub(super) fn walk_compound(&mut self, compound: &ast::CompoundCommand) -> CmdInfo {
        match compound {
            ast::CompoundCommand::BraceGroup(group) => self.walk_list(&group.list),
            ast::CompoundCommand::Subshell(sub) => self.walk_subshell(&sub.list),
            ast::CompoundCommand::ForClause(f) => {
                for w in f.values.iter().flatten() {
                    self.expand_word(&w.value);
                }
                self.walk_loop_body(&f.body.list)
            }
            ast::CompoundCommand::ArithmeticForClause(f) => {
                for expr in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.check_arithmetic(&expr.value, false);
                }
                self.walk_loop_body(&f.body.list)
            }
            ast::CompoundCommand::CaseClause(c) => {
                self.expand_word(&c.value.value);
                let before = self.cwds.clone();
                let mut after = before.clone();
                let mut info = CmdInfo::default();
                for item in &c.cases {
                    for p in &item.patterns {
                        self.expand_word(&p.value);
                    }
                    if let Some(body) = &item.cmd {
                        self.cwds = before.clone();
                        info.code_sink |= self.walk_list(body).code_sink;
                        merge_cwds(&mut after, &self.cwds);
                    }
                }
                self.cwds = after;
                info
            }
            ast::CompoundCommand::IfClause(c) => {
                let mut info = self.walk_list(&c.condition);
                let before = self.cwds.clone();
                let mut after = before.clone();
                info.code_sink |= self.walk_list(&c.then).code_sink;
                merge_cwds(&mut after, &self.cwds);
                for clause in c.elses.iter().flatten() {
                    self.cwds = before.clone();
                    if let Some(cond) = &clause.condition {
                        info.code_sink |= self.walk_list(cond).code_sink;
                    }
                    info.code_sink |= self.walk_list(&clause.body).code_sink;
                    merge_cwds(&mut after, &self.cwds);
                }
                self.cwds = after;
                info
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                let mut info = self.walk_list(&w.0);
                info.code_sink |= self.walk_loop_body(&w.1.list).code_sink;
                info
            }
            ast::CompoundCommand::Arithmetic(a) => {
                self.check_arithmetic(&a.expr.value, false);
                CmdInfo::default()
            }
            ast::CompoundCommand::Coprocess(c) => {
                let saved = self.cwds.clone();
                let info = self.walk_command(&c.body);
                self.cwds = saved;
                info
            }
        }
    }

    pub(super) fn walk_subshell(&mut self, list: &ast::CompoundList) -> CmdInfo {
        let saved = self.cwds.clone();
        let info = self.walk_list(list);
        self.cwds = saved;
        info
    }

    /// A loop body may run many times: if it changes directory, the
    /// directory afterwards is unknown.
    pub(super) fn walk_loop_body(&mut self, list: &ast::CompoundList) -> CmdInfo {
        let before = self.cwds.clone();
        let info = self.walk_list(list);
        if self.cwds != before {
            merge_cwds(&mut self.cwds, &before);
            merge_cwds(&mut self.cwds, &[Cwd::Unknown]);
        }
        info
    }

    pub(super) fn walk_function(&mut self, def: &ast::FunctionDefinition) -> CmdInfo {
        let start = self.findings.len();
        let name = def.fname.value.clone();
        let first_command = self.commands.len();
        let saved = self.cwds.clone();
        self.walk_redirect_list(def.body.1.as_ref());
        self.walk_compound(&def.body.0);
        let changes_cwd = self.cwds != saved;
        self.cwds = saved;
        let recursive = self.commands[first_command..]
            .iter()
            .any(|argv| argv.first() == Some(&name));
        if recursive {
            self.emit(
                Class::Destructive,
                format!("function {name} calls itself (fork bomb pattern)"),
            );
        }
        self.functions.insert(name.clone(), changes_cwd);
        let display = format!("{name}() {{ … }}");
        self.label(start, &display);
        CmdInfo {
            code_sink: false,
            display,
        }
    }

    pub(super) fn walk_ext_test(&mut self, expr: &ast::ExtendedTestExpr) {
        use ast::ExtendedTestExpr as E;
        match expr {
            E::And(a, b) | E::Or(a, b) => {
                self.walk_ext_test(a);
                self.walk_ext_test(b);
            }
            E::Not(a) | E::Parenthesized(a) => self.walk_ext_test(a),
            E::UnaryTest(pred, w) => {
                let arg = self.expand_word(&w.value);
                let names_variable = matches!(
                    pred,
                    ast::UnaryPredicate::ShellVariableIsSetAndAssigned
                        | ast::UnaryPredicate::ShellVariableIsSetAndNameRef
                );
                if names_variable && arg.text.contains('[') {
                    self.emit(
                        Class::Unparseable,
                        "array subscript in [[ -v ]] may execute code",
                    );
                }
            }
            E::BinaryTest(pred, l, r) => {
                let left = self.expand_word(&l.value);
                let right = self.expand_word(&r.value);
                use ast::BinaryPredicate as B;
                let arithmetic = matches!(
                    pred,
                    B::ArithmeticEqualTo
                        | B::ArithmeticNotEqualTo
                        | B::ArithmeticLessThan
                        | B::ArithmeticLessThanOrEqualTo
                        | B::ArithmeticGreaterThan
                        | B::ArithmeticGreaterThanOrEqualTo
                );
                if arithmetic && !(is_safe_arith_operand(&left) && is_safe_arith_operand(&right)) {
                    self.emit(
                        Class::Unparseable,
                        "arithmetic comparison on a variable may execute code",
                    );
                }
            }
        }
    }

    // ---- simple commands ----

    pub(super) fn walk_simple(&mut self, cmd: &ast::SimpleCommand) -> CmdInfo {
        let start = self.findings.len();
        let mut argv: Vec<Arg> = Vec::new();
        let mut assignments: Vec<(String, Arg)> = Vec::new();
        let mut redirects: Vec<&ast::IoRedirect> = Vec::new();
        let mut raw_words: Vec<String> = Vec::new();
        let prefix = cmd.prefix.iter().flat_map(|p| p.0.iter());
        let suffix = cmd.suffix.iter().flat_map(|s| s.0.iter());
        for item in prefix {
            self.collect_item(
                item,
                true,
                &mut argv,
                &mut assignments,
                &mut redirects,
                &mut raw_words,
            );
        }
        if let Some(w) = &cmd.word_or_name {
            raw_words.push(w.value.clone());
            argv.push(self.expand_word(&w.value));
        }
        for item in suffix {
            self.collect_item(
                item,
                false,
                &mut argv,
                &mut assignments,
                &mut redirects,
                &mut raw_words,
            );
        }
        let mut stdin = None;
        for r in redirects {
            self.redirect(r, &mut stdin);
        }
        self.check_assignments(&assignments);
        let info = if argv.is_empty() {
            CmdInfo {
                code_sink: false,
                display: raw_words.join(" "),
            }
        } else {
            let cx = Cx {
                stdin,
                net_start: start,
            };
            self.analyze_argv(&argv, &cx)
        };
        let display = if argv.is_empty() {
            raw_words.join(" ")
        } else {
            display_argv(&argv)
        };
        self.label(start, &display);
        info
    }

    pub(super) fn collect_item<'a>(
        &mut self,
        item: &'a ast::CommandPrefixOrSuffixItem,
        in_prefix: bool,
        argv: &mut Vec<Arg>,
        assignments: &mut Vec<(String, Arg)>,
        redirects: &mut Vec<&'a ast::IoRedirect>,
        raw_words: &mut Vec<String>,
    ) {
        match item {
            ast::CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(r),
            ast::CommandPrefixOrSuffixItem::Word(w) => {
                raw_words.push(w.value.clone());
                argv.push(self.expand_word(&w.value));
            }
            ast::CommandPrefixOrSuffixItem::AssignmentWord(assignment, w) => {
                raw_words.push(w.value.clone());
                if in_prefix {
                    let value = self.expand_assignment(assignment);
                    assignments.push((assignment_name(assignment), value));
                } else {
                    argv.push(self.expand_word(&w.value));
                }
            }
            ast::CommandPrefixOrSuffixItem::ProcessSubstitution(kind, sub) => {
                self.walk_subshell(&sub.list);
                let text = match kind {
                    ast::ProcessSubstitutionKind::Read => "<(…)",
                    ast::ProcessSubstitutionKind::Write => ">(…)",
                };
                raw_words.push(text.to_string());
                argv.push(Arg {
                    text: text.to_string(),
                    procsub: true,
                    dynamic: true,
                    ..Arg::default()
                });
            }
        }
    }

    pub(super) fn expand_assignment(&mut self, assignment: &ast::Assignment) -> Arg {
        if let ast::AssignmentName::ArrayElementName(_, index) = &assignment.name {
            self.check_subscript(index);
        }
        match &assignment.value {
            ast::AssignmentValue::Scalar(w) => self.expand_word(&w.value),
            ast::AssignmentValue::Array(items) => {
                let mut combined = Arg::default();
                for (key, value) in items {
                    if let Some(k) = key {
                        self.check_subscript(&k.value);
                    }
                    let v = self.expand_word(&value.value);
                    combined.dynamic |= v.dynamic;
                    combined.text.push_str(&v.text);
                    combined.text.push(' ');
                }
                combined
            }
        }
    }

    pub(super) fn check_assignments(&mut self, assignments: &[(String, Arg)]) {
        for (name, value) in assignments {
            self.check_env_assignment(name, value);
        }
    }

    /// `NAME=value` before a command, via `env`, `export`, `sudo`…
    pub(super) fn check_env_assignment(&mut self, name: &str, value: &Arg) {
        if is_dangerous_env(name, &value.text, value.dynamic) {
            self.emit(
                Class::Unparseable,
                format!("setting {name} changes what programs run"),
            );
            return;
        }
        let pathy = ["DIR", "PATH", "HOME", "ROOT", "FILE", "PREFIX"]
            .iter()
            .any(|s| name.ends_with(s));
        if pathy && !value.dynamic {
            for part in value.text.split(':').filter(|p| !p.is_empty()) {
                if part.starts_with('/') || part.starts_with('~') || part.contains("..") {
                    self.check_path(&Arg::literal(part), Access::Any);
                }
            }
        }
    }

    pub(super) fn check_subscript(&mut self, index: &str) {
        let trimmed = index.trim();
        let safe = trimmed == "@"
            || trimmed == "*"
            || (!trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()));
        if !safe {
            self.emit(
                Class::Unparseable,
                format!("array subscript [{index}] is evaluated and may execute code"),
            );
        }
    }

    // ---- words ----

    pub(super) fn expand_word(&mut self, raw: &str) -> Arg {
        match brush_parser::word::parse(raw, &self.options) {
            Ok(pieces) => {
                let mut arg = Arg::default();
                self.add_pieces(&pieces, raw, false, &mut arg);
                arg.glob = pattern_is_glob(&arg.pattern);
                arg
            }
            Err(_) => {
                self.emit(Class::Unparseable, format!("cannot parse word: {raw}"));
                Arg {
                    text: raw.to_string(),
                    pattern: escape_pattern(raw),
                    dynamic: true,
                    ..Arg::default()
                }
            }
        }
    }

    pub(super) fn add_pieces(
        &mut self,
        pieces: &[WordPieceWithSource],
        src: &str,
        quoted: bool,
        arg: &mut Arg,
    ) {
        for piece in pieces {
            let slice = src.get(piece.start_index..piece.end_index).unwrap_or("");
            match &piece.piece {
                WordPiece::Text(s) => {
                    arg.text.push_str(s);
                    if quoted {
                        arg.pattern.push_str(&escape_pattern(s));
                    } else {
                        arg.pattern.push_str(s);
                        arg.brace |= has_brace_expansion(s);
                        arg.extglob |= has_extglob(s);
                    }
                }
                WordPiece::SingleQuotedText(s) => {
                    arg.text.push_str(s);
                    arg.pattern.push_str(&escape_pattern(s));
                }
                WordPiece::AnsiCQuotedText(s) => match decode_ansi_c(s) {
                    Some(decoded) => {
                        arg.text.push_str(&decoded);
                        arg.pattern.push_str(&escape_pattern(&decoded));
                    }
                    None => {
                        self.emit(Class::Unparseable, format!("cannot decode {slice}"));
                        arg.text.push_str(slice);
                        arg.dynamic = true;
                    }
                },
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    self.add_pieces(inner, src, true, arg);
                }
                WordPiece::TildeExpansion(_) => {
                    arg.tilde = true;
                    arg.text.push_str(slice);
                    arg.pattern.push_str(&escape_pattern(slice));
                }
                WordPiece::ParameterExpansion(_) => {
                    arg.dynamic = true;
                    arg.text.push_str(slice);
                    arg.pattern.push_str(&escape_pattern(slice));
                    self.check_parameter_expansion(slice);
                }
                WordPiece::CommandSubstitution(code) => {
                    arg.dynamic = true;
                    arg.text.push_str(slice);
                    arg.pattern.push_str(&escape_pattern(slice));
                    self.command_substitution(code);
                }
                WordPiece::BackquotedCommandSubstitution(code) => {
                    arg.dynamic = true;
                    arg.text.push_str(slice);
                    arg.pattern.push_str(&escape_pattern(slice));
                    let unescaped = code
                        .replace("\\`", "`")
                        .replace("\\$", "$")
                        .replace("\\\\", "\\");
                    self.command_substitution(&unescaped);
                }
                WordPiece::EscapeSequence(s) => {
                    let literal: String = s.chars().skip(1).collect();
                    let literal = if literal == "\n" {
                        String::new()
                    } else {
                        literal
                    };
                    arg.text.push_str(&literal);
                    arg.pattern.push_str(&escape_pattern(&literal));
                }
                WordPiece::ArithmeticExpression(expr) => {
                    arg.dynamic = true;
                    arg.text.push_str(slice);
                    arg.pattern.push_str(&escape_pattern(slice));
                    self.check_arithmetic(&expr.value, true);
                }
            }
        }
    }

    pub(super) fn command_substitution(&mut self, code: &str) {
        self.analyze_source_isolated(code);
        self.emit(
            Class::WritesInside,
            "uses the output of a command substitution",
        );
    }

    pub(super) fn check_parameter_expansion(&mut self, slice: &str) {
        if ["$(", "`", "<(", ">("]
            .iter()
            .any(|s| slice.get(1..).unwrap_or("").contains(s))
        {
            self.emit(
                Class::Unparseable,
                format!("substitution nested in {slice}"),
            );
        } else if slice.starts_with("${!") {
            self.emit(Class::Unparseable, format!("indirect expansion {slice}"));
        } else if slice.contains("@P") || slice.contains("@E") {
            self.emit(
                Class::Unparseable,
                format!("prompt/escape expansion {slice}"),
            );
        } else if let (Some(open), Some(close)) = (slice.find('['), slice.find(']')) {
            if open < close {
                self.check_subscript(&slice[open + 1..close]);
            }
        }
    }

    pub(super) fn check_arithmetic(&mut self, expr: &str, is_expansion: bool) {
        if expr.contains("$(") || expr.contains('`') {
            self.emit(Class::Unparseable, "command substitution inside arithmetic");
        } else if expr.chars().any(|c| c.is_ascii_alphabetic() || c == '_') {
            self.emit(
                Class::Unparseable,
                format!("arithmetic on shell variables may execute code: {expr}"),
            );
        } else if is_expansion {
            self.emit(Class::WritesInside, "uses an arithmetic expansion");
        }
    }

    pub(super) fn expand_heredoc(&mut self, body: &str) -> Option<String> {
        match brush_parser::word::parse_heredoc(body, &self.options) {
            Ok(pieces) => {
                let mut arg = Arg::default();
                self.add_pieces(&pieces, body, true, &mut arg);
                (!arg.dynamic).then_some(arg.text)
            }
            Err(_) => {
                self.emit(Class::Unparseable, "cannot parse here-document");
                None
            }
        }
    }

    // ---- redirections ----

    pub(super) fn redirect(&mut self, r: &ast::IoRedirect, stdin: &mut Option<String>) {
        use ast::IoFileRedirectTarget as T;
        match r {
            ast::IoRedirect::File(fd, kind, target) => match target {
                T::Filename(w) => {
                    let arg = self.expand_word(&w.value);
                    let access = match kind {
                        ast::IoFileRedirectKind::Read | ast::IoFileRedirectKind::DuplicateInput => {
                            Access::Read
                        }
                        _ => Access::Write,
                    };
                    if access == Access::Read && fd.is_none_or(|f| f == 0) {
                        *stdin = None;
                    }
                    self.redirect_path(&arg, access);
                }
                T::Fd(_) => {}
                T::Duplicate(w) => {
                    let arg = self.expand_word(&w.value);
                    let is_fd = arg
                        .text
                        .trim_end_matches('-')
                        .chars()
                        .all(|c| c.is_ascii_digit());
                    if arg.dynamic {
                        self.emit(
                            Class::Unparseable,
                            format!("redirection target comes from an expansion: {}", arg.text),
                        );
                    } else if !is_fd {
                        self.redirect_path(&arg, Access::Write);
                    }
                }
                T::ProcessSubstitution(_, sub) => {
                    self.walk_subshell(&sub.list);
                }
            },
            ast::IoRedirect::HereDocument(fd, doc) => {
                let text = if doc.requires_expansion {
                    self.expand_heredoc(&doc.doc.value)
                } else {
                    Some(doc.doc.value.clone())
                };
                if fd.is_none_or(|f| f == 0) {
                    *stdin = text;
                }
            }
            ast::IoRedirect::HereString(fd, w) => {
                let arg = self.expand_word(&w.value);
                if fd.is_none_or(|f| f == 0) {
                    *stdin = (!arg.dynamic).then(|| format!("{}\n", arg.text));
                }
            }
            ast::IoRedirect::OutputAndError(w, _) => {
                let arg = self.expand_word(&w.value);
                self.redirect_path(&arg, Access::Write);
            }
        }
    }

    pub(super) fn redirect_path(&mut self, arg: &Arg, access: Access) {
        if !arg.dynamic && !arg.glob && HARMLESS_REDIRECT_DEVICES.contains(&arg.text.as_str()) {
            return;
        }
        if !arg.dynamic && (arg.text.starts_with("/dev/tcp/") || arg.text.starts_with("/dev/udp/"))
        {
            self.emit(
                Class::Network,
                format!("opens a network connection: {}", arg.text),
            );
        }
        let resolved = self.check_path(arg, access);
        let all_inside = !resolved.is_empty()
            && resolved
                .iter()
                .all(|r| r.as_ref().is_some_and(|p| self.inside(p)));
        if access == Access::Write && all_inside {
            self.emit(Class::WritesInside, format!("writes to {}", arg.text));
        }
    }

    // ---- paths ----

    pub(super) fn inside(&self, p: &Path) -> bool {
        p.starts_with(&self.root)
    }

    pub(super) fn is_root_or_above(&self, p: &Path) -> bool {
        self.root.starts_with(p)
    }

    /// Remember a path the command names (bounded: a huge glob is already a finding), and
    /// whether it may be written.
    pub(super) fn note_path(&mut self, p: PathBuf, access: Access) {
        if access != Access::Read {
            self.note_write(p.clone());
        }
        if self.paths.contains(&p) {
            return;
        }
        if self.paths.len() < MAX_NOTED_PATHS {
            self.paths.push(p);
        } else {
            self.unresolved_paths = true;
        }
    }

    /// Remember a path the command may write, named or not.
    pub(super) fn note_write(&mut self, p: PathBuf) {
        if self.writes.contains(&p) {
            return;
        }
        if self.writes.len() < MAX_NOTED_PATHS {
            self.writes.push(p);
        } else {
            self.unresolved_paths = true;
        }
    }

    /// Every place `arg` may refer to (`None`: relative to an unknown directory).
    pub(super) fn candidates(&self, arg: &Arg) -> Vec<Option<PathBuf>> {
        let mut out: Vec<Option<PathBuf>> = Vec::new();
        let push = |p: Option<PathBuf>, out: &mut Vec<Option<PathBuf>>| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        let absolute = arg.text.starts_with('/');
        for cwd in &self.cwds {
            let base = match cwd {
                Cwd::Known(d) => d.clone(),
                Cwd::Unknown if absolute => PathBuf::from("/"),
                Cwd::Unknown => {
                    push(None, &mut out);
                    continue;
                }
            };
            let expanded = if arg.glob {
                glob_expand(&arg.pattern, &base)
            } else {
                Some(Vec::new())
            };
            let Some(matches) = expanded else {
                push(None, &mut out);
                continue;
            };
            let targets = if matches.is_empty() {
                vec![base.join(&arg.text)]
            } else {
                matches
            };
            for t in targets {
                for r in resolutions(&t) {
                    push(Some(r), &mut out);
                }
            }
        }
        out
    }

    /// Does a glob leave the project: its literal directory part resolves
    /// outside (or above) the root, or a match is lexically outside (`.*`
    /// matching `..`)?
    pub(super) fn glob_escapes(&self, arg: &Arg) -> bool {
        let components: Vec<&str> = arg.pattern.split('/').collect();
        let literal_len = components
            .iter()
            .position(|c| has_glob_meta(c))
            .unwrap_or(components.len());
        let prefix = components[..literal_len].join("/");
        let prefix = if prefix.is_empty() && !arg.pattern.starts_with('/') {
            ".".to_string()
        } else if prefix.is_empty() {
            "/".to_string()
        } else {
            prefix
        };
        let prefix_arg = Arg::literal(&unescape_pattern(&prefix));
        let prefix_outside = self
            .candidates(&prefix_arg)
            .iter()
            .any(|r| r.as_ref().is_none_or(|p| !self.inside(p)));
        prefix_outside
            || self.cwds.iter().any(|cwd| match cwd {
                Cwd::Unknown => true,
                Cwd::Known(base) => glob_expand(&arg.pattern, base).is_none_or(|matches| {
                    matches.iter().any(|m| !self.inside(&lexical_normalize(m)))
                }),
            })
    }

    /// Check a path argument; report anything outside the project.  Returns
    /// where it may point (`None` = unknown).
    pub(super) fn check_path(&mut self, arg: &Arg, access: Access) -> Vec<Option<PathBuf>> {
        if arg.procsub {
            return Vec::new();
        }
        if arg.synthetic || arg.dynamic || arg.brace || arg.extglob {
            self.unresolved_paths = true;
        }
        if arg.synthetic {
            self.emit(
                Class::Unparseable,
                "path arguments are supplied at run time (e.g. by xargs)",
            );
            return vec![None];
        }
        if arg.dynamic {
            self.emit(
                Class::Unparseable,
                format!("path comes from an expansion: {}", arg.text),
            );
            return vec![None];
        }
        if arg.brace || arg.extglob {
            self.emit(
                Class::Unparseable,
                format!("brace/extended-glob expansion in a path: {}", arg.text),
            );
            return vec![None];
        }
        if arg.tilde {
            self.emit(
                Class::TouchesOutside,
                format!("refers to the home directory: {}", arg.text),
            );
            self.note_path(PathBuf::from(&arg.text), access);
            return vec![None];
        }
        let candidates = self.candidates(arg);
        for p in candidates.iter().flatten() {
            self.note_path(p.clone(), access);
        }
        if arg.glob && self.glob_escapes(arg) {
            self.emit(
                Class::Unparseable,
                format!("glob reaches outside the project: {}", arg.text),
            );
        }
        let mut reported = BTreeSet::new();
        for c in &candidates {
            match c {
                None => {
                    self.unresolved_paths = true;
                    if reported.insert(PathBuf::new()) {
                        self.emit(
                            Class::TouchesOutside,
                            format!("{} is relative to an unknown directory", arg.text),
                        );
                    }
                }
                Some(p) if !self.inside(p) => {
                    if reported.len() >= MAX_REPORTED_PATHS {
                        self.emit(
                            Class::TouchesOutside,
                            format!("{} matches more paths outside the project", arg.text),
                        );
                        break;
                    }
                    if !reported.insert(p.clone()) {
                        continue;
                    }
                    let verb = match access {
                        Access::Read => "reads outside the project",
                        Access::Write => "writes outside the project",
                        Access::Any => "path outside the project",
                    };
                    self.emit(Class::TouchesOutside, format!("{verb}: {}", p.display()));
                    if access != Access::Read && is_raw_device(p) {
                        self.emit(
                            Class::Destructive,
                            format!("writes to a raw device: {}", p.display()),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        candidates
    }

    /// Check every non-option argument (and option values such as
    /// `--file=X` or `-o/x`) as a path.
    pub(super) fn check_args_generic(&mut self, args: &[Arg], access: Access) {
        let args = without_exclusion_patterns("", args);
        let mut options_done = false;
        for arg in &args {
            if !options_done && arg.is("--") {
                options_done = true;
                continue;
            }
            if options_done || !arg.is_option() {
                if arg.dynamic && !arg.procsub && arg.text.starts_with('-') && !options_done {
                    self.emit(
                        Class::Unparseable,
                        format!("option comes from an expansion: {}", arg.text),
                    );
                    continue;
                }
                if !arg.is("-") {
                    self.check_path(arg, access);
                }
                continue;
            }
            if let Some(value) = option_value_path(&arg.text) {
                self.check_path(&Arg::literal(value), access);
            }
        }
    }

    pub(super) fn set_cwds_from(&mut self, resolved: Vec<Option<PathBuf>>) {
        let mut cwds = Vec::new();
        for r in resolved {
            merge_cwds(&mut cwds, &[r.map_or(Cwd::Unknown, Cwd::Known)]);
        }
        if cwds.is_empty() {
            cwds.push(Cwd::Unknown);
        }
        self.cwds = cwds;
    }
}
