//! Downloading dataset files, verified by MD5 before they are kept.

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A file to download: its name (appended to the mirror's URL, and the name it gets on disk)
/// and its MD5 checksum (32 hex digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile<'a> {
    /// The file name, e.g. `train-images-idx3-ubyte.gz`.
    pub name: &'a str,
    /// The expected MD5, lowercase or uppercase hex.
    pub md5: &'a str,
}

/// The default MNIST mirror (the one torchvision tries first).
pub const MNIST_MIRROR: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
/// The default Fashion-MNIST mirror (Zalando's).
pub const FASHION_MNIST_MIRROR: &str =
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/// The four MNIST files and their published MD5 checksums.
pub const MNIST_FILES: [RemoteFile<'static>; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
    },
];

/// Fashion-MNIST's class names, by label (as the dataset's README lists them).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The four Fashion-MNIST files and their published MD5 checksums.
pub const FASHION_MNIST_FILES: [RemoteFile<'static>; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "bef4ecab320f06d8554ea6380940ec79",
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
    },
];

/// The default mirror and the files of a named dataset: `"mnist"` or `"fashion-mnist"`
/// (also `"fashion_mnist"`), case-insensitive.
///
/// Fails for any other name.
pub fn remote_files(dataset: &str) -> Result<(&'static str, &'static [RemoteFile<'static>])> {
    match dataset.to_ascii_lowercase().as_str() {
        "mnist" => Ok((MNIST_MIRROR, &MNIST_FILES)),
        "fashion-mnist" | "fashion_mnist" | "fashionmnist" => {
            Ok((FASHION_MNIST_MIRROR, &FASHION_MNIST_FILES))
        }
        _ => Err(Error::invalid(
            "fetch",
            format!("unknown dataset \"{dataset}\" (known: mnist, fashion-mnist)"),
        )),
    }
}

/// Downloads the four files of MNIST or Fashion-MNIST into the directory `to` (created if
/// needed) from `mirror` (a base URL; default [`MNIST_MIRROR`] or [`FASHION_MNIST_MIRROR`]),
/// verifying each file's MD5; see [`fetch_files`]. Returns the four paths, in the order of
/// [`MNIST_FILES`]; [`crate::load_mnist`] reads the directory afterwards.
///
/// Fails for an unknown dataset name and as [`fetch_files`] does.
pub fn fetch(dataset: &str, to: &Path, mirror: Option<&str>) -> Result<Vec<PathBuf>> {
    let (default_mirror, files) = remote_files(dataset)?;
    let existed = to.exists();
    let r = fetch_files(mirror.unwrap_or(default_mirror), files, to);
    if r.is_err() && !existed {
        // a folder made for nothing is not left behind (remove_dir keeps a non-empty one)
        let _ = std::fs::remove_dir(to);
    }
    r
}

/// The MD5 of bytes, as 32 lowercase hex digits.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// The MD5 of a file's bytes, as 32 lowercase hex digits.
///
/// Fails when the file cannot be read.
pub fn md5_hex_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::file(path, e))?;
    let mut h = Md5::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::file(path, e))?;
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes a temporary file unless it was kept.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or("");
    let host = host_port
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(host_port);
    let name = if host.starts_with('[') {
        host.split_once(']').map(|(h, _)| &h[1..]).unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn agent(url: &str) -> ureq::Agent {
    let mut cfg = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        // exact bytes: never ask the server to re-encode the file
        .accept_encoding("identity");
    if is_loopback(url) {
        cfg = cfg.proxy(None);
    }
    cfg.build().new_agent()
}

fn http_error(url: &str, e: ureq::Error) -> Error {
    let msg = match e {
        ureq::Error::StatusCode(code) => {
            let reason = match code {
                400 => " (Bad Request)",
                401 => " (Unauthorized)",
                403 => " (Forbidden)",
                404 => " (Not Found)",
                500 => " (Internal Server Error)",
                502 => " (Bad Gateway)",
                503 => " (Service Unavailable)",
                _ => "",
            };
            format!("HTTP status {code}{reason}")
        }
        other => format!("download failed: {other}"),
    };
    Error::Http {
        url: url.to_string(),
        msg,
    }
}

/// Downloads one file to `dest` through a temporary file beside it, renamed into place only
/// when its MD5 matches.
fn download(url: &str, dest: &Path, name: &str, md5: &str) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = TempFile {
        path: dir.join(format!(".{name}.{}.part", std::process::id())),
        keep: false,
    };
    if url.starts_with("https://") && !cfg!(feature = "https") {
        return Err(Error::Http {
            url: url.to_string(),
            msg: "https is not supported: nabla-data was built without its `https` feature".into(),
        });
    }
    let response = agent(url).get(url).call().map_err(|e| http_error(url, e))?;
    let mut body = response.into_body().into_reader();
    let mut out = File::create(&tmp.path).map_err(|e| Error::file(&tmp.path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Http {
                    url: url.to_string(),
                    msg: format!("download failed while reading the body: {e}"),
                })
            }
        };
        h.update(&buf[..k]);
        out.write_all(&buf[..k])
            .map_err(|e| Error::file(&tmp.path, e))?;
    }
    let actual = hex(&h.finalize());
    if !actual.eq_ignore_ascii_case(md5) {
        return Err(Error::Checksum {
            file: name.to_string(),
            expected: md5.to_ascii_lowercase(),
            actual,
        });
    }
    out.sync_all().map_err(|e| Error::file(&tmp.path, e))?;
    drop(out);
    std::fs::rename(&tmp.path, dest).map_err(|e| Error::file(dest, e))?;
    Ok(())
}

