//! REST endpoint patterns and the normalisation of request paths before they are matched.
//!
//! Semantics follow the Java security server: a method pattern is `*` or a method compared
//! ignoring case; a path pattern is a glob anchored at both ends where `**` matches anything,
//! `*` the rest of one segment and `\*` a literal `*`. Like Java's possessive `[^/]*+`, a
//! single `*` always takes every character up to the next `/`, so `*.json` matches nothing;
//! write `**.json` or a whole segment. Request paths are percent-decoded and normalised, and
//! refused when `..` remains (the X-Road 7.7.1 path-traversal fix, XRDDEV-3054).

use std::borrow::Cow;
use xroad_identifiers::rest::is_pchar;

/// The method of the base endpoint: any method.
pub const ANY_METHOD: &str = "*";
/// The path of the base endpoint: any path (also a request without a path, as SOAP).
pub const ANY_PATH: &str = "**";

const METHODS: [&str; 9] = [
    "*", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
];

/// Checks an endpoint method: `*` or an HTTP method in upper case.
pub fn validate_method(method: &str) -> Result<(), String> {
    if METHODS.contains(&method) {
        Ok(())
    } else {
        Err(format!(
            "invalid method '{method}' (expected one of {})",
            METHODS.join(", ")
        ))
    }
}

/// Checks an endpoint path pattern: `**`, or a pattern starting with `/` without whitespace,
/// control characters, query or fragment, and without `.`/`..` segments (a normalised request
/// path never contains them, so such a pattern could never match).
pub fn validate_path_pattern(path: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid path pattern '{path}': {why}"));
    if path == ANY_PATH {
        return Ok(());
    }
    if !path.starts_with('/') && !path.starts_with("**") {
        return bad("must start with '/' or '**'");
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain whitespace or control characters");
    }
    if path.contains(['?', '#']) {
        return bad("must not contain a query or fragment");
    }
    if path.contains("..") || path.split('/').any(|s| s == ".") {
        return bad("must not contain '.' or '..' segments");
    }
    if path.contains('%') {
        return bad("must be written decoded (no percent escapes)");
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Box<str>),
    /// `*`: the rest of the segment (possessive).
    Segment,
    /// `**`: anything.
    Any,
}

/// A compiled path glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    tokens: Box<[Token]>,
    has_any: bool,
}

