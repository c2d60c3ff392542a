//! Small scanners for the languages inside `sed` and `awk` programs.
//!
//! Why it exists: `sed 's/a/b/e'`, `sed 'w /etc/x'` and `awk '{ system($0) }'` run commands or
//! write files from inside a quoted script. These scanners find exactly those constructs, and
//! report a script they cannot read as such, so the handlers never call an opaque script
//! read-only.

/// What a sed script does besides editing the stream.
#[derive(Default)]
pub(super) struct SedEffects {
    pub(super) exec: bool,
    pub(super) writes: Vec<String>,
    pub(super) reads: Vec<String>,
}

pub(super) fn sed_delimited(c: &[char], mut i: usize, delim: char) -> Option<usize> {
    while i < c.len() {
        if c[i] == '\\' {
            i += 2;
            continue;
        }
        if c[i] == delim {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

pub(super) fn sed_address(c: &[char], mut i: usize) -> Option<usize> {
    let digits = |c: &[char], mut i: usize| {
        while i < c.len() && (c[i].is_ascii_digit() || c[i] == '~') {
            i += 1;
        }
        i
    };
    match c.get(i) {
        Some('0'..='9') => i = digits(c, i),
        Some('$') => i += 1,
        Some('+' | '~') => i = digits(c, i + 1),
        Some('/') => i = sed_delimited(c, i + 1, '/')?,
        Some('\\') => {
            let d = *c.get(i + 1)?;
            i = sed_delimited(c, i + 2, d)?;
        }
        _ => return Some(i),
    }
    while i < c.len() && matches!(c[i], 'I' | 'M') {
        i += 1;
    }
    Some(i)
}

pub(super) fn sed_rest_of_line(c: &[char], i: &mut usize) -> String {
    while *i < c.len() && c[*i] == ' ' {
        *i += 1;
    }
    let start = *i;
    while *i < c.len() && c[*i] != '\n' {
        *i += 1;
    }
    c[start..*i].iter().collect()
}

pub(super) fn skip_blanks(c: &[char], i: &mut usize) {
    while *i < c.len() && (c[*i] == ' ' || c[*i] == '\t') {
        *i += 1;
    }
}

/// A small parser for sed scripts that finds commands which execute
/// programs (`e`), write files (`w`, `s///w`) or read files (`r`).
/// `None` if the script is not understood.
pub(super) fn scan_sed(script: &str) -> Option<SedEffects> {
    let c: Vec<char> = script.chars().collect();
    let mut fx = SedEffects::default();
    let mut i = 0;
    loop {
        while i < c.len() && (c[i].is_whitespace() || c[i] == ';') {
            i += 1;
        }
        if i >= c.len() {
            return Some(fx);
        }
        i = sed_address(&c, i)?;
        skip_blanks(&c, &mut i);
        if c.get(i) == Some(&',') {
            i += 1;
            skip_blanks(&c, &mut i);
            i = sed_address(&c, i)?;
        }
        skip_blanks(&c, &mut i);
        while c.get(i) == Some(&'!') {
            i += 1;
            skip_blanks(&c, &mut i);
        }
        let cmd = *c.get(i)?;
        i += 1;
        match cmd {
            '{' | '}' | '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x'
            | 'z' | 'F' => {}
            '#' | ':' | 'b' | 't' | 'T' | 'v' => {
                while i < c.len() && c[i] != '\n' && (cmd == '#' || c[i] != ';') {
                    i += 1;
                }
            }
            'q' | 'Q' | 'l' | 'L' => {
                skip_blanks(&c, &mut i);
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
            }
            'a' | 'i' | 'c' => {
                while i < c.len() && c[i] != '\n' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
            }
            'r' | 'R' => fx.reads.push(sed_rest_of_line(&c, &mut i)),
            'w' | 'W' => fx.writes.push(sed_rest_of_line(&c, &mut i)),
            'e' => {
                fx.exec = true;
                sed_rest_of_line(&c, &mut i);
            }
            's' | 'y' => {
                let delim = *c.get(i)?;
                if delim == '\\' || delim == '\n' {
                    return None;
                }
                i = sed_delimited(&c, i + 1, delim)?;
                i = sed_delimited(&c, i, delim)?;
                while cmd == 's' && i < c.len() {
                    match c[i] {
                        'g' | 'p' | 'i' | 'I' | 'm' | 'M' | '0'..='9' => i += 1,
                        'e' => {
                            fx.exec = true;
                            i += 1;
                        }
                        'w' => {
                            i += 1;
                            fx.writes.push(sed_rest_of_line(&c, &mut i));
                        }
                        _ => break,
                    }
                }
            }
            _ => return None,
        }
    }
}

pub(super) fn starts_with_word(c: &[char], i: usize, word: &str) -> bool {
    let w: Vec<char> = word.chars().collect();
    let before_ok = i == 0 || !(c[i - 1].is_ascii_alphanumeric() || c[i - 1] == '_');
    before_ok && c.len() >= i + w.len() && c[i..i + w.len()] == w[..]
}

/// Does an awk program run commands (`system`, pipes, `getline`) or write
/// files (`print > file`)?
pub(super) fn awk_program_unsafe(program: &str) -> bool {
    if program.contains("system") || program.contains("getline") {
        return true;
    }
    let c: Vec<char> = program.chars().collect();
    let mut in_string = false;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if in_string {
            if ch == '\\' {
                i += 1;
            } else if ch == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match ch {
            '"' => in_string = true,
            '|' if c.get(i + 1) == Some(&'|') => i += 1,
            '|' => return true,
            _ if starts_with_word(&c, i, "print") && print_redirects(&c, i + 5) => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Inside an awk print statement starting at `i`, is there an unparenthesised `>`?
pub(super) fn print_redirects(c: &[char], mut i: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    while i < c.len() {
        let ch = c[i];
        if in_string {
            if ch == '\\' {
                i += 1;
            } else if ch == '"' {
                in_string = false;
            }
        } else {
            match ch {
                '"' => in_string = true,
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ';' | '}' | '\n' if depth == 0 => return false,
                '>' if depth == 0 => return true,
                _ => {}
            }
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sed_scanner() {
        assert!(scan_sed("s/a/b/g").is_some_and(|fx| !fx.exec && fx.writes.is_empty()));
        assert!(scan_sed("s/a/b/e").is_some_and(|fx| fx.exec));
        assert!(scan_sed("s|a|b|w out.txt").is_some_and(|fx| fx.writes == ["out.txt"]));
        assert!(scan_sed("/x/d; 1,5p").is_some_and(|fx| !fx.exec));
        assert!(scan_sed("1e ls").is_some_and(|fx| fx.exec));
        assert!(scan_sed("r /etc/passwd").is_some_and(|fx| fx.reads == ["/etc/passwd"]));
        assert!(scan_sed("s/unterminated").is_none());
    }
}
