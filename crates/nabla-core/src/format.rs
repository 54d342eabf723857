//! Printing tensors the way NumPy prints arrays (`print(a)` with default print options:
//! precision 8, `floatmode='maxprec'`, scientific notation when the magnitudes call for it).

use crate::dtype::DType;
use crate::tensor::Tensor;

const PRECISION: usize = 8;

/// Shortest round-trip digits, capped at `PRECISION` fractional digits, trailing zeros trimmed
/// but the point kept (`1.`), like NumPy's `dragon4_positional(unique=True, trim='.')`.
fn positional(x: f64) -> String {
    let s = format!("{x}");
    let s = match s.split_once('.') {
        Some((_, frac)) if frac.len() > PRECISION => {
            let r = format!("{x:.PRECISION$}");
            r.trim_end_matches('0').to_string()
        }
        Some(_) => s,
        None => format!("{s}."),
    };
    if s.contains('.') {
        s
    } else {
        format!("{s}.")
    }
}

/// Mantissa and exponent like NumPy's `dragon4_scientific(unique=True, trim='.')`.
fn scientific(x: f64) -> (String, i32) {
    let s = format!("{x:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let mut m = m.to_string();
    let mut e: i32 = e.parse().unwrap_or(0);
    if let Some((_, frac)) = m.split_once('.') {
        if frac.len() > PRECISION {
            let r = format!("{x:.PRECISION$e}");
            let (rm, re) = r.split_once('e').unwrap_or((&r, "0"));
            m = rm.trim_end_matches('0').to_string();
            e = re.parse().unwrap_or(0);
        }
    }
    if !m.contains('.') {
        m.push('.');
    }
    (m, e)
}

/// Width NumPy reserves for `nan`/`inf`/`-inf` when the array has them (0 when it has none).
fn special_width(vals: &[f64]) -> usize {
    vals.iter()
        .filter(|v| !v.is_finite())
        .map(|v| if v.is_nan() || *v > 0.0 { 3 } else { 4 })
        .max()
        .unwrap_or(0)
}

fn format_floats(vals: &[f64]) -> Vec<String> {
    let finite: Vec<f64> = vals
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v != 0.0)
        .map(f64::abs)
        .collect();
    let exp_format = if finite.is_empty() {
        false
    } else {
        let max = finite.iter().cloned().fold(f64::MIN, f64::max);
        let min = finite.iter().cloned().fold(f64::MAX, f64::min);
        max >= 1e8 || min < 1e-4 || max / min > 1e3
    };
    let special = |v: f64| {
        if v.is_nan() {
            Some("nan".to_string())
        } else if v.is_infinite() {
            Some(if v > 0.0 { "inf" } else { "-inf" }.to_string())
        } else {
            None
        }
    };
    if exp_format {
        let parts: Vec<Option<(String, i32)>> = vals
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    Some(scientific(v))
                } else {
                    None
                }
            })
            .collect();
        let frac_w = parts
            .iter()
            .flatten()
            .map(|(m, _)| m.split_once('.').map_or(0, |(_, f)| f.len()))
            .max()
            .unwrap_or(0);
        let int_w = parts
            .iter()
            .flatten()
            .map(|(m, _)| m.split_once('.').map_or(m.len(), |(i, _)| i.len()))
            .max()
            .unwrap_or(1);
        let exp_w = parts
            .iter()
            .flatten()
            .map(|(_, e)| e.unsigned_abs().to_string().len())
            .max()
            .unwrap_or(2)
            .max(2);
        // NumPy reserves pad_right = exp digits + 2 + precision beside the point for nan/inf
        let int_w = int_w.max(special_width(vals).saturating_sub(frac_w + exp_w + 3));
        let width = int_w + 1 + frac_w + 2 + exp_w;
        vals.iter()
            .zip(parts)
            .map(|(&v, p)| match p {
                Some((m, e)) => {
                    let (i, f) = m.split_once('.').unwrap_or((&m, ""));
                    let sign = if e < 0 { '-' } else { '+' };
                    format!(
                        "{i:>int_w$}.{f:0<frac_w$}e{sign}{:0>exp_w$}",
                        e.unsigned_abs()
                    )
                }
                None => format!("{:>width$}", special(v).unwrap_or_default()),
            })
            .collect()
    } else {
        let strs: Vec<Option<String>> = vals
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    Some(positional(v))
                } else {
                    None
                }
            })
            .collect();
        let int_w = strs
            .iter()
            .flatten()
            .map(|s| s.split_once('.').map_or(s.len(), |(i, _)| i.len()))
            .max()
            .unwrap_or(1);
        let frac_w = strs
            .iter()
            .flatten()
            .map(|s| s.split_once('.').map_or(0, |(_, f)| f.len()))
            .max()
            .unwrap_or(0);
        let int_w = int_w.max(special_width(vals).saturating_sub(frac_w + 1));
        let width = int_w + 1 + frac_w;
        vals.iter()
            .zip(strs)
            .map(|(&v, s)| match s {
                Some(s) => {
                    let (i, f) = s.split_once('.').unwrap_or((&s, ""));
                    format!("{i:>int_w$}.{f:<frac_w$}")
                }
                None => format!("{:>width$}", special(v).unwrap_or_default()),
            })
            .collect()
    }
}

