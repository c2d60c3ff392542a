//! The parts of a `multipart/form-data` body, for the fakes (enough of RFC 7578 for the
//! bodies reqwest sends).

/// One part: its field name, file name and type if it is a file, and its bytes.
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub content: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The parts of `body` whose `Content-Type` header is `content_type` (as sent: the boundary
/// is case-sensitive). No boundary, no parts.
pub fn parts(content_type: &str, body: &[u8]) -> Vec<Part> {
    let Some(boundary) = content_type.split(';').find_map(|part| {
        let part = part.trim();
        part.get(..9)
            .filter(|k| k.eq_ignore_ascii_case("boundary="))
            .map(|_| part[9..].trim_matches('"').to_string())
    }) else {
        return Vec::new();
    };
    let delim = format!("--{boundary}").into_bytes();
    let mut out = Vec::new();
    let Some(first) = find(body, &delim, 0) else {
        return out;
    };
    let mut pos = first + delim.len();
    while let Some(next) = find(body, &delim, pos) {
        let raw = &body[pos..next];
        pos = next + delim.len();
        let raw = raw.strip_prefix(b"\r\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        let Some(split) = find(raw, b"\r\n\r\n", 0) else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let attr = |key: &str| {
            let key = format!("{key}=\"");
            head.find(&key).and_then(|i| {
                let rest = &head[i + key.len()..];
                rest.find('"').map(|j| rest[..j].to_string())
            })
        };
        let Some(name) = attr(" name").or_else(|| attr(";name")) else {
            continue;
        };
        let content_type = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        });
        out.push(Part {
            name,
            file_name: attr("filename"),
            content_type,
            content: raw[split + 4..].to_vec(),
        });
    }
    out
}
