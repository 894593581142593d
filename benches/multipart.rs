//! Multipart reader throughput on a transport message with a 100 MB attachment.
//!
//! The message (one SOAP part, one 100 MB part) is never held in memory: a generator produces it
//! in 64 KiB chunks by repeating a pattern, the way bytes arrive from a socket.
//!
//! * `scan/*`: boundary scanning only, sans-IO [`MultipartReader`] parsing the chunks in place.
//! * `stream/*`: the blocking [`MultipartStream`] over `io::Read` (copies every byte into its
//!   buffer, like a socket read would), no hashing.
//! * `sha512/*`: [`digest_parts`] over `io::Read`, hashing every part (for information; the hash
//!   dominates).
//!
//! Run with `cargo bench --bench multipart`.

use std::hint::black_box;
use std::io::{self, Read};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use xroad_mime::digest::SHA512;
use xroad_mime::{digest_parts, Event, MultipartReader, MultipartStream, MultipartWriter};

const BOUNDARY: &str = "xtopQhVbRkZnXqWpLmTsYdFgHjKaBcDeUo";
const ATTACHMENT_LEN: u64 = 100 * 1000 * 1000;
const CHUNK: usize = 64 * 1024;
const SOAP: &[u8] = b"<SOAP-ENV:Envelope><SOAP-ENV:Body/></SOAP-ENV:Envelope>\n";
/// Body bytes of both parts together.
const BODY_BYTES: u64 = SOAP.len() as u64 + ATTACHMENT_LEN;

/// An `io::Read` producing `head`, then `body_len` bytes repeating the pattern, then `tail`.
struct Generator<'a> {
    head: &'a [u8],
    message: &'a Message,
    tail: &'a [u8],
    body_len: u64,
    pos: u64,
}

impl<'a> Generator<'a> {
    fn new(message: &'a Message) -> Self {
        Self {
            head: &message.head,
            message,
            tail: &message.tail,
            body_len: ATTACHMENT_LEN,
            pos: 0,
        }
    }

    fn total(&self) -> u64 {
        self.head.len() as u64 + self.body_len + self.tail.len() as u64
    }
}

impl Read for Generator<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let head = self.head.len() as u64;
        let body_end = head + self.body_len;
        let src: &[u8] = if self.pos < head {
            &self.head[self.pos as usize..]
        } else if self.pos < body_end {
            let offset = ((self.pos - head) % CHUNK as u64) as usize;
            let left = (body_end - self.pos).min((CHUNK - offset) as u64) as usize;
            &self.message.pattern_for(out.as_ptr() as usize + offset)[offset..offset + left]
        } else {
            let offset = (self.pos - body_end) as usize;
            self.tail.get(offset..).unwrap_or_default()
        };
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

struct Message {
    head: Vec<u8>,
    /// Two copies of the 64 KiB pattern, the second starting 2 KiB later within a 4 KiB page.
    patterns: Vec<u8>,
    tail: Vec<u8>,
}

/// Distance between the two pattern copies: one chunk plus half a page.
const SECOND_COPY: usize = CHUNK + 2048;

impl Message {
    fn new(pattern: Vec<u8>) -> Self {
        let mut head = Vec::new();
        let mut writer = MultipartWriter::new(BOUNDARY).unwrap();
        writer
            .start_part(
                &mut head,
                "text/xml; charset=UTF-8",
                [("Content-ID", "<rootpart>")],
            )
            .unwrap();
        head.extend_from_slice(SOAP);
        writer
            .start_part(
                &mut head,
                "application/octet-stream",
                [("Content-ID", "<data>")],
            )
            .unwrap();
        let mut tail = Vec::new();
        writer.finish(&mut tail);
        let mut patterns = pattern.clone();
        patterns.resize(SECOND_COPY, 0);
        patterns.extend_from_slice(&pattern);
        Self {
            head,
            patterns,
            tail,
        }
    }

    fn pattern(&self) -> &[u8] {
        &self.patterns[..CHUNK]
    }

    /// The pattern copy to `memcpy` from into `dst`. The generator must not measure a `memcpy`
    /// artefact: glibc's `rep movsb` path is many times slower on some AMD CPUs when source and
    /// destination sit at nearly the same offset within a 4 KiB page, which a socket read (a
    /// kernel copy) never hits. One of the two copies is always at least 1 KiB away from that.
    fn pattern_for(&self, dst: usize) -> &[u8] {
        let first = self.pattern();
        let page_distance = dst.wrapping_sub(first.as_ptr() as usize) % 4096;
        if (1024..=3072).contains(&page_distance) {
            first
        } else {
            &self.patterns[SECOND_COPY..]
        }
    }
}

