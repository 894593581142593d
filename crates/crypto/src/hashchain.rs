//! Hash chains (`http://cyber.ee/hashchain`): how X-Road signs several message parts, or
//! several messages, with one signature.
//!
//! A hash step is a list of values; its digest is `H(DER(DigestList))` with
//! `DigestList ::= SEQUENCE OF SEQUENCE { OCTET STRING digest, UTF8String digestMethodURI,
//! SEQUENCE {} }`. A `HashChainResult` names the top step and holds its digest, which is
//! what the signature covers.

use std::collections::{HashMap, HashSet};

use xroad_fault::{ErrorCode, XRoadError};

use crate::algorithm::{Digest, DigestAlgorithm};
use crate::c14n;
use crate::der::{self, tag};
use crate::tree::{Document, NodeId};
use crate::util::decode_base64;

/// The hash chain namespace.
pub const HASH_CHAIN_NS: &str = "http://cyber.ee/hashchain";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Steps referenced through `StepRef`s deeper than this are refused (Java recurses without
/// bound; a batch of 2^64 messages would need 64).
const MAX_STEP_DEPTH: usize = 128;

/// The URI of the hash chain part in a transport message, as the result names it.
pub const SIG_HASH_CHAIN_URI: &str = "/sig-hashchain.xml";
/// The URI of the hash-chain-result part, as the signature references it.
pub const SIG_HASH_CHAIN_RESULT_URI: &str = "/sig-hashchainresult.xml";

/// The DER `DigestList` of a hash step's values: (digest bytes, digest method URI).
pub fn digest_list<'a>(values: impl IntoIterator<Item = (&'a [u8], &'a str)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    der::write_nested(tag::SEQUENCE, &mut out, |list| {
        for (digest, uri) in values {
            der::write_nested(tag::SEQUENCE, list, |single| {
                der::write(tag::OCTET_STRING, digest, single);
                der::write(tag::UTF8_STRING, uri.as_bytes(), single);
                der::write(tag::SEQUENCE, &[], single);
            });
        }
    });
    out
}

/// The digest of a hash step whose values all use `algorithm`.
pub fn step_digest<'a>(
    algorithm: DigestAlgorithm,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Digest {
    let uri = algorithm.uri();
    algorithm.digest(&digest_list(values.into_iter().map(|v| (v, uri))))
}

fn malformed(msg: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::MalformedHashChain, msg)
}

// ---------------------------------------------------------------------------------------
// Parsing (with the checks hashchain.xsd makes)

#[derive(Debug)]
enum ValueKind {
    Data {
        uri: String,
        transforms: Vec<String>,
    },
    Hash,
    Step {
        uri: String,
    },
}

#[derive(Debug)]
struct Value {
    kind: ValueKind,
    method: Option<String>,
    digest: Vec<u8>,
}

#[derive(Debug)]
struct Chain {
    default_method: Option<String>,
    steps: Vec<(Option<String>, Vec<Value>)>,
}

#[derive(Debug)]
struct ChainResult {
    uri: String,
    method: Option<String>,
    digest: Vec<u8>,
}

fn parse_doc(bytes: &[u8]) -> Result<Document, XRoadError> {
    Document::parse(bytes).map_err(|e| malformed(format!("Parsing hash chain failed: {e}")))
}

/// Children of `id` as a schema sequence: no text, no foreign elements.
fn element_children(doc: &Document, id: NodeId) -> Result<Vec<NodeId>, XRoadError> {
    if doc.has_non_whitespace_text(id) {
        let name = doc.element(id).map_or("", |e| e.local);
        return Err(malformed(format!("text is not allowed in {name}")));
    }
    Ok(doc.child_elements(id).collect())
}

fn only_attributes(doc: &Document, id: NodeId, allowed: &[&str]) -> Result<(), XRoadError> {
    let Some(e) = doc.element(id) else {
        return Ok(());
    };
    match e
        .attrs()
        .find(|a| !(a.ns.is_empty() && allowed.contains(&a.local)))
    {
        Some(a) => Err(malformed(format!(
            "attribute {} is not allowed on {}",
            a.qname, e.local
        ))),
        None => Ok(()),
    }
}

