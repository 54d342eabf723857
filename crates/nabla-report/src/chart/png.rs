//! The PNG rasterizer: a [`Drawing`] drawn on plotters' pure-Rust bitmap surface and
//! encoded with the `png` crate. Text is rasterized with `ab_glyph` from a bundled copy of
//! DejaVu Sans (see `assets/DejaVuSans-LICENSE.txt`), so no system font, fontconfig or
//! freetype is needed. Lines are not anti-aliased; text is.

use super::draw::{Anchor, Colour, Drawing, Shape, Stroke, Text};
use ab_glyph::{Font, FontRef, ScaleFont};
use nabla_core::Error;
use plotters::backend::{BitMapBackend, DrawingBackend};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{
    Color, FontDesc, FontFamily, FontStyle, FontTransform, RGBColor, ShapeStyle, TextStyle,
};
use std::sync::OnceLock;

/// The family name under which the bundled font is registered with plotters.
const FONT: &str = "nabla-report DejaVu Sans";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The bundled font, parsed for its metrics, once it is registered with plotters.
static FONT_METRICS: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
/// `ab_glyph` sizes text by the font's ascent minus descent, DejaVu Sans' being 2384 of
/// its 2048 units per em; a size in pixels per em (as in SVG) times this is its size.
const GLYPH_SIZE_PER_EM: f64 = 2384.0 / 2048.0;

/// Registers the bundled font with plotters (once) and returns its metrics.
fn ensure_font() -> Result<&'static FontRef<'static>, String> {
    FONT_METRICS
        .get_or_init(|| {
            plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).ok()?;
            FontRef::try_from_slice(FONT_BYTES).ok()
        })
        .as_ref()
        .ok_or_else(|| "the bundled font could not be loaded".into())
}

/// The drawing's coordinates mapped to the pixels of a bitmap.
struct Raster<'a> {
    surface: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
    sx: f64,
    sy: f64,
    /// The scale of lengths (line widths, radii, font sizes).
    k: f64,
}

fn rgb(c: Colour) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn round(p: (f64, f64)) -> (i32, i32) {
    (p.0.round() as i32, p.1.round() as i32)
}

/// `points` (in pixels) cut into the pieces a dash pattern of `on` and `off` draws.
fn dashes(points: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    if !(on > 0.0 && off >= 0.0) {
        return vec![points.to_vec()];
    }
    let (mut drawing, mut left) = (true, on);
    let mut cur = points.first().map(|&p| vec![p]).unwrap_or_default();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let mut done = 0.0;
        while len - done > left {
            done += left;
            let t = done / len;
            let p = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            if drawing {
                if cur.last() != Some(&p) {
                    cur.push(p);
                }
                out.push(std::mem::take(&mut cur));
            } else {
                cur = vec![p];
            }
            drawing = !drawing;
            left = if drawing { on } else { off };
        }
        left -= len - done;
        if drawing {
            cur.push(b);
        }
    }
    if drawing && cur.len() > 1 {
        out.push(cur);
    }
    out
}