/// 64 KiB of pseudo-random bytes (a binary attachment).
fn binary_pattern() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..CHUNK)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// 64 KiB of base64 text in 76-column CRLF lines, with `--xtop` look-alikes now and then: many
/// line breaks, each a delimiter candidate for the scanner.
fn base64_pattern() -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(CHUNK + 128);
    let mut n = 0usize;
    for line in 0.. {
        if out.len() >= CHUNK {
            break;
        }
        if line % 100 == 99 {
            out.extend_from_slice(b"--xtopQhVbRkZnX");
        }
        for _ in 0..76 {
            out.push(ALPHABET[(n * 31 + n / 7) % 64]);
            n += 1;
        }
        out.extend_from_slice(b"\r\n");
    }
    out.truncate(CHUNK);
    out
}

/// The message as a sequence of borrowed chunks of at most 64 KiB: head, the attachment body as
/// repetitions of the pattern, tail.
fn chunks(message: &Message) -> impl Iterator<Item = &[u8]> {
    let full = (ATTACHMENT_LEN / CHUNK as u64) as usize;
    let last = (ATTACHMENT_LEN % CHUNK as u64) as usize;
    std::iter::once(&message.head[..])
        .chain((0..full).map(|_| message.pattern()))
        .chain(std::iter::once(&message.pattern()[..last]))
        .chain(std::iter::once(&message.tail[..]))
}

/// Feeds the chunks through the sans-IO reader; returns the number of body bytes seen.
///
/// Each chunk is parsed in place; only bytes the reader leaves unconsumed (a possible delimiter
/// at the chunk's end) are carried over and joined with the next chunk. This measures the
/// reader, not `memcpy`.
fn scan(message: &Message) -> u64 {
    let mut reader = MultipartReader::new(BOUNDARY).unwrap();
    let mut carry: Vec<u8> = Vec::with_capacity(2 * CHUNK);
    let mut data = 0u64;
    let mut feed = |input: &[u8], eof: bool| -> (usize, bool) {
        let mut pos = 0;
        loop {
            match reader.next_event(&input[pos..], eof).unwrap() {
                (n, Event::Data(d)) => {
                    data += d.len() as u64;
                    pos += n;
                }
                (n, Event::NeedMore) => return (pos + n, false),
                (_, Event::End) => return (input.len(), true),
                (n, Event::Headers(_) | Event::PartEnd) => pos += n,
            }
        }
    };
    for chunk in chunks(message) {
        let done = if carry.is_empty() {
            let (consumed, done) = feed(chunk, false);
            carry.extend_from_slice(&chunk[consumed..]);
            done
        } else {
            carry.extend_from_slice(chunk);
            let (consumed, done) = feed(&carry, false);
            carry.drain(..consumed);
            done
        };
        if done {
            return data;
        }
    }
    let (_, done) = feed(&carry, true);
    assert!(done);
    data
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("multipart_100MB");
    group
        .sample_size(10)
        // Each iteration is long (tens to hundreds of ms): equal-sized samples suit that best.
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    for (name, pattern) in [("binary", binary_pattern()), ("base64", base64_pattern())] {
        let message = Message::new(pattern);
        let total = Generator::new(&message).total();
        group.throughput(Throughput::Bytes(total));
        group.bench_function(format!("scan/{name}"), |b| {
            b.iter(|| {
                let data = scan(black_box(&message));
                assert_eq!(data, BODY_BYTES);
            })
        });
    }

    let message = Message::new(binary_pattern());
    group.throughput(Throughput::Bytes(Generator::new(&message).total()));
    group.bench_function("stream/binary", |b| {
        b.iter(|| {
            let mut stream = MultipartStream::new(Generator::new(&message), BOUNDARY).unwrap();
            let mut data = 0u64;
            while let Some(mut part) = stream.next_part().unwrap() {
                while let Some(chunk) = part.next_chunk().unwrap() {
                    data += chunk.len() as u64;
                }
            }
            assert_eq!(data, BODY_BYTES);
        })
    });
    group.bench_function("sha512/binary", |b| {
        b.iter(|| {
            let parts = digest_parts(Generator::new(&message), BOUNDARY, &SHA512).unwrap();
            assert_eq!(parts[1].len, ATTACHMENT_LEN);
            black_box(parts)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
