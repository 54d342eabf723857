//! The IDX format of MNIST and Fashion-MNIST: big-endian header (magic, then one u32 per
//! dimension), then unsigned bytes. Gzipped files are detected by their magic bytes.

use crate::dataset::TensorDataset;
use crate::error::{Error, Result};
use crate::read::{Source, COUNT_CAP};
use nabla_core::Tensor;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned-byte images, 3 dimensions (`0x00000803`).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels, 1 dimension (`0x00000801`).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// Images read from an IDX file: `count` images of `rows x cols` unsigned bytes, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image (28 for MNIST).
    pub rows: usize,
    /// Columns per image (28 for MNIST).
    pub cols: usize,
    /// The raw pixels, `count * rows * cols` bytes (0 = background, 255 = ink for MNIST).
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `i` (`rows * cols` bytes), or `None` when out of range.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.rows * self.cols;
        (i < self.count).then(|| &self.pixels[i * n..(i + 1) * n])
    }

    /// The images as f32 in `[0, 1]` (`pixel / 255`, as torchvision's `ToTensor`), shaped
    /// `[count, rows, cols]`.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let v: Vec<f32> = self.pixels.iter().map(|&p| p as f32 / 255.0).collect();
        Tensor::from_vec(v, &[self.count, self.rows, self.cols])
    }
}

/// Labels read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxLabels {
    /// The raw labels.
    pub labels: Vec<u8>,
}

impl IdxLabels {
    /// The labels as an i64 tensor `[count]`.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let v: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        let n = v.len();
        Tensor::from_vec(v, &[n])
    }
}

fn read_header(src: &mut Source<'_>, magic: u32, kind: &str) -> Result<Vec<usize>> {
    let ndim = (magic & 0xff) as usize;
    let header_len = 4 * (1 + ndim);
    let mut head = [0u8; 4];
    let got = src.read_full(&mut head)?;
    if got < 4 {
        return Err(Error::format(
            &src.name,
            format!("truncated: {got} bytes, an IDX {kind} file needs a {header_len}-byte header"),
        ));
    }
    let m = u32::from_be_bytes(head);
    if m != magic {
        let hint = match m {
            IDX_IMAGES_MAGIC => " (this is an IDX images file)",
            IDX_LABELS_MAGIC => " (this is an IDX labels file)",
            _ if head[..2] == crate::read::GZIP_MAGIC => " (a gzip stream inside?)",
            _ => "",
        };
        return Err(Error::format(
            &src.name,
            format!("bad magic 0x{m:08x}, expected 0x{magic:08x} ({magic}){hint}"),
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    for d in 0..ndim {
        let got = src.read_full(&mut head)?;
        if got < 4 {
            return Err(Error::format(
                &src.name,
                format!(
                    "truncated: the file ends inside the {header_len}-byte header (dimension {d})"
                ),
            ));
        }
        dims.push(u32::from_be_bytes(head) as usize);
    }
    Ok(dims)
}

/// Reads the payload of `expected` bytes; a shorter or longer stream is an error.
fn read_payload(src: &mut Source<'_>, expected: usize, what: &str) -> Result<Vec<u8>> {
    let data = src.read_up_to(expected as u64)?;
    if data.len() < expected {
        return Err(Error::format(
            &src.name,
            format!(
                "truncated: the header announces {what} ({expected} bytes of data), the file has {}",
                data.len()
            ),
        ));
    }
    let extra = src.count_rest()?;
    if extra > 0 {
        let extra = if extra > COUNT_CAP {
            format!("more than {COUNT_CAP}")
        } else {
            extra.to_string()
        };
        return Err(Error::format(
            &src.name,
            format!("{extra} trailing bytes after {what} ({expected} bytes of data)"),
        ));
    }
    Ok(data)
}

fn images_from(mut src: Source<'_>) -> Result<IdxImages> {
    let dims = read_header(&mut src, IDX_IMAGES_MAGIC, "images")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(Error::format(
            &src.name,
            format!("images of {rows}x{cols} pixels are empty"),
        ));
    }
    let what = format!("{count} images of {rows}x{cols}");
    let expected = count
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .ok_or_else(|| Error::format(&src.name, format!("{what} overflow the address space")))?;
    let pixels = read_payload(&mut src, expected, &what)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

fn labels_from(mut src: Source<'_>) -> Result<IdxLabels> {
    let dims = read_header(&mut src, IDX_LABELS_MAGIC, "labels")?;
    let labels = read_payload(&mut src, dims[0], &format!("{} labels", dims[0]))?;
    Ok(IdxLabels { labels })
}

/// Reads an IDX images file (magic 2051, `[count, rows, cols]` unsigned bytes), gzipped
/// (detected by the bytes `1f 8b`) or raw.
///
/// Fails, naming the file, when it cannot be read, the gzip stream is corrupt, the magic is
/// not 2051, an image has no pixel, or the data is shorter or longer than the header says.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages> {
    images_from(Source::open(path.as_ref())?)
}

/// Reads an IDX labels file (magic 2049, `[count]` unsigned bytes), gzipped or raw.
///
/// Fails, naming the file, when it cannot be read, the gzip stream is corrupt, the magic is
/// not 2049, or the data is shorter or longer than the header says.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<IdxLabels> {
    labels_from(Source::open(path.as_ref())?)
}

/// [`read_idx_images`] on bytes in memory; `name` names them in errors.
pub fn parse_idx_images(bytes: &[u8], name: &str) -> Result<IdxImages> {
    images_from(Source::from_bytes(bytes, name))
}

/// [`read_idx_labels`] on bytes in memory; `name` names them in errors.
pub fn parse_idx_labels(bytes: &[u8], name: &str) -> Result<IdxLabels> {
    labels_from(Source::from_bytes(bytes, name))
}

/// Finds `stem` or `stem.gz` in `dir` or in the layouts torchvision leaves
/// (`dir/raw`, `dir/MNIST/raw`, `dir/FashionMNIST/raw`).
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    let places = [
        dir.to_path_buf(),
        dir.join("raw"),
        dir.join("MNIST").join("raw"),
        dir.join("FashionMNIST").join("raw"),
    ];
    for p in &places {
        for name in [stem.to_string(), format!("{stem}.gz")] {
            let f = p.join(&name);
            if f.is_file() {
                return Ok(f);
            }
        }
    }
    Err(Error::format(
        dir.display(),
        format!("neither {stem} nor {stem}.gz found (looked in the directory and its raw/, MNIST/raw/ and FashionMNIST/raw/)"),
    ))
}

