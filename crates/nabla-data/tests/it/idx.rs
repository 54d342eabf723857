//! IDX (MNIST) reading: good fixtures gzipped and raw, and each bad case.

use crate::common::{gzip, idx_images, idx_labels, shared_mnist_dir, temp_dir, Files};
use nabla_data::{load_mnist, parse_idx_images, read_idx_images, read_idx_labels, read_mnist};

fn err_of<T: std::fmt::Debug>(r: nabla_data::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn reads_raw_and_gzipped_images_and_labels() {
    let dir = temp_dir();
    let raw = idx_images(3, 28, 28);
    let a = dir.write("imgs", &raw);
    let b = dir.write("imgs.gz", &gzip(&raw));
    let ia = read_idx_images(&a).unwrap();
    let ib = read_idx_images(&b).unwrap();
    assert_eq!(ia, ib);
    assert_eq!((ia.count, ia.rows, ia.cols), (3, 28, 28));
    assert_eq!(ia.pixels.len(), 3 * 784);
    assert_eq!(ia.image(1).unwrap()[..3], [31, 38, 45]);
    assert!(ia.image(3).is_none());
    let t = ia.to_tensor().unwrap();
    assert_eq!(t.shape(), &[3, 28, 28]);
    let v = t.to_vec::<f32>().unwrap();
    assert_eq!(v[785], 38.0 / 255.0);
    assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));

    let l = dir.write("labels.gz", &gzip(&idx_labels(&[7, 0, 9])));
    let labels = read_idx_labels(&l).unwrap();
    assert_eq!(labels.labels, vec![7, 0, 9]);
    let lt = labels.to_tensor().unwrap();
    assert_eq!(lt.to_vec::<i64>().unwrap(), vec![7, 0, 9]);
    // in memory too
    assert_eq!(parse_idx_images(&gzip(&raw), "mem").unwrap(), ia);
}

#[test]
fn load_mnist_finds_gz_and_raw_files() {
    let dir = temp_dir();
    dir.write("train-images-idx3-ubyte.gz", &gzip(&idx_images(3, 28, 28)));
    dir.write("train-labels-idx1-ubyte.gz", &gzip(&idx_labels(&[5, 0, 4])));
    dir.write("t10k-images-idx3-ubyte", &idx_images(2, 28, 28));
    dir.write("t10k-labels-idx1-ubyte", &idx_labels(&[7, 2]));
    let train = load_mnist(dir.path(), true).unwrap();
    assert_eq!(train.x().shape(), &[3, 1, 28, 28]);
    assert_eq!(train.y().to_vec::<i64>().unwrap(), vec![5, 0, 4]);
    assert_eq!(train.flatten().unwrap().x().shape(), &[3, 784]);
    let test = load_mnist(dir.path(), false).unwrap();
    assert_eq!(test.x().shape(), &[2, 1, 28, 28]);
    let (imgs, _) = read_mnist(dir.path(), false).unwrap();
    assert_eq!(imgs.pixels, idx_images(2, 28, 28)[16..].to_vec());
}

#[test]
fn wrong_magic_is_named() {
    let dir = temp_dir();
    let mut bytes = idx_images(3, 28, 28);
    bytes[3] = 0x02;
    let p = dir.write("train-images-idx3-ubyte.gz", &gzip(&bytes));
    let e = err_of(read_idx_images(&p));
    assert!(
        e.ends_with("train-images-idx3-ubyte.gz: bad magic 0x00000802, expected 0x00000803 (2051)"),
        "{e}"
    );
    // a labels file given as images, and the other way round
    let l = dir.write("labels", &idx_labels(&[1, 2]));
    let e = err_of(read_idx_images(&l));
    assert!(
        e.contains("bad magic 0x00000801, expected 0x00000803 (2051) (this is an IDX labels file)"),
        "{e}"
    );
    let i = dir.write("images", &idx_images(1, 2, 2));
    let e = err_of(read_idx_labels(&i));
    assert!(e.contains("expected 0x00000801 (2049)"), "{e}");
    // garbage and empty files
    let g = dir.write("garbage", b"hello world, not idx");
    assert!(err_of(read_idx_images(&g)).contains("bad magic 0x68656c6c"));
    let z = dir.write("empty", b"");
    let e = err_of(read_idx_images(&z));
    assert!(
        e.contains("truncated: 0 bytes, an IDX images file needs a 16-byte header"),
        "{e}"
    );
}

