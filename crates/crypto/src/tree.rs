//! A small read-only tree of an XML document, for the signature and hash-chain documents
//! X-Road exchanges (a few kilobytes; never message bodies). Built on the project's
//! streaming scanner, so it refuses exactly what the message parsers refuse (DOCTYPE,
//! unbound prefixes, bad UTF-8, duplicate attributes).

use std::sync::Arc;

use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

/// The largest signature or hash-chain document accepted (Java has no limit; a signature
/// with a long certificate chain and its OCSP responses is tens of kilobytes).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// Index of a node in [`Document::nodes`].
pub(crate) type NodeId = usize;

#[derive(Debug)]
pub(crate) struct Attr {
    pub qname: String,
    local_at: usize,
    ns: Arc<str>,
    pub value: String,
}

impl Attr {
    /// The local part of the name.
    pub fn local(&self) -> &str {
        self.qname.get(self.local_at..).unwrap_or("")
    }

    /// The namespace URI (`""` for unprefixed attributes).
    pub fn ns(&self) -> &str {
        &self.ns
    }
}

#[derive(Debug)]
pub(crate) struct Element {
    pub qname: String,
    local_at: usize,
    ns: Arc<str>,
    /// Attributes other than namespace declarations, in document order.
    pub attrs: Vec<Attr>,
    /// Namespace declarations on this element: (prefix, URI); prefix `""` is the default.
    pub ns_decls: Vec<(String, String)>,
    pub children: Vec<NodeId>,
}

impl Element {
    /// The local part of the name.
    pub fn local(&self) -> &str {
        self.qname.get(self.local_at..).unwrap_or("")
    }

    /// The namespace URI (`""` when none applies).
    pub fn ns(&self) -> &str {
        &self.ns
    }
}

#[derive(Debug)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
    /// A processing instruction: target and data.
    Pi(String, String),
}

/// A parsed document: nodes in document order, the root element and the processing
/// instructions outside it.
#[derive(Debug)]
pub(crate) struct Document {
    pub nodes: Vec<Node>,
    pub parents: Vec<Option<NodeId>>,
    pub root: NodeId,
    /// Top-level processing instructions before (`false`) or after (`true`) the root.
    pub outside: Vec<(bool, NodeId)>,
}

/// Why a document could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TreeError {
    #[error("{0}")]
    Syntax(#[from] SyntaxError),
    #[error("document larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
}

struct Builder {
    /// Namespace URIs seen so far: a document uses a handful, on every element.
    namespaces: Vec<Arc<str>>,
    nodes: Vec<Node>,
    parents: Vec<Option<NodeId>>,
    open: Vec<NodeId>,
    root: Option<NodeId>,
    outside: Vec<(bool, NodeId)>,
}

impl Builder {
    fn namespace(&mut self, uri: &str) -> Arc<str> {
        if let Some(n) = self.namespaces.iter().find(|n| ***n == *uri) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(uri);
        self.namespaces.push(Arc::clone(&n));
        n
    }

    fn push(&mut self, node: Node) -> NodeId {
        let id = self.nodes.len();
        let parent = self.open.last().copied();
        self.nodes.push(node);
        self.parents.push(parent);
        if let Some(Node::Element(p)) = parent.and_then(|p| self.nodes.get_mut(p)) {
            p.children.push(id);
        }
        id
    }
}

impl Handler for Builder {
    type Error = SyntaxError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), SyntaxError> {
        let mut attrs = Vec::new();
        let mut ns_decls = Vec::new();
        for a in tag.attributes() {
            if a.qname == "xmlns" {
                ns_decls.push((String::new(), a.value.to_owned()));
            } else if let Some(prefix) = a.qname.strip_prefix("xmlns:") {
                ns_decls.push((prefix.to_owned(), a.value.to_owned()));
            } else {
                attrs.push(Attr {
                    qname: a.qname.to_owned(),
                    local_at: a.qname.len() - a.local.len(),
                    ns: self.namespace(a.namespace),
                    value: a.value.to_owned(),
                });
            }
        }
        let ns = self.namespace(tag.namespace);
        let id = self.push(Node::Element(Element {
            qname: tag.qname.to_owned(),
            local_at: tag.qname.len() - tag.local.len(),
            ns,
            attrs,
            ns_decls,
            children: Vec::new(),
        }));
        self.root.get_or_insert(id);
        self.open.push(id);
        Ok(())
    }

    fn end_element(&mut self, _tag: &EndTag<'_>) -> Result<(), SyntaxError> {
        self.open.pop();
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), SyntaxError> {
        // Pieces of one text node arrive separately: join them.
        if let Some(&parent) = self.open.last() {
            if let Some(Node::Element(p)) = self.nodes.get(parent) {
                if let Some(&last) = p.children.last() {
                    if let Some(Node::Text(t)) = self.nodes.get_mut(last) {
                        t.push_str(text);
                        return Ok(());
                    }
                }
            }
        }
        self.push(Node::Text(text.to_owned()));
        Ok(())
    }

    fn processing_instruction(&mut self, target: &str, data: &str) -> Result<(), SyntaxError> {
        let id = self.push(Node::Pi(target.to_owned(), data.to_owned()));
        if self.open.is_empty() {
            self.outside.push((self.root.is_some(), id));
        }
        Ok(())
    }
}