/// Downloads `files` from the base URL `base_url` (`base_url` + `/` + name) into the directory
/// `to` (created if needed), verifying each file's MD5: a file already there with the right
/// checksum is kept and not downloaded; otherwise the download goes to a temporary file in
/// `to` that is renamed to its name only when its MD5 matches. Returns the paths, in order.
///
/// Fails, leaving no partial or wrong file behind, when a name is not a plain file name, an
/// MD5 is not 32 hex digits, the directory cannot be made, the server answers with an error
/// status (`HTTP status 404 (Not Found)`), the connection fails, an https URL is asked of a
/// build without the `https` feature, or a checksum differs
/// (`<name>: checksum mismatch: expected MD5 <expected>, got <actual>`).
pub fn fetch_files(base_url: &str, files: &[RemoteFile<'_>], to: &Path) -> Result<Vec<PathBuf>> {
    for f in files {
        let plain = !f.name.is_empty()
            && f.name != "."
            && f.name != ".."
            && !f.name.contains(['/', '\\'])
            && !f.name.starts_with('.');
        if !plain {
            return Err(Error::invalid(
                "fetch",
                format!("\"{}\" is not a plain file name", f.name),
            ));
        }
        if f.md5.len() != 32 || !f.md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                "fetch",
                format!("{}: MD5 \"{}\" is not 32 hex digits", f.name, f.md5),
            ));
        }
    }
    std::fs::create_dir_all(to).map_err(|e| Error::file(to, e))?;
    let base = base_url.trim_end_matches('/');
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let dest = to.join(f.name);
        let present = dest.is_file() && md5_hex_file(&dest)?.eq_ignore_ascii_case(f.md5);
        if !present {
            download(&format!("{base}/{}", f.name), &dest, f.name, f.md5)?;
        }
        out.push(dest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_known_values() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn names_and_checksums_are_validated() {
        let dir = std::env::temp_dir();
        let bad = [RemoteFile {
            name: "../x",
            md5: "d41d8cd98f00b204e9800998ecf8427e",
        }];
        let e = fetch_files("http://127.0.0.1:9/", &bad, &dir).unwrap_err();
        assert!(e.to_string().contains("not a plain file name"), "{e}");
        let bad = [RemoteFile {
            name: "x",
            md5: "123",
        }];
        let e = fetch_files("http://127.0.0.1:9/", &bad, &dir).unwrap_err();
        assert!(e.to_string().contains("not 32 hex digits"), "{e}");
        let e = fetch("cifar", &dir, None).unwrap_err();
        assert!(e.to_string().contains("unknown dataset \"cifar\""), "{e}");
        assert!(remote_files("Fashion-MNIST").is_ok());
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080/a"));
        assert!(is_loopback("http://localhost/a"));
        assert!(is_loopback("http://[::1]:80/a"));
        assert!(!is_loopback("http://localhost.example.com/a"));
        assert!(!is_loopback("http://127.0.0.1.example.com/a"));
        assert!(!is_loopback(
            "https://ossci-datasets.s3.amazonaws.com/mnist/"
        ));
    }
}
