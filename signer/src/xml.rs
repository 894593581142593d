//! A small element tree over quick-xml, enough for `keyconf.xml` and `devices`-like files.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{Result, SignerError};

/// An element: local name, attributes (local names), child elements and text.
#[derive(Debug, Default, Clone)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

/// At most this many nested elements (keyconf nests five deep).
const MAX_DEPTH: usize = 32;

fn local(name: &[u8]) -> String {
    let name = match name.iter().position(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    };
    String::from_utf8_lossy(name).into_owned()
}

impl Element {
    /// Parses a document; `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Element> {
        let bad = |e: &dyn std::fmt::Display| SignerError::Config(format!("{what}: {e}"));
        let mut reader = Reader::from_reader(bytes);
        reader.config_mut().trim_text(false);
        let mut stack: Vec<Element> = Vec::new();
        let mut buf = Vec::new();
        loop {
            let event = reader.read_event_into(&mut buf).map_err(|e| bad(&e))?;
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(bad(&"elements nest too deep"));
                    }
                    let mut el = Element {
                        name: local(e.name().as_ref()),
                        ..Element::default()
                    };
                    for a in e.attributes() {
                        let a = a.map_err(|e| bad(&e))?;
                        let key = a.key.as_ref();
                        if key.starts_with(b"xmlns") {
                            continue;
                        }
                        let value = a.unescape_value().map_err(|e| bad(&e))?.into_owned();
                        el.attrs.push((local(key), value));
                    }
                    if matches!(event, Event::Empty(_)) {
                        match stack.last_mut() {
                            Some(parent) => parent.children.push(el),
                            None => return Ok(el),
                        }
                    } else {
                        stack.push(el);
                    }
                }
                Event::End(_) => {
                    let el = stack.pop().ok_or_else(|| bad(&"unbalanced end tag"))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => return Ok(el),
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.unescape().map_err(|e| bad(&e))?);
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&String::from_utf8_lossy(&t));
                    }
                }
                Event::Eof => return Err(bad(&"unexpected end of document")),
                _ => {}
            }
            buf.clear();
        }
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Escapes text for element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
