//! Canonical XML 1.0 without comments (`http://www.w3.org/TR/2001/REC-xml-c14n-20010315`),
//! inclusive, of an element subtree in the context of its document (how XML-DSig
//! canonicalizes `SignedInfo` and a same-document reference) and of a whole document (the
//! C14N transform of a hash-chain `DataRef`).

use crate::tree::{Document, Node, NodeId};
use crate::util::{escape_attr_into as escape_attr, escape_text_into as escape_text};

/// The URI of inclusive C14N 1.0 without comments.
pub const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// The URI of inclusive C14N 1.0 with comments (accepted as a method name; comments are not
/// kept by the tree, so it is treated as the plain form: signature documents have none).
pub const C14N_10_WITH_COMMENTS: &str =
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
/// The URI of exclusive C14N 1.0 without comments.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// A canonicalization method the verifier implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Inclusive,
    Exclusive,
}

impl Method {
    pub fn from_uri(uri: &str) -> Option<Method> {
        match uri {
            C14N_10 | C14N_10_WITH_COMMENTS => Some(Method::Inclusive),
            EXC_C14N => Some(Method::Exclusive),
            _ => None,
        }
    }
}

/// Canonicalizes the subtree of `apex`.
pub(crate) fn subtree(doc: &Document, apex: NodeId, method: Method) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let mut w = Writer {
        doc,
        out: &mut out,
        method,
    };
    w.element(apex, &[], true);
    out
}

/// Canonicalizes a whole document (processing instructions outside the root included).
pub(crate) fn document(doc: &Document) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    for &(after, pi) in &doc.outside {
        if !after {
            pi_node(doc, pi, &mut out);
            out.push(b'\n');
        }
    }
    let mut w = Writer {
        doc,
        out: &mut out,
        method: Method::Inclusive,
    };
    w.element(doc.root, &[], true);
    for &(after, pi) in &doc.outside {
        if after {
            out.push(b'\n');
            pi_node(doc, pi, &mut out);
        }
    }
    out
}

fn pi_node(doc: &Document, id: NodeId, out: &mut Vec<u8>) {
    if let Some(Node::Pi(target, data)) = doc.node(id) {
        out.extend_from_slice(b"<?");
        out.extend_from_slice(target.as_bytes());
        if !data.is_empty() {
            out.push(b' ');
            out.extend_from_slice(data.as_bytes());
        }
        out.extend_from_slice(b"?>");
    }
}

struct Writer<'d, 'o> {
    doc: &'d Document,
    out: &'o mut Vec<u8>,
    method: Method,
}

/// Namespace bindings rendered by output ancestors: (prefix, URI).
type Rendered<'d> = [(&'d str, &'d str)];

