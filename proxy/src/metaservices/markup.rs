//! A small tag lexer over a document that is already known to be well-formed: start and end
//! tags with their byte ranges, attribute value ranges and in-scope namespace declarations.
//! The metaservices use it to edit a document in place (rename the body element, replace the
//! body's content, overwrite `soap:address/@location`) without re-serializing the rest.

use std::ops::Range;

/// One tag of the document.
#[derive(Debug, Clone)]
pub(crate) enum Tag<'a> {
    /// A start tag (`empty` for `<a/>`).
    Start {
        /// The whole tag, `<` to `>`.
        span: Range<usize>,
        /// The qualified name.
        qname: &'a str,
        /// Where the qualified name is.
        name_span: Range<usize>,
        /// Attributes: qualified name and the range of the value (between the quotes).
        attributes: Vec<(&'a str, Range<usize>)>,
        /// `<a/>`.
        empty: bool,
    },
    /// An end tag.
    End {
        /// The whole tag.
        span: Range<usize>,
        /// Where the qualified name is.
        name_span: Range<usize>,
    },
}

/// The tags of `text` in document order (comments, CDATA sections, processing instructions
/// and the DOCTYPE are skipped). `None` when the markup is broken.
pub(crate) fn tags(text: &str) -> Option<Vec<Tag<'_>>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = memchr(b'<', &b[i..]) {
        let start = i + off;
        let rest = &text[start..];
        if rest.starts_with("<!--") {
            i = start + 4 + rest[4..].find("-->")? + 3;
        } else if rest.starts_with("<![CDATA[") {
            i = start + 9 + rest[9..].find("]]>")? + 3;
        } else if rest.starts_with("<?") {
            i = start + 2 + rest[2..].find("?>")? + 2;
        } else if rest.starts_with("<!") {
            i = start + rest.find('>')? + 1;
        } else if let Some(r) = rest.strip_prefix("</") {
            let end = start + rest.find('>')?;
            let name_len = r
                .find(|c: char| c.is_whitespace() || c == '>')
                .unwrap_or(r.len());
            out.push(Tag::End {
                span: start..end + 1,
                name_span: start + 2..start + 2 + name_len,
            });
            i = end + 1;
        } else {
            let mut p = start + 1;
            let name_end =
                p + text[p..].find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
            let qname = &text[p..name_end];
            p = name_end;
            let mut attributes = Vec::new();
            let empty;
            loop {
                while b.get(p).is_some_and(u8::is_ascii_whitespace) {
                    p += 1;
                }
                match b.get(p)? {
                    b'>' => {
                        empty = false;
                        break;
                    }
                    b'/' => {
                        if b.get(p + 1) != Some(&b'>') {
                            return None;
                        }
                        p += 1;
                        empty = true;
                        break;
                    }
                    _ => {
                        let eq = p + text[p..].find('=')?;
                        let name = text[p..eq].trim_end();
                        let mut q = eq + 1;
                        while b.get(q).is_some_and(u8::is_ascii_whitespace) {
                            q += 1;
                        }
                        let quote = *b.get(q)?;
                        if quote != b'"' && quote != b'\'' {
                            return None;
                        }
                        let close = q + 1 + memchr(quote, &b[q + 1..])?;
                        attributes.push((name, q + 1..close));
                        p = close + 1;
                    }
                }
            }
            out.push(Tag::Start {
                span: start..p + 1,
                qname,
                name_span: start + 1..name_end,
                attributes,
                empty,
            });
            i = p + 1;
        }
    }
    Some(out)
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&c| c == needle)
}

/// The prefix and local part of a qualified name.
pub(crate) fn split_qname(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", qname),
    }
}

/// Namespace bindings in scope while walking [`tags`]: push a start tag's declarations,
/// pop at its end.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// (depth, prefix, namespace); `""` prefix is the default namespace.
    bindings: Vec<(usize, String, String)>,
}

impl Scope {
    /// Declarations of a start tag at `depth`, with values from `text` (entity references
    /// in namespace names are not expected and kept as written).
    pub(crate) fn push(&mut self, depth: usize, text: &str, attributes: &[(&str, Range<usize>)]) {
        for (name, value) in attributes {
            let prefix = if *name == "xmlns" {
                Some("")
            } else {
                name.strip_prefix("xmlns:")
            };
            if let Some(prefix) = prefix {
                let uri = text.get(value.clone()).unwrap_or("");
                self.bindings
                    .push((depth, prefix.to_owned(), uri.to_owned()));
            }
        }
    }

    /// Leaves the element at `depth`.
    pub(crate) fn pop(&mut self, depth: usize) {
        while self.bindings.last().is_some_and(|(d, _, _)| *d >= depth) {
            self.bindings.pop();
        }
    }

    /// The namespace of `prefix`.
    pub(crate) fn resolve(&self, prefix: &str) -> Option<&str> {
        self.bindings
            .iter()
            .rev()
            .find(|(_, p, _)| p == prefix)
            .map(|(_, _, u)| u.as_str())
    }

    /// A prefix bound to `uri` (not shadowed), the innermost first.
    pub(crate) fn prefix_of(&self, uri: &str) -> Option<&str> {
        self.bindings
            .iter()
            .rev()
            .filter(|(_, _, u)| u == uri)
            .map(|(_, p, _)| p.as_str())
            .find(|p| !p.is_empty() && self.resolve(p) == Some(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_with_ranges_and_scope() {
        let t = r#"<?xml version="1.0"?><!-- <x> --><a:r xmlns:a="urn:a" k='v>'><![CDATA[<no>]]><a:e/></a:r>"#;
        let tags = tags(t).unwrap();
        assert_eq!(tags.len(), 3);
        let Tag::Start {
            qname,
            attributes,
            empty,
            ..
        } = &tags[0]
        else {
            panic!()
        };
        assert_eq!(*qname, "a:r");
        assert!(!empty);
        assert_eq!(&t[attributes[1].1.clone()], "v>");
        let mut scope = Scope::default();
        scope.push(1, t, attributes);
        assert_eq!(scope.resolve("a"), Some("urn:a"));
        assert_eq!(scope.prefix_of("urn:a"), Some("a"));
        let Tag::Start { empty, .. } = &tags[1] else {
            panic!()
        };
        assert!(empty);
        let Tag::End { name_span, .. } = &tags[2] else {
            panic!()
        };
        assert_eq!(&t[name_span.clone()], "a:r");
        scope.pop(1);
        assert_eq!(scope.resolve("a"), None);
        assert!(super::tags("<a x=1>").is_none());
    }
}
