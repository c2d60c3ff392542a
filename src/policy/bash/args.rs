//! Reading an argv: positionals, option clusters and option values, environment assignments,
//! version-suffixed program names, `find`'s `{}`.
//!
//! Why it exists: each program handler asks the same questions of its arguments ("which
//! arguments are paths?", "is `-r` among the flags?"); answering them in one place keeps the
//! handlers to what is specific about their program.

use super::*;

/// `args` without the patterns of options that keep names *out* of what a program reads or
/// lists (`--exclude=.env`, `--exclude-dir node_modules`, `--ignore=.env`, `--hide`, and
/// `-I PATTERN` of `ls` and `tree`): those name nothing that is read, and the tree readers'
/// model (`policy::readers`) honours them.
pub(super) fn without_exclusion_patterns(name: &str, args: &[Arg]) -> Vec<Arg> {
    pub(super) const LONG: &[&str] = &["--exclude", "--exclude-dir", "--ignore", "--hide"];
    let short_i = matches!(name, "ls" | "dir" | "vdir" | "tree");
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if a.is("--") {
            out.push(a.clone());
            skip = false;
            continue;
        }
        if !a.dynamic
            && (LONG.iter().any(|l| a.text.starts_with(&format!("{l}=")))
                || (short_i && a.text.starts_with("-I") && a.text.len() > 2))
        {
            continue;
        }
        if LONG.iter().any(|l| a.is(l)) || (short_i && a.is("-I")) {
            skip = true;
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// The path-like value of an option word: `--file=X` → X, `-o/x` → /x.
pub(super) fn option_value_path(text: &str) -> Option<&str> {
    if text.starts_with("--") {
        return text
            .split_once('=')
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty());
    }
    let pos = text.find(['/', '~']).or_else(|| text.find(".."))?;
    (pos > 1).then(|| &text[pos..])
}

pub(super) fn is_safe_arith_operand(arg: &Arg) -> bool {
    let t = arg.text.trim_start_matches('-');
    matches!(arg.text.as_str(), "$?" | "$#" | "$$" | "$!")
        || (!arg.dynamic && !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
}

pub(super) fn assignment_name(a: &ast::Assignment) -> String {
    match &a.name {
        ast::AssignmentName::VariableName(n) | ast::AssignmentName::ArrayElementName(n, _) => {
            n.clone()
        }
    }
}

pub(super) fn is_dangerous_env(name: &str, value: &str, dynamic: bool) -> bool {
    if PAGER_VARS.contains(&name) {
        return dynamic || !SAFE_PAGERS.contains(&value);
    }
    if name == "RUSTFLAGS" || name == "RUSTDOCFLAGS" || name == "CARGO_ENCODED_RUSTFLAGS" {
        return dynamic || ["link", "plugin", "-Z"].iter().any(|s| value.contains(s));
    }
    if SAFE_ENV_VARS.contains(&name) {
        return false;
    }
    DANGEROUS_ENV_VARS.contains(&name) || DANGEROUS_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// `NAME=value` word (as given to env, export, sudo).
pub(super) fn split_env_assignment(text: &str) -> Option<(&str, &str)> {
    let (name, value) = text.split_once('=')?;
    let name = name.strip_suffix('+').unwrap_or(name);
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then_some((name, value))
}

pub(super) fn basename(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// `python3.12` → `python`, `pip3` → `pip`, `lua5.4` → `lua`.
pub(super) fn strip_version(name: &str) -> &str {
    let stripped = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if stripped.is_empty() {
        name
    } else {
        stripped
    }
}

/// chmod mode such as `755`, `u+x`, `go-w,a+r`.
pub(super) fn looks_like_mode(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| "ugoarwxXst+-=,01234567".contains(c))
}

pub(super) fn is_short_cluster_with(arg: &Arg, chars: &str) -> bool {
    arg.is_option() && !arg.text.starts_with("--") && arg.text[1..].contains(|c| chars.contains(c))
}

/// First positional (non-option) argument and its index.
/// The index of `name`'s subcommand if [`NETWORK_SUBCOMMANDS`] lists it (`openssl s_client`).
pub(super) fn network_subcommand(name: &str, args: &[Arg]) -> Option<usize> {
    let (_, subs) = NETWORK_SUBCOMMANDS.iter().find(|(p, _)| *p == name)?;
    let (i, sub) = first_positional(args)?;
    (!sub.dynamic && subs.contains(&sub.text.as_str())).then_some(i)
}

pub(super) fn first_positional(args: &[Arg]) -> Option<(usize, &Arg)> {
    let mut options_done = false;
    for (i, a) in args.iter().enumerate() {
        if !options_done && a.is("--") {
            options_done = true;
            continue;
        }
        if options_done || !a.is_option() {
            return Some((i, a));
        }
    }
    None
}

pub(super) fn positionals(args: &[Arg]) -> Vec<&Arg> {
    let mut out = Vec::new();
    let mut options_done = false;
    for a in args {
        if !options_done && a.is("--") {
            options_done = true;
            continue;
        }
        if options_done || !a.is_option() {
            out.push(a);
        }
    }
    out
}

/// Options parsed up to the first positional argument.
pub(super) struct OptScan {
    pub(super) flags: Vec<(String, Option<Arg>)>,
    /// Index of the first argument after the options.
    pub(super) rest: usize,
}

impl OptScan {
    pub(super) fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|(f, _)| f == flag)
    }

    pub(super) fn value(&self, flag: &str) -> Option<&Arg> {
        self.flags
            .iter()
            .find(|(f, _)| f == flag)
            .and_then(|(_, v)| v.as_ref())
    }
}

/// Scan options: `short_values` are short flags taking a value, `long_values`
/// long flags (without `--`) taking a value when not written `--x=v`.
pub(super) fn scan_opts(args: &[Arg], short_values: &str, long_values: &[&str]) -> OptScan {
    let mut flags = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if !a.is_option() {
            break;
        }
        if a.text == "--" {
            i += 1;
            break;
        }
        if let Some(long) = a.text.strip_prefix("--") {
            if let Some((k, v)) = long.split_once('=') {
                flags.push((format!("--{k}"), Some(Arg::literal(v))));
            } else if long_values.contains(&long) {
                flags.push((a.text.clone(), args.get(i + 1).cloned()));
                i += 1;
            } else {
                flags.push((a.text.clone(), None));
            }
        } else {
            let chars: Vec<char> = a.text[1..].chars().collect();
            for (k, c) in chars.iter().enumerate() {
                if short_values.contains(*c) {
                    let rest: String = chars[k + 1..].iter().collect();
                    if rest.is_empty() {
                        flags.push((format!("-{c}"), args.get(i + 1).cloned()));
                        i += 1;
                    } else {
                        flags.push((format!("-{c}"), Some(Arg::literal(&rest))));
                    }
                    break;
                }
                flags.push((format!("-{c}"), None));
            }
        }
        i += 1;
    }
    OptScan {
        flags,
        rest: i.min(args.len()),
    }
}

pub(super) fn substitute_braces(arg: &Arg, start: &Arg, filtered: bool) -> Arg {
    if arg.dynamic || !arg.text.contains("{}") {
        return arg.clone();
    }
    // With filters, matches are entries below the start directory; without,
    // the start directory itself is the first match.
    let replacement = if filtered {
        format!("{}/{{match}}", start.text.trim_end_matches('/'))
    } else {
        start.text.clone()
    };
    let mut out = Arg::literal(&arg.text.replace("{}", &replacement));
    out.dynamic = start.dynamic;
    out.tilde = start.tilde && arg.text.starts_with("{}");
    out
}
