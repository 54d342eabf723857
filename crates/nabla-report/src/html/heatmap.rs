//! A heatmap as inline SVG: rows (parameter tensors) × columns (health steps), each cell
//! coloured by the log10 of its value on the viridis scale, with a colour bar legend;
//! zeros and non-finite values get colours of their own. Long runs are thinned to evenly
//! spaced columns.

use super::text::{escape, num};
use crate::chart::decade;
use std::fmt::Write;

/// Matplotlib's viridis colour map, 9 stops from dark (low) to yellow (high).
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2d, 0x7b),
    (0x3b, 0x52, 0x8b),
    (0x2c, 0x72, 0x8e),
    (0x21, 0x91, 0x8c),
    (0x28, 0xae, 0x80),
    (0x5e, 0xc9, 0x62),
    (0xad, 0xdc, 0x30),
    (0xfd, 0xe7, 0x25),
];

/// The colour of zero cells.
pub const ZERO: &str = "#d9d9d9";
/// The colour of NaN and infinite cells.
pub const NON_FINITE: &str = "#e0115f";

/// Viridis at `t` in [0, 1] (clamped), as `#rrggbb`.
pub fn viridis(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let f = t * (VIRIDIS.len() - 1) as f64;
    let i = (f.floor() as usize).min(VIRIDIS.len() - 2);
    let u = f - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * u).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// A heatmap of positive values on a log colour scale.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Heatmap {
    /// Title above it.
    pub title: String,
    /// Row labels (top to bottom).
    pub rows: Vec<String>,
    /// Column labels (left to right): health steps.
    pub cols: Vec<u64>,
    /// `values[row][col]`; a missing cell is drawn as non-finite.
    pub values: Vec<Vec<f64>>,
    /// What the colour measures, under the colour bar (`‖∂C/∂W‖`).
    pub measure: String,
}

/// The log10 range of the positive finite values: `(lo, hi)` with `hi > lo`.
fn log_range(values: &[Vec<f64>]) -> Option<(f64, f64)> {
    let logs: Vec<f64> = values
        .iter()
        .flatten()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.log10())
        .collect();
    if logs.is_empty() {
        return None;
    }
    let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    })
}

/// At most `max` column indices out of `n`, evenly spaced, always with the first and last.
pub fn thin(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    if max < 2 {
        return vec![n - 1];
    }
    let mut v: Vec<usize> = (0..max)
        .map(|i| ((i as f64) * (n - 1) as f64 / (max - 1) as f64).round() as usize)
        .collect();
    v.dedup();
    v
}

