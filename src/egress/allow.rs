//! `EGRESS_ALLOW`: which hosts tools inside the sandbox may reach, and which addresses they
//! may never reach however a name resolves.
//!
//! Why it exists: the sandbox has no network of its own, so this list is the whole of its
//! outside world. It is parsed strictly at start-up (a typo must not silently widen or narrow
//! it), and a name on it is only trusted as far as its DNS answer: a name that resolves to
//! loopback, link-local (which includes the cloud metadata service), unspecified or multicast
//! addresses is refused, so DNS cannot point an allowed name at ccgate's own ports. An operator
//! who really means such an address writes the IP literal itself.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One `EGRESS_ALLOW` entry: `host`, `host:port`, `*.example.com[:port]`, an IP literal
/// (`10.0.0.7`, `[fd00::7]:8443`). Without a port it matches the scheme's default port only:
/// 443 for `CONNECT`, 80 for plain `http://` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this (lower-case, no trailing dot) name.
    Name(String),
    /// Any name strictly below this suffix: `*.example.com` matches `a.example.com` and
    /// `a.b.example.com`, not `example.com`.
    Below(String),
    /// Exactly this address.
    Ip(IpAddr),
}

/// A bad `EGRESS_ALLOW` entry, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("EGRESS_ALLOW entry {entry:?}: {why}")]
pub struct AllowEntryError {
    pub entry: String,
    pub why: &'static str,
}

impl AllowEntry {
    /// Parse one entry.
    pub fn parse(entry: &str) -> Result<AllowEntry, AllowEntryError> {
        let fail = |why| AllowEntryError {
            entry: entry.to_string(),
            why,
        };
        let s = entry.trim();
        if s.is_empty() {
            return Err(fail("empty entry"));
        }
        if s.contains("://") || s.contains('/') || s.contains('@') {
            return Err(fail(
                "write a host or host:port, without scheme, user or path",
            ));
        }
        // A bare IPv6 literal has several colons and no brackets.
        if let Ok(ip) = s.parse::<Ipv6Addr>() {
            return Ok(AllowEntry {
                host: HostPattern::Ip(IpAddr::V6(ip)),
                port: None,
            });
        }
        let (host, port) = split_host_port(s).map_err(fail)?;
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(fail("port must be a number from 1 to 65535")),
                Ok(p) => Some(p),
            },
        };
        if let Some(inner) = host.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(fail("unbalanced [ in IPv6 literal"))?;
            let ip = inner
                .parse::<Ipv6Addr>()
                .map_err(|_| fail("not an IPv6 address inside [ ]"))?;
            return Ok(AllowEntry {
                host: HostPattern::Ip(IpAddr::V6(ip)),
                port,
            });
        }
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(AllowEntry {
                host: HostPattern::Ip(IpAddr::V4(ip)),
                port,
            });
        }
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host),
        };
        let name = normalize_name(name).ok_or(fail(
            "not a valid host name (letters, digits, '-' and '.'; '*.' only as a prefix)",
        ))?;
        if name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(fail("looks like an IPv4 address but is not one"));
        }
        Ok(AllowEntry {
            host: if wildcard {
                HostPattern::Below(name)
            } else {
                HostPattern::Name(name)
            },
            port,
        })
    }

    /// Parse a whole `EGRESS_ALLOW` value: entries separated by commas or white space. An empty
    /// value is an empty list (deny all).
    pub fn parse_list(list: &str) -> Result<Vec<AllowEntry>, AllowEntryError> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(AllowEntry::parse)
            .collect()
    }

    /// Does this entry allow `host` (as the client wrote it) on `port`? `default_port` is the
    /// port a port-less entry stands for (443 for CONNECT, 80 for plain HTTP).
    pub(crate) fn matches(&self, host: &Target, port: u16, default_port: u16) -> bool {
        if self.port.unwrap_or(default_port) != port {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Ip(a), Target::Ip(b)) => a == b,
            (HostPattern::Name(a), Target::Name(b)) => a == b,
            (HostPattern::Below(suffix), Target::Name(b)) => b
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            _ => false,
        }
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Name(n) => f.write_str(n)?,
            HostPattern::Below(n) => write!(f, "*.{n}")?,
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// The host a client asked for, normalised for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Name(String),
    Ip(IpAddr),
}

impl Target {
    /// Parse the host part of a request target (`example.com`, `1.2.3.4`, `[::1]`). `None` for
    /// anything that is neither a valid name nor an address.
    pub(crate) fn parse(host: &str) -> Option<Target> {
        if let Some(inner) = host.strip_prefix('[') {
            return inner
                .strip_suffix(']')?
                .parse::<Ipv6Addr>()
                .ok()
                .map(|ip| Target::Ip(IpAddr::V6(ip)));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Target::Ip(ip));
        }
        normalize_name(host).map(Target::Name)
    }
}