impl<'d> Writer<'d, '_> {
    fn element(&mut self, id: NodeId, rendered: &Rendered<'d>, apex: bool) {
        let doc = self.doc;
        let Some(e) = doc.element(id) else { return };
        // The common case inside a subtree: nothing declared, at most one attribute. It needs
        // no namespace bookkeeping, no sorting and no allocation.
        let plain = !apex && self.method == Method::Inclusive && e.decls().len() == 0;
        self.out.push(b'<');
        self.out.extend_from_slice(e.qname.as_bytes());
        let next: Option<Vec<(&'d str, &'d str)>> = if plain {
            None
        } else {
            let decls = self.declarations(id, rendered, apex);
            for (p, u) in &decls {
                self.out
                    .extend_from_slice(if p.is_empty() { b" xmlns" } else { b" xmlns:" });
                self.out.extend_from_slice(p.as_bytes());
                self.out.extend_from_slice(b"=\"");
                escape_attr(u, self.out);
                self.out.push(b'"');
            }
            // What descendants see as rendered: everything so far plus this element's.
            let mut next: Vec<(&'d str, &'d str)> = rendered.to_vec();
            for (p, u) in decls {
                match next.iter_mut().find(|(q, _)| *q == p) {
                    Some(slot) => slot.1 = u,
                    None => next.push((p, u)),
                }
            }
            Some(next)
        };
        if plain && e.attrs().len() <= 1 {
            for a in e.attrs() {
                self.attribute(a.qname, a.value);
            }
        } else {
            let mut attrs: Vec<(&str, &str, &str, &str)> = e
                .attrs()
                .map(|a| (a.ns, a.local, a.qname, a.value))
                .collect();
            if apex && self.method == Method::Inclusive {
                self.inherit_xml_attributes(id, &mut attrs);
            }
            attrs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            for (_, _, qname, value) in attrs {
                self.attribute(qname, value);
            }
        }
        self.out.push(b'>');

        let inner: &Rendered<'d> = next.as_deref().unwrap_or(rendered);
        for c in e.children() {
            match doc.node(c) {
                Some(Node::Element) => self.element(c, inner, false),
                Some(Node::Text(t)) => escape_text(t, self.out),
                Some(Node::Pi(..)) => pi_node(doc, c, self.out),
                None => {}
            }
        }
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(e.qname.as_bytes());
        self.out.push(b'>');
    }

    fn attribute(&mut self, qname: &str, value: &str) {
        self.out.push(b' ');
        self.out.extend_from_slice(qname.as_bytes());
        self.out.extend_from_slice(b"=\"");
        escape_attr(value, self.out);
        self.out.push(b'"');
    }

    /// The namespace declarations element `id` renders, sorted by prefix.
    fn declarations(
        &self,
        id: NodeId,
        rendered: &Rendered<'d>,
        apex: bool,
    ) -> Vec<(&'d str, &'d str)> {
        let doc: &'d Document = self.doc;
        let Some(e) = doc.element(id) else {
            return Vec::new();
        };
        let scope = if apex || self.method == Method::Exclusive {
            doc.in_scope_namespaces(id)
        } else {
            let mut s: Vec<(&str, &str)> = e.decls().collect();
            for &(p, u) in rendered {
                if !s.iter().any(|(q, _)| *q == p) {
                    s.push((p, u));
                }
            }
            s
        };
        let mut decls: Vec<(&str, &str)> = scope
            .into_iter()
            .filter(|&(p, u)| {
                if p == "xml" {
                    return false;
                }
                if self.method == Method::Exclusive && !self.visibly_used(id, p) {
                    return false;
                }
                let before = rendered.iter().find(|(q, _)| *q == p).map(|(_, v)| *v);
                match before {
                    Some(v) => v != u,
                    // An empty default namespace needs no declaration unless it undoes one.
                    None => !(p.is_empty() && u.is_empty()),
                }
            })
            .collect();
        decls.sort_by(|a, b| a.0.cmp(b.0));
        decls
    }

    /// Exclusive C14N renders a prefix only where the element or one of its attributes uses it.
    fn visibly_used(&self, id: NodeId, prefix: &str) -> bool {
        let Some(e) = self.doc.element(id) else {
            return false;
        };
        fn prefix_of(q: &str) -> &str {
            q.split_once(':').map_or("", |(p, _)| p)
        }
        prefix_of(e.qname) == prefix
            || e.attrs()
                .any(|a| a.qname.contains(':') && prefix_of(a.qname) == prefix)
    }

    /// C14N 1.0 copies `xml:*` attributes of ancestors onto the apex when it lacks them.
    fn inherit_xml_attributes(
        &self,
        id: NodeId,
        attrs: &mut Vec<(&'d str, &'d str, &'d str, &'d str)>,
    ) {
        const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
        let doc: &'d Document = self.doc;
        let mut cur = doc.parent(id);
        while let Some(p) = cur {
            if let Some(e) = doc.element(p) {
                for a in e.attrs().filter(|a| a.ns == XML_NS) {
                    if !attrs.iter().any(|x| x.0 == XML_NS && x.1 == a.local) {
                        attrs.push((a.ns, a.local, a.qname, a.value));
                    }
                }
            }
            cur = doc.parent(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n_of(doc: &str, id: &str) -> String {
        let d = Document::parse(doc.as_bytes()).unwrap();
        let apex = d.find_by_attr(d.root, "Id", id).unwrap();
        String::from_utf8(subtree(&d, apex, Method::Inclusive)).unwrap()
    }

    #[test]
    fn subtree_gets_namespaces_in_scope_sorted_attributes_and_escapes() {
        let doc = "<r xmlns:b='urn:b' xmlns='urn:d' xmlns:a='urn:a' xml:lang='et'>\
                   <a:x Id='1' z='&#13;&#9;\"' a:y='2' b='&lt;'><!--c--><e xmlns:a='urn:a' xmlns=''>1&#13;&gt;</e><?p  d?></a:x></r>";
        assert_eq!(
            c14n_of(doc, "1"),
            "<a:x xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" Id=\"1\" b=\"&lt;\" \
             z=\"&#xD;&#x9;&quot;\" xml:lang=\"et\" a:y=\"2\"><e xmlns=\"\">1&#xD;&gt;</e><?p d?></a:x>"
        );
    }

    #[test]
    fn whole_document_with_outside_pis() {
        let d = Document::parse(b"<?xml version='1.0'?>\n<?a?>\n<r><e/><!-- x -->\n</r><?z y?>")
            .unwrap();
        assert_eq!(
            String::from_utf8(document(&d)).unwrap(),
            "<?a?>\n<r><e></e>\n</r>\n<?z y?>"
        );
    }

    #[test]
    fn exclusive_renders_only_visibly_used_prefixes() {
        let d = Document::parse(
            b"<r xmlns:a='urn:a' xmlns:b='urn:b'><a:x Id='1' b:c='v'><a:y/></a:x></r>",
        )
        .unwrap();
        let apex = d.find_by_attr(d.root, "Id", "1").unwrap();
        assert_eq!(
            String::from_utf8(subtree(&d, apex, Method::Exclusive)).unwrap(),
            "<a:x xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" Id=\"1\" b:c=\"v\"><a:y></a:y></a:x>"
        );
    }
}
