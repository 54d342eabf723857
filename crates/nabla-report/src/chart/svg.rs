//! The SVG writer: a [`Drawing`] as an `<svg>` element, either inline in an HTML page or as
//! a standalone `.svg` document. Every shape carries its class (for the page's stylesheet)
//! and its colours, widths and font size as presentation attributes, so a file opened
//! alone looks like the chart on the page.

use super::draw::{Anchor, Drawing, Shape, Stroke};
use crate::html::text::escape;
use std::fmt::Write;

/// The fonts asked for, the bundled one (which the PNG uses) first.
const FONT_FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";

/// A coordinate or length with at most one decimal (0 for a value that is not finite).
fn px(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.1}");
    match s.strip_suffix(".0") {
        Some("-0") => "0".into(),
        Some(i) => i.into(),
        None => s,
    }
}

fn class(c: &str) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!(r#" class="{c}""#)
    }
}

fn stroke(s: &Stroke) -> String {
    let mut a = format!(r#" stroke="{}""#, s.colour.hex());
    if s.width != 1.0 {
        let _ = write!(a, r#" stroke-width="{}""#, px(s.width));
    }
    if let Some((on, off)) = s.dash {
        let _ = write!(a, r#" stroke-dasharray="{} {}""#, px(on), px(off));
    }
    a
}

impl Drawing {
    /// The drawing as an `<svg>` element to put inside an HTML page: its `width` and
    /// `height` are the drawing's, in CSS pixels.
    pub fn to_svg(&self) -> String {
        self.write_svg("", self.width, self.height)
    }

    /// The drawing as a standalone SVG document (with its namespace) `width` x `height`
    /// pixels, the drawing scaled to fill them.
    pub fn to_svg_document(&self, width: u32, height: u32) -> String {
        self.write_svg(
            r#" xmlns="http://www.w3.org/2000/svg""#,
            f64::from(width),
            f64::from(height),
        )
    }

    fn write_svg(&self, xmlns: &str, width: f64, height: f64) -> String {
        let mut s = String::new();
        let title = escape(&self.title);
        let _ = write!(
            s,
            r#"<svg{xmlns} class="chart" role="img" width="{}" height="{}" viewBox="0 0 {} {}" font-family="{FONT_FAMILY}"><title>{title}</title>"#,
            px(width),
            px(height),
            px(self.width),
            px(self.height),
        );
        for shape in &self.shapes {
            write_shape(&mut s, shape);
        }
        s.push_str("</svg>");
        s
    }
}

fn write_shape(s: &mut String, shape: &Shape) {
    match shape {
        Shape::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke: outline,
            class: c,
        } => {
            let _ = write!(
                s,
                r#"<rect{} x="{}" y="{}" width="{}" height="{}" fill="{}"{}/>"#,
                class(c),
                px(*x),
                px(*y),
                px(w.max(0.0)),
                px(h.max(0.0)),
                fill.hex(),
                outline.as_ref().map(stroke).unwrap_or_default()
            );
        }
        Shape::Line {
            from,
            to,
            stroke: line,
            class: c,
        } => {
            let _ = write!(
                s,
                r#"<line{} x1="{}" y1="{}" x2="{}" y2="{}"{}/>"#,
                class(c),
                px(from.0),
                px(from.1),
                px(to.0),
                px(to.1),
                stroke(line)
            );
        }
        Shape::Polyline {
            points,
            stroke: line,
            class: c,
        } => {
            let pts: Vec<String> = points
                .iter()
                .map(|&(x, y)| format!("{},{}", px(x), px(y)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline{} fill="none"{} stroke-linejoin="round" points="{}"/>"#,
                class(c),
                stroke(line),
                pts.join(" ")
            );
        }
        Shape::Circle {
            centre,
            r,
            fill,
            tooltip,
        } => {
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="{}" fill="{}""#,
                px(centre.0),
                px(centre.1),
                px(*r),
                fill.hex()
            );
            match tooltip {
                Some(t) => {
                    let _ = write!(s, "><title>{}</title></circle>", escape(t));
                }
                None => s.push_str("/>"),
            }
        }
        Shape::Text { text: t, class: c } => {
            let at = if t.rotated {
                format!(
                    r#" transform="translate({} {}) rotate(-90)""#,
                    px(t.x),
                    px(t.y)
                )
            } else {
                format!(r#" x="{}" y="{}""#, px(t.x), px(t.y))
            };
            let anchor = match t.anchor {
                Anchor::Start => "",
                Anchor::Middle => r#" text-anchor="middle""#,
                Anchor::End => r#" text-anchor="end""#,
            };
            let bold = if t.bold { r#" font-weight="bold""# } else { "" };
            let _ = write!(
                s,
                r#"<text{}{at}{anchor} font-size="{}" fill="{}"{bold}>{}</text>"#,
                class(c),
                px(t.size),
                t.colour.hex(),
                escape(&t.text)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::draw::{Colour, Text};

    #[test]
    fn numbers_are_short_and_finite() {
        assert_eq!(px(12.0), "12");
        assert_eq!(px(12.34), "12.3");
        assert_eq!(px(-0.01), "0");
        assert_eq!(px(f64::NAN), "0");
        assert_eq!(px(f64::INFINITY), "0");
    }

    #[test]
    fn a_document_has_its_namespace_and_scales_the_drawing() {
        let d = Drawing {
            width: 100.0,
            height: 50.0,
            title: "a & b".into(),
            shapes: vec![
                Shape::Text {
                    text: Text {
                        text: "<y>".into(),
                        x: 10.0,
                        y: 25.0,
                        anchor: Anchor::Middle,
                        size: 11.0,
                        bold: false,
                        colour: Colour(1, 2, 3),
                        rotated: true,
                    },
                    class: "label",
                },
                Shape::Line {
                    from: (0.0, 1.0),
                    to: (5.0, 1.0),
                    stroke: Stroke {
                        colour: Colour(255, 0, 0),
                        width: 1.3,
                        dash: Some((6.0, 4.0)),
                    },
                    class: "ref",
                },
            ],
        };
        let doc = d.to_svg_document(200, 100);
        assert!(
            doc.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" "#),
            "{doc}"
        );
        assert!(doc.contains(r#"width="200" height="100" viewBox="0 0 100 50""#));
        assert!(doc.contains("<title>a &amp; b</title>"));
        assert!(doc.contains(
            r##"<text class="label" transform="translate(10 25) rotate(-90)" text-anchor="middle" font-size="11" fill="#010203">&lt;y&gt;</text>"##
        ));
        assert!(doc.contains(r##"stroke="#ff0000" stroke-width="1.3" stroke-dasharray="6 4""##));
        let inline = d.to_svg();
        assert!(inline.starts_with(r#"<svg class="chart""#) && !inline.contains("xmlns"));
        assert!(inline.contains(r#"width="100" height="50""#));
    }
}