fn required_attr(doc: &Document, id: NodeId, name: &str) -> Result<String, XRoadError> {
    doc.attr(id, "", name).map(str::to_owned).ok_or_else(|| {
        let el = doc.element(id).map_or("", |e| e.local);
        malformed(format!("{el} lacks the attribute {name}"))
    })
}

/// Digest method, transforms and digest value of a chain value.
type ValueBody = (Option<String>, Vec<String>, Vec<u8>);

/// Reads the optional `ds:DigestMethod`, `ds:Transforms` and `ds:DigestValue` that follow in
/// `kids` (in this order), as allowed by `with_transforms` / `with_value`.
fn read_value_body(
    doc: &Document,
    kids: &[NodeId],
    with_transforms: bool,
    with_value: bool,
) -> Result<ValueBody, XRoadError> {
    let mut it = kids.iter().copied().peekable();
    let mut method = None;
    if let Some(&k) = it.peek() {
        if doc.is(k, DS_NS, "DigestMethod") {
            method = Some(required_attr(doc, k, "Algorithm")?);
            it.next();
        }
    }
    let mut transforms = Vec::new();
    if with_transforms {
        if let Some(&k) = it.peek() {
            if doc.is(k, DS_NS, "Transforms") {
                for t in element_children(doc, k)? {
                    if !doc.is(t, DS_NS, "Transform") {
                        return Err(malformed("Transforms may hold only Transform elements"));
                    }
                    transforms.push(required_attr(doc, t, "Algorithm")?);
                }
                if transforms.is_empty() {
                    return Err(malformed("Transforms must hold at least one Transform"));
                }
                it.next();
            }
        }
    }
    let mut digest = Vec::new();
    if with_value {
        match it.next() {
            Some(k) if doc.is(k, DS_NS, "DigestValue") => {
                digest = decode_base64(&doc.text(k))
                    .ok_or_else(|| malformed("DigestValue is not base64"))?;
            }
            _ => return Err(malformed("DigestValue is missing")),
        }
    }
    match it.next() {
        Some(k) => Err(malformed(format!(
            "unexpected element {}",
            doc.element(k).map_or("", |e| e.qname)
        ))),
        None => Ok((method, transforms, digest)),
    }
}

fn parse_chain(bytes: &[u8]) -> Result<Chain, XRoadError> {
    let doc = parse_doc(bytes)?;
    let root = doc.root;
    if !doc.is(root, HASH_CHAIN_NS, "HashChain") {
        return Err(malformed("the root element is not a HashChain"));
    }
    only_attributes(&doc, root, &[])?;
    let kids = element_children(&doc, root)?;
    let mut it = kids.into_iter().peekable();
    let mut default_method = None;
    if let Some(&k) = it.peek() {
        if doc.is(k, HASH_CHAIN_NS, "DefaultDigestMethod") {
            default_method = Some(required_attr(&doc, k, "Algorithm")?);
            it.next();
        }
    }
    let mut steps = Vec::new();
    let mut ids = HashSet::new();
    for step in it {
        if !doc.is(step, HASH_CHAIN_NS, "HashStep") {
            return Err(malformed(
                "HashChain may hold only HashStep elements after DefaultDigestMethod",
            ));
        }
        only_attributes(&doc, step, &["id"])?;
        let id = doc.attr(step, "", "id").map(str::to_owned);
        if let Some(id) = &id {
            if !ids.insert(id.clone()) {
                return Err(malformed(format!("duplicate hash step id {id}")));
            }
        }
        let mut values = Vec::new();
        for v in element_children(&doc, step)? {
            let kids = element_children(&doc, v)?;
            let local = doc.element(v).map_or("", |e| e.local);
            let in_ns = doc.element(v).is_some_and(|e| e.ns == HASH_CHAIN_NS);
            let value = match local {
                "DataRef" if in_ns => {
                    only_attributes(&doc, v, &["URI"])?;
                    let uri = required_attr(&doc, v, "URI")?;
                    let (method, transforms, digest) = read_value_body(&doc, &kids, true, true)?;
                    Value {
                        kind: ValueKind::Data { uri, transforms },
                        method,
                        digest,
                    }
                }
                "HashValue" if in_ns => {
                    only_attributes(&doc, v, &[])?;
                    let (method, transforms, digest) = read_value_body(&doc, &kids, true, true)?;
                    if !transforms.is_empty() {
                        return Err(malformed("transforms on a HashValue are not supported"));
                    }
                    Value {
                        kind: ValueKind::Hash,
                        method,
                        digest,
                    }
                }
                "StepRef" if in_ns => {
                    only_attributes(&doc, v, &["URI"])?;
                    let uri = required_attr(&doc, v, "URI")?;
                    let (method, _, _) = read_value_body(&doc, &kids, false, false)?;
                    Value {
                        kind: ValueKind::Step { uri },
                        method,
                        digest: Vec::new(),
                    }
                }
                other => return Err(malformed(format!("unexpected element {other} in HashStep"))),
            };
            values.push(value);
        }
        steps.push((id, values));
    }
    Ok(Chain {
        default_method,
        steps,
    })
}

