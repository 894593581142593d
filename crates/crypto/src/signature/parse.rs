//! Reading a signature document: the elements X-Road's verifier uses, and the parts of the
//! XML-DSig and XAdES schemas that Java's schema validation enforces.

use xroad_fault::{ErrorCode, XRoadError};

use crate::tree::{Document, NodeId, TreeError};

pub(crate) const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const XADES_NS: &str = "http://uri.etsi.org/01903/v1.3.2#";

pub(crate) fn malformed(msg: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::MalformedSignature, msg)
}

/// A parsed signature document and where its parts are.
#[derive(Debug)]
pub(crate) struct SignatureDoc {
    pub doc: Document,
    pub signature: NodeId,
    pub signed_info: NodeId,
    pub signature_value: NodeId,
    pub object: NodeId,
}

/// The first element in document order with the qualified name `qname`: Java finds the
/// signature's parts by literal tag name, so the `ds:` prefix is part of the format.
fn first_by_qname(doc: &Document, qname: &str) -> Option<NodeId> {
    // Nodes are numbered in document order.
    (0..doc.len()).find(|&id| doc.has_qname(id, qname))
}

impl SignatureDoc {
    /// Parses `xml` (an `asic:XAdESSignatures` document, or a bare `ds:Signature`).
    pub fn parse(xml: &[u8]) -> Result<SignatureDoc, XRoadError> {
        let doc = Document::parse(xml).map_err(|e| match e {
            TreeError::Syntax(s) => XRoadError::new(ErrorCode::InvalidXml, s.to_string()),
            TreeError::TooLarge => XRoadError::new(ErrorCode::InvalidXml, e.to_string()),
        })?;
        let find = |qname: &str| {
            first_by_qname(&doc, qname)
                .ok_or_else(|| malformed(format!("Could not find element \"{qname}\"")))
        };
        let signature = find("ds:Signature")?;
        let object = find("ds:Object")?;
        let signature_value = find("ds:SignatureValue")?;
        let signed_info = doc
            .child(signature, DS_NS, "SignedInfo")
            .ok_or_else(|| malformed("Could not find element \"ds:SignedInfo\""))?;
        Ok(SignatureDoc {
            doc,
            signature,
            signed_info,
            signature_value,
            object,
        })
    }

    /// The checks of Java's schema validation, applied to the first child node of the root
    /// as Java applies them: it must be an element (no whitespace before `ds:Signature`),
    /// valid by the XML-DSig schema, with valid XAdES content in its objects.
    pub fn check_schema(&self) -> Result<(), XRoadError> {
        let doc = &self.doc;
        let root = doc
            .element(doc.root)
            .ok_or_else(|| malformed("no root element"))?;
        let first = root
            .children()
            .next()
            .ok_or_else(|| malformed("the signature document is empty"))?;
        let Some(e) = doc.element(first) else {
            return Err(malformed(
                "the root element must begin with ds:Signature, not with text",
            ));
        };
        match (e.ns, e.local) {
            (DS_NS, "Signature") => check_signature(doc, first),
            (DS_NS, "SignedInfo") => check_signed_info(doc, first),
            _ => Err(malformed(format!(
                "unexpected element {} where ds:Signature belongs",
                e.qname
            ))),
        }
    }
}

/// A schema sequence over the child elements of `id`: each rule is (namespace, local name,
/// minimum, maximum). No text is allowed between them.
fn sequence(
    doc: &Document,
    id: NodeId,
    rules: &[(&str, &str, usize, usize)],
) -> Result<Groups, XRoadError> {
    let name = || doc.element(id).map_or("", |e| e.qname);
    if doc.has_non_whitespace_text(id) {
        return Err(malformed(format!("text is not allowed in {}", name())));
    }
    let kids: Vec<NodeId> = doc.child_elements(id).collect();
    let mut at = 0;
    let mut ends = [0; MAX_RULES];
    if rules.len() > MAX_RULES {
        return Err(malformed(format!("too many rules for {}", name())));
    }
    for (i, &(ns, local, min, max)) in rules.iter().enumerate() {
        let start = at;
        while at < kids.len() && at - start < max && doc.is(kids[at], ns, local) {
            at += 1;
        }
        if at - start < min {
            let found = kids
                .get(at)
                .and_then(|&k| doc.element(k))
                .map_or("nothing", |e| e.qname);
            return Err(malformed(format!(
                "{} must contain {local} where it has {found}",
                name()
            )));
        }
        ends[i] = at;
    }
    if let Some(&k) = kids.get(at) {
        let q = doc.element(k).map_or("", |e| e.qname);
        return Err(malformed(format!("unexpected element {q} in {}", name())));
    }
    Ok(Groups { kids, ends })
}

