//! A small read-only tree of an XML document, for the signature and hash-chain documents
//! X-Road exchanges (a few kilobytes; never message bodies). Built on the project's
//! streaming scanner, so it refuses exactly what the message parsers refuse (DOCTYPE,
//! unbound prefixes, bad UTF-8, duplicate attributes).
//!
//! All strings live in one arena and nodes link to their siblings, so a document of a
//! hundred elements costs a handful of allocations, not hundreds.

use std::ops::Range;

use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

/// The largest signature or hash-chain document accepted (Java has no limit; a signature
/// with a long certificate chain and its OCSP responses is tens of kilobytes).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// Index of a node; nodes are numbered in document order.
pub(crate) type NodeId = usize;

/// A range of the string arena.
type Span = Range<u32>;

#[derive(Debug, Clone)]
struct AttrData {
    qname: Span,
    local_at: u32,
    ns: u16,
    value: Span,
}

#[derive(Debug, Clone)]
struct ElementData {
    qname: Span,
    local_at: u32,
    ns: u16,
    attrs: Range<u32>,
    decls: Range<u32>,
    first_child: Option<NodeId>,
    last_child: Option<NodeId>,
    /// One past the last node of the subtree (set when the element closes).
    end: NodeId,
}

#[derive(Debug, Clone)]
enum NodeData {
    Element(ElementData),
    Text(Span),
    Pi(Span, Span),
}

/// What a node is, with its strings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Node<'d> {
    /// An element: see [`Document::element`].
    Element,
    Text(&'d str),
    /// A processing instruction: target and data.
    Pi(&'d str, &'d str),
}

/// An attribute other than a namespace declaration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr<'d> {
    pub qname: &'d str,
    pub local: &'d str,
    /// The namespace URI (`""` for unprefixed attributes).
    pub ns: &'d str,
    pub value: &'d str,
}

/// An element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'d> {
    doc: &'d Document,
    data: &'d ElementData,
    pub qname: &'d str,
    pub local: &'d str,
    /// The namespace URI (`""` when none applies).
    pub ns: &'d str,
}

impl<'d> Element<'d> {
    /// Attributes other than namespace declarations, in document order.
    pub fn attrs(&self) -> impl ExactSizeIterator<Item = Attr<'d>> + 'd {
        let doc = self.doc;
        let r = self.data.attrs.clone();
        doc.attrs[r.start as usize..r.end as usize]
            .iter()
            .map(move |a| Attr {
                qname: doc.s(&a.qname),
                local: doc.s(&a.qname).get(a.local_at as usize..).unwrap_or(""),
                ns: doc.namespace(a.ns),
                value: doc.s(&a.value),
            })
    }

    /// Namespace declarations on this element: (prefix, URI); prefix `""` is the default.
    pub fn decls(&self) -> impl ExactSizeIterator<Item = (&'d str, &'d str)> + 'd {
        let doc = self.doc;
        let r = self.data.decls.clone();
        doc.decls[r.start as usize..r.end as usize]
            .iter()
            .map(move |(p, u)| (doc.s(p), doc.s(u)))
    }

    /// Child nodes in document order.
    pub fn children(&self) -> impl Iterator<Item = NodeId> + 'd {
        let doc = self.doc;
        std::iter::successors(self.data.first_child, move |&c| doc.next_sibling[c])
    }
}

/// A parsed document: nodes in document order, the root element and the processing
/// instructions outside it.
#[derive(Debug)]
pub(crate) struct Document {
    arena: String,
    namespaces: Vec<Span>,
    nodes: Vec<NodeData>,
    parents: Vec<Option<NodeId>>,
    next_sibling: Vec<Option<NodeId>>,
    attrs: Vec<AttrData>,
    decls: Vec<(Span, Span)>,
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
    doc: Document,
    open: Vec<NodeId>,
    root: Option<NodeId>,
    /// The text node being extended, if the last thing seen was text.
    open_text: Option<NodeId>,
    /// The namespace [`Builder::namespace`] found last.
    last_namespace: u16,
}

impl Builder {
    /// Appends `s` to the arena. Documents are at most a few MiB, so offsets fit `u32`.
    fn intern(&mut self, s: &str) -> Span {
        let start = self.doc.arena.len() as u32;
        self.doc.arena.push_str(s);
        start..self.doc.arena.len() as u32
    }

    fn namespace(&mut self, uri: &str) -> u16 {
        // Neighbouring names mostly share a namespace: the last one found is tried first.
        let last = usize::from(self.last_namespace);
        if self
            .doc
            .namespaces
            .get(last)
            .is_some_and(|s| self.doc.bytes(s) == uri.as_bytes())
        {
            return self.last_namespace;
        }
        if let Some(i) = self
            .doc
            .namespaces
            .iter()
            .position(|s| self.doc.bytes(s) == uri.as_bytes())
        {
            self.last_namespace = i as u16;
            return self.last_namespace;
        }
        let span = self.intern(uri);
        self.doc.namespaces.push(span);
        (self.doc.namespaces.len() - 1) as u16
    }