/// Split `host:port` (the host may be a bracketed IPv6 literal). No colon: no port.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), &'static str> {
    if s.starts_with('[') {
        return match s.find(']') {
            None => Err("unbalanced [ in IPv6 literal"),
            Some(end) if end + 1 == s.len() => Ok((s, None)),
            Some(end) => match s[end + 1..].strip_prefix(':') {
                Some(port) => Ok((&s[..=end], Some(port))),
                None => Err("junk after ]"),
            },
        };
    }
    match s.split_once(':') {
        None => Ok((s, None)),
        Some((_, port)) if port.contains(':') => Err("too many ':'"),
        Some((host, port)) => Ok((host, Some(port))),
    }
}

/// Lower-case a DNS name and drop one trailing dot; `None` unless every label is 1–63 of
/// `[a-z0-9-]`, not starting or ending with `-`, and the whole at most 253 characters.
fn normalize_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (!name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)).then_some(name)
}

/// Addresses an allowlisted *name* may never resolve to: they reach this machine (loopback,
/// unspecified, `0.0.0.0/8`), the link (link-local, which holds the metadata service
/// `169.254.169.254`, and AWS's IPv6 one `fd00:ec2::254`), or many hosts at once (multicast,
/// broadcast). IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
pub(crate) fn forbidden_for_names(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.octets()[0] == 0
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_for_names(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
                || v6.is_multicast()
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> AllowEntry {
        AllowEntry::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn name(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    #[test]
    fn egress_allow_parses_the_documented_forms() {
        assert_eq!(entry("GitHub.com.").to_string(), "github.com");
        assert_eq!(entry("github.com:22").to_string(), "github.com:22");
        assert_eq!(entry("*.npmjs.org").to_string(), "*.npmjs.org");
        assert_eq!(entry("127.0.0.1:8080").to_string(), "127.0.0.1:8080");
        assert_eq!(entry("[::1]:8443").to_string(), "[::1]:8443");
        assert_eq!(entry("fd00::7").to_string(), "[fd00::7]");
        let list = AllowEntry::parse_list(" a.example, b.example:8443\n*.c.example ").unwrap();
        assert_eq!(list.len(), 3);
        assert!(AllowEntry::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn egress_allow_rejects_junk_and_names_the_entry() {
        for junk in [
            "https://github.com",
            "github.com/path",
            "user@github.com",
            "*",
            "*.",
            "a.*.example.com",
            "github.com:0",
            "github.com:99999",
            "github.com:http",
            "github.com:",
            "exa_mple.com",
            "-bad.example",
            "999.1.1.1",
            "[::1",
            "[nonsense]:443",
            "[::1]x",
            "a:b:c",
            &format!("{}.com", "a".repeat(64)),
        ] {
            let err = AllowEntry::parse(junk).expect_err(junk);
            assert_eq!(err.entry, junk);
            assert!(err.to_string().contains(junk), "{err}");
        }
        let err = AllowEntry::parse_list("ok.example, bad_one").unwrap_err();
        assert_eq!(err.entry, "bad_one");
    }

    #[test]
    fn egress_allow_matches_hosts_and_ports_exactly() {
        let bare = entry("github.com");
        assert!(bare.matches(&name("GITHUB.com"), 443, 443));
        assert!(bare.matches(&name("github.com."), 80, 80));
        assert!(!bare.matches(&name("github.com"), 80, 443));
        assert!(!bare.matches(&name("api.github.com"), 443, 443));
        assert!(!bare.matches(&name("evilgithub.com"), 443, 443));

        let wild = entry("*.example.com:8443");
        assert!(wild.matches(&name("a.example.com"), 8443, 443));
        assert!(wild.matches(&name("a.b.example.com"), 8443, 443));
        assert!(!wild.matches(&name("example.com"), 8443, 443));
        assert!(!wild.matches(&name("badexample.com"), 8443, 443));
        assert!(!wild.matches(&name("a.example.com"), 443, 443));

        let ip = entry("127.0.0.1:9000");
        assert!(ip.matches(&name("127.0.0.1"), 9000, 443));
        assert!(!ip.matches(&name("localhost"), 9000, 443));
        assert!(entry("[::1]:9").matches(&name("[::1]"), 9, 443));
    }

    #[test]
    fn egress_forbidden_addresses_cover_loopback_link_local_and_metadata() {
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "169.254.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
        ] {
            assert!(forbidden_for_names(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.215.14",
            "10.1.2.3",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden_for_names(ip.parse().unwrap()), "{ip}");
        }
    }
}
