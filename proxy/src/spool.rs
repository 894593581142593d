//! Message parts kept between reading and forwarding: in memory up to a threshold, then in
//! a temporary file that is deleted when the last reference goes. This is what keeps memory
//! bounded whatever the message size.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use xroad_fault::{ErrorCode, XRoadError};

/// Chunk size when a spooled part is read back.
const READ_CHUNK: usize = 64 * 1024;

/// Where and from which size parts are spooled, and how large a message may be.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    /// Folder of the temporary files.
    pub dir: PathBuf,
    /// Parts up to this size stay in memory.
    pub threshold: usize,
    /// Largest message (sum of its parts) accepted; 0 = no limit.
    pub max_message_size: u64,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings {
            dir: std::env::temp_dir(),
            threshold: 1 << 20,
            max_message_size: 0,
        }
    }
}

impl SpoolSettings {
    /// Fails with `Java`'s kind of fault when `total` bytes exceed the message size limit.
    pub(crate) fn check_total(&self, total: u64) -> Result<(), XRoadError> {
        if self.max_message_size > 0 && total > self.max_message_size {
            return Err(XRoadError::new(
                ErrorCode::InvalidMessage,
                format!(
                    "Message is larger than the limit of {} bytes",
                    self.max_message_size
                ),
            ));
        }
        Ok(())
    }
}

/// A part being written.
#[derive(Debug)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<io::BufWriter<tempfile::NamedTempFile>>,
    len: u64,
    threshold: usize,
    dir: PathBuf,
}

fn spool_error(e: io::Error) -> XRoadError {
    XRoadError::new(
        ErrorCode::IoError,
        format!("Cannot spool a message part to a temporary file: {e}"),
    )
}

impl Spool {
    /// An empty part.
    pub fn new(settings: &SpoolSettings) -> Spool {
        Spool {
            memory: Vec::new(),
            file: None,
            len: 0,
            threshold: settings.threshold,
            dir: settings.dir.clone(),
        }
    }

    /// Appends bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), XRoadError> {
        self.len += data.len() as u64;
        if let Some(f) = &mut self.file {
            return f.write_all(data).map_err(spool_error);
        }
        if self.memory.len() + data.len() <= self.threshold {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(spool_error)?;
        let file = tempfile::Builder::new()
            .prefix("xroad-part-")
            .tempfile_in(&self.dir)
            .map_err(spool_error)?;
        let mut w = io::BufWriter::with_capacity(READ_CHUNK, file);
        w.write_all(&self.memory).map_err(spool_error)?;
        w.write_all(data).map_err(spool_error)?;
        self.memory = Vec::new();
        self.file = Some(w);
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The part, ready to be read back (any number of times).
    pub fn finish(self) -> Result<Spooled, XRoadError> {
        match self.file {
            None => Ok(Spooled::Memory(Bytes::from(self.memory))),
            Some(w) => {
                let file = w.into_inner().map_err(|e| spool_error(e.into_error()))?;
                Ok(Spooled::File {
                    file: Arc::new(file),
                    len: self.len,
                })
            }
        }
    }
}

/// A complete part.
#[derive(Debug, Clone)]
pub enum Spooled {
    /// Held in memory.
    Memory(Bytes),
    /// Held in a temporary file, removed when the last clone is dropped.
    File {
        /// The file.
        file: Arc<tempfile::NamedTempFile>,
        /// Its length.
        len: u64,
    },
}

impl Default for Spooled {
    fn default() -> Self {
        Spooled::Memory(Bytes::new())
    }
}

impl Spooled {
    /// A part held in memory.
    pub fn from_bytes(b: impl Into<Bytes>) -> Spooled {
        Spooled::Memory(b.into())
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Spooled::Memory(b) => b.len() as u64,
            Spooled::File { len, .. } => *len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, if held in memory.
    pub fn as_memory(&self) -> Option<&Bytes> {
        match self {
            Spooled::Memory(b) => Some(b),
            Spooled::File { .. } => None,
        }
    }

    /// Reads the part from the start, chunk by chunk, into `f`.
    pub async fn for_each_chunk<F, Fut, E>(&self, mut f: F) -> Result<(), E>
    where
        F: FnMut(Bytes) -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
        E: From<io::Error>,
    {
        match self {
            Spooled::Memory(b) => {
                if !b.is_empty() {
                    f(b.clone()).await?;
                }
                Ok(())
            }
            Spooled::File { file, .. } => {
                let mut r = tokio::fs::File::open(file.path()).await?;
                loop {
                    let mut buf = vec![0u8; READ_CHUNK];
                    let n = r.read(&mut buf).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.truncate(n);
                    f(Bytes::from(buf)).await?;
                }
            }
        }
    }

    /// The whole part in memory (for parts known to be small, or tests).
    pub async fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Spooled::Memory(b) => Ok(b.clone()),
            Spooled::File { file, .. } => tokio::fs::read(file.path()).await.map(Bytes::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_parts_stay_in_memory_and_large_ones_go_to_a_file_that_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let settings = SpoolSettings {
            dir: dir.path().to_path_buf(),
            threshold: 8,
            max_message_size: 0,
        };
        let mut s = Spool::new(&settings);
        s.write(b"1234").unwrap();
        let small = s.finish().unwrap();
        assert_eq!(small.as_memory().unwrap().as_ref(), b"1234");

        let mut s = Spool::new(&settings);
        s.write(b"12345").unwrap();
        s.write(b"67890").unwrap();
        let big = s.finish().unwrap();
        assert!(big.as_memory().is_none());
        assert_eq!(big.len(), 10);
        assert_eq!(big.to_bytes().await.unwrap().as_ref(), b"1234567890");
        let mut got = Vec::new();
        big.for_each_chunk(|c| {
            got.extend_from_slice(&c);
            async { Ok::<(), io::Error>(()) }
        })
        .await
        .unwrap();
        assert_eq!(got, b"1234567890");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(big);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_message_size_limit_is_named() {
        let s = SpoolSettings {
            max_message_size: 10,
            ..SpoolSettings::default()
        };
        assert!(s.check_total(10).is_ok());
        let e = s.check_total(11).unwrap_err();
        assert!(e.message().contains("10 bytes"), "{}", e.message());
    }
}
