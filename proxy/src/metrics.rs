//! The proxy's counters for Prometheus (`GET /metrics`): messages by direction, protocol,
//! service and outcome, their duration, body bytes, TLS handshakes and faults by code.
//!
//! Lock-light: every series is an [`AtomicU64`]. Only the per-service and per-fault-code
//! series sit in maps, read-locked for one lookup by borrowed key (no string is built per
//! message) and write-locked only the first time a service or code is seen. Both maps are
//! capped, so that made-up service identifiers or fault codes cannot grow memory without
//! bound: beyond the cap, series fall into `service="other"` / `code="other"`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use xroad_identifiers::{ServiceId, XRoadId};

/// Upper bounds (seconds) of the message duration buckets: 0.5 ms to 30 s.
pub const DURATION_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// At most this many distinct services per direction and protocol, and this many fault codes.
pub const DEFAULT_LABEL_CAP: usize = 1000;

/// Which proxy handled a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The client proxy: a request of one of our information systems.
    Client,
    /// The server proxy: a request from another security server.
    Server,
}

/// The message protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SOAP 4.0.
    Soap,
    /// REST r1.
    Rest,
}

/// Request or response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// The request as it arrived.
    Request,
    /// The response as it arrived.
    Response,
}

/// Who handshook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsSide {
    /// The client proxy connecting to another security server.
    Client,
    /// Another security server connecting to our server proxy.
    Server,
    /// An information system connecting to the HTTPS client proxy.
    Is,
}

const DIRECTIONS: [(Direction, &str); 2] =
    [(Direction::Client, "client"), (Direction::Server, "server")];
const PROTOCOLS: [(Protocol, &str); 2] = [(Protocol::Soap, "soap"), (Protocol::Rest, "rest")];
const WAYS: [(Way, &str); 2] = [(Way::Request, "request"), (Way::Response, "response")];
const SIDES: [(TlsSide, &str); 3] = [
    (TlsSide::Client, "client"),
    (TlsSide::Server, "server"),
    (TlsSide::Is, "is"),
];

fn flow(d: Direction, p: Protocol) -> usize {
    (d as usize) * 2 + p as usize
}

/// A histogram of durations with fixed bucket bounds (seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last one is above every bound.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations per bucket (not cumulative, one more than the bounds) and the sum.
    pub fn snapshot(&self) -> (Vec<u64>, Duration) {
        let counts = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let sum = Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed));
        (counts, sum)
    }
}

/// The message counters of one service.
#[derive(Debug)]
pub struct ServiceSeries {
    /// The `service` label value, escaped.
    label: Box<str>,
    ok: AtomicU64,
    fault: AtomicU64,
}

impl ServiceSeries {
    fn new(label: &str) -> Arc<Self> {
        Arc::new(ServiceSeries {
            label: escape(label).into(),
            ok: AtomicU64::new(0),
            fault: AtomicU64::new(0),
        })
    }
}

/// Series by a key from outside (service id, fault code), capped.
#[derive(Debug)]
struct Capped<K, V> {
    known: RwLock<HashMap<K, V>>,
    cap: usize,
}

impl<K: Hash + Eq, V: Clone> Capped<K, V> {
    fn new(cap: usize) -> Self {
        Capped {
            known: RwLock::new(HashMap::new()),
            cap,
        }
    }

