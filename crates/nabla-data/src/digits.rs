//! The 8x8 handwritten digits bundled with the crate (scikit-learn's `load_digits`).

use crate::csv::{parse_table, CsvOptions, Header};
use crate::dataset::TensorDataset;
use crate::error::{Error, Result};
use crate::read::Source;
use nabla_core::Tensor;

/// The gzipped CSV of the digits set, embedded in the library: 1797 lines of 64 pixel values
/// (0..=16, an 8x8 image row by row) followed by the label 0..=9, no header. From
/// scikit-learn 1.9.1's `sklearn/datasets/data/digits.csv.gz` (UCI Optical Recognition of
/// Handwritten Digits, test part; CC BY 4.0).
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

const NAME: &str = "digits.csv.gz";

/// The 8x8 digits: `x` f32 `[1797, 64]` with pixels scaled by 1/16 into `[0, 1]`, `y` i64
/// `[1797]` in `0..=9` (as `sklearn.datasets.load_digits`, with `data / 16`).
///
/// Fails only if the embedded file were damaged.
/// ```
/// let ds = nabla_data::digits().unwrap();
/// assert_eq!(ds.x().shape(), &[1797, 64]);
/// assert_eq!(ds.num_classes(), Some(10));
/// ```
pub fn digits() -> Result<TensorDataset> {
    let bytes = Source::from_bytes(DIGITS_CSV_GZ, NAME).read_rest()?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::format(NAME, format!("not UTF-8 text: {}", e.utf8_error())))?;
    let opts = CsvOptions::default().with_header(Header::Absent);
    let t = parse_table(&text, NAME, &opts)?;
    if t.rows != 1797 || t.feature_names.len() != 64 {
        return Err(Error::format(
            NAME,
            format!(
                "expected 1797 rows of 64 pixels, got {} rows of {}",
                t.rows,
                t.feature_names.len()
            ),
        ));
    }
    let mut x = Vec::with_capacity(t.x.len());
    for (k, &v) in t.x.iter().enumerate() {
        if !(0.0..=16.0).contains(&v) {
            return Err(Error::format(
                NAME,
                format!("pixel {v} at row {} is outside 0..=16", k / 64 + 1),
            ));
        }
        x.push((v / 16.0) as f32);
    }
    let mut y = Vec::with_capacity(t.rows);
    for (line, s) in &t.labels {
        match s.parse::<i64>() {
            Ok(l) if (0..=9).contains(&l) => y.push(l),
            _ => {
                return Err(Error::format(
                    NAME,
                    format!("line {line}: label \"{s}\" is not a digit 0..=9"),
                ))
            }
        }
    }
    TensorDataset::new(
        Tensor::from_vec(x, &[1797, 64])?,
        Tensor::from_vec(y, &[1797])?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_shape_range_and_classes() {
        let ds = digits().unwrap();
        assert_eq!(ds.x().shape(), &[1797, 64]);
        assert_eq!(ds.y().shape(), &[1797]);
        let x = ds.x().to_vec::<f32>().unwrap();
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(x.contains(&1.0));
        let y = ds.y().to_vec::<i64>().unwrap();
        let mut counts = [0usize; 10];
        for l in y {
            counts[l as usize] += 1;
        }
        // sklearn's digits: 178, 182, 177, 183, 181, 182, 181, 179, 174, 180
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        // the first image is a 0: sklearn's digits.data[0][:8] = 0 0 5 13 9 1 0 0
        let first: Vec<f32> = x[..8].to_vec();
        let want: Vec<f32> = [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]
            .iter()
            .map(|v| v / 16.0)
            .collect();
        assert_eq!(first, want);
    }
}