fn parse_result(bytes: &[u8]) -> Result<ChainResult, XRoadError> {
    let doc = parse_doc(bytes)?;
    let root = doc.root;
    if !doc.is(root, HASH_CHAIN_NS, "HashChainResult") {
        return Err(malformed("the root element is not a HashChainResult"));
    }
    only_attributes(&doc, root, &["URI"])?;
    let uri = required_attr(&doc, root, "URI")?;
    let kids = element_children(&doc, root)?;
    let (method, _, digest) = read_value_body(&doc, &kids, false, true)?;
    Ok(ChainResult {
        uri,
        method,
        digest,
    })
}

// ---------------------------------------------------------------------------------------
// Verification

/// One input the caller vouches for: a part URI and, when the caller computed it, its digest.
#[derive(Debug, Clone, Copy)]
pub struct ChainInput<'a> {
    /// The part URI, e.g. `/message.xml`, `/attachment1`.
    pub uri: &'a str,
    /// The digest the caller computed, if any. A `DataRef` to this URI with the same digest
    /// method takes this digest (not the chain's); otherwise the data is resolved.
    pub digest: Option<&'a Digest>,
}

/// Supplies the documents and data a hash chain refers to.
pub trait ChainResolver {
    /// Whether a `DataRef` to `uri` should be resolved and checked; `false` takes the chain's
    /// value as it stands (for data the verifier does not hold).
    fn should_resolve(&self, uri: &str) -> bool {
        let _ = uri;
        true
    }

    /// The bytes at `uri` (a hash chain file or data); `None` if there is no such thing.
    fn resolve(&self, uri: &str) -> Option<Vec<u8>>;
}

/// A resolver that knows a fixed set of documents by URI.
#[derive(Debug, Default, Clone)]
pub struct MapResolver {
    docs: HashMap<String, Vec<u8>>,
    declined: HashSet<String>,
}

impl MapResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `bytes` at `uri`.
    pub fn with(mut self, uri: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.docs.insert(uri.into(), bytes.into());
        self
    }

    /// Declines to resolve `uri` (its chain value is taken as it stands).
    pub fn declining(mut self, uri: impl Into<String>) -> Self {
        self.declined.insert(uri.into());
        self
    }
}

impl ChainResolver for MapResolver {
    fn should_resolve(&self, uri: &str) -> bool {
        !self.declined.contains(uri)
    }

    fn resolve(&self, uri: &str) -> Option<Vec<u8>> {
        self.docs.get(uri).cloned()
    }
}

struct Verifier<'r, 'i> {
    resolver: &'r dyn ChainResolver,
    inputs: &'i [ChainInput<'i>],
    chains: HashMap<String, Chain>,
    used: HashSet<String>,
    /// The DigestList of every step already computed, by file and index: steps may be
    /// referenced many times, and recomputing them would make a small chain cost
    /// exponential work.
    done: HashMap<(String, usize), Vec<u8>>,
}

fn algorithm_of(uri: &str) -> Result<DigestAlgorithm, XRoadError> {
    DigestAlgorithm::from_uri(uri)
        .ok_or_else(|| malformed(format!("unsupported digest method {uri}")))
}

impl Verifier<'_, '_> {
    fn method(&self, value: &Value, chain: &str) -> Result<DigestAlgorithm, XRoadError> {
        let uri = match &value.method {
            Some(m) => Some(m.as_str()),
            None => self
                .chains
                .get(chain)
                .and_then(|c| c.default_method.as_deref()),
        };
        algorithm_of(
            uri.ok_or_else(|| malformed("a value has no digest method and the chain no default"))?,
        )
    }