    /// The series of `key`; a new one from `make` while under the cap, else `None`.
    fn get<Q>(&self, key: &Q, make: impl FnOnce(&Q) -> (K, V)) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(v) = self.known.read().ok()?.get(key) {
            return Some(v.clone());
        }
        let mut known = self.known.write().ok()?;
        if let Some(v) = known.get(key) {
            return Some(v.clone());
        }
        if known.len() >= self.cap {
            return None;
        }
        let (k, v) = make(key);
        known.insert(k, v.clone());
        Some(v)
    }

    fn values(&self) -> Vec<V> {
        self.known
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// The services seen by one direction and protocol.
#[derive(Debug)]
struct ServiceTable {
    services: Capped<ServiceId, Arc<ServiceSeries>>,
    other: Arc<ServiceSeries>,
    unknown: Arc<ServiceSeries>,
}

impl ServiceTable {
    fn new(cap: usize) -> Self {
        ServiceTable {
            services: Capped::new(cap),
            other: ServiceSeries::new("other"),
            unknown: ServiceSeries::new("unknown"),
        }
    }

    fn series(&self, id: &ServiceId) -> Arc<ServiceSeries> {
        self.services
            .get(id, |id| {
                let label = XRoadId::Service(id.clone()).short_string();
                (id.clone(), ServiceSeries::new(&label))
            })
            .unwrap_or_else(|| self.other.clone())
    }
}

/// The proxy's counters, shared by every message handler (see the module documentation).
#[derive(Debug)]
pub struct Metrics {
    /// By [`flow`].
    services: [ServiceTable; 4],
    /// By [`flow`].
    durations: [Histogram; 4],
    /// By direction × way.
    bytes: [AtomicU64; 4],
    /// By side × (ok, failed).
    tls: [AtomicU64; 6],
    errors: Capped<Box<str>, Arc<AtomicU64>>,
    other_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::with_cap(DEFAULT_LABEL_CAP)
    }
}

impl Metrics {
    /// Counters with at most `cap` services per direction and protocol, and `cap` fault codes.
    pub fn with_cap(cap: usize) -> Self {
        Metrics {
            services: std::array::from_fn(|_| ServiceTable::new(cap)),
            durations: std::array::from_fn(|_| Histogram::new(&DURATION_BUCKETS)),
            bytes: Default::default(),
            tls: Default::default(),
            errors: Capped::new(cap),
            other_errors: AtomicU64::new(0),
        }
    }