    fn push(&mut self, node: NodeData) -> NodeId {
        let id = self.doc.nodes.len();
        let parent = self.open.last().copied();
        self.doc.nodes.push(node);
        self.doc.parents.push(parent);
        self.doc.next_sibling.push(None);
        if let Some(NodeData::Element(p)) = parent.and_then(|p| self.doc.nodes.get_mut(p)) {
            match p.last_child.replace(id) {
                Some(prev) => self.doc.next_sibling[prev] = Some(id),
                None => p.first_child = Some(id),
            }
        }
        id
    }
}

impl Handler for Builder {
    type Error = SyntaxError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), SyntaxError> {
        self.open_text = None;
        let attrs_start = self.doc.attrs.len() as u32;
        let decls_start = self.doc.decls.len() as u32;
        for a in tag.attributes() {
            if a.qname == "xmlns" || a.qname.starts_with("xmlns:") {
                let prefix = self.intern(a.qname.strip_prefix("xmlns:").unwrap_or(""));
                let uri = self.intern(a.value);
                self.doc.decls.push((prefix, uri));
            } else {
                let qname = self.intern(a.qname);
                let ns = self.namespace(a.namespace);
                let value = self.intern(a.value);
                self.doc.attrs.push(AttrData {
                    local_at: (a.qname.len() - a.local.len()) as u32,
                    qname,
                    ns,
                    value,
                });
            }
        }
        let qname = self.intern(tag.qname);
        let ns = self.namespace(tag.namespace);
        let id = self.push(NodeData::Element(ElementData {
            local_at: (tag.qname.len() - tag.local.len()) as u32,
            qname,
            ns,
            attrs: attrs_start..self.doc.attrs.len() as u32,
            decls: decls_start..self.doc.decls.len() as u32,
            first_child: None,
            last_child: None,
            end: 0,
        }));
        self.root.get_or_insert(id);
        self.open.push(id);
        Ok(())
    }

    fn end_element(&mut self, _tag: &EndTag<'_>) -> Result<(), SyntaxError> {
        self.open_text = None;
        let end = self.doc.nodes.len();
        if let Some(NodeData::Element(e)) =
            self.open.pop().and_then(|id| self.doc.nodes.get_mut(id))
        {
            e.end = end;
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), SyntaxError> {
        if self.open.is_empty() {
            return Ok(());
        }
        // Pieces of one text node arrive one after another: the arena keeps them adjacent.
        let span = self.intern(text);
        match self.open_text {
            Some(id) => {
                if let Some(NodeData::Text(s)) = self.doc.nodes.get_mut(id) {
                    s.end = span.end;
                }
            }
            None => self.open_text = Some(self.push(NodeData::Text(span))),
        }
        Ok(())
    }

    fn processing_instruction(&mut self, target: &str, data: &str) -> Result<(), SyntaxError> {
        // Comments are not reported: text around one continues the same node, as C14N
        // without comments wants it.
        self.open_text = None;
        let (t, d) = (self.intern(target), self.intern(data));
        let id = self.push(NodeData::Pi(t, d));
        if self.open.is_empty() {
            self.doc.outside.push((self.root.is_some(), id));
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
            doc: Document {
                arena: String::with_capacity(bytes.len()),
                namespaces: Vec::with_capacity(8),
                nodes: Vec::with_capacity(bytes.len() / 32),
                parents: Vec::with_capacity(bytes.len() / 32),
                next_sibling: Vec::with_capacity(bytes.len() / 32),
                attrs: Vec::with_capacity(bytes.len() / 64),
                decls: Vec::with_capacity(8),
                root: 0,
                outside: Vec::new(),
            },
            open: Vec::with_capacity(16),
            root: None,
            open_text: None,
            last_namespace: 0,
        };
        let mut scanner = Scanner::new(Limits::default());
        scanner.feed(bytes, &mut b)?;
        scanner.finish(&mut b)?;
        let mut doc = b.doc;
        doc.root = b.root.unwrap_or(0);
        Ok(doc)
    }

    fn s(&self, span: &Span) -> &str {
        self.arena
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    fn namespace(&self, i: u16) -> &str {
        self.namespaces
            .get(usize::from(i))
            .map_or("", |s| self.s(s))
    }

    /// How many nodes there are (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The node `id`.
    pub fn node(&self, id: NodeId) -> Option<Node<'_>> {
        Some(match self.nodes.get(id)? {
            NodeData::Element(_) => Node::Element,
            NodeData::Text(s) => Node::Text(self.s(s)),
            NodeData::Pi(t, d) => Node::Pi(self.s(t), self.s(d)),
        })
    }

    /// The element at `id`, if it is one.
    pub fn element(&self, id: NodeId) -> Option<Element<'_>> {
        match self.nodes.get(id)? {
            NodeData::Element(data) => {
                let qname = self.s(&data.qname);
                Some(Element {
                    doc: self,
                    data,
                    qname,
                    local: qname.get(data.local_at as usize..).unwrap_or(""),
                    ns: self.namespace(data.ns),
                })
            }
            _ => None,
        }
    }

    /// Child nodes of `id` (none unless it is an element).
    fn children(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let first = match self.nodes.get(id) {
            Some(NodeData::Element(e)) => e.first_child,
            _ => None,
        };
        std::iter::successors(first, move |&c| self.next_sibling[c])
    }

    /// Child elements of `id`.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.children(id)
            .filter(|&c| matches!(self.nodes.get(c), Some(NodeData::Element(_))))
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

    /// Whether `id` is the element `{ns}local` (the local name, which usually settles it, is
    /// compared first).
    pub fn is(&self, id: NodeId, ns: &str, local: &str) -> bool {
        match self.nodes.get(id) {
            Some(NodeData::Element(e)) => {
                let qname = self.bytes(&e.qname);
                qname.get(e.local_at as usize..) == Some(local.as_bytes())
                    && self.namespace(e.ns) == ns
            }
            _ => false,
        }
    }

    /// Whether `id` is an element written with the qualified name `qname`.
    pub fn has_qname(&self, id: NodeId, qname: &str) -> bool {
        match self.nodes.get(id) {
            Some(NodeData::Element(e)) => self.bytes(&e.qname) == qname.as_bytes(),
            _ => false,
        }
    }

    fn bytes(&self, span: &Span) -> &[u8] {
        self.arena
            .as_bytes()
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    /// The value of the attribute `{ns}local` (`ns = ""` for unprefixed) of `id`.
    pub fn attr(&self, id: NodeId, ns: &str, local: &str) -> Option<&str> {
        self.element(id)?
            .attrs()
            .find(|a| a.ns == ns && a.local == local)
            .map(|a| a.value)
    }

    /// The concatenated text of the children of `id` (not of deeper descendants).
    pub fn text(&self, id: NodeId) -> String {
        let len = self
            .children(id)
            .map(|c| match self.nodes.get(c) {
                Some(NodeData::Text(s)) => (s.end - s.start) as usize,
                _ => 0,
            })
            .sum();
        let mut out = String::with_capacity(len);
        for c in self.children(id) {
            if let Some(NodeData::Text(s)) = self.nodes.get(c) {
                out.push_str(self.s(s));
            }
        }
        out
    }

    /// Whether `id` has a text child with more than whitespace.
    pub fn has_non_whitespace_text(&self, id: NodeId) -> bool {
        self.children(id).any(|c| match self.nodes.get(c) {
            Some(NodeData::Text(s)) => !self.s(s).trim_matches([' ', '\t', '\r', '\n']).is_empty(),
            _ => false,
        })
    }

    /// The nodes at or below `from`, in document order: a contiguous range of ids.
    fn subtree(&self, from: NodeId) -> Range<NodeId> {
        match self.nodes.get(from) {
            Some(NodeData::Element(e)) => from..e.end.max(from + 1),
            Some(_) => from..from + 1,
            None => from..from,
        }
    }

    /// The first element in document order (at or below `from`) whose unprefixed attribute
    /// `name` equals `value`: how XPath `//*[@Id='…']` finds signature parts.
    pub fn find_by_attr(&self, from: NodeId, name: &str, value: &str) -> Option<NodeId> {
        self.subtree(from).find(|&id| {
            self.element(id).is_some_and(|e| {
                e.attrs()
                    .any(|a| a.ns.is_empty() && a.local == name && a.value == value)
            })
        })
    }

    /// Every element at or below `from`, in document order.
    pub fn descendants(&self, from: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.subtree(from)
            .filter(|&id| matches!(self.nodes.get(id), Some(NodeData::Element(_))))
    }

    /// The namespaces in scope at `id`, nearest declaration first wins: (prefix, URI).
    pub fn in_scope_namespaces(&self, id: NodeId) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        let mut cur = Some(id);
        while let Some(n) = cur {
            if let Some(e) = self.element(n) {
                for (p, u) in e.decls() {
                    if !out.iter().any(|(q, _)| *q == p) {
                        out.push((p, u));
                    }
                }
            }
            cur = self.parent(n);
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
        assert_eq!(doc.descendants(r).collect::<Vec<_>>(), vec![r, c, e]);
        assert!(Document::parse(b"<!DOCTYPE r><r/>").is_err());
        assert!(Document::parse(b"<r><x:y/></r>").is_err());
    }
}