impl Document {
    /// Parses a whole document.
    pub fn parse(bytes: &[u8]) -> Result<Document, TreeError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(TreeError::TooLarge);
        }
        let mut b = Builder {
            namespaces: Vec::with_capacity(8),
            nodes: Vec::with_capacity(bytes.len() / 32),
            parents: Vec::new(),
            open: Vec::new(),
            root: None,
            outside: Vec::new(),
        };
        let mut scanner = Scanner::new(Limits::default());
        scanner.feed(bytes, &mut b)?;
        scanner.finish(&mut b)?;
        Ok(Document {
            root: b.root.unwrap_or(0),
            nodes: b.nodes,
            parents: b.parents,
            outside: b.outside,
        })
    }

    /// The element at `id`, if it is one.
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match self.nodes.get(id) {
            Some(Node::Element(e)) => Some(e),
            _ => None,
        }
    }

    /// Child elements of `id`.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.element(id)
            .map(|e| e.children.as_slice())
            .unwrap_or(&[])
            .iter()
            .copied()
            .filter(|&c| self.element(c).is_some())
    }

    /// The first child element of `id` named `{ns}local`.
    pub fn child(&self, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
        self.child_elements(id).find(|&c| self.is(c, ns, local))
    }

    /// All child elements of `id` named `{ns}local`.
    pub fn children_named<'s>(
        &'s self,
        id: NodeId,
        ns: &'s str,
        local: &'s str,
    ) -> impl Iterator<Item = NodeId> + 's {
        self.child_elements(id)
            .filter(move |&c| self.is(c, ns, local))
    }

    /// Whether `id` is the element `{ns}local`.
    pub fn is(&self, id: NodeId, ns: &str, local: &str) -> bool {
        self.element(id)
            .is_some_and(|e| e.ns() == ns && e.local() == local)
    }

    /// The value of the attribute `{ns}local` (`ns = ""` for unprefixed) of `id`.
    pub fn attr(&self, id: NodeId, ns: &str, local: &str) -> Option<&str> {
        self.element(id)?
            .attrs
            .iter()
            .find(|a| a.ns() == ns && a.local() == local)
            .map(|a| a.value.as_str())
    }

    /// The concatenated text of the children of `id` (not of deeper descendants).
    pub fn text(&self, id: NodeId) -> String {
        let mut out = String::new();
        if let Some(e) = self.element(id) {
            for &c in &e.children {
                if let Some(Node::Text(t)) = self.nodes.get(c) {
                    out.push_str(t);
                }
            }
        }
        out
    }

    /// Whether `id` has child nodes other than elements, ignoring whitespace-only text.
    pub fn has_non_whitespace_text(&self, id: NodeId) -> bool {
        self.element(id).is_some_and(|e| {
            e.children.iter().any(|&c| match self.nodes.get(c) {
                Some(Node::Text(t)) => !t.trim_matches([' ', '\t', '\r', '\n']).is_empty(),
                _ => false,
            })
        })
    }

    /// The first element in document order (at or below `from`) whose unprefixed attribute
    /// `name` equals `value`: how XPath `//*[@Id='…']` finds signature parts.
    pub fn find_by_attr(&self, from: NodeId, name: &str, value: &str) -> Option<NodeId> {
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            let e = self.element(id)?;
            if e.attrs
                .iter()
                .any(|a| a.ns().is_empty() && a.local() == name && a.value == value)
            {
                return Some(id);
            }
            stack.extend(
                e.children
                    .iter()
                    .rev()
                    .copied()
                    .filter(|&c| self.element(c).is_some()),
            );
        }
        None
    }

    /// Every element at or below `from`, in document order.
    pub fn descendants(&self, from: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            if let Some(e) = self.element(id) {
                out.push(id);
                stack.extend(e.children.iter().rev().copied());
            }
        }
        out
    }

    /// The namespaces in scope at `id`, nearest declaration first wins: (prefix, URI).
    pub fn in_scope_namespaces(&self, id: NodeId) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        let mut cur = Some(id);
        while let Some(n) = cur {
            if let Some(e) = self.element(n) {
                for (p, u) in &e.ns_decls {
                    if !out.iter().any(|(q, _)| q == p) {
                        out.push((p, u));
                    }
                }
            }
            cur = self.parents.get(n).copied().flatten();
        }
        out
    }

    /// The parent of `id`.
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.parents.get(id).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_scopes_and_ids() {
        let doc = Document::parse(
            b"<?xml version='1.0'?><?a b?><r xmlns='urn:d' xmlns:p='urn:p'><p:c Id='x'>t<!--c-->u</p:c><e xmlns=''/></r><?z?>",
        )
        .unwrap();
        let r = doc.root;
        assert!(doc.is(r, "urn:d", "r"));
        let c = doc.child(r, "urn:p", "c").unwrap();
        assert_eq!(doc.text(c), "tu");
        assert_eq!(doc.find_by_attr(r, "Id", "x"), Some(c));
        let e = doc.child(r, "", "e").unwrap();
        assert_eq!(doc.in_scope_namespaces(e), vec![("", ""), ("p", "urn:p")]);
        assert_eq!(
            doc.outside.iter().map(|o| o.0).collect::<Vec<_>>(),
            [false, true]
        );
        assert!(Document::parse(b"<!DOCTYPE r><r/>").is_err());
        assert!(Document::parse(b"<r><x:y/></r>").is_err());
    }
}
