//! Grids of grayscale images as PNG files, as `torchvision.utils.save_image` writes them,
//! and PNG images read as grayscale (what `nabla predict` feeds an image model).

use nabla_core::Error;
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
/// nabla_report::image::save_image_grid(&imgs, 3, None, &p).unwrap();
/// // 3 columns and 2 rows of 4 px with 2 px padding around each: 2 + 3*(4+2) = 20 by 14
/// let (w, h) = nabla_report::image::png_size(&p).unwrap();
/// assert_eq!((w, h), (20, 14));
/// # std::fs::remove_file(&p).ok();
/// ```
pub fn save_image_grid(
    images: &Tensor,
    nrow: usize,
    side: Option<usize>,
    path: impl AsRef<Path>,
) -> Result<(), Error> {
    let path = path.as_ref();
    let bad = |m: String| Error::Config(format!("save_image_grid: {m}"));
    let s = images.shape();
    let (n, h, w) = match (s.len(), side) {
        (3, _) => (s[0], s[1], s[2]),
        (4, _) if s[1] == 1 => (s[0], s[2], s[3]),
        (2, Some(wd)) if wd > 0 && s[1].is_multiple_of(wd) => (s[0], s[1] / wd, wd),
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
    let enc_err = |e: png::EncodingError| Error::Io(format!("{}: {e}", path.display()));
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
pub fn png_size(path: impl AsRef<Path>) -> Result<(u32, u32), Error> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let r = png::Decoder::new(std::io::BufReader::new(f))
        .read_info()
        .map_err(|e| Error::Io(format!("{}: not a PNG ({e})", path.display())))?;
    let i = r.info();
    Ok((i.width, i.height))
}

/// The most bytes one byte of deflate data can expand to (a 258-byte match coded in two
/// bits): no valid PNG holds more pixel data than this many times its own size.
const MAX_DEFLATE_RATIO: u128 = 1032;

/// Decodes a PNG image (any color type and bit depth) to grayscale values in `[0, 1]`,
/// row-major, with its width and height; `name` names the image in errors.
///
/// Palettes are expanded and 16-bit samples cut to 8 bits; color becomes luma
/// `0.299 R + 0.587 G + 0.114 B`, and alpha is dropped. Only the first frame of an animated
/// PNG is read.
///
/// Fails ([`Error::Config`], naming the image) when the bytes are not a PNG, the image
/// data is damaged, or the header announces more pixels than the file could hold (checked
/// before allocating).
///
/// ```
/// let mut bytes = Vec::new();
/// {
///     let mut enc = png::Encoder::new(&mut bytes, 2, 1);
///     enc.set_color(png::ColorType::Grayscale);
///     let mut w = enc.write_header().unwrap();
///     w.write_image_data(&[0, 255]).unwrap();
/// }
/// let (px, w, h) = nabla_report::image::decode_png_gray(&bytes, "two.png").unwrap();
/// assert_eq!((px, w, h), (vec![0.0, 1.0], 2, 1));
/// let e = nabla_report::image::decode_png_gray(b"GIF89a", "x.png").unwrap_err();
/// assert!(e.to_string().starts_with("x.png: not a PNG image ("), "{e}");
/// ```
pub fn decode_png_gray(bytes: &[u8], name: &str) -> Result<(Vec<f32>, usize, usize), Error> {
    let bad = |m: String| Error::Config(format!("{name}: {m}"));
    let mut dec = png::Decoder::new(bytes);
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| bad(format!("not a PNG image ({e})")))?;
    let info = reader.info();
    // png 0.17 (and 0.18) panics expanding a palette whose length is not a multiple of 3
    // (image-rs/image-png#694), which the PNG spec forbids anyway
    if let Some(p) = info.palette.as_deref().filter(|p| p.len() % 3 != 0) {
        return Err(bad(format!(
            "bad PNG data (a PLTE chunk of {} bytes, not a whole number of RGB entries)",
            p.len()
        )));
    }
    // The filtered rows the header announces (one filter byte per row), before allocating
    // anything for them: their deflate stream lies inside these bytes.
    let bits_per_pixel = info.color_type.samples() as u128 * info.bit_depth as u8 as u128;
    let (w, h) = (info.width as u128, info.height as u128);
    let raw = h * (1 + (w * bits_per_pixel).div_ceil(8));
    let most = (bytes.len() as u128 + 1) * MAX_DEFLATE_RATIO;
    if raw > most {
        return Err(bad(format!(
            "bad PNG data (the header announces {w}x{h} pixels, {raw} bytes of image data, \
             more than {} bytes of PNG can hold)",
            bytes.len()
        )));
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("bad PNG data ({e})")))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let ch = info.color_type.samples();
    let px: Vec<f32> = buf[..info.buffer_size()]
        .chunks(ch)
        .map(|c| match ch {
            1 | 2 => c[0] as f32 / 255.0,
            _ => (0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32) / 255.0,
        })
        .collect();
    Ok((px, w, h))
}

