//! Reading files that may be gzipped (detected by the magic bytes `1f 8b`, not the name).

use crate::error::{DataError, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The two magic bytes that open every gzip stream.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A byte source, decompressing gzip transparently, whose errors name the file.
pub(crate) struct Source<'a> {
    reader: Box<dyn Read + 'a>,
    gz: bool,
    /// How the file is named in error messages.
    pub(crate) name: String,
}

impl<'a> Source<'a> {
    /// Opens a file; gzip is detected by its first two bytes.
    pub(crate) fn open(path: &Path) -> Result<Source<'static>> {
        let name = path.display().to_string();
        let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut head = [0u8; 2];
        let mut got = 0;
        while got < 2 {
            match f.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DataError::io(path, e)),
            }
        }
        let prefix = std::io::Cursor::new(head[..got].to_vec());
        let chained = prefix.chain(BufReader::with_capacity(1 << 16, f));
        let gz = got == 2 && head == GZIP_MAGIC;
        let reader: Box<dyn Read> = if gz {
            Box::new(MultiGzDecoder::new(chained))
        } else {
            Box::new(chained)
        };
        Ok(Source { reader, gz, name })
    }

    /// Reads from bytes in memory; gzip is detected by the first two bytes.
    pub(crate) fn from_bytes(bytes: &'a [u8], name: &str) -> Source<'a> {
        let gz = bytes.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn Read + 'a> = if gz {
            Box::new(MultiGzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        Source {
            reader,
            gz,
            name: name.to_string(),
        }
    }

    fn err(&self, e: std::io::Error) -> DataError {
        if self.gz {
            DataError::format(&self.name, format!("corrupt gzip stream: {e}"))
        } else {
            DataError::Io {
                path: self.name.clone(),
                source: e,
            }
        }
    }

    /// Reads up to `buf.len()` bytes, stopping early only at the end of the data; returns how
    /// many were read.
    pub(crate) fn read_full(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(got)
    }

    /// Reads at most `limit` bytes into a vector (growing as data arrives, so a header that
    /// claims a huge size cannot make it allocate more than the data holds).
    pub(crate) fn read_up_to(&mut self, limit: u64) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(limit.min(1 << 26) as usize);
        let r = (&mut self.reader).take(limit).read_to_end(&mut v);
        r.map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// Reads everything that is left.
    pub(crate) fn read_rest(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        let r = self.reader.read_to_end(&mut v);
        r.map_err(|e| self.err(e))?;
        Ok(v)
    }

    /// Counts (and discards) the bytes that are left.
    pub(crate) fn count_rest(&mut self) -> Result<u64> {
        let r = std::io::copy(&mut self.reader, &mut std::io::sink());
        r.map_err(|e| self.err(e))
    }
}
