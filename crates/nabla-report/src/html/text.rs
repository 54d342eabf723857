//! Text in the report: escaping for HTML and SVG, and number formats for axes and tables.

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by entities, safe in HTML and SVG text and in
/// quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for a label: 3 significant digits, in exponent form (`1.2e-5`) below 1e-3 or
/// from 1e5; `NaN`, `inf` and `-inf` as words.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        exp(v, 2)
    } else {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// `v` in exponent form with `digits` decimals and no `+` or leading zeros in the exponent:
/// `1.5e-3`, `2e4` (trailing zeros trimmed).
pub fn exp(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim(m)),
        None => s,
    }
}

/// Axis tick labels, one format for the whole axis: exponent form (`1.5e-3`) when the
/// largest tick is below 0.01 or from 1e5, else decimals enough for the ticks' step; the
/// fewest digits that keep neighbouring labels apart.
pub fn tick_labels(ticks: &[f64]) -> Vec<String> {
    let big = ticks.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let step = if ticks.len() > 1 {
        (ticks[1] - ticks[0]).abs()
    } else {
        0.0
    };
    let distinct = |v: &[String]| v.windows(2).all(|w| w[0] != w[1]);
    // each label reads back as its tick, to within a thousandth of the step
    let exact = |v: &[String]| {
        v.iter().zip(ticks).all(|(l, t)| {
            l.parse::<f64>()
                .is_ok_and(|x| (x - t).abs() <= step.abs() * 1e-3)
        })
    };
    if big != 0.0 && !(1e-2..1e5).contains(&big) {
        for digits in 0..6 {
            let v: Vec<String> = ticks
                .iter()
                .map(|&t| if t == 0.0 { "0".into() } else { exp(t, digits) })
                .collect();
            if (distinct(&v) && exact(&v)) || digits == 5 {
                return v;
            }
        }
    }
    let base = if step > 0.0 && step.is_finite() {
        (-(step.log10().floor()) as i32).clamp(0, 12) as usize
    } else {
        2
    };
    // a step like 0.25 needs one decimal more than its magnitude says
    let fmt = |decimals: usize| -> Vec<String> {
        ticks
            .iter()
            .map(|&t| {
                let s = trim(&format!("{t:.decimals$}"));
                if s == "-0" {
                    "0".into()
                } else {
                    s
                }
            })
            .collect()
    };
    for decimals in base..base + 3 {
        let v = fmt(decimals);
        if exact(&v) {
            return v;
        }
    }
    fmt(base + 3)
}

/// Trailing zeros (and a trailing point) trimmed from a decimal.
fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A fraction as a percentage with one decimal: `97.8%`.
pub fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", 100.0 * v)
    } else {
        num(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("δ ‖∂C/∂W‖"), "δ ‖∂C/∂W‖");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(0.98765), "0.988");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1234.0), "1234");
        assert_eq!(num(1.5e-5), "1.5e-5");
        assert_eq!(num(2.0e7), "2e7");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(num(f64::NEG_INFINITY), "-inf");
        assert_eq!(tick_labels(&[0.0, 0.25, 0.5]), vec!["0", "0.25", "0.5"]);
        assert_eq!(tick_labels(&[1.0, 2.0, 3.0]), vec!["1", "2", "3"]);
        assert_eq!(
            tick_labels(&[9e-4, 9.5e-4, 1e-3, 1.05e-3]),
            vec!["9e-4", "9.5e-4", "1e-3", "1.05e-3"]
        );
        assert_eq!(tick_labels(&[0.0, 2e5, 4e5]), vec!["0", "2e5", "4e5"]);
        assert_eq!(
            tick_labels(&[0.0, 5e6, 1e7, 1.5e7]),
            vec!["0", "5e6", "1e7", "1.5e7"]
        );
        assert_eq!(tick_labels(&[-0.5, 0.0, 0.5]), vec!["-0.5", "0", "0.5"]);
        assert_eq!(percent(0.9778), "97.8%");
    }
}