    fn load_chain(&mut self, uri: &str) -> Result<(), XRoadError> {
        if self.chains.contains_key(uri) {
            return Ok(());
        }
        let bytes = self.resolver.resolve(uri).ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidReference,
                format!("Cannot resolve URI: {uri}"),
            )
        })?;
        let chain = parse_chain(&bytes)?;
        self.chains.insert(uri.to_owned(), chain);
        Ok(())
    }

    /// The DigestList bytes of the step `uri` (`file#id`; an empty file is `current`).
    fn step_bytes(
        &mut self,
        uri: &str,
        current: &str,
        depth: usize,
    ) -> Result<Vec<u8>, XRoadError> {
        let invalid = || malformed(format!("Invalid hash step URI: {uri}"));
        if depth > MAX_STEP_DEPTH {
            return Err(malformed(format!(
                "hash steps nest deeper than {MAX_STEP_DEPTH} (a cycle?)"
            )));
        }
        let (file, fragment) = uri.split_once('#').ok_or_else(invalid)?;
        if fragment.is_empty() {
            return Err(invalid());
        }
        let file = if file.is_empty() {
            current.to_owned()
        } else {
            file.to_owned()
        };
        self.load_chain(&file)?;
        let index = self.chains[&file]
            .steps
            .iter()
            .position(|(id, _)| id.as_deref() == Some(fragment))
            .ok_or_else(invalid)?;
        if let Some(bytes) = self.done.get(&(file.clone(), index)) {
            return Ok(bytes.clone());
        }
        let count = self.chains[&file].steps[index].1.len();
        let mut resolved: Vec<(Vec<u8>, DigestAlgorithm)> = Vec::with_capacity(count);
        for i in 0..count {
            resolved.push(self.value(&file, index, i, depth)?);
        }
        let bytes = digest_list(resolved.iter().map(|(d, a)| (d.as_slice(), a.uri())));
        self.done.insert((file, index), bytes.clone());
        Ok(bytes)
    }

    fn value(
        &mut self,
        file: &str,
        step: usize,
        i: usize,
        depth: usize,
    ) -> Result<(Vec<u8>, DigestAlgorithm), XRoadError> {
        let value = &self.chains[file].steps[step].1[i];
        let method = self.method(value, file)?;
        match &value.kind {
            ValueKind::Hash => Ok((value.digest.clone(), method)),
            ValueKind::Step { uri } => {
                let uri = uri.clone();
                let bytes = self.step_bytes(&uri, file, depth + 1)?;
                Ok((method.digest(&bytes).as_bytes().to_vec(), method))
            }
            ValueKind::Data { uri, transforms } => {
                let (uri, transforms, expected) =
                    (uri.clone(), transforms.clone(), value.digest.clone());
                self.data_ref(&uri, &transforms, &expected, method)
            }
        }
    }

    fn data_ref(
        &mut self,
        uri: &str,
        transforms: &[String],
        expected: &[u8],
        method: DigestAlgorithm,
    ) -> Result<(Vec<u8>, DigestAlgorithm), XRoadError> {
        let input = self.inputs.iter().find(|i| i.uri == uri);
        if input.is_some() {
            self.used.insert(uri.to_owned());
        }
        if let Some(d) = input
            .and_then(|i| i.digest)
            .filter(|d| d.algorithm() == method)
        {
            return Ok((d.as_bytes().to_vec(), method));
        }
        if !self.resolver.should_resolve(uri) {
            return Ok((expected.to_vec(), method));
        }
        let data = self.resolver.resolve(uri).ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidReference,
                format!("Cannot resolve URI: {uri}"),
            )
        })?;
        let data = apply_transforms(data, transforms)?;
        let digest = method.digest(&data);
        if digest.as_bytes() != expected {
            return Err(XRoadError::new(
                ErrorCode::InvalidHashChainRef,
                format!("Invalid digest value in hash chain reference to {uri}"),
            ));
        }
        Ok((digest.as_bytes().to_vec(), method))
    }
}

