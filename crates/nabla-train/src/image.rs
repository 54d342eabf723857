//! Grids of grayscale images as PNG files, as `torchvision.utils.save_image` writes them.

use crate::TrainError;
use nabla_core::Tensor;
use std::path::Path;

/// Writes images as one PNG grid of `nrow` images per row, each image framed by 2 black
/// pixels (torchvision's `make_grid` defaults, `padding=2, pad_value=0`).
///
/// `images` is `[N, H, W]`, `[N, 1, H, W]` or `[N, H·W]` with `side` = `Some(W)` for square
/// rows of pixels; values are clamped to `[0, 1]` and scaled to 0..=255.
///
/// Fails when the shape is not one of those, N is 0, `nrow` is 0, or the file cannot be
/// written.
///
/// ```
/// use nabla_core::{Tensor, DType};
/// let imgs = Tensor::ones(&[6, 1, 4, 4], DType::F32);
/// let p = std::env::temp_dir().join(format!("grid-{}.png", std::process::id()));
/// nabla_train::image::save_image_grid(&imgs, 3, None, &p).unwrap();
/// // 3 columns and 2 rows of 4 px with 2 px padding around each: 2 + 3*(4+2) = 20 by 14
/// let (w, h) = nabla_train::image::png_size(&p).unwrap();
/// assert_eq!((w, h), (20, 14));
/// # std::fs::remove_file(&p).ok();
/// ```
pub fn save_image_grid(
    images: &Tensor,
    nrow: usize,
    side: Option<usize>,
    path: impl AsRef<Path>,
) -> Result<(), TrainError> {
    let path = path.as_ref();
    let bad = |m: String| TrainError::Config(format!("save_image_grid: {m}"));
    let s = images.shape();
    let (n, h, w) = match (s.len(), side) {
        (3, _) => (s[0], s[1], s[2]),
        (4, _) if s[1] == 1 => (s[0], s[2], s[3]),
        (2, Some(wd)) if wd > 0 && s[1] % wd == 0 => (s[0], s[1] / wd, wd),
        _ => {
            return Err(bad(format!(
                "images {s:?} are not [N, H, W], [N, 1, H, W] or [N, H*W] with a side"
            )))
        }
    };
    if n == 0 || nrow == 0 {
        return Err(bad(format!("{n} images in rows of {nrow}")));
    }
    const PAD: usize = 2;
    let cols = nrow.min(n);
    let rows = n.div_ceil(cols);
    let (gw, gh) = (PAD + cols * (w + PAD), PAD + rows * (h + PAD));
    let v = images.to_vec_f64();
    let mut px = vec![0u8; gw * gh];
    for k in 0..n {
        let (r, c) = (k / cols, k % cols);
        let (y0, x0) = (PAD + r * (h + PAD), PAD + c * (w + PAD));
        for y in 0..h {
            for x in 0..w {
                let val = v[k * h * w + y * w + x];
                let val = if val.is_nan() {
                    0.0
                } else {
                    val.clamp(0.0, 1.0)
                };
                px[(y0 + y) * gw + x0 + x] = (val * 255.0 + 0.5) as u8;
            }
        }
    }
    let enc_err = |e: png::EncodingError| TrainError::Io(format!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, gw as u32, gh as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(enc_err)?;
        writer.write_image_data(&px).map_err(enc_err)?;
        writer.finish().map_err(enc_err)?;
    }
    nabla_core::io::write_atomic(path, &bytes)?;
    Ok(())
}

/// The width and height of a PNG file.
///
/// Fails when the file cannot be read or is not a PNG.
pub fn png_size(path: impl AsRef<Path>) -> Result<(u32, u32), TrainError> {
    let path = path.as_ref();
    let f = std::fs::File::open(path)
        .map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))?;
    let r = png::Decoder::new(std::io::BufReader::new(f))
        .read_info()
        .map_err(|e| TrainError::Io(format!("{}: not a PNG ({e})", path.display())))?;
    let i = r.info();
    Ok((i.width, i.height))
}
