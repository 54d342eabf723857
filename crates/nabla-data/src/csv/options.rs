//! How a CSV file is read: [`CsvOptions`] and its parts.

/// Whether the first (non-skipped) row names the columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Header {
    /// Detect: the first row is a header when one of its fields is not a number while the
    /// same field of the second row is (or, with a single row, when none of its fields is a
    /// number).
    #[default]
    Auto,
    /// The first row is a header.
    Present,
    /// There is no header; columns are named `"0"`, `"1"`, ...
    Absent,
}

/// Which column holds the target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LabelColumn {
    /// The last column (the default).
    #[default]
    Last,
    /// The column at this 0-based index.
    Index(usize),
    /// The column with this header name (needs a header).
    Name(String),
    /// No label: every column is a feature.
    None,
}

/// What the label column holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LabelKind {
    /// Class labels, turned into i64 class indices `y` `[N]`: when every label is a
    /// non-negative integer (`3` or `3.0`) it is its own index; otherwise the distinct labels
    /// are sorted (numerically when all are numbers, else as text) and numbered from 0, and
    /// [`super::CsvData::classes`] lists them.
    #[default]
    Class,
    /// Numeric targets, `y` f32 `[N, 1]`.
    Number,
}

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Header row: detected, present or absent.
    pub header: Header,
    /// The label column.
    pub label: LabelColumn,
    /// Classification (i64 class indices) or regression (f32).
    pub labels: LabelKind,
    /// The field separator; `' '` splits on runs of whitespace. Default `','`.
    pub delimiter: char,
    /// Lines skipped at the start, before the header (e.g. 1 for scikit-learn's CSVs, whose
    /// first line holds counts and class names).
    pub skip_rows: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: Header::Auto,
            label: LabelColumn::Last,
            labels: LabelKind::Class,
            delimiter: ',',
            skip_rows: 0,
        }
    }
}

impl CsvOptions {
    /// Sets [`CsvOptions::header`].
    pub fn with_header(mut self, v: Header) -> Self {
        self.header = v;
        self
    }
    /// Sets [`CsvOptions::label`].
    pub fn with_label(mut self, v: LabelColumn) -> Self {
        self.label = v;
        self
    }
    /// Sets [`CsvOptions::labels`].
    pub fn with_labels(mut self, v: LabelKind) -> Self {
        self.labels = v;
        self
    }
    /// Sets [`CsvOptions::delimiter`].
    pub fn with_delimiter(mut self, v: char) -> Self {
        self.delimiter = v;
        self
    }
    /// Sets [`CsvOptions::skip_rows`].
    pub fn with_skip_rows(mut self, v: usize) -> Self {
        self.skip_rows = v;
        self
    }
}