impl Heatmap {
    /// The heatmap as an `<svg>` element `width` pixels wide. Without a positive finite
    /// value it says so instead.
    pub fn to_svg(&self, width: u32) -> String {
        let w = width as f64;
        let label_w = (self
            .rows
            .iter()
            .map(|r| r.chars().count())
            .max()
            .unwrap_or(4) as f64
            * 6.8
            + 14.0)
            .clamp(60.0, 260.0);
        let (x0, x1) = (label_w, w - 16.0);
        let cell_h = 18.0;
        let top = 30.0;
        let cols = thin(self.cols.len(), ((x1 - x0) / 3.0) as usize);
        let n_rows = self.rows.len();
        let grid_h = cell_h * n_rows as f64;
        let legend_y = top + grid_h + 44.0;
        let h = legend_y + 52.0;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart heatmap" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><title>{}</title><text class="title" x="{x0}" y="18">{}</text>"#,
            escape(&self.title),
            escape(&self.title)
        );
        let Some((lo, hi)) = log_range(&self.values) else {
            let _ = write!(
                s,
                r#"<text class="empty" x="{}" y="{}">no positive finite values</text></svg>"#,
                w / 2.0,
                top + grid_h / 2.0 + 10.0
            );
            return s;
        };
        let cell_w = (x1 - x0) / cols.len().max(1) as f64;
        for (r, name) in self.rows.iter().enumerate() {
            let y = top + r as f64 * cell_h;
            let _ = write!(
                s,
                r#"<text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                x0 - 6.0,
                y + cell_h / 2.0 + 3.5,
                escape(name)
            );
            for (j, &c) in cols.iter().enumerate() {
                let v = self
                    .values
                    .get(r)
                    .and_then(|row| row.get(c))
                    .copied()
                    .unwrap_or(f64::NAN);
                let fill = if !v.is_finite() {
                    NON_FINITE.to_string()
                } else if v <= 0.0 {
                    ZERO.to_string()
                } else {
                    viridis((v.log10() - lo) / (hi - lo))
                };
                let _ = write!(
                    s,
                    r#"<rect x="{:.2}" y="{y:.1}" width="{:.2}" height="{cell_h}" fill="{fill}"><title>{}, step {}: {}</title></rect>"#,
                    x0 + j as f64 * cell_w,
                    cell_w + 0.3,
                    escape(name),
                    self.cols.get(c).copied().unwrap_or(0),
                    num(v)
                );
            }
        }
        // step labels under the grid, about every 90 px
        let every = ((90.0 / cell_w).ceil() as usize).max(1);
        for (j, &c) in cols.iter().enumerate() {
            if j % every == 0 || j + 1 == cols.len() && j % every > every / 2 {
                let x = x0 + (j as f64 + 0.5) * cell_w;
                let _ = write!(
                    s,
                    r#"<line class="axis" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    top + grid_h,
                    top + grid_h + 4.0,
                    top + grid_h + 15.0,
                    self.cols.get(c).copied().unwrap_or(0)
                );
            }
        }
        let _ = write!(
            s,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">optimizer step{}</text>"#,
            (x0 + x1) / 2.0,
            top + grid_h + 31.0,
            if cols.len() < self.cols.len() {
                format!(" ({} of {} records shown)", cols.len(), self.cols.len())
            } else {
                String::new()
            }
        );
        // colour bar: 64 slices over [lo, hi], decade ticks, then the zero and NaN keys
        let (bx, bw, bh) = (x0, 320.0_f64.min(x1 - x0 - 160.0).max(120.0), 12.0);
        for i in 0..64 {
            let _ = write!(
                s,
                r#"<rect x="{:.2}" y="{legend_y:.1}" width="{:.2}" height="{bh}" fill="{}"/>"#,
                bx + i as f64 * bw / 64.0,
                bw / 64.0 + 0.3,
                viridis((i as f64 + 0.5) / 64.0)
            );
        }
        let _ = write!(
            s,
            r#"<rect class="outline" x="{bx}" y="{legend_y:.1}" width="{bw:.1}" height="{bh}"/>"#
        );
        let (k0, k1) = (lo.ceil() as i32, hi.floor() as i32);
        let step = (((k1 - k0).max(0) as f64) / 6.0).ceil().max(1.0) as usize;
        let mut ticks: Vec<(f64, String)> = (k0..=k1)
            .step_by(step)
            .map(|k| (k as f64, decade(k)))
            .collect();
        if ticks.len() < 2 {
            ticks = vec![(lo, num(10f64.powf(lo))), (hi, num(10f64.powf(hi)))];
        }
        for (v, label) in ticks {
            let x = bx + (v - lo) / (hi - lo) * bw;
            let _ = write!(
                s,
                r#"<line class="axis" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                legend_y + bh,
                legend_y + bh + 4.0,
                legend_y + bh + 15.0,
                escape(&label)
            );
        }
        let _ = write!(
            s,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">{} (log scale)</text>"#,
            bx + bw / 2.0,
            legend_y + bh + 31.0,
            escape(&self.measure)
        );
        let kx = bx + bw + 28.0;
        let _ = write!(
            s,
            r#"<rect x="{kx:.1}" y="{legend_y:.1}" width="12" height="{bh}" fill="{ZERO}"/><text class="legend" x="{:.1}" y="{:.1}">0</text><rect x="{:.1}" y="{legend_y:.1}" width="12" height="{bh}" fill="{NON_FINITE}"/><text class="legend" x="{:.1}" y="{:.1}">NaN / inf</text>"#,
            kx + 17.0,
            legend_y + 10.0,
            kx + 40.0,
            kx + 57.0,
            legend_y + 10.0
        );
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(viridis(0.0), "#440154");
        assert_eq!(viridis(1.0), "#fde725");
        assert_eq!(viridis(0.5), "#21918c");
        assert_eq!(viridis(-3.0), "#440154");
        assert_eq!(viridis(f64::NAN), "#440154");
    }

    #[test]
    fn columns_are_thinned_evenly() {
        assert_eq!(thin(5, 10), vec![0, 1, 2, 3, 4]);
        let t = thin(1000, 5);
        assert_eq!(t, vec![0, 250, 500, 749, 999]);
        assert!(thin(0, 10).is_empty());
    }

    #[test]
    fn cells_are_coloured_on_a_log_scale() {
        let m = Heatmap {
            title: "grads".into(),
            rows: vec!["0.weight".into(), "<b>".into()],
            cols: vec![1, 50],
            values: vec![vec![1e-4, 1.0], vec![0.0, f64::NAN]],
            measure: "‖∂C/∂W‖".into(),
        };
        let svg = m.to_svg(600);
        // the smallest value is the scale's bottom, the largest its top
        assert!(svg.contains(r##"fill="#440154"><title>0.weight, step 1: 1e-4"##));
        assert!(svg.contains(r##"fill="#fde725"><title>0.weight, step 50: 1"##));
        assert!(svg.contains(&format!(r#"fill="{ZERO}"><title>&lt;b&gt;, step 1: 0"#)));
        assert!(svg.contains(&format!(
            r#"fill="{NON_FINITE}"><title>&lt;b&gt;, step 50: NaN"#
        )));
        // decade ticks of the colour bar
        assert!(svg.contains(">1e-4<") && svg.contains(">1<"), "{svg}");
        assert!(svg.contains("(log scale)"));
        let empty = Heatmap {
            values: vec![vec![0.0]],
            rows: vec!["a".into()],
            cols: vec![1],
            ..m
        };
        assert!(empty.to_svg(600).contains("no positive finite values"));
    }
}
