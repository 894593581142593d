use std::io::{self, Read};

use ring::digest::{self, SHA256, SHA384, SHA512};

use super::*;
use crate::MultipartWriter;

/// Hands out at most `max` bytes per read and interrupts every other read.
struct Trickle<'a> {
    data: &'a [u8],
    max: usize,
    interrupt: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.max.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn message(bodies: &[&[u8]]) -> Vec<u8> {
    let mut out = b"preamble\r\n".to_vec();
    let mut w = MultipartWriter::new("xtopB").unwrap();
    for (i, body) in bodies.iter().enumerate() {
        let ct = format!("application/part-{i}");
        w.start_part(&mut out, &ct, [("X-Index", i.to_string())])
            .unwrap();
        out.extend_from_slice(body);
    }
    w.finish(&mut out);
    out.extend_from_slice(b"epilogue");
    out
}

#[test]
fn digests_match_ring_for_each_algorithm() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let bodies: [&[u8]; 4] = [b"<soap/>", b"", &big, b"VGhpcyBpcyBhdHRhY2htZW50Lg0K"];
    let input = message(&bodies);
    for alg in [&SHA256, &SHA384, &SHA512] {
        for max in [1, 1000, usize::MAX] {
            let reader = Trickle {
                data: &input,
                max,
                interrupt: false,
            };
            let parts = digest_parts(reader, "xtopB", alg).unwrap();
            assert_eq!(parts.len(), bodies.len());
            for (i, (part, body)) in parts.iter().zip(bodies).enumerate() {
                assert_eq!(part.len, body.len() as u64);
                assert_eq!(part.digest.as_ref(), digest::digest(alg, body).as_ref());
                assert_eq!(part.headers.get("x-index"), Some(i.to_string().as_str()));
                assert_eq!(
                    part.headers.content_type(),
                    Some(format!("application/part-{i}").as_str())
                );
            }
        }
    }
}

#[test]
fn unread_parts_are_skipped_and_read_impl_works() {
    let big = vec![b'z'; 200_000];
    let input = message(&[&big, b"second", b"third"]);
    let mut stream = MultipartStream::new(&input[..], "xtopB").unwrap();

    let mut first = stream.next_part().unwrap().unwrap();
    let mut prefix = [0u8; 3];
    first.read_exact(&mut prefix).unwrap();
    assert_eq!(&prefix, b"zzz");
    drop(first);

    let mut second = stream.next_part().unwrap().unwrap();
    assert_eq!(second.headers().get("X-INDEX"), Some("1"));
    let mut text = String::new();
    second.read_to_string(&mut text).unwrap();
    assert_eq!(text, "second");
    assert_eq!(second.read(&mut prefix).unwrap(), 0);

    let third = stream.next_part().unwrap().unwrap();
    assert_eq!(third.headers().content_type(), Some("application/part-2"));
    drop(third);
    assert!(stream.next_part().unwrap().is_none());
    assert!(stream.next_part().unwrap().is_none());
}

#[test]
fn chunks_are_bounded_by_the_buffer() {
    let big = vec![b'q'; 1_000_000];
    let input = message(&[&big]);
    let mut stream = MultipartStream::new(&input[..], "xtopB").unwrap();
    let capacity = stream.buf.len();
    let mut part = stream.next_part().unwrap().unwrap();
    let mut total = 0;
    while let Some(chunk) = part.next_chunk().unwrap() {
        assert!(chunk.len() <= capacity);
        assert!(chunk.iter().all(|&b| b == b'q'));
        total += chunk.len();
    }
    assert_eq!(total, big.len());
}

#[test]
fn errors_surface() {
    let truncated = b"--B\r\ncontent-type: a\r\n\r\nno end";
    assert!(matches!(
        digest_parts(&truncated[..], "B", &SHA256),
        Err(MimeError::Truncated)
    ));

    let mut stream = MultipartStream::new(&truncated[..], "B").unwrap();
    let mut part = stream.next_part().unwrap().unwrap();
    let err = io::copy(&mut part, &mut io::sink()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("boom"))
        }
    }
    assert!(matches!(
        digest_parts(Failing, "B", &SHA256),
        Err(MimeError::Io(_))
    ));
    assert!(matches!(
        digest_parts(&b"no boundary"[..], "B", &SHA256),
        Err(MimeError::MissingFirstBoundary)
    ));
}