/// The most rules a [`sequence`] takes (ds:Signature's four).
const MAX_RULES: usize = 4;

/// The children a [`sequence`] matched, by rule: `groups[i]` are those of rule `i`.
struct Groups {
    kids: Vec<NodeId>,
    ends: [usize; MAX_RULES],
}

impl std::ops::Index<usize> for Groups {
    type Output = [NodeId];

    fn index(&self, rule: usize) -> &[NodeId] {
        let start = rule.checked_sub(1).map_or(0, |r| self.ends[r]);
        &self.kids[start..self.ends[rule]]
    }
}

fn require_attr(doc: &Document, id: NodeId, name: &str) -> Result<(), XRoadError> {
    if doc.attr(id, "", name).is_some() {
        return Ok(());
    }
    let el = doc.element(id).map_or("", |e| e.qname);
    Err(malformed(format!("{el} lacks the attribute {name}")))
}

fn check_base64(doc: &Document, id: NodeId) -> Result<(), XRoadError> {
    if doc.child_elements(id).next().is_some() || !crate::util::is_base64(&doc.text(id)) {
        let el = doc.element(id).map_or("", |e| e.qname);
        return Err(malformed(format!("{el} does not hold base64 data")));
    }
    Ok(())
}

const UNBOUNDED: usize = usize::MAX;

fn check_signature(doc: &Document, sig: NodeId) -> Result<(), XRoadError> {
    let parts = sequence(
        doc,
        sig,
        &[
            (DS_NS, "SignedInfo", 1, 1),
            (DS_NS, "SignatureValue", 1, 1),
            (DS_NS, "KeyInfo", 0, 1),
            (DS_NS, "Object", 0, UNBOUNDED),
        ],
    )?;
    check_signed_info(doc, parts[0][0])?;
    check_base64(doc, parts[1][0])?;
    for &key_info in &parts[2] {
        if doc.child_elements(key_info).next().is_none() {
            return Err(malformed("ds:KeyInfo is empty"));
        }
        for x509 in doc.children_named(key_info, DS_NS, "X509Data") {
            if doc.child_elements(x509).next().is_none() {
                return Err(malformed("ds:X509Data is empty"));
            }
            if doc.has_non_whitespace_text(x509) {
                return Err(malformed("text is not allowed in ds:X509Data"));
            }
            // The certificate's base64 is checked where it is decoded (same code).
        }
    }
    for &object in &parts[3] {
        for qp in doc.children_named(object, XADES_NS, "QualifyingProperties") {
            check_qualifying_properties(doc, qp)?;
        }
    }
    Ok(())
}

fn check_signed_info(doc: &Document, si: NodeId) -> Result<(), XRoadError> {
    let parts = sequence(
        doc,
        si,
        &[
            (DS_NS, "CanonicalizationMethod", 1, 1),
            (DS_NS, "SignatureMethod", 1, 1),
            (DS_NS, "Reference", 1, UNBOUNDED),
        ],
    )?;
    require_attr(doc, parts[0][0], "Algorithm")?;
    require_attr(doc, parts[1][0], "Algorithm")?;
    for &r in &parts[2] {
        let p = sequence(
            doc,
            r,
            &[
                (DS_NS, "Transforms", 0, 1),
                (DS_NS, "DigestMethod", 1, 1),
                (DS_NS, "DigestValue", 1, 1),
            ],
        )?;
        for &t in &p[0] {
            for &transform in &sequence(doc, t, &[(DS_NS, "Transform", 1, UNBOUNDED)])?[0] {
                require_attr(doc, transform, "Algorithm")?;
            }
        }
        require_attr(doc, p[1][0], "Algorithm")?;
        check_base64(doc, p[2][0])?;
    }
    Ok(())
}