    /// Starts timing one message; [`Exchange::finish`] counts it.
    pub fn exchange(&self, direction: Direction, protocol: Protocol) -> Exchange<'_> {
        Exchange {
            metrics: self,
            flow: flow(direction, protocol),
            started: Instant::now(),
            service: None,
        }
    }

    /// Counts `n` body bytes read.
    pub fn add_bytes(&self, direction: Direction, way: Way, n: u64) {
        self.bytes[(direction as usize) * 2 + way as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a TLS handshake.
    pub fn tls_handshake(&self, side: TlsSide, ok: bool) {
        self.tls[(side as usize) * 2 + usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a fault by its code as rendered (`server.clientproxy.service_failed.io_error`).
    pub fn error(&self, code: &str) {
        let counter = self
            .errors
            .get(code, |c| (c.into(), Arc::new(AtomicU64::new(0))));
        match counter {
            Some(c) => c.fetch_add(1, Ordering::Relaxed),
            None => self.other_errors.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Appends every series in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        self.render_messages(out);
        self.render_durations(out);
        self.render_bytes(out);
        self.render_tls(out);
        self.render_errors(out);
    }

    fn render_messages(&self, out: &mut String) {
        let name = "xroad_messages_total";
        write_header(
            out,
            name,
            "Messages by direction, protocol, service and outcome.",
            "counter",
        );
        for (d, dl) in DIRECTIONS {
            for (p, pl) in PROTOCOLS {
                let table = &self.services[flow(d, p)];
                let mut all = table.services.values();
                all.sort_by(|a, b| a.label.cmp(&b.label));
                all.push(table.unknown.clone());
                all.push(table.other.clone());
                for s in all {
                    for (outcome, n) in [("ok", &s.ok), ("fault", &s.fault)] {
                        let n = n.load(Ordering::Relaxed);
                        let _ = writeln!(
                            out,
                            "{name}{{direction=\"{dl}\",protocol=\"{pl}\",service=\"{}\",outcome=\"{outcome}\"}} {n}",
                            s.label
                        );
                    }
                }
            }
        }
    }

    fn render_durations(&self, out: &mut String) {
        let name = "xroad_message_duration_seconds";
        write_header(
            out,
            name,
            "Time from a request's arrival to the head of its response.",
            "histogram",
        );
        for (d, dl) in DIRECTIONS {
            for (p, pl) in PROTOCOLS {
                let (counts, sum) = self.durations[flow(d, p)].snapshot();
                let labels = format!("direction=\"{dl}\",protocol=\"{pl}\"");
                write_histogram(out, name, &labels, &DURATION_BUCKETS, &counts, sum);
            }
        }
    }

    fn render_bytes(&self, out: &mut String) {
        let name = "xroad_message_bytes_total";
        write_header(out, name, "Message body bytes read.", "counter");
        for (d, dl) in DIRECTIONS {
            for (w, wl) in WAYS {
                let n = self.bytes[(d as usize) * 2 + w as usize].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{direction=\"{dl}\",way=\"{wl}\"}} {n}");
            }
        }
    }

    fn render_tls(&self, out: &mut String) {
        let name = "xroad_tls_handshakes_total";
        write_header(out, name, "TLS handshakes by side and outcome.", "counter");
        for (s, sl) in SIDES {
            for (i, outcome) in ["ok", "failed"].into_iter().enumerate() {
                let n = self.tls[(s as usize) * 2 + i].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{side=\"{sl}\",outcome=\"{outcome}\"}} {n}");
            }
        }
    }

    fn render_errors(&self, out: &mut String) {
        let name = "xroad_errors_total";
        write_header(
            out,
            name,
            "Faults answered, by X-Road fault code.",
            "counter",
        );
        let mut codes: Vec<(String, u64)> = self
            .errors
            .known
            .read()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (escape(k), v.load(Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default();
        codes.sort();
        codes.push(("other".into(), self.other_errors.load(Ordering::Relaxed)));
        for (code, n) in codes {
            let _ = writeln!(out, "{name}{{code=\"{code}\"}} {n}");
        }
    }
}

/// One message being handled: its start, and its service once known.
#[derive(Debug)]
pub struct Exchange<'a> {
    metrics: &'a Metrics,
    flow: usize,
    started: Instant,
    service: Option<Arc<ServiceSeries>>,
}

impl Exchange<'_> {
    /// The message is for `service` (one map lookup).
    pub fn service(&mut self, service: &ServiceId) {
        self.service = Some(self.metrics.services[self.flow].series(service));
    }

    /// Counts the message, with its duration so far; `response` carries [`Fault`] when it is
    /// an X-Road fault.
    pub fn finish<B>(self, response: &hyper::Response<B>) {
        let ok = response.extensions().get::<Fault>().is_none();
        let table = &self.metrics.services[self.flow];
        let series = self.service.as_ref().unwrap_or(&table.unknown);
        if ok {
            series.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            series.fault.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.durations[self.flow].observe(self.started.elapsed());
    }
}

/// Marks a response that carries an X-Road fault (a response extension, so that faults
/// rendered deep in a handler reach [`Exchange::finish`] without more plumbing).
#[derive(Debug, Clone, Copy)]
pub struct Fault;

/// Counts the fault `code` and marks `response` as a fault.
pub(crate) fn mark_fault<B>(metrics: &Metrics, response: &mut hyper::Response<B>, code: &str) {
    metrics.error(code);
    response.extensions_mut().insert(Fault);
}

/// Appends `# HELP` and `# TYPE` of a metric family.
pub fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends the series of one histogram: `counts` per bucket of `bounds` (not cumulative,
/// the last one above every bound), `labels` without braces (empty for none).
pub fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    counts: &[u64],
    sum: Duration,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (le, n) in bounds.iter().zip(counts) {
        cumulative += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    let total: u64 = counts.iter().sum();
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(
        out,
        "{name}_sum{braces} {}\n{name}_count{braces} {total}",
        sum.as_secs_f64()
    );
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
pub fn escape(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests;
