//! CSV files of numeric features and a label column, and the [`Standardizer`].

use crate::dataset::TensorDataset;
use crate::error::{Error, Result};
use crate::read::Source;
use nabla_core::Tensor;
use std::path::Path;

mod options;
pub use options::{CsvOptions, Header, LabelColumn, LabelKind};

/// A CSV file read into tensors.
#[derive(Clone, Debug)]
pub struct CsvData {
    /// Features, f32 `[N, F]`.
    pub x: Tensor,
    /// Targets: i64 `[N]` class indices or f32 `[N, 1]`; `None` with [`LabelColumn::None`].
    pub y: Option<Tensor>,
    /// The feature columns' names (from the header, else their column numbers).
    pub feature_names: Vec<String>,
    /// The label column's name.
    pub label_name: Option<String>,
    /// The label column's 0-based index among all columns.
    pub label_index: Option<usize>,
    /// For classification with non-integer labels: the label text of each class index.
    pub classes: Option<Vec<String>>,
}

impl CsvData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.shape()[0]
    }
    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of feature columns.
    pub fn num_features(&self) -> usize {
        self.x.shape()[1]
    }
    /// The features and targets as a [`TensorDataset`].
    ///
    /// Fails when there is no label column.
    pub fn into_dataset(self) -> Result<TensorDataset> {
        let y = self.y.ok_or_else(|| {
            Error::invalid("CsvData::into_dataset", "the data has no label column")
        })?;
        TensorDataset::new(self.x, y)
    }
}