fn check_qualifying_properties(doc: &Document, qp: NodeId) -> Result<(), XRoadError> {
    require_attr(doc, qp, "Target")?;
    let parts = sequence(
        doc,
        qp,
        &[
            (XADES_NS, "SignedProperties", 0, 1),
            (XADES_NS, "UnsignedProperties", 0, 1),
        ],
    )?;
    for &up in &parts[1] {
        for usp in doc.children_named(up, XADES_NS, "UnsignedSignatureProperties") {
            for rv in doc.children_named(usp, XADES_NS, "RevocationValues") {
                for ocsp in doc.children_named(rv, XADES_NS, "OCSPValues") {
                    // At least one response; their base64 is checked where decoded.
                    sequence(
                        doc,
                        ocsp,
                        &[(XADES_NS, "EncapsulatedOCSPValue", 1, UNBOUNDED)],
                    )?;
                }
            }
            for refs in doc.children_named(usp, XADES_NS, "CompleteCertificateRefs") {
                let certs = sequence(doc, refs, &[(XADES_NS, "CertRefs", 1, 1)])?;
                let list = sequence(doc, certs[0][0], &[(XADES_NS, "Cert", 1, UNBOUNDED)])?;
                for &cert in &list[0] {
                    sequence(
                        doc,
                        cert,
                        &[
                            (XADES_NS, "CertDigest", 1, 1),
                            (XADES_NS, "IssuerSerial", 0, 1),
                        ],
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &[(&str, &str, usize, usize)] = &[
        ("urn:t", "a", 1, 1),
        ("urn:t", "b", 0, 1),
        ("urn:t", "c", 0, UNBOUNDED),
        ("urn:t", "d", 1, 2),
    ];

    fn run(xml: &str) -> Result<Vec<Vec<NodeId>>, String> {
        let doc = Document::parse(xml.as_bytes()).map_err(|e| e.to_string())?;
        let groups = sequence(&doc, doc.root, RULES).map_err(|e| e.to_string())?;
        Ok((0..RULES.len()).map(|i| groups[i].to_vec()).collect())
    }

    fn sizes(xml: &str) -> Vec<usize> {
        run(xml).unwrap().iter().map(Vec::len).collect()
    }

    #[test]
    fn groups_follow_the_rules() {
        let ns = r#"xmlns:t="urn:t""#;
        assert_eq!(
            sizes(&format!("<t:r {ns}><t:a/><t:d/></t:r>")),
            [1, 0, 0, 1]
        );
        assert_eq!(
            sizes(&format!(
                "<t:r {ns}>\n <t:a/><t:b/><t:c/><t:c/><t:c/><t:d/><t:d/>\n</t:r>"
            )),
            [1, 1, 3, 2]
        );
        let all = run(&format!("<t:r {ns}><t:a/><t:c/><t:d/></t:r>")).unwrap();
        let flat: Vec<NodeId> = all.concat();
        assert!(flat.windows(2).all(|w| w[0] < w[1]), "document order");
    }

    #[test]
    fn what_breaks_the_sequence_is_named() {
        let ns = r#"xmlns:t="urn:t""#;
        let err = |body: &str| run(&format!("<t:r {ns}>{body}</t:r>")).unwrap_err();
        assert!(err("<t:d/>").contains("t:r must contain a where it has t:d"));
        assert!(err("<t:a/>").contains("t:r must contain d where it has nothing"));
        assert!(err("<t:a/><t:d/><t:d/><t:d/>").contains("unexpected element t:d in t:r"));
        assert!(err("<t:a/>x<t:d/>").contains("text is not allowed in t:r"));
    }
}