impl Raster<'_> {
    fn at(&self, p: (f64, f64)) -> (f64, f64) {
        (p.0 * self.sx, p.1 * self.sy)
    }

    fn width(&self, w: f64) -> u32 {
        (w * self.k).round().max(1.0) as u32
    }

    /// A path through `points` (drawing coordinates), dashed as `stroke` says, each
    /// segment a thick line with round joins.
    fn stroke(&mut self, points: &[(f64, f64)], stroke: &Stroke) -> Result<(), String> {
        let px: Vec<(f64, f64)> = points.iter().map(|&p| self.at(p)).collect();
        let pieces = match stroke.dash {
            Some((on, off)) => dashes(&px, on * self.k, off * self.k),
            None => vec![px],
        };
        let width = self.width(stroke.width);
        let style = ShapeStyle {
            color: rgb(stroke.colour).to_rgba(),
            filled: true,
            stroke_width: width,
        };
        for piece in pieces {
            let mut pts: Vec<(i32, i32)> = piece.into_iter().map(round).collect();
            pts.dedup();
            for (i, w) in pts.windows(2).enumerate() {
                self.surface
                    .draw_line(w[0], w[1], &style)
                    .map_err(|e| e.to_string())?;
                if width > 2 && i > 0 {
                    self.surface
                        .draw_circle(w[0], width / 2, &style, true)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Text drawn glyph by glyph, each at its place by the font's advances, kerning and
    /// side bearings (plotters' own layout of a string leaves the bearings out).
    fn text(&mut self, t: &Text) -> Result<(), String> {
        let size = t.size * self.k * GLYPH_SIZE_PER_EM;
        let font = self.font.as_scaled(size as f32);
        // each glyph's left edge along the text, from the text's start
        let mut pen = 0.0f32;
        let mut prev = None;
        let mut glyphs = Vec::new();
        for c in t.text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                pen += font.kern(p, id);
            }
            if !c.is_whitespace() {
                // plotters draws a glyph's bitmap from the pixel its outline starts in
                glyphs.push((c, f64::from(pen + font.h_side_bearing(id).floor())));
            }
            pen += font.h_advance(id);
            prev = Some(id);
        }
        let start = match t.anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -f64::from(pen) / 2.0,
            Anchor::End => -f64::from(pen),
        };
        let colour = rgb(t.colour);
        let font_desc = FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Normal);
        let mut style = TextStyle::from(font_desc)
            .color(&colour)
            .pos(Pos::new(HPos::Left, VPos::Top));
        if t.rotated {
            style = style.transform(FontTransform::Rotate270);
        }
        let (x, y) = self.at((t.x, t.y));
        let mut buf = [0u8; 4];
        for (c, along) in glyphs {
            // plotters puts the baseline half the glyph size below (or, rotated, right of)
            // the position it is given
            let u = start + along;
            let pos = if t.rotated {
                round((x - size / 2.0, y - u))
            } else {
                round((x + u, y - size / 2.0))
            };
            let glyph = c.encode_utf8(&mut buf);
            self.surface
                .draw_text(glyph, &style, pos)
                .map_err(|e| e.to_string())?;
            if t.bold {
                // the bundled font has no bold face: the glyph again, a pixel further on
                let pos = if t.rotated {
                    (pos.0, pos.1 - 1)
                } else {
                    (pos.0 + 1, pos.1)
                };
                self.surface
                    .draw_text(glyph, &style, pos)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn shape(&mut self, shape: &Shape) -> Result<(), String> {
        match shape {
            Shape::Rect {
                x,
                y,
                w,
                h,
                fill,
                stroke,
                ..
            } => {
                let ul = round(self.at((*x, *y)));
                let br = round(self.at((x + w, y + h)));
                self.surface
                    .draw_rect(ul, br, &rgb(*fill).filled(), true)
                    .map_err(|e| e.to_string())?;
                if let Some(s) = stroke {
                    let style = rgb(s.colour).stroke_width(self.width(s.width));
                    self.surface
                        .draw_rect(ul, (br.0 - 1, br.1 - 1), &style, false)
                        .map_err(|e| e.to_string())?;
                }
            }
            Shape::Line {
                from, to, stroke, ..
            } => self.stroke(&[*from, *to], stroke)?,
            Shape::Polyline { points, stroke, .. } => self.stroke(points, stroke)?,
            Shape::Circle {
                centre, r, fill, ..
            } => {
                let radius = (r * self.k).round().max(1.0) as u32;
                self.surface
                    .draw_circle(round(self.at(*centre)), radius, &rgb(*fill).filled(), true)
                    .map_err(|e| e.to_string())?;
            }
            Shape::Text { text, .. } => self.text(text)?,
        }
        Ok(())
    }
}

impl Drawing {
    /// The drawing rasterized to `width` x `height` pixels (scaled to fill them), as RGB
    /// bytes row by row.
    ///
    /// # Errors
    /// [`Error::Io`] when the size is 0, the bundled font cannot be loaded or drawing fails.
    pub fn to_rgb(&self, width: u32, height: u32) -> Result<Vec<u8>, Error> {
        self.rasterize(width, height).map_err(Error::Io)
    }

    /// The drawing as a PNG file's bytes, `width` x `height` pixels (8-bit RGB).
    ///
    /// # Errors
    /// As [`Drawing::to_rgb`], and [`Error::Io`] when encoding fails.
    pub fn to_png(&self, width: u32, height: u32) -> Result<Vec<u8>, Error> {
        let rgb = self.rasterize(width, height).map_err(Error::Io)?;
        encode(&rgb, width, height).map_err(Error::Io)
    }

    pub(crate) fn rasterize(&self, width: u32, height: u32) -> Result<Vec<u8>, String> {
        if width == 0 || height == 0 || !(self.width > 0.0 && self.height > 0.0) {
            return Err(format!(
                "cannot draw a {} x {} chart in {width} x {height} pixels",
                self.width, self.height
            ));
        }
        let font = ensure_font()?;
        let mut buf = vec![255u8; width as usize * height as usize * 3];
        {
            let (sx, sy) = (
                f64::from(width) / self.width,
                f64::from(height) / self.height,
            );
            let mut r = Raster {
                surface: BitMapBackend::with_buffer(&mut buf, (width, height)),
                font,
                sx,
                sy,
                k: sx.min(sy),
            };
            for shape in &self.shapes {
                r.shape(shape)?;
            }
            r.surface.present().map_err(|e| e.to_string())?;
        }
        Ok(buf)
    }
}

/// RGB bytes as an 8-bit RGB PNG.
pub(crate) fn encode(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let err = |e: png::EncodingError| format!("PNG encoding failed: {e}");
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_alternate_along_the_path() {
        let d = dashes(&[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)], 4.0, 2.0);
        assert_eq!(
            d,
            vec![
                vec![(0.0, 0.0), (4.0, 0.0)],
                vec![(6.0, 0.0), (10.0, 0.0)],
                vec![(10.0, 2.0), (10.0, 6.0)],
                vec![(10.0, 8.0), (10.0, 10.0)],
            ]
        );
        // a dash that turns a corner keeps the corner
        let d = dashes(&[(0.0, 0.0), (3.0, 0.0), (3.0, 3.0)], 5.0, 1.0);
        assert_eq!(d[0], vec![(0.0, 0.0), (3.0, 0.0), (3.0, 2.0)]);
    }

    #[test]
    fn a_zero_size_is_an_error() {
        let d = Drawing {
            width: 10.0,
            height: 10.0,
            title: String::new(),
            shapes: Vec::new(),
        };
        assert!(d.to_png(0, 10).is_err());
        assert_eq!(d.to_rgb(2, 3).unwrap(), vec![255; 18]);
    }
}