/// Splits one line into fields: `"`-quoted fields may hold the delimiter and `""`.
fn split_line(line: &str, delim: char) -> std::result::Result<Vec<String>, String> {
    if delim == ' ' {
        return Ok(line.split_whitespace().map(str::to_string).collect());
    }
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && field.trim().is_empty() {
            field.clear();
            in_quotes = true;
        } else if c == delim {
            out.push(std::mem::take(&mut field).trim().to_string());
        } else {
            field.push(c);
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    out.push(field.trim().to_string());
    Ok(out)
}

/// Whether a field is written as a number (finite or not), for header detection.
fn looks_numeric(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

fn parse_num(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Reads a CSV file (gzipped or not, detected by its magic bytes) of numeric features and a
/// label column.
///
/// Fails, naming the file, line and column, when a feature (or a regression target) is not a
/// finite number, a field is empty, a row has a different number of fields than the first,
/// a quote is not closed, the label column does not exist, or there is no data row.
/// ```
/// use nabla_data::{parse_csv, CsvOptions, LabelColumn};
/// let text = "a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n";
/// let d = parse_csv(text, "pets.csv", &CsvOptions::default()).unwrap();
/// assert_eq!(d.x.shape(), &[3, 2]);
/// assert_eq!(d.y.unwrap().to_vec::<i64>().unwrap(), vec![0, 1, 0]);
/// assert_eq!(d.classes.unwrap(), vec!["cat", "dog"]);
/// let e = parse_csv("1,2,0\n3,x,1\n", "bad.csv", &CsvOptions::default()).unwrap_err();
/// assert_eq!(e.to_string(), "bad.csv: line 2, column 2: \"x\" is not a number");
/// ```
pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<CsvData> {
    let path = path.as_ref();
    csv_from(Source::open(path)?, options)
}

/// [`read_csv`] on the bytes of a file in memory (gzipped or not, detected by its magic
/// bytes); `name` names them in errors.
///
/// Fails as [`read_csv`] does, and when the (decompressed) bytes are not UTF-8 text.
pub fn parse_csv_bytes(bytes: &[u8], name: &str, options: &CsvOptions) -> Result<CsvData> {
    csv_from(Source::from_bytes(bytes, name), options)
}

fn csv_from(mut src: Source<'_>, options: &CsvOptions) -> Result<CsvData> {
    let bytes = src.read_rest()?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::format(&src.name, format!("not UTF-8 text: {}", e.utf8_error())))?;
    parse_csv(&text, &src.name, options)
}

/// Parsed rows: the raw feature matrix, the label strings, names.
pub(crate) struct Table {
    pub(crate) x: Vec<f64>,
    pub(crate) rows: usize,
    pub(crate) feature_names: Vec<String>,
    pub(crate) label_name: Option<String>,
    /// (line number, label text) per row.
    pub(crate) labels: Vec<(usize, String)>,
    /// The label column's index.
    pub(crate) label_index: Option<usize>,
    /// Class names from a scikit-learn count line (`150,4,setosa,versicolor,virginica`).
    pub(crate) class_names: Vec<String>,
}

/// scikit-learn's CSV files start with `n_samples,n_features[,class names...]`: a line of
/// two counts that match the data (n_samples rows of n_features + 1 fields follow), then
/// words (class names, which every row's last field then indexes); a line as wide as the
/// rows must have names, or it is taken as data.
/// Returns the class names when `lines` starts with such a line.
fn sklearn_count_line(lines: &[(usize, Vec<String>)]) -> Option<Vec<String>> {
    let (_, first) = lines.first()?;
    let (_, second) = lines.get(1)?;
    let n: usize = first.first()?.parse().ok()?;
    let f: usize = first.get(1)?.parse().ok()?;
    let names = &first[2..];
    // names are words, and a first line as wide as the rows must have some (else it is data)
    let words = names.iter().all(|s| !looks_numeric(s));
    let distinct = !names.is_empty() || first.len() != second.len();
    // with class names, every row's last field is a class index among them
    let indices = names.is_empty()
        || lines[1..].iter().all(|(_, r)| {
            r.last()
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|k| k < names.len())
        });
    (n == lines.len() - 1
        && f.checked_add(1) == Some(second.len())
        && n > 0
        && words
        && distinct
        && indices)
        .then(|| names.to_vec())
}

pub(crate) fn parse_table(text: &str, name: &str, o: &CsvOptions) -> Result<Table> {
    let err = |msg: String| Error::format(name, msg);
    // (1-based line number, fields) of the non-blank lines after the skipped ones.
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate().skip(o.skip_rows) {
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let fields =
            split_line(line, o.delimiter).map_err(|m| err(format!("line {}: {m}", i + 1)))?;
        lines.push((i + 1, fields));
    }
    if lines.is_empty() {
        return Err(err("no rows".into()));
    }
    // scikit-learn's count line is not data (detected unless rows are skipped or a header
    // is declared)
    let mut class_names = Vec::new();
    if o.skip_rows == 0 && o.header == Header::Auto {
        if let Some(names) = sklearn_count_line(&lines) {
            class_names = names;
            lines.remove(0);
        }
    }
    let header = match o.header {
        Header::Present => true,
        Header::Absent => false,
        Header::Auto => {
            let first = &lines[0].1;
            match lines.get(1) {
                Some((_, second)) => first
                    .iter()
                    .zip(second)
                    .any(|(a, b)| !looks_numeric(a) && looks_numeric(b)),
                None => first.iter().all(|a| !looks_numeric(a)),
            }
        }
    };
    let width = lines[0].1.len();
    let (first_line, _) = lines[0];
    for (ln, f) in &lines[1..] {
        if f.len() != width {
            return Err(err(format!(
                "line {ln} has {} fields, expected {width} (as line {first_line})",
                f.len()
            )));
        }
    }
    let names: Vec<String> = if header {
        lines[0].1.clone()
    } else {
        (0..width).map(|i| i.to_string()).collect()
    };
    let data = if header { &lines[1..] } else { &lines[..] };
    if data.is_empty() {
        return Err(err("no data rows after the header".into()));
    }
    let label = match &o.label {
        LabelColumn::None => None,
        LabelColumn::Last => Some(width - 1),
        LabelColumn::Index(i) if *i < width => Some(*i),
        LabelColumn::Index(i) => {
            return Err(err(format!(
                "label column {i} does not exist (rows have {width} columns, 0..={})",
                width - 1
            )))
        }
        LabelColumn::Name(n) => {
            if !header {
                return Err(err(format!(
                    "label column \"{n}\" asked by name, but there is no header"
                )));
            }
            match names.iter().position(|h| h == n) {
                Some(i) => Some(i),
                None => {
                    return Err(err(format!(
                        "no column named \"{n}\" (columns: {})",
                        names.join(", ")
                    )))
                }
            }
        }
    };
    if label.is_some() && width < 2 {
        return Err(err(
            "rows hold only the label column, no feature column".into()
        ));
    }
    let col_desc = |j: usize| {
        if header {
            format!("column {} (\"{}\")", j + 1, names[j])
        } else {
            format!("column {}", j + 1)
        }
    };
    let nf = width - usize::from(label.is_some());
    let mut x = Vec::with_capacity(data.len() * nf);
    let mut labels = Vec::with_capacity(if label.is_some() { data.len() } else { 0 });
    for (ln, fields) in data {
        for (j, f) in fields.iter().enumerate() {
            if Some(j) == label {
                if f.is_empty() {
                    return Err(err(format!("line {ln}, {}: empty label", col_desc(j))));
                }
                labels.push((*ln, f.clone()));
                continue;
            }
            if f.is_empty() {
                return Err(err(format!("line {ln}, {}: empty field", col_desc(j))));
            }
            match parse_num(f) {
                Some(v) => x.push(v),
                None => {
                    let why = if f.parse::<f64>().is_ok() {
                        "is not a finite number"
                    } else {
                        "is not a number"
                    };
                    return Err(err(format!("line {ln}, {}: \"{f}\" {why}", col_desc(j))));
                }
            }
        }
    }
    let feature_names = names
        .iter()
        .enumerate()
        .filter(|(j, _)| Some(*j) != label)
        .map(|(_, n)| n.clone())
        .collect();
    Ok(Table {
        x,
        rows: data.len(),
        feature_names,
        label_name: label.map(|j| names[j].clone()),
        labels,
        label_index: label,
        class_names,
    })
}

/// Turns label strings into i64 class indices (see [`LabelKind::Class`]).
fn class_indices(labels: &[(usize, String)]) -> (Vec<i64>, Option<Vec<String>>) {
    // -0 is the class 0 (`+ 0.0` turns -0.0 into +0.0), so sorting and deduplicating agree
    let nums: Option<Vec<f64>> = labels
        .iter()
        .map(|(_, s)| parse_num(s).map(|v| v + 0.0))
        .collect();
    if let Some(nums) = nums {
        if nums
            .iter()
            .all(|v| *v >= 0.0 && v.fract() == 0.0 && *v < 9.0e15)
        {
            return (nums.iter().map(|v| *v as i64).collect(), None);
        }
        let mut values = nums.clone();
        values.sort_by(|a, b| a.total_cmp(b));
        values.dedup_by(|a, b| a.total_cmp(b).is_eq());
        let idx = nums
            .iter()
            .map(|v| values.partition_point(|c| c.total_cmp(v).is_lt()) as i64)
            .collect();
        return (idx, Some(values.iter().map(|v| v.to_string()).collect()));
    }
    let mut classes: Vec<String> = labels.iter().map(|(_, s)| s.clone()).collect();
    classes.sort();
    classes.dedup();
    let idx = labels
        .iter()
        .map(|(_, s)| classes.partition_point(|c| c < s) as i64)
        .collect();
    (idx, Some(classes))
}

/// [`read_csv`] on text in memory; `name` names it in errors.
pub fn parse_csv(text: &str, name: &str, options: &CsvOptions) -> Result<CsvData> {
    let t = parse_table(text, name, options)?;
    let nf = t.feature_names.len();
    let x = Tensor::from_vec(
        t.x.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
        &[t.rows, nf],
    )?;
    let (y, classes) = if t.label_name.is_none() {
        (None, None)
    } else {
        match options.labels {
            LabelKind::Class => {
                let (idx, mut classes) = class_indices(&t.labels);
                let max = idx.iter().copied().max().unwrap_or(0);
                if classes.is_none()
                    && !t.class_names.is_empty()
                    && usize::try_from(max).is_ok_and(|m| m < t.class_names.len())
                {
                    classes = Some(t.class_names.clone());
                }
                (Some(Tensor::from_vec(idx, &[t.rows])?), classes)
            }
            LabelKind::Number => {
                let mut v = Vec::with_capacity(t.rows);
                for (ln, s) in &t.labels {
                    match parse_num(s) {
                        Some(f) => v.push(f as f32),
                        None => {
                            return Err(Error::format(
                                name,
                                format!("line {ln}, label column: \"{s}\" is not a number (regression target)"),
                            ))
                        }
                    }
                }
                (Some(Tensor::from_vec(v, &[t.rows, 1])?), None)
            }
        }
    };
    Ok(CsvData {
        x,
        y,
        feature_names: t.feature_names,
        label_name: t.label_name,
        label_index: t.label_index,
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str, o: &CsvOptions) -> String {
        parse_csv(text, "t.csv", o).unwrap_err().to_string()
    }

    #[test]
    fn header_auto_detection() {
        let o = CsvOptions::default();
        let d = parse_csv("x1,x2,y\n1,2,0\n3,4,1\n", "t.csv", &o).unwrap();
        assert_eq!(d.feature_names, vec!["x1", "x2"]);
        assert_eq!(d.label_name.as_deref(), Some("y"));
        assert_eq!(d.len(), 2);
        let d = parse_csv("1,2,0\n3,4,1\n", "t.csv", &o).unwrap();
        assert_eq!(d.feature_names, vec!["0", "1"]);
        assert_eq!(d.len(), 2);
        // text labels in every row are not a header
        let d = parse_csv("1,2,a\n3,4,b\n", "t.csv", &o).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.classes.unwrap(), vec!["a", "b"]);
        // explicit
        let d = parse_csv(
            "1,2,0\n3,4,1\n",
            "t.csv",
            &o.clone().with_header(Header::Present),
        )
        .unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d.feature_names, vec!["1", "2"]);
    }

    #[test]
    fn label_by_name_index_and_none() {
        let text = "a,label,b\n1,2,3\n4,5,6\n";
        let o = CsvOptions::default().with_label(LabelColumn::Name("label".into()));
        let d = parse_csv(text, "t.csv", &o).unwrap();
        assert_eq!(d.x.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 4.0, 6.0]);
        assert_eq!(d.y.unwrap().to_vec::<i64>().unwrap(), vec![2, 5]);
        let o = CsvOptions::default()
            .with_label(LabelColumn::Index(0))
            .with_labels(LabelKind::Number);
        let d = parse_csv(text, "t.csv", &o).unwrap();
        assert_eq!(d.y.as_ref().unwrap().shape(), &[2, 1]);
        assert_eq!(d.y.unwrap().to_vec::<f32>().unwrap(), vec![1.0, 4.0]);
        let o = CsvOptions::default().with_label(LabelColumn::None);
        let d = parse_csv(text, "t.csv", &o).unwrap();
        assert_eq!(d.x.shape(), &[2, 3]);
        assert!(d.into_dataset().is_err());
    }

    #[test]
    fn errors_name_row_and_column() {
        let o = CsvOptions::default();
        let e = msg("a,b,y\n1,2,0\n3,oops,1\n", &o);
        assert_eq!(
            e,
            "t.csv: line 3, column 2 (\"b\"): \"oops\" is not a number"
        );
        let e = msg("1,2,0\n3,4\n", &o);
        assert_eq!(e, "t.csv: line 2 has 2 fields, expected 3 (as line 1)");
        let e = msg("1,,0\n", &o.clone().with_header(Header::Absent));
        assert!(e.contains("line 1, column 2: empty field"), "{e}");
        let e = msg("1,inf,0\n2,3,1\n", &o);
        assert!(e.contains("\"inf\" is not a finite number"), "{e}");
        let e = msg("a,b\n", &o.clone().with_header(Header::Present));
        assert!(e.contains("no data rows"), "{e}");
        let e = msg("", &o);
        assert!(e.contains("no rows"), "{e}");
        let e = msg("1,2\n", &o.clone().with_label(LabelColumn::Index(5)));
        assert!(e.contains("label column 5 does not exist"), "{e}");
        let e = msg(
            "1,2\n",
            &o.clone().with_label(LabelColumn::Name("y".into())),
        );
        assert!(e.contains("no header"), "{e}");
        let e = msg(
            "a,b\n1,2\n",
            &o.clone().with_label(LabelColumn::Name("y".into())),
        );
        assert!(e.contains("no column named \"y\" (columns: a, b)"), "{e}");
        let e = msg("1,\"2,0\n", &o);
        assert!(e.contains("line 1: unterminated quoted field"), "{e}");
        let e = msg(
            "1,2,x\n",
            &o.clone()
                .with_header(Header::Absent)
                .with_labels(LabelKind::Number),
        );
        assert!(
            e.contains("line 1, label column: \"x\" is not a number"),
            "{e}"
        );
    }

    #[test]
    fn quotes_whitespace_and_skip_rows() {
        let o = CsvOptions::default();
        let d = parse_csv("\"a, b\",y\n\"1.5\",\"x\"\"y\"\n", "t.csv", &o).unwrap();
        assert_eq!(d.feature_names, vec!["a, b"]);
        assert_eq!(d.classes.unwrap(), vec!["x\"y"]);
        let o = CsvOptions::default().with_delimiter(' ').with_skip_rows(1);
        let d = parse_csv("150 4 junk\n 1  2   0\n3 4 1\n\n", "t.csv", &o).unwrap();
        assert_eq!(d.x.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn class_labels() {
        let o = CsvOptions::default().with_header(Header::Absent);
        let d = parse_csv("1,3\n2,1.0\n3,7\n", "t.csv", &o).unwrap();
        assert_eq!(d.y.unwrap().to_vec::<i64>().unwrap(), vec![3, 1, 7]);
        assert!(d.classes.is_none());
        let d = parse_csv("1,-1\n2,1\n3,10\n4,2\n", "t.csv", &o).unwrap();
        assert_eq!(d.y.unwrap().to_vec::<i64>().unwrap(), vec![0, 1, 3, 2]);
        assert_eq!(d.classes.unwrap(), vec!["-1", "1", "2", "10"]);
    }
}
