//! Reading files that may be gzipped (detected by the magic bytes `1f 8b`, not the name).

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The two magic bytes that open every gzip stream.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most bytes one byte of a deflate stream can decompress to (a 258-byte match coded in
/// two bits).
pub(crate) const DEFLATE_RATIO: u64 = 1032;

/// [`Source::count_rest`] stops counting past this many bytes (so trailing garbage, or a
/// gzip bomb behind valid data, is not decompressed to the end only to be counted).
pub(crate) const COUNT_CAP: u64 = 1 << 20;

/// A byte source, decompressing gzip transparently, whose errors name the file.
pub(crate) struct Source<'a> {
    reader: Box<dyn Read + 'a>,
    gz: bool,
    /// The most bytes the source can yield: the bytes it holds, times [`DEFLATE_RATIO`] when
    /// gzipped (bounds what a reader allocates up front, whatever a header claims).
    most: u64,
    /// How the file is named in error messages.
    pub(crate) name: String,
}

impl<'a> Source<'a> {
    /// Opens a file; gzip is detected by its first two bytes.
    pub(crate) fn open(path: &Path) -> Result<Source<'static>> {
        let name = path.display().to_string();
        let mut f = File::open(path).map_err(|e| Error::file(path, e))?;
        let mut head = [0u8; 2];
        let mut got = 0;
        while got < 2 {
            match f.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::file(path, e)),
            }
        }
        // the file's length bounds up-front allocations only; reading goes to the real end
        let len = f.metadata().map_or(u64::MAX, |m| m.len());
        let prefix = std::io::Cursor::new(head[..got].to_vec());
        let chained = prefix.chain(BufReader::with_capacity(1 << 16, f));
        let gz = got == 2 && head == GZIP_MAGIC;
        let most = if gz {
            len.saturating_mul(DEFLATE_RATIO)
        } else {
            len
        };
        let reader: Box<dyn Read> = if gz {
            Box::new(MultiGzDecoder::new(chained))
        } else {
            Box::new(chained)
        };
        Ok(Source {
            reader,
            gz,
            most,
            name,
        })
    }

    /// Reads from bytes in memory; gzip is detected by the first two bytes.
    pub(crate) fn from_bytes(bytes: &'a [u8], name: &str) -> Source<'a> {
        let gz = bytes.starts_with(&GZIP_MAGIC);
        let len = bytes.len() as u64;
        let most = if gz {
            len.saturating_mul(DEFLATE_RATIO)
        } else {
            len
        };
        let reader: Box<dyn Read + 'a> = if gz {
            Box::new(MultiGzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        Source {
            reader,
            gz,
            most,
            name: name.to_string(),
        }
    }

    fn err(&self, e: std::io::Error) -> Error {
        if self.gz {
            Error::format(&self.name, format!("corrupt gzip stream: {e}"))
        } else {
            Error::file(std::path::Path::new(&self.name), e)
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

    /// Reads at most `limit` bytes into a vector (reserving no more than the source can
    /// yield, and growing as data arrives, so a header that claims a huge size cannot make it
    /// allocate more than the data holds).
    pub(crate) fn read_up_to(&mut self, limit: u64) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(limit.min(self.most).min(1 << 26) as usize);
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

    /// Counts (and discards) the bytes that are left, up to [`COUNT_CAP`] + 1 (more than the
    /// cap are counted as `COUNT_CAP + 1`).
    pub(crate) fn count_rest(&mut self) -> Result<u64> {
        let mut rest = (&mut self.reader).take(COUNT_CAP + 1);
        let r = std::io::copy(&mut rest, &mut std::io::sink());
        r.map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_huge_limit_reserves_no_more_than_the_source_holds() {
        // found by fuzzing (idx_labels): a 9-byte file whose header claims 4 billion labels
        // made the reader reserve 64 MiB before finding it truncated
        let mut src = Source::from_bytes(&[1, 2, 3], "x");
        let v = src.read_up_to(u64::MAX).unwrap();
        assert_eq!(v, [1, 2, 3]);
        assert!(v.capacity() <= 3, "reserved {}", v.capacity());
        let gz = gzip(&[7; 100]);
        let mut src = Source::from_bytes(&gz, "x.gz");
        let v = src.read_up_to(1 << 40).unwrap();
        assert_eq!(v, [7; 100]);
        assert!(v.capacity() as u64 <= gz.len() as u64 * DEFLATE_RATIO);
        // and a file
        let p = std::env::temp_dir().join(format!("nabla-read-{}", std::process::id()));
        std::fs::write(&p, [5u8; 10]).unwrap();
        let v = Source::open(&p).unwrap().read_up_to(1 << 40).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert_eq!(v, [5; 10]);
        assert!(v.capacity() <= 10, "reserved {}", v.capacity());
    }

    #[test]
    fn counting_the_rest_stops_past_the_cap() {
        // 8 MiB of zeros behind the data: a few KiB of gzip
        let gz = gzip(&vec![0u8; 8 << 20]);
        let mut src = Source::from_bytes(&gz, "bomb.gz");
        assert_eq!(src.count_rest().unwrap(), COUNT_CAP + 1);
        let mut src = Source::from_bytes(&[0; 5], "five");
        assert_eq!(src.count_rest().unwrap(), 5);
    }
}