/// Reads a PNG file as grayscale values in `[0, 1]` with its width and height (see
/// [`decode_png_gray`]).
///
/// Fails, naming the file, when it cannot be read or [`decode_png_gray`] fails.
pub fn read_png_gray(path: impl AsRef<Path>) -> Result<(Vec<f32>, usize, usize), Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    decode_png_gray(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = (data.len() as u32).to_be_bytes().to_vec();
        let body: Vec<u8> = kind.iter().chain(data).copied().collect();
        v.extend_from_slice(&body);
        v.extend_from_slice(&crc32(&body).to_be_bytes());
        v
    }

    /// A PNG from its header fields and chunks (an IDAT holding the zlib stream `idat`).
    fn png_bytes(w: u32, h: u32, depth: u8, color: u8, extra: &[u8], idat: &[u8]) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[depth, color, 0, 0, 0]);
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend(chunk(b"IHDR", &ihdr));
        v.extend_from_slice(extra);
        v.extend(chunk(b"IDAT", idat));
        v.extend(chunk(b"IEND", &[]));
        v
    }

    /// zlib's stored (uncompressed) form of `data`, one block.
    fn zlib_stored(data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x78, 0x01, 1];
        let n = data.len() as u16;
        v.extend_from_slice(&n.to_le_bytes());
        v.extend_from_slice(&(!n).to_le_bytes());
        v.extend_from_slice(data);
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + x as u32) % 65521;
            b = (b + a) % 65521;
        }
        v.extend_from_slice(&((b << 16) | a).to_be_bytes());
        v
    }

    #[test]
    fn decodes_gray_color_and_palette_images() {
        let gray = png_bytes(2, 1, 8, 0, &[], &zlib_stored(&[0, 0, 255]));
        assert_eq!(decode_png_gray(&gray, "g").unwrap(), (vec![0.0, 1.0], 2, 1));
        let rgb = png_bytes(1, 1, 8, 2, &[], &zlib_stored(&[0, 255, 0, 0]));
        let (px, _, _) = decode_png_gray(&rgb, "rgb").unwrap();
        assert!((px[0] - 0.299).abs() < 1e-6, "{px:?}");
        let plte = chunk(b"PLTE", &[0, 0, 0, 255, 255, 255]);
        let pal = png_bytes(2, 1, 8, 3, &plte, &zlib_stored(&[0, 1, 0]));
        assert_eq!(decode_png_gray(&pal, "p").unwrap(), (vec![1.0, 0.0], 2, 1));
    }

    #[test]
    fn a_palette_of_broken_entries_is_refused() {
        // found by fuzzing (png): a PLTE chunk of 4 bytes made png's palette expansion panic
        let plte = chunk(b"PLTE", &[0, 0, 0, 255]);
        let bytes = png_bytes(1, 1, 8, 3, &plte, &zlib_stored(&[0, 0]));
        let e = decode_png_gray(&bytes, "pal.png").unwrap_err().to_string();
        assert_eq!(
            e,
            "pal.png: bad PNG data (a PLTE chunk of 4 bytes, not a whole number of RGB entries)"
        );
    }

    #[test]
    fn a_header_announcing_more_pixels_than_the_file_holds_is_refused() {
        // 20000 x 20000 pixels announced by 60 bytes: refused before allocating the 400 MB
        // they would take (png itself refuses only rows over its 64 MiB limit)
        let bytes = png_bytes(20_000, 20_000, 8, 0, &[], &zlib_stored(&[0, 0]));
        let e = decode_png_gray(&bytes, "big.png").unwrap_err().to_string();
        assert!(
            e.starts_with("big.png: bad PNG data (the header announces 20000x20000 pixels, 400020000 bytes of image data, more than"),
            "{e}"
        );
        // 2^31-1 x 2^31-1 (the buffer size png would compute overflows usize)
        let side = (1u32 << 31) - 1;
        let bytes = png_bytes(side, side, 8, 0, &[], &zlib_stored(&[0, 0]));
        assert!(decode_png_gray(&bytes, "huge.png").is_err());
        // a file that is no PNG, and a missing one
        let e = decode_png_gray(b"not a png", "x.png")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.png: not a PNG image ("), "{e}");
        let e = read_png_gray("/nonexistent/x.png").unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/x.png: "), "{e}");
    }
}
