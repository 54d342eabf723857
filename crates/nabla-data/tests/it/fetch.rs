//! Downloads against a tiny HTTP server on 127.0.0.1 (the only address these tests reach).

use crate::common::{gzip, idx_images, idx_labels, shared_mnist_dir, temp_dir, Files};
use nabla_data::{fetch, fetch_files, md5_hex, Error, RemoteFile};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Serves `routes` (path -> body; anything else is a 404) on 127.0.0.1 at a free port, for
/// at most `max_requests` connections or 20 seconds, whichever ends first. Returns the base
/// URL and a handle giving the paths requested.
fn serve(routes: Vec<(String, Vec<u8>)>, max_requests: usize) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/files/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while seen.len() < max_requests && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Some(path) = answer(stream, &routes) {
                        seen.push(path);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => break,
            }
        }
        seen
    });
    (base, handle)
}

fn answer(mut stream: TcpStream, routes: &[(String, Vec<u8>)]) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
        let k = stream.read(&mut buf).ok()?;
        if k == 0 {
            break;
        }
        req.extend_from_slice(&buf[..k]);
    }
    let text = String::from_utf8_lossy(&req);
    let path = text.split_whitespace().nth(1)?.to_string();
    let found = routes.iter().find(|(p, _)| format!("/files/{p}") == path);
    let (status, body): (&str, &[u8]) = match found {
        Some((_, b)) => ("200 OK", b),
        None => ("404 Not Found", b"not here"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    stream.flush().ok()?;
    Some(path)
}

#[test]
fn good_download_then_skip_when_present() {
    let labels = gzip(&idx_labels(&[3, 1, 4]));
    let images = gzip(&idx_images(3, 28, 28));
    let (base, server) = serve(
        vec![
            ("l.gz".into(), labels.clone()),
            ("i.gz".into(), images.clone()),
        ],
        2,
    );
    let (ml, mi) = (md5_hex(&labels), md5_hex(&images));
    let files = [
        RemoteFile {
            name: "l.gz",
            md5: &ml,
        },
        RemoteFile {
            name: "i.gz",
            md5: &mi,
        },
    ];
    let dir = temp_dir();
    let to = dir.path().join("sub");
    let paths = fetch_files(&base, &files, &to).unwrap();
    assert_eq!(paths, vec![to.join("l.gz"), to.join("i.gz")]);
    assert_eq!(std::fs::read(&paths[0]).unwrap(), labels);
    assert_eq!(std::fs::read(&paths[1]).unwrap(), images);
    assert_eq!(
        nabla_data::read_idx_labels(&paths[0]).unwrap().labels,
        vec![3, 1, 4]
    );
    let requested = server.join().unwrap();
    assert_eq!(requested, vec!["/files/l.gz", "/files/i.gz"]);
    // the server is gone: files already present with the right checksum are not fetched
    let again = fetch_files(&base, &files, &to).unwrap();
    assert_eq!(again, paths);
    let names: Vec<String> = std::fs::read_dir(&to)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

#[test]
fn wrong_checksum_is_refused_and_leaves_nothing() {
    let body = b"definitely not the real file".to_vec();
    let (base, server) = serve(vec![("train-labels-idx1-ubyte.gz".into(), body.clone())], 1);
    let dir = temp_dir();
    let files = [RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        md5: "D53E105EE54EA40749A09FCBCD1E9432",
    }];
    let e = fetch_files(&base, &files, dir.path()).unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "train-labels-idx1-ubyte.gz: checksum mismatch: expected MD5 d53e105ee54ea40749a09fcbcd1e9432, got {}",
            md5_hex(&body)
        )
    );
    assert!(dir.list().is_empty(), "left behind: {:?}", dir.list());
    server.join().unwrap();
}

#[test]
fn a_stale_file_is_replaced() {
    let body = b"fresh".to_vec();
    let (base, server) = serve(vec![("f.bin".into(), body.clone())], 1);
    let dir = temp_dir();
    dir.write("f.bin", b"stale content");
    let md5 = md5_hex(&body);
    let files = [RemoteFile {
        name: "f.bin",
        md5: &md5,
    }];
    fetch_files(&base, &files, dir.path()).unwrap();
    assert_eq!(std::fs::read(dir.path().join("f.bin")).unwrap(), body);
    assert_eq!(dir.list(), vec!["f.bin"]);
    server.join().unwrap();
}

#[test]
fn not_found_and_refused_connections_are_clear_errors() {
    let (base, server) = serve(vec![], 1);
    let dir = temp_dir();
    let files = [RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
    }];
    let e = fetch_files(&base, &files, dir.path())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("{base}t10k-images-idx3-ubyte.gz: HTTP status 404 (Not Found)")
    );
    assert!(dir.list().is_empty());
    server.join().unwrap();

    // nobody listens on a port that was just released
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = fetch_files(&format!("http://127.0.0.1:{port}"), &files, dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "http://127.0.0.1:{port}/t10k-images-idx3-ubyte.gz: download failed"
        )),
        "{e}"
    );
    assert!(dir.list().is_empty());
}

/// `fetch("mnist", ..)` with the real files served from the shared data directory, where it
/// exists: the published checksums match and the result loads.
#[test]
fn fetch_mnist_from_a_local_mirror_when_present() {
    let Some(src) = shared_mnist_dir("train-images-idx3-ubyte.gz") else {
        return;
    };
    let routes: Vec<(String, Vec<u8>)> = nabla_data::MNIST_FILES
        .iter()
        .map(|f| (f.name.to_string(), std::fs::read(src.join(f.name)).unwrap()))
        .collect();
    let (base, server) = serve(routes, 4);
    let dir = temp_dir();
    let paths = fetch("mnist", dir.path(), Some(&base)).unwrap();
    assert_eq!(paths.len(), 4);
    server.join().unwrap();
    let labels = nabla_data::read_idx_labels(&paths[3]).unwrap();
    assert_eq!(labels.labels.len(), 10000);
}