#[test]
fn truncated_and_trailing_data_are_refused() {
    let dir = temp_dir();
    let bytes = idx_images(3, 28, 28);
    let p = dir.write("short", &bytes[..bytes.len() - 10]);
    let e = err_of(read_idx_images(&p));
    assert!(
        e.contains("short: truncated: the header announces 3 images of 28x28 (2352 bytes of data), the file has 2342"),
        "{e}"
    );
    let p = dir.write("short.gz", &gzip(&bytes[..100]));
    assert!(err_of(read_idx_images(&p)).contains("truncated"));
    let p = dir.write("header", &bytes[..10]);
    let e = err_of(read_idx_images(&p));
    assert!(e.contains("ends inside the 16-byte header"), "{e}");
    // a cut gzip stream
    let gz = gzip(&bytes);
    let p = dir.write("cut.gz", &gz[..gz.len() / 2]);
    let e = err_of(read_idx_images(&p));
    assert!(e.contains("cut.gz: "), "{e}");
    // trailing bytes
    let mut long = idx_labels(&[1, 2, 3]);
    long.extend_from_slice(&[0, 0, 0, 0, 0]);
    let p = dir.write("long.gz", &gzip(&long));
    let e = err_of(read_idx_labels(&p));
    assert!(
        e.contains("long.gz: 5 trailing bytes after 3 labels (3 bytes of data)"),
        "{e}"
    );
    // a header claiming a huge payload does not allocate it
    let mut huge = Vec::new();
    for v in [2051u32, 4_000_000_000, 60_000, 60_000] {
        huge.extend_from_slice(&v.to_be_bytes());
    }
    let p = dir.write("huge", &huge);
    assert!(err_of(read_idx_images(&p)).contains("huge"));
    // empty images
    let p = dir.write("flat", &idx_images(2, 0, 28));
    assert!(err_of(read_idx_images(&p)).contains("images of 0x28 pixels are empty"));
    // a missing file
    let e = err_of(read_idx_images(dir.path().join("nope")));
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn count_mismatch_bad_label_and_missing_files() {
    let dir = temp_dir();
    dir.write("train-images-idx3-ubyte.gz", &gzip(&idx_images(3, 28, 28)));
    dir.write("train-labels-idx1-ubyte.gz", &gzip(&idx_labels(&[5, 0])));
    let e = err_of(load_mnist(dir.path(), true));
    assert!(
        e.contains(
            "train-images-idx3-ubyte.gz has 3 images but train-labels-idx1-ubyte.gz has 2 labels"
        ),
        "{e}"
    );
    dir.write(
        "train-labels-idx1-ubyte.gz",
        &gzip(&idx_labels(&[5, 12, 4])),
    );
    let e = err_of(load_mnist(dir.path(), true));
    assert!(
        e.contains("train-labels-idx1-ubyte.gz: label 12 at index 1 is out of range 0..=9"),
        "{e}"
    );
    let e = err_of(load_mnist(dir.path(), false));
    assert!(
        e.contains("neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz found"),
        "{e}"
    );
}

/// The real MNIST test labels and images, only where the shared data directory exists.
#[test]
fn real_mnist_t10k_when_present() {
    let Some(dir) = shared_mnist_dir("t10k-labels-idx1-ubyte.gz") else {
        return;
    };
    let labels = dir.join("t10k-labels-idx1-ubyte.gz");
    assert_eq!(
        nabla_data::md5_hex_file(&labels).unwrap(),
        "ec29112dd5afa0611ce80d1b7f02629c"
    );
    let ds = load_mnist(dir, false).unwrap();
    assert_eq!(ds.x().shape(), &[10000, 1, 28, 28]);
    let mut counts = [0usize; 10];
    for l in ds.y().to_vec::<i64>().unwrap() {
        counts[l as usize] += 1;
    }
    assert_eq!(
        counts,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
fn huge_claims_and_gzip_bombs_are_refused_cheaply() {
    // found by fuzzing: a header claiming 4 billion labels (or 2^26 pixels) over a byte of
    // data reserved 64 MiB before finding the file truncated (the reader now reserves no
    // more than the file can hold: see read.rs's tests)
    let mut claim = Vec::new();
    for v in [2049u32, u32::MAX] {
        claim.extend_from_slice(&v.to_be_bytes());
    }
    claim.push(3);
    let e = err_of(nabla_data::parse_idx_labels(&claim, "claim"));
    assert_eq!(
        e,
        "claim: truncated: the header announces 4294967295 labels (4294967295 bytes of data), the file has 1"
    );
    let e = err_of(nabla_data::parse_idx_labels(&gzip(&claim), "claim.gz"));
    assert!(
        e.starts_with("claim.gz: truncated: the header announces 4294967295 labels"),
        "{e}"
    );
    // valid labels with 64 MiB of zeros behind them, gzipped to 64 KiB: counted up to 1 MiB
    let mut bomb = idx_labels(&[1, 2, 3]);
    bomb.resize(bomb.len() + (64 << 20), 0);
    let dir = temp_dir();
    let p = dir.write("bomb.gz", &gzip(&bomb));
    let e = err_of(read_idx_labels(&p));
    assert!(
        e.ends_with("bomb.gz: more than 1048576 trailing bytes after 3 labels (3 bytes of data)"),
        "{e}"
    );
}