fn nest(out: &mut String, cells: &[String], shape: &[usize], depth: usize) {
    if shape.is_empty() {
        out.push_str(&cells[0]);
        return;
    }
    out.push('[');
    let n = shape[0];
    let step = cells.len().checked_div(n).unwrap_or(0);
    for i in 0..n {
        if i > 0 {
            if shape.len() == 1 {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(shape.len() - 1));
                out.push_str(&" ".repeat(depth + 1));
            }
        }
        nest(
            out,
            &cells[i * step..(i + 1) * step],
            &shape[1..],
            depth + 1,
        );
    }
    out.push(']');
}

impl Tensor {
    /// The tensor as NumPy's `print(array)` writes it (default print options; no line
    /// wrapping or summarising of large arrays).
    /// ```
    /// use nabla_core::Tensor;
    /// let t = Tensor::from_vec(vec![0.04336566f64, 0.5, 1.0], &[3, 1]).unwrap();
    /// assert_eq!(t.to_numpy_string(), "[[0.04336566]\n [0.5       ]\n [1.        ]]");
    /// ```
    pub fn to_numpy_string(&self) -> String {
        let vals = self.to_vec_f64();
        let cells: Vec<String> = if self.dtype() == DType::I64 {
            let w = vals
                .iter()
                .map(|v| format!("{}", *v as i64).len())
                .max()
                .unwrap_or(1);
            vals.iter().map(|v| format!("{:>w$}", *v as i64)).collect()
        } else {
            format_floats(&vals)
        };
        let mut out = String::new();
        if cells.is_empty() {
            return "[]".into();
        }
        nest(&mut out, &cells, self.shape(), 0);
        out
    }
}

impl std::fmt::Display for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_numpy_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn fmt(v: Vec<f64>, shape: &[usize]) -> String {
        Tensor::from_vec(v, shape).unwrap().to_numpy_string()
    }
    #[test]
    fn matches_numpy_print() {
        // expected strings from numpy 2.x `print(np.array(...))`
        assert_eq!(fmt(vec![0.5, 0.12345], &[2]), "[0.5     0.12345]");
        assert_eq!(fmt(vec![1.0, 0.0], &[2]), "[1. 0.]");
        assert_eq!(fmt(vec![-1.5, 2.25], &[2]), "[-1.5   2.25]");
        assert_eq!(
            fmt(vec![1.0 / 3.0, 2.0 / 3.0], &[1, 2]),
            "[[0.33333333 0.66666667]]"
        );
        assert_eq!(fmt(vec![1e-5, 1.0], &[2]), "[1.e-05 1.e+00]");
        assert_eq!(fmt(vec![1.5e-5, 0.25], &[2]), "[1.5e-05 2.5e-01]");
        assert_eq!(
            fmt(vec![1.0, 2.0, 3.0, 4.0], &[2, 1, 2]),
            "[[[1. 2.]]\n\n [[3. 4.]]]"
        );
        assert_eq!(fmt(vec![f64::NAN, 1.0], &[2]), "[nan  1.]");
        assert_eq!(
            fmt(vec![f64::NAN, 0.5, f64::NEG_INFINITY], &[3]),
            "[ nan  0.5 -inf]"
        );
        assert_eq!(fmt(vec![f64::INFINITY, 1e-5], &[2]), "[   inf 1.e-05]");
        assert_eq!(fmt(vec![1e-5, 1.25], &[2]), "[1.00e-05 1.25e+00]");
        assert_eq!(Tensor::scalar(2.5f64).to_numpy_string(), "2.5");
    }
}
