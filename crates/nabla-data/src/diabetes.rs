//! scikit-learn's diabetes regression set, bundled with the crate.

use crate::csv::{parse_table, CsvOptions, Header};
use crate::dataset::TensorDataset;
use crate::error::{Error, Result};
use crate::read::Source;
use nabla_core::Tensor;

/// The gzipped features of the diabetes set, embedded in the library: 442 lines of 10
/// space-separated raw (unscaled) baseline variables: age, sex, body mass index, average
/// blood pressure and six blood serum measurements (s1..s6). From scikit-learn 1.9.1's
/// `sklearn/datasets/data/diabetes_data_raw.csv.gz` (Efron et al., "Least Angle Regression",
/// 2004).
pub const DIABETES_DATA_GZ: &[u8] = include_bytes!("../data/diabetes_data_raw.csv.gz");
/// The gzipped targets: 442 lines, a quantitative measure of disease progression one year
/// after baseline (25..=346).
pub const DIABETES_TARGET_GZ: &[u8] = include_bytes!("../data/diabetes_target.csv.gz");

/// The names of the diabetes features, in column order (scikit-learn's `feature_names`).
pub const DIABETES_FEATURES: [&str; 10] = [
    "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6",
];

fn table(bytes: &[u8], name: &str) -> Result<crate::csv::Table> {
    let raw = Source::from_bytes(bytes, name).read_rest()?;
    let text = String::from_utf8(raw)
        .map_err(|e| Error::format(name, format!("not UTF-8 text: {}", e.utf8_error())))?;
    let opts = CsvOptions::default()
        .with_header(Header::Absent)
        .with_delimiter(' ')
        .with_label(crate::LabelColumn::None);
    parse_table(&text, name, &opts)
}

/// The diabetes set: `x` f32 `[442, 10]` (raw, unscaled values: standardize them, fitted on
/// the training split), `y` f32 `[442, 1]` (as `sklearn.datasets.load_diabetes(scaled=False)`).
///
/// Fails only if the embedded files were damaged.
/// ```
/// let ds = nabla_data::diabetes().unwrap();
/// assert_eq!(ds.x().shape(), &[442, 10]);
/// assert_eq!(ds.y().shape(), &[442, 1]);
/// ```
pub fn diabetes() -> Result<TensorDataset> {
    let x = table(DIABETES_DATA_GZ, "diabetes_data_raw.csv.gz")?;
    let y = table(DIABETES_TARGET_GZ, "diabetes_target.csv.gz")?;
    if x.rows != 442 || x.feature_names.len() != 10 || y.rows != 442 || y.x.len() != 442 {
        return Err(Error::format(
            "diabetes",
            format!(
                "expected 442 rows of 10 features and 442 targets, got {} rows of {} and {} targets",
                x.rows,
                x.feature_names.len(),
                y.x.len()
            ),
        ));
    }
    TensorDataset::new(
        Tensor::from_vec(
            x.x.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            &[442, 10],
        )?,
        Tensor::from_vec(y.x.iter().map(|&v| v as f32).collect::<Vec<_>>(), &[442, 1])?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diabetes_values_match_sklearn() {
        let ds = diabetes().unwrap();
        let x = ds.x().to_vec::<f32>().unwrap();
        // load_diabetes(scaled=False).data[0]
        assert_eq!(
            &x[..10],
            &[59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
        );
        let y = ds.y().to_vec::<f32>().unwrap();
        // load_diabetes().target[:3], and its range 25..=346
        assert_eq!(&y[..3], &[151.0, 75.0, 141.0]);
        assert!(y.iter().all(|v| (25.0..=346.0).contains(v)));
    }
}
