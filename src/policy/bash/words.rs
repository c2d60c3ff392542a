//! Words as the walker sees them, and getting a command line into a syntax tree.
//!
//! Why it exists: every decision rests on knowing what a word will be after the shell expands
//! it — literal text, or something only known at run time ([`Arg::dynamic`]). The word type, its
//! display, pattern escaping, brace/extglob detection and `$'…'` decoding live here, with the
//! pre-parse guards (length, nesting, forbidden characters) and the panic-safe call into
//! `brush_parser`, so that "unparseable" has one source.

use super::*;

/// One word of a command after quote removal, with what we know about it.
#[derive(Debug, Clone, Default)]
pub(super) struct Arg {
    /// Text after quote removal; expansions are kept as written (`$HOME`).
    pub(super) text: String,
    /// Glob pattern form of the word: quoted metacharacters are backslash-escaped.
    pub(super) pattern: String,
    /// Contains a parameter/command/arithmetic expansion: value unknown.
    pub(super) dynamic: bool,
    /// Starts with a tilde expansion (the home directory).
    pub(super) tilde: bool,
    /// Contains unquoted glob characters.
    pub(super) glob: bool,
    /// Contains unquoted brace expansion.
    pub(super) brace: bool,
    /// Contains an unquoted extended-glob pattern.
    pub(super) extglob: bool,
    /// Is a process substitution `<(…)` / `>(…)`.
    pub(super) procsub: bool,
    /// Added by the analyser (e.g. xargs input); not part of the written command.
    pub(super) synthetic: bool,
}

impl Arg {
    pub(super) fn literal(text: &str) -> Self {
        Arg {
            text: text.to_string(),
            pattern: escape_pattern(text),
            tilde: text.starts_with('~'),
            ..Arg::default()
        }
    }

    /// True for an option-looking literal word such as `-rf` or `--force`.
    pub(super) fn is_option(&self) -> bool {
        !self.dynamic && !self.procsub && self.text.len() > 1 && self.text.starts_with('-')
    }

    pub(super) fn is(&self, s: &str) -> bool {
        !self.dynamic && self.text == s
    }
}

/// Shorten text shown to the user.
pub(super) fn truncate_text(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars).collect();
    out.push('…');
    out
}

pub(super) fn display_argv(argv: &[Arg]) -> String {
    argv.iter()
        .filter(|a| !a.synthetic)
        .map(|a| a.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn escape_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn unescape_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn has_brace_expansion(s: &str) -> bool {
    match (s.find('{'), s.rfind('}')) {
        (Some(open), Some(close)) if open < close => {
            let inner = &s[open + 1..close];
            inner.contains(',') || inner.contains("..")
        }
        _ => false,
    }
}

pub(super) fn has_extglob(s: &str) -> bool {
    ["?(", "*(", "+(", "@(", "!("].iter().any(|p| s.contains(p))
}

/// Decode the body of `$'…'`; `None` if it contains control characters.
pub(super) fn decode_ansi_c(s: &str) -> Option<String> {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else {
            out.push('\\');
            break;
        };
        i += 1;
        let simple = match e {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'e' | 'E' => Some('\x1b'),
            'f' => Some('\x0c'),
            'v' => Some('\x0b'),
            '\\' | '\'' | '"' | '?' => Some(e),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            continue;
        }
        let (radix, max_len, start) = match e {
            'x' => (16, 2, i),
            'u' => (16, 4, i),
            'U' => (16, 8, i),
            '0'..='7' => (8, 3, i - 1),
            'c' => return None,
            _ => {
                out.push('\\');
                out.push(e);
                continue;
            }
        };
        let mut end = start;
        while end < chars.len() && end - start < max_len && chars[end].is_digit(radix) {
            end += 1;
        }
        if end == start {
            out.push('\\');
            out.push(e);
            continue;
        }
        let digits: String = chars[start..end].iter().collect();
        let value = u32::from_str_radix(&digits, radix).ok()?;
        out.push(char::from_u32(value)?);
        i = end;
    }
    if out.chars().any(is_forbidden_char) {
        return None;
    }
    Some(out)
}

/// Characters that must never appear in a command we allow.
pub(super) fn is_forbidden_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Reasons to refuse a source text before handing it to the parser.
pub(super) fn precheck(src: &str) -> Option<String> {
    if src.trim().is_empty() {
        return Some("empty command".to_string());
    }
    if src.len() > MAX_SOURCE_LEN {
        return Some("command too long to analyse".to_string());
    }
    if let Some(c) = src.chars().find(|c| is_forbidden_char(*c)) {
        return Some(format!("control character U+{:04X} in command", c as u32));
    }
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    for c in src.chars() {
        match c {
            '(' | '{' | '[' | '`' => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            ')' | '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if max_depth > MAX_BRACKET_NESTING {
        return Some("command nested too deeply to analyse".to_string());
    }
    None
}

pub(super) fn parse_program(src: &str, options: &ParserOptions) -> Result<ast::Program, String> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut parser = Parser::new(Cursor::new(src.as_bytes()), options);
        parser.parse_program()
    }));
    match result {
        Ok(Ok(program)) => Ok(program),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the shell parser failed".to_string()),
    }
}
