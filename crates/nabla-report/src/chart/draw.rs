//! What a laid-out chart is made of: a short list of shapes in drawing order, in pixel
//! coordinates with the origin at the top left, that the SVG writer and the PNG rasterizer
//! both draw. Each shape carries its full style (colours, widths, font size), so a
//! standalone file looks like the page; the class names let the page's stylesheet match.

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour(pub u8, pub u8, pub u8);

impl Colour {
    /// White, the background.
    pub const WHITE: Colour = Colour(255, 255, 255);

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stroke {
    /// The line's colour.
    pub colour: Colour,
    /// Its width in pixels.
    pub width: f64,
    /// Dash and gap lengths, or `None` for a solid line.
    pub dash: Option<(f64, f64)>,
}

impl Stroke {
    /// A solid line.
    pub fn solid(colour: Colour, width: f64) -> Self {
        Stroke {
            colour,
            width,
            dash: None,
        }
    }
}

/// Which point of a text its position names, along the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts there.
    Start,
    /// The text is centred there.
    Middle,
    /// The text ends there.
    End,
}

/// A line of text; its position is on the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// The text, unescaped.
    pub text: String,
    /// The anchor's x.
    pub x: f64,
    /// The baseline's y (for rotated text: the anchor's y, the baseline running at `x`).
    pub y: f64,
    /// Which point of the text is at `(x, y)`.
    pub anchor: Anchor,
    /// The font size in pixels (the em).
    pub size: f64,
    /// Bold.
    pub bold: bool,
    /// Its colour.
    pub colour: Colour,
    /// Rotated 90° counter-clockwise (reading upwards).
    pub rotated: bool,
}

/// One thing to draw. `class` names it for a page's stylesheet (empty: none).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// An axis-aligned rectangle.
    Rect {
        /// Left edge.
        x: f64,
        /// Top edge.
        y: f64,
        /// Width.
        w: f64,
        /// Height.
        h: f64,
        /// Its fill.
        fill: Colour,
        /// Its outline, if any.
        stroke: Option<Stroke>,
        /// The CSS class.
        class: &'static str,
    },
    /// A straight line.
    Line {
        /// Start.
        from: (f64, f64),
        /// End.
        to: (f64, f64),
        /// How it is stroked.
        stroke: Stroke,
        /// The CSS class.
        class: &'static str,
    },
    /// Connected line segments through at least two points.
    Polyline {
        /// The points, in order.
        points: Vec<(f64, f64)>,
        /// How it is stroked.
        stroke: Stroke,
        /// The CSS class.
        class: &'static str,
    },
    /// A filled dot.
    Circle {
        /// Its centre.
        centre: (f64, f64),
        /// Its radius.
        r: f64,
        /// Its colour.
        fill: Colour,
        /// Shown on hover where the format has tooltips (SVG).
        tooltip: Option<String>,
    },
    /// A line of text.
    Text {
        /// What and how.
        text: Text,
        /// The CSS class.
        class: &'static str,
    },
}

/// A laid-out chart: its size in pixels and its shapes, drawn in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawing {
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// The accessible name (the chart's title).
    pub title: String,
    /// The shapes, back to front.
    pub shapes: Vec<Shape>,
}