impl PathGlob {
    /// Compiles a glob (any text; validation is [`validate_path_pattern`]'s job).
    pub fn new(glob: &str) -> Self {
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let mut chars = glob.chars().peekable();
        let flush = |lit: &mut String, tokens: &mut Vec<Token>| {
            if !lit.is_empty() {
                tokens.push(Token::Literal(std::mem::take(lit).into_boxed_str()));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '\\')) => {
                        lit.push(n);
                        chars.next();
                    }
                    _ => lit.push('\\'),
                },
                '*' => {
                    flush(&mut lit, &mut tokens);
                    if chars.peek() == Some(&'*') {
                        while chars.peek() == Some(&'*') {
                            chars.next();
                        }
                        tokens.push(Token::Any);
                    } else {
                        tokens.push(Token::Segment);
                    }
                }
                c => lit.push(c),
            }
        }
        flush(&mut lit, &mut tokens);
        let has_any = tokens.contains(&Token::Any);
        PathGlob {
            tokens: tokens.into_boxed_slice(),
            has_any,
        }
    }

    /// Whether the whole of `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let s = path.as_bytes();
        if !self.has_any {
            // Deterministic: no backtracking needed.
            let mut p = 0;
            for t in self.tokens.iter() {
                match t {
                    Token::Literal(l) => {
                        if !s[p..].starts_with(l.as_bytes()) {
                            return false;
                        }
                        p += l.len();
                    }
                    Token::Segment => p = next_slash(s, p),
                    // Not present when `has_any` is false.
                    Token::Any => return false,
                }
            }
            return p == s.len();
        }
        // Positions reachable after each token; O(tokens × length), no exponential blow-up.
        let mut cur = vec![false; s.len() + 1];
        let mut next = vec![false; s.len() + 1];
        cur[0] = true;
        for t in self.tokens.iter() {
            next.iter_mut().for_each(|b| *b = false);
            match t {
                Token::Literal(l) => {
                    for p in 0..=s.len() {
                        if cur[p] && s[p..].starts_with(l.as_bytes()) {
                            next[p + l.len()] = true;
                        }
                    }
                }
                Token::Segment => {
                    for p in 0..=s.len() {
                        if cur[p] {
                            next[next_slash(s, p)] = true;
                        }
                    }
                }
                Token::Any => {
                    if let Some(first) = cur.iter().position(|&b| b) {
                        next[first..].iter_mut().for_each(|b| *b = true);
                    }
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        cur[s.len()]
    }
}

fn next_slash(s: &[u8], from: usize) -> usize {
    s[from..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(s.len(), |i| from + i)
}

/// A compiled endpoint: method and path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPattern {
    method: Box<str>,
    path: Option<PathGlob>,
}

impl EndpointPattern {
    /// Compiles `method` and `path`.
    pub fn new(method: &str, path: &str) -> Self {
        EndpointPattern {
            method: method.into(),
            path: (path != ANY_PATH).then(|| PathGlob::new(path)),
        }
    }

    /// Whether a request with `method` and the *normalised* `path` matches; `None` for both
    /// is a SOAP request, which only the base endpoint matches.
    pub fn matches(&self, method: Option<&str>, path: Option<&str>) -> bool {
        let method_ok = &*self.method == ANY_METHOD
            || method.is_some_and(|m| m.eq_ignore_ascii_case(&self.method));
        method_ok
            && match (&self.path, path) {
                (None, _) => true,
                (Some(glob), Some(p)) => glob.matches(p),
                (Some(_), None) => false,
            }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

fn percent_decode(src: &[u8], strict: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b == b'%' {
            let h = hex(*src.get(i + 1)?)?;
            let l = hex(*src.get(i + 2)?)?;
            out.push(h << 4 | l);
            i += 3;
        } else {
            if strict && b != b'/' && !is_pchar(b) {
                return None;
            }
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Characters `java.net.URI` refuses in a path (besides `%` outside escapes).
fn is_uri_illegal(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}' | '[' | ']'
        )
}

/// Removes `.` segments and resolves `..` against the segment before it (RFC 2396 as Java's
/// `URI.normalize`), collapsing repeated slashes. Unresolvable leading `..` segments stay.
fn remove_dot_segments(path: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    let mut trailing = path.ends_with('/');
    let mut parts = path.split('/').peekable();
    while let Some(s) = parts.next() {
        let last = parts.peek().is_none();
        match s {
            "" => {}
            "." => trailing |= last,
            ".." => {
                if segs.last().is_some_and(|l| *l != "..") {
                    segs.pop();
                } else {
                    segs.push("..");
                }
                trailing |= last;
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for (i, s) in segs.iter().enumerate() {
        if i > 0 || path.starts_with('/') {
            out.push('/');
        }
        out.push_str(s);
    }
    // "/" for an absolute path that resolved to nothing; a trailing slash kept.
    if (segs.is_empty() && path.starts_with('/')) || (trailing && !segs.is_empty()) {
        out.push('/');
    }
    out
}

/// Percent-decodes and normalises a REST request path as the Java server proxy does before
/// access checks (`UriUtils.decodeAndNormalize`), and refuses what must not be matched:
/// `None` when the path is malformed (bad escapes, characters a URI cannot hold, an
/// authority-like `//` start) or when `..` remains after normalisation.
pub fn normalize_request_path(path: &str) -> Option<Cow<'_, str>> {
    // Usual case: nothing to decode or normalise.
    let b = path.as_bytes();
    if b.first() == Some(&b'/')
        && b.iter()
            .all(|&c| c == b'/' || (is_pchar(c) && c != b'.' && c != b':'))
        && !path.contains("//")
    {
        return Some(Cow::Borrowed(path));
    }
    normalize_slow(path).map(Cow::Owned)
}

fn normalize_slow(path: &str) -> Option<String> {
    let decoded = percent_decode(path.as_bytes(), true)?;
    let decoded = String::from_utf8_lossy(&decoded);
    // What `URI.create` would take as query or fragment is not part of the path.
    let decoded = decoded.split(['?', '#']).next().unwrap_or_default();
    if decoded.chars().any(is_uri_illegal) || decoded.starts_with("//") {
        return None;
    }
    if !decoded.starts_with('/')
        && decoded
            .split('/')
            .next()
            .is_some_and(|first| first.contains(':'))
    {
        return None;
    }
    let normalized = remove_dot_segments(decoded);
    // `URI.getPath` decodes escapes that the first decoding produced (`%252e` → `%2e` → `.`).
    let normalized = if normalized.contains('%') {
        let twice = percent_decode(normalized.as_bytes(), false)?;
        String::from_utf8_lossy(&twice).into_owned()
    } else {
        normalized
    };
    if normalized.contains("..") {
        return None;
    }
    Some(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The glob cases of Java's `PathGlobTest`, plus the possessive `*`.
    #[test]
    fn globs_match_like_java() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "", true),
            ("***", "match/anything/*", true),
            ("**", "/a/b/c", true),
            ("/*/", "/a/", true),
            ("/*/", "/a/b/", false),
            ("", "", true),
            ("", " ", false),
            (".^$+{[]|()", ".^$+{[]|()", true),
            ("**/bar/**", "a/b/c/bar/e/f", true),
            ("**/bar/**", "a/b/c/foo/e/f", false),
            ("**\\*", "/what/ever*", true),
            ("**\\*", "/what/ever!", false),
            ("simple", "simple", true),
            ("simple", "prefix.simple.suffix", false),
            ("**/*/**", "something/bar/something/else", true),
            ("**/*/**", "/bar/", true),
            ("**/*/**", "//", true),
            ("**/*/**", "something/else", false),
            ("\\A", "\\A", true),
            ("\\*", "*", true),
            ("\\*", "\\*", false),
            ("\\\\", "\\", true),
            ("aa\\", "aa\\", true),
            ("/*.json", "/a.json", false),
            ("/**.json", "/a.json", true),
            ("/api/*/items", "/api/x/items", true),
            ("/api/*/items", "/api//items", true),
            ("/api/*", "/api/x/y", false),
        ];
        for &(glob, path, expected) in cases {
            assert_eq!(
                PathGlob::new(glob).matches(path),
                expected,
                "{glob} ~ {path}"
            );
        }
    }

    #[test]
    fn many_double_stars_stay_linear() {
        let glob = PathGlob::new(&"**a".repeat(30));
        let path = "a".repeat(29) + "b";
        assert!(!glob.matches(&path));
    }

    #[test]
    fn request_paths_are_decoded_and_normalised() {
        let ok = |p: &str, n: &str| {
            assert_eq!(normalize_request_path(p).as_deref(), Some(n), "{p}");
            // The fast path and the full one agree.
            assert_eq!(normalize_slow(p).as_deref(), Some(n), "{p}");
        };
        ok("/persons/42", "/persons/42");
        ok("/a-b_c~d!$&'()*+,;=@/x", "/a-b_c~d!$&'()*+,;=@/x");
        ok("/a/b", "/a/b");
        ok("/a/./b", "/a/b");
        ok("/a/b/../c", "/a/c");
        ok("/a//b", "/a/b");
        ok("/a/b/", "/a/b/");
        ok("/a/b/..", "/a/");
        ok("/a%2Fb", "/a/b");
        ok("/a/%2e/b", "/a/b");
        ok("/x/%2e%2e/y", "/y");
        ok("", "");
        ok("/a%3Fb", "/a");
    }

    #[test]
    fn traversal_is_refused() {
        for p in [
            "/..",
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/b",
            "/%2E%2E/b",
            "/a/%2e%2e/%2e%2e/b",
            "/%252e%252e/b",
            "/a..b",
            "/a/.%2e/../..",
            "..",
        ] {
            assert_eq!(normalize_request_path(p), None, "{p}");
        }
    }

    #[test]
    fn malformed_paths_are_refused() {
        for p in [
            "/a%", "/a%2", "/a%zz", "/a b", "/a\\b", "//host/a", "/a%5Cb", "x:y/z", "/a%00",
        ] {
            assert_eq!(normalize_request_path(p), None, "{p}");
        }
    }

    #[test]
    fn endpoint_methods_and_soap() {
        let base = EndpointPattern::new("*", "**");
        assert!(base.matches(None, None));
        assert!(base.matches(Some("GET"), Some("/x")));
        let get = EndpointPattern::new("GET", "/x/*");
        assert!(get.matches(Some("get"), Some("/x/1")));
        assert!(!get.matches(Some("POST"), Some("/x/1")));
        assert!(!get.matches(None, None));
        let any_path_get = EndpointPattern::new("GET", "**");
        assert!(!any_path_get.matches(None, None));
    }

    #[test]
    fn pattern_validation() {
        for ok in ["**", "/", "/a/*", "/a/**", "**/x", "/a/\\*"] {
            validate_path_pattern(ok).unwrap();
        }
        for bad in ["a", "/a b", "/a/../b", "/a/./b", "/a?x", "/a%2e", ""] {
            assert!(validate_path_pattern(bad).is_err(), "{bad}");
        }
        validate_method("GET").unwrap();
        assert!(validate_method("get").is_err());
        assert!(validate_method("FETCH").is_err());
    }
}