fn apply_transforms(mut data: Vec<u8>, transforms: &[String]) -> Result<Vec<u8>, XRoadError> {
    for t in transforms {
        match c14n::Method::from_uri(t) {
            Some(method) => {
                let doc = Document::parse(&data).map_err(|e| {
                    XRoadError::new(
                        ErrorCode::InvalidHashChainRef,
                        format!("cannot canonicalize the referenced data: {e}"),
                    )
                })?;
                data = match method {
                    c14n::Method::Inclusive => c14n::document(&doc),
                    c14n::Method::Exclusive => c14n::subtree(&doc, doc.root, method),
                };
            }
            None => return Err(malformed(format!("unsupported transform {t}"))),
        }
    }
    Ok(data)
}

/// Verifies a hash chain: the result's step recomputed from the chain documents (found
/// through `resolver`) and the caller's `inputs` must match the result's digest, and every
/// input must be referenced somewhere.
///
/// Errors carry X-Road's codes: `malformed_hash_chain`, `invalid_hash_chain` (result
/// mismatch), `invalid_hash_chain_ref` (resolved data does not match its `DataRef`),
/// `invalid_reference` (a URI cannot be resolved), `hashchain_unused_inputs`.
pub fn verify(
    result_xml: &[u8],
    resolver: &dyn ChainResolver,
    inputs: &[ChainInput<'_>],
) -> Result<(), XRoadError> {
    let result = parse_result(result_xml)?;
    let mut v = Verifier {
        resolver,
        inputs,
        chains: HashMap::new(),
        used: HashSet::new(),
        done: HashMap::new(),
    };
    // The result's URI always names a file: the "current chain" of a bare fragment is none.
    if result.uri.starts_with('#') {
        return Err(malformed(format!("Invalid hash step URI: {}", result.uri)));
    }
    let top = v.step_bytes(&result.uri, "", 0)?;
    let method = algorithm_of(
        result
            .method
            .as_deref()
            .ok_or_else(|| malformed("HashChainResult has no DigestMethod"))?,
    )?;
    if method.digest(&top).as_bytes() != result.digest.as_slice() {
        return Err(XRoadError::new(
            ErrorCode::InvalidHashChain,
            "Hash chain result does not match hash chain calculation",
        ));
    }
    let mut unused: Vec<&str> = inputs
        .iter()
        .map(|i| i.uri)
        .filter(|u| !v.used.contains(*u))
        .collect();
    if !unused.is_empty() {
        unused.sort_unstable();
        return Err(XRoadError::new(
            ErrorCode::HashChainUnusedInputs,
            format!(
                "Some inputs were not referenced by hash chain: {}",
                unused.join(", ")
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Building

/// The two documents that let a signature cover several parts or messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashChainDocuments {
    /// The `HashChainResult` part (`/sig-hashchainresult.xml`): its bytes are signed.
    pub result: Vec<u8>,
    /// One `HashChain` part (`/sig-hashchain.xml`) per message, in input order.
    pub chains: Vec<Vec<u8>>,
}

const CHAIN_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

fn result_xml(algorithm: DigestAlgorithm, top: &Digest) -> Vec<u8> {
    format!(
        "{CHAIN_HEAD}<ns2:HashChainResult URI=\"{SIG_HASH_CHAIN_URI}#STEP0\" xmlns=\"{DS_NS}\" xmlns:ns2=\"{HASH_CHAIN_NS}\">\n    \
         <DigestMethod Algorithm=\"{}\"/>\n    <DigestValue>{}</DigestValue>\n</ns2:HashChainResult>\n",
        algorithm.uri(),
        top.to_base64()
    )
    .into_bytes()
}

/// One value of a hash step being written.
enum Out<'a> {
    Data(&'a str, &'a Digest),
    Hash(&'a Digest),
    Step(usize),
}

fn chain_xml(algorithm: DigestAlgorithm, steps: &[Vec<Out<'_>>]) -> Vec<u8> {
    use std::fmt::Write;
    let mut s = String::with_capacity(512 + steps.len() * 300);
    let _ = write!(
        s,
        "{CHAIN_HEAD}<ns2:HashChain xmlns=\"{DS_NS}\" xmlns:ns2=\"{HASH_CHAIN_NS}\">\n    \
         <ns2:DefaultDigestMethod Algorithm=\"{}\"/>\n",
        algorithm.uri()
    );
    for (n, values) in steps.iter().enumerate() {
        let _ = writeln!(s, "    <ns2:HashStep id=\"STEP{n}\">");
        for v in values {
            match v {
                Out::Data(uri, d) => {
                    let _ = write!(
                        s,
                        "        <ns2:DataRef URI=\"{}\">\n            <DigestValue>{}</DigestValue>\n        </ns2:DataRef>\n",
                        crate::util::escape_attr(uri),
                        d.to_base64()
                    );
                }
                Out::Hash(d) => {
                    let _ = write!(
                        s,
                        "        <ns2:HashValue>\n            <DigestValue>{}</DigestValue>\n        </ns2:HashValue>\n",
                        d.to_base64()
                    );
                }
                Out::Step(k) => {
                    let _ = writeln!(s, "        <ns2:StepRef URI=\"#STEP{k}\"/>");
                }
            }
        }
        s.push_str("    </ns2:HashStep>\n");
    }
    s.push_str("</ns2:HashChain>\n");
    s.into_bytes()
}

/// The parts of one message: (URI, digest), `/message.xml` first.
pub type MessageParts<'a> = &'a [(&'a str, Digest)];

/// Builds the hash chains for `messages` signed together: one message with several parts, or
/// a batch of messages (a binary Merkle tree over the messages, left to right). Every digest
/// must use `algorithm`. Returns `None` for no messages, or for one message with one part
/// (which is signed directly, without a chain).
pub fn build(
    algorithm: DigestAlgorithm,
    messages: &[MessageParts<'_>],
) -> Option<HashChainDocuments> {
    if messages.is_empty() || (messages.len() == 1 && messages[0].len() < 2) {
        return None;
    }
    if messages.iter().any(|m| m.is_empty()) {
        return None;
    }
    // The leaf of each message: its only part's digest, or the digest of its parts' step.
    let leaves: Vec<Digest> = messages
        .iter()
        .map(|parts| match parts {
            [(_, d)] => *d,
            _ => step_digest(algorithm, parts.iter().map(|(_, d)| d.as_bytes())),
        })
        .collect();
    // levels[0] = leaves; each next level pairs neighbours, an odd last node moves up as is.
    let mut levels = vec![leaves];
    while levels.last().map_or(0, Vec::len) > 1 {
        let prev = levels.last().map(Vec::as_slice).unwrap_or(&[]);
        let next = prev
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => step_digest(algorithm, [a.as_bytes(), b.as_bytes()]),
                [a] => *a,
                _ => unreachable_digest(algorithm),
            })
            .collect();
        levels.push(next);
    }
    let top = levels.last().and_then(|l| l.first()).copied()?;
    let chains = (0..messages.len())
        .map(|i| chain_for(algorithm, &levels, messages[i], i))
        .collect();
    Some(HashChainDocuments {
        result: result_xml(algorithm, &top),
        chains,
    })
}

/// Chunks of a slice have one or two elements; this only satisfies the match.
fn unreachable_digest(algorithm: DigestAlgorithm) -> Digest {
    algorithm.digest(&[])
}

/// The chain of message `index`: from the top of the tree down to its leaf, then its parts.
fn chain_for(
    algorithm: DigestAlgorithm,
    levels: &[Vec<Digest>],
    parts: MessageParts<'_>,
    index: usize,
) -> Vec<u8> {
    let mut steps: Vec<Vec<Out<'_>>> = Vec::new();
    // Walk from the level below the top down to the leaves, noting where a pair was formed.
    for level in (0..levels.len().saturating_sub(1)).rev() {
        let pos = index >> level;
        let sibling = pos ^ 1;
        let Some(other) = levels[level].get(sibling) else {
            continue; // promoted without a pair: no step at this level
        };
        // Below a pair there may be only promotions: then this value is the leaf itself.
        let paired_below = (0..level).any(|l| levels[l].get((index >> l) ^ 1).is_some());
        let mine = if !paired_below && parts.len() == 1 {
            Out::Data(parts[0].0, &parts[0].1)
        } else {
            Out::Step(steps.len() + 1)
        };
        steps.push(if pos.is_multiple_of(2) {
            vec![mine, Out::Hash(other)]
        } else {
            vec![Out::Hash(other), mine]
        });
    }
    if parts.len() > 1 {
        steps.push(parts.iter().map(|(u, d)| Out::Data(u, d)).collect());
    }
    chain_xml(algorithm, &steps)
}