/// Reads the images and labels of MNIST or Fashion-MNIST from `dir`: the training set
/// (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`) or the test set
/// (`t10k-...`).
///
/// Fails when a file is missing or malformed (see [`read_idx_images`]), when the numbers of
/// images and labels differ, or when a label is not in `0..=9`.
pub fn read_mnist(dir: impl AsRef<Path>, train: bool) -> Result<(IdxImages, IdxLabels)> {
    let dir = dir.as_ref();
    let prefix = if train { "train" } else { "t10k" };
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lbl_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    // Labels first: they are small, so a mismatch is found before the big read.
    let labels = read_idx_labels(&lbl_path)?;
    if let Some((i, &l)) = labels.labels.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(Error::format(
            lbl_path.display(),
            format!("label {l} at index {i} is out of range 0..=9"),
        ));
    }
    let images = read_idx_images(&img_path)?;
    if images.count != labels.labels.len() {
        return Err(Error::format(
            dir.display(),
            format!(
                "{} has {} images but {} has {} labels",
                file_name(&img_path),
                images.count,
                file_name(&lbl_path),
                labels.labels.len()
            ),
        ));
    }
    Ok((images, labels))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// MNIST or Fashion-MNIST from `dir` (see [`read_mnist`]) as a [`TensorDataset`]: `x` f32
/// `[N, 1, rows, cols]` in `[0, 1]` (as torchvision's `ToTensor` gives, one channel), `y`
/// i64 `[N]`. Use [`TensorDataset::flatten`] for `[N, 784]`.
///
/// Fails as [`read_mnist`] does.
pub fn load_mnist(dir: impl AsRef<Path>, train: bool) -> Result<TensorDataset> {
    let (images, labels) = read_mnist(dir, train)?;
    let x = images
        .to_tensor()?
        .reshape(&[images.count, 1, images.rows, images.cols])?;
    TensorDataset::new(x, labels.to_tensor()?)
}
