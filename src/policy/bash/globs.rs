//! Bash-compatible glob matching and bounded expansion against the real file system.
//!
//! Why it exists: `rm *` or `cat */.env` names files only the shell knows; the classifier
//! expands globs itself (hidden files only by an explicit dot, character classes, escapes),
//! with a cap on matches, so that what a pattern reaches is checked like a literal path.

use super::*;

pub(super) fn has_glob_meta(pattern: &str) -> bool {
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if matches!(c, '*' | '?' | '[') {
            return true;
        }
    }
    false
}

/// Is this pattern really a glob: an unescaped `*` or `?`, or an unescaped
/// `[` closed by a later `]`?
pub(super) fn pattern_is_glob(pattern: &str) -> bool {
    let mut escaped = false;
    let mut open_bracket = false;
    for c in pattern.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '*' | '?' => return true,
            '[' => open_bracket = true,
            ']' if open_bracket => return true,
            _ => {}
        }
    }
    false
}

/// Does the pattern element at `p` match `c`?  Returns the next pattern index.
pub(super) fn glob_step(pat: &[char], p: usize, c: char) -> Option<usize> {
    match pat[p] {
        '?' => Some(p + 1),
        '\\' if p + 1 < pat.len() => (pat[p + 1] == c).then_some(p + 2),
        '[' => match glob_class(pat, p, c) {
            Some(result) => result,
            None => (c == '[').then_some(p + 1),
        },
        other => (other == c).then_some(p + 1),
    }
}

/// Match a bracket expression at `p`.  Outer `None`: not a valid bracket
/// expression (treat `[` literally); inner: match result.
#[allow(clippy::option_option)]
pub(super) fn glob_class(pat: &[char], p: usize, c: char) -> Option<Option<usize>> {
    let mut i = p + 1;
    let negate = i < pat.len() && matches!(pat[i], '!' | '^');
    if negate {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    loop {
        if i >= pat.len() {
            return None;
        }
        if pat[i] == ']' && i > start {
            break;
        }
        let mut lo = pat[i];
        if lo == '\\' && i + 1 < pat.len() {
            i += 1;
            lo = pat[i];
        }
        if i + 2 < pat.len() && pat[i + 1] == '-' && pat[i + 2] != ']' {
            let hi = pat[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    Some((matched != negate).then_some(i + 1))
}

pub(super) fn glob_match(pat: &[char], name: &[char]) -> bool {
    let starts_with_dot =
        pat.first() == Some(&'.') || (pat.len() > 1 && pat[0] == '\\' && pat[1] == '.');
    if name.first() == Some(&'.') && !starts_with_dot {
        return false;
    }
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() && pat[p] == '*' {
            star = Some((p, n));
            p += 1;
            continue;
        }
        if p < pat.len() {
            if let Some(next) = glob_step(pat, p, name[n]) {
                p = next;
                n += 1;
                continue;
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    while p < pat.len() && pat[p] == '*' {
        p += 1;
    }
    p == pat.len()
}

/// Expand a glob pattern against the file system; `None` if there are too
/// many matches.  An empty result means "no match" (bash keeps the word).
pub(super) fn glob_expand(pattern: &str, base: &Path) -> Option<Vec<PathBuf>> {
    let mut current = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    }];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        if has_glob_meta(comp) {
            let pat: Vec<char> = comp.chars().collect();
            let dot_first = pat.first() == Some(&'.') || comp.starts_with("\\.");
            for dir in &current {
                let Ok(entries) = fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                if dot_first {
                    names.push(".".to_string());
                    names.push("..".to_string());
                }
                for name in names {
                    let chars: Vec<char> = name.chars().collect();
                    if glob_match(&pat, &chars) {
                        next.push(dir.join(&name));
                        if next.len() > MAX_GLOB_MATCHES {
                            return None;
                        }
                    }
                }
            }
        } else {
            let literal = unescape_pattern(comp);
            next = current.iter().map(|d| d.join(&literal)).collect();
        }
        current = next;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        let m = |p: &str, n: &str| {
            glob_match(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("*.rs", "main.rs"));
        assert!(!m("*.rs", ".hidden.rs"));
        assert!(m(".*", ".."));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
    }
}
