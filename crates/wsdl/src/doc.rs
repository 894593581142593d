//! A small element tree of a WSDL or XML Schema document, enough for the validator: element
//! names, attributes, the namespace declarations in scope (to resolve QName-valued attributes
//! such as `message="tns:getRandom"`) and the text of leaves. WSDL documents are small; the
//! input size is bounded by the caller.

use std::sync::Arc;

use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

const XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// One element.
#[derive(Debug)]
pub struct Element {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub local: String,
    /// Attributes other than namespace declarations: (namespace, local name, value).
    pub attrs: Vec<(String, String, String)>,
    /// Children, as indices into [`Doc::elements`].
    pub children: Vec<usize>,
    /// Text directly inside the element.
    pub text: String,
    scope: Arc<Vec<(String, String)>>,
}

impl Element {
    /// The unqualified attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, local, _)| ns.is_empty() && local == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Whether the element is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// Resolves a QName value (`prefix:local` or `local`) in this element's scope: the
    /// namespace (the default namespace for an unprefixed name) and the local part, or
    /// `Err(prefix)` when the prefix is not declared.
    pub fn resolve_qname<'v>(&self, value: &'v str) -> Result<(String, &'v str), String> {
        let value = value.trim();
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", value),
        };
        if prefix == "xml" {
            return Ok(("http://www.w3.org/XML/1998/namespace".into(), local));
        }
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| (uri.clone(), local))
            .or_else(|| prefix.is_empty().then(|| (String::new(), local)))
            .ok_or_else(|| prefix.to_owned())
    }
}

/// A parsed document; element 0 is the root.
#[derive(Debug, Default)]
pub struct Doc {
    /// All elements in document order.
    pub elements: Vec<Element>,
}

impl Doc {
    /// The root element.
    pub fn root(&self) -> Option<&Element> {
        self.elements.first()
    }

    /// The children of `e` named `{ns}local`.
    pub fn children<'a>(
        &'a self,
        e: &'a Element,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        e.children
            .iter()
            .filter_map(|&i| self.elements.get(i))
            .filter(move |c| c.is(ns, local))
    }

    /// Every descendant of `e` (depth first, document order).
    pub fn descendants<'a>(&'a self, e: &'a Element) -> Vec<&'a Element> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = e.children.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            if let Some(c) = self.elements.get(i) {
                out.push(c);
                stack.extend(c.children.iter().rev().copied());
            }
        }
        out
    }
}

#[derive(Default)]
struct Builder {
    doc: Doc,
    open: Vec<usize>,
    scope: Arc<Vec<(String, String)>>,
    scopes: Vec<Arc<Vec<(String, String)>>>,
}

impl Handler for Builder {
    type Error = SyntaxError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), SyntaxError> {
        let mut declared: Vec<(String, String)> = Vec::new();
        let mut attrs = Vec::new();
        for a in tag.attributes() {
            if a.namespace == XMLNS {
                let prefix = if a.qname == "xmlns" { "" } else { a.local };
                declared.push((prefix.to_owned(), a.value.to_owned()));
            } else {
                attrs.push((
                    a.namespace.to_owned(),
                    a.local.to_owned(),
                    a.value.to_owned(),
                ));
            }
        }
        self.scopes.push(self.scope.clone());
        if !declared.is_empty() {
            let mut s = (*self.scope).clone();
            s.extend(declared);
            self.scope = Arc::new(s);
        }
        let index = self.doc.elements.len();
        self.doc.elements.push(Element {
            ns: tag.namespace.to_owned(),
            local: tag.local.to_owned(),
            attrs,
            children: Vec::new(),
            text: String::new(),
            scope: self.scope.clone(),
        });
        if let Some(parent) = self.open.last().and_then(|&p| self.doc.elements.get_mut(p)) {
            parent.children.push(index);
        }
        self.open.push(index);
        Ok(())
    }

    fn end_element(&mut self, _tag: &EndTag<'_>) -> Result<(), SyntaxError> {
        self.open.pop();
        if let Some(s) = self.scopes.pop() {
            self.scope = s;
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), SyntaxError> {
        if let Some(e) = self.open.last().and_then(|&i| self.doc.elements.get_mut(i)) {
            if e.text.len() < 64 * 1024 {
                e.text.push_str(text);
            }
        }
        Ok(())
    }
}

/// Parses `bytes` into a [`Doc`].
pub fn parse(bytes: &[u8]) -> Result<Doc, SyntaxError> {
    let mut b = Builder::default();
    let mut scanner = Scanner::new(Limits::default());
    scanner.feed(bytes, &mut b)?;
    scanner.finish(&mut b)?;
    Ok(b.doc)
}
