//! The confusion matrix with per-class precision, recall and F1 (printed like
//! scikit-learn's `classification_report`).

use super::*;

/// Precision, recall, F1 and support of one class (or an average over classes).
///
/// An undefined ratio (0 / 0: a class never predicted, never present, or with precision +
/// recall = 0) is reported as 0.0, as scikit-learn does by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassMetrics {
    /// True positives / predicted positives.
    pub precision: f64,
    /// True positives / actual positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of samples whose true class is this one (for averages: all samples).
    pub support: u64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn f1_of(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// A `C x C` confusion matrix accumulated over batches: `counts()[actual][predicted]`.
///
/// Rows are true classes and columns predicted classes, as in scikit-learn. `Display`
/// prints the matrix followed by a per-class report in the layout of scikit-learn's
/// `classification_report` (2 decimals, or the precision given as `{:.3}`).
///
/// ```
/// use nabla_train::metrics::ConfusionMatrix;
/// let mut cm = ConfusionMatrix::new(3);
/// cm.update_from_predictions(&[0, 1, 1, 2], &[0, 1, 2, 2]).unwrap();
/// assert_eq!(cm.get(2, 1), Some(1));
/// assert_eq!(cm.accuracy(), 0.75);
/// println!("{cm}");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionMatrix {
    num_classes: usize,
    /// Row-major `[actual * C + predicted]`.
    counts: Vec<u64>,
    names: Vec<String>,
}

impl ConfusionMatrix {
    /// An empty matrix for `num_classes` classes, named `"0"`, `"1"`, ... in the report.
    pub fn new(num_classes: usize) -> Self {
        ConfusionMatrix {
            num_classes,
            counts: vec![0; num_classes * num_classes],
            names: (0..num_classes).map(|i| i.to_string()).collect(),
        }
    }

    /// A matrix of the given counts, `rows[actual][predicted]` (as [`counts`](Self::counts)
    /// returns them; `confusion.json` stores them so).
    ///
    /// # Errors
    /// When the rows do not form a square matrix.
    pub fn from_counts(rows: &[Vec<u64>]) -> Result<Self> {
        let c = rows.len();
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != c) {
            return Err(Error::Shape {
                op: "confusion_matrix",
                msg: format!("row {i} has {} counts, not {c} (one per class)", r.len()),
            });
        }
        let mut m = Self::new(c);
        m.counts = rows.iter().flatten().copied().collect();
        Ok(m)
    }

    /// The class names (`"0"`, `"1"`, ... unless named).
    pub fn class_names(&self) -> &[String] {
        &self.names
    }

    /// Names the classes in the printed report (one name per class).
    ///
    /// # Errors
    /// When `names.len()` differs from the number of classes.
    pub fn with_class_names<S: AsRef<str>>(mut self, names: &[S]) -> Result<Self> {
        if names.len() != self.num_classes {
            return Err(Error::Arg {
                op: "confusion_matrix",
                msg: format!(
                    "{} class names given for {} classes",
                    names.len(),
                    self.num_classes
                ),
            });
        }
        self.names = names.iter().map(|s| s.as_ref().to_string()).collect();
        Ok(self)
    }

    /// The number of classes `C`.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Adds one batch: the prediction of each row is the first index of its largest logit.
    ///
    /// `logits`: `[N, C]` f32/f64 where `C` is [`num_classes`](Self::num_classes);
    /// `targets`: `[N]` i64 in `0..C`. An empty batch (`N = 0`) changes nothing.
    ///
    /// # Errors
    /// Wrong rank or dtype, `N` mismatch, `C` different from the matrix's, or a target out
    /// of range. On error the matrix is unchanged.
    pub fn update(&mut self, logits: &Tensor, targets: &Tensor) -> Result<()> {
        const OP: &str = "confusion_matrix";
        if logits.rank() == 2 && logits.shape()[1] != self.num_classes {
            return Err(Error::Shape {
                op: OP,
                msg: format!(
                    "logits {:?} have {} classes, the matrix has {}",
                    logits.shape(),
                    logits.shape()[1],
                    self.num_classes
                ),
            });
        }
        let b = read_batch(OP, logits, targets)?;
        for i in 0..b.n {
            let p = argmax_row(b.row(i));
            self.counts[b.targets[i] * self.num_classes + p] += 1;
        }
        Ok(())
    }

    /// Adds predicted and true class indices, pairwise.
    ///
    /// # Errors
    /// When the slices differ in length or an index is not below `num_classes`. On error
    /// the matrix is unchanged.
    pub fn update_from_predictions(
        &mut self,
        predictions: &[usize],
        targets: &[usize],
    ) -> Result<()> {
        const OP: &str = "confusion_matrix";
        if predictions.len() != targets.len() {
            return Err(Error::Shape {
                op: OP,
                msg: format!(
                    "{} predictions but {} targets",
                    predictions.len(),
                    targets.len()
                ),
            });
        }
        let c = self.num_classes;
        for (what, xs) in [("prediction", predictions), ("target", targets)] {
            if let Some((i, &x)) = xs.iter().enumerate().find(|&(_, &x)| x >= c) {
                return Err(Error::Arg {
                    op: OP,
                    msg: format!("{what} {x} at position {i} is not a class index in 0..{c}"),
                });
            }
        }
        for (&p, &t) in predictions.iter().zip(targets) {
            self.counts[t * c + p] += 1;
        }
        Ok(())
    }

    /// Adds the counts of another matrix with the same number of classes.
    ///
    /// # Errors
    /// When the numbers of classes differ.
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<()> {
        if other.num_classes != self.num_classes {
            return Err(Error::Shape {
                op: "confusion_matrix",
                msg: format!(
                    "cannot merge a {0}x{0} matrix into a {1}x{1} one",
                    other.num_classes, self.num_classes
                ),
            });
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        Ok(())
    }

    /// Sets every count back to zero.
    pub fn reset(&mut self) {
        self.counts.iter_mut().for_each(|x| *x = 0);
    }

    /// The counts as rows: `counts()[actual][predicted]`.
    pub fn counts(&self) -> Vec<Vec<u64>> {
        if self.num_classes == 0 {
            return Vec::new();
        }
        self.counts
            .chunks(self.num_classes)
            .map(|r| r.to_vec())
            .collect()
    }

    /// The count of samples of class `actual` predicted as `predicted`; `None` when either
    /// index is out of range.
    pub fn get(&self, actual: usize, predicted: usize) -> Option<u64> {
        if actual < self.num_classes && predicted < self.num_classes {
            Some(self.counts[actual * self.num_classes + predicted])
        } else {
            None
        }
    }

    /// The number of samples counted so far.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn correct(&self) -> u64 {
        (0..self.num_classes)
            .map(|i| self.counts[i * self.num_classes + i])
            .sum()
    }

    /// Correct predictions / all samples (the trace over the total); 0.0 when empty.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Precision, recall, F1 and support for each class, in class order.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        let c = self.num_classes;
        (0..c)
            .map(|k| {
                let tp = self.counts[k * c + k];
                let actual: u64 = self.counts[k * c..(k + 1) * c].iter().sum();
                let predicted: u64 = (0..c).map(|i| self.counts[i * c + k]).sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, actual);
                ClassMetrics {
                    precision,
                    recall,
                    f1: f1_of(precision, recall),
                    support: actual,
                }
            })
            .collect()
    }

    /// Classes that occur as a target or as a prediction (scikit-learn's default labels).
    fn present(&self) -> Vec<bool> {
        let c = self.num_classes;
        (0..c)
            .map(|k| (0..c).any(|j| self.counts[k * c + j] > 0 || self.counts[j * c + k] > 0))
            .collect()
    }

    /// Unweighted mean of the per-class precision, recall and F1 over the classes that occur
    /// (as a target or a prediction), like scikit-learn's `average="macro"` without explicit
    /// labels. `support` is the total. All zeros when the matrix is empty.
    pub fn macro_avg(&self) -> ClassMetrics {
        let per = self.per_class();
        let present = self.present();
        let used: Vec<&ClassMetrics> = per
            .iter()
            .zip(&present)
            .filter(|(_, &p)| p)
            .map(|(m, _)| m)
            .collect();
        let n = used.len() as f64;
        let mean = |f: fn(&ClassMetrics) -> f64| {
            if used.is_empty() {
                0.0
            } else {
                used.iter().map(|m| f(m)).sum::<f64>() / n
            }
        };
        ClassMetrics {
            precision: mean(|m| m.precision),
            recall: mean(|m| m.recall),
            f1: mean(|m| m.f1),
            support: self.total(),
        }
    }

    /// Mean of the per-class precision, recall and F1 weighted by support, like
    /// scikit-learn's `average="weighted"`. `support` is the total. All zeros when empty.
    pub fn weighted_avg(&self) -> ClassMetrics {
        let per = self.per_class();
        let total = self.total();
        let mean = |f: fn(&ClassMetrics) -> f64| {
            if total == 0 {
                0.0
            } else {
                per.iter().map(|m| f(m) * m.support as f64).sum::<f64>() / total as f64
            }
        };
        ClassMetrics {
            precision: mean(|m| m.precision),
            recall: mean(|m| m.recall),
            f1: mean(|m| m.f1),
            support: total,
        }
    }
}

impl fmt::Display for ConfusionMatrix {
    /// The matrix (rows: true class, columns: predicted class), a blank line, then the
    /// per-class report like scikit-learn's `classification_report`. `{:.N}` sets the
    /// number of decimals (default 2).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = f.precision().unwrap_or(2);
        let c = self.num_classes;
        writeln!(
            f,
            "confusion matrix (rows: true class, columns: predicted class)"
        )?;
        let name_w = self.names.iter().map(|s| s.len()).max().unwrap_or(0);
        let cell_w = self
            .counts
            .iter()
            .map(|x| x.to_string().len())
            .chain(self.names.iter().map(|s| s.len()))
            .max()
            .unwrap_or(1);
        write!(f, "{:>name_w$}", "")?;
        for name in &self.names {
            write!(f, "  {name:>cell_w$}")?;
        }
        writeln!(f)?;
        for (i, name) in self.names.iter().enumerate() {
            write!(f, "{name:>name_w$}")?;
            for j in 0..c {
                write!(f, "  {:>cell_w$}", self.counts[i * c + j])?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;

        // scikit-learn's classification_report layout
        let width = name_w.max("weighted avg".len()).max(digits);
        writeln!(
            f,
            "{:>width$}  {:>9} {:>9} {:>9} {:>9}",
            "", "precision", "recall", "f1-score", "support"
        )?;
        writeln!(f)?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, m: &ClassMetrics| {
            writeln!(
                f,
                "{name:>width$}  {:>9.digits$} {:>9.digits$} {:>9.digits$} {:>9}",
                m.precision, m.recall, m.f1, m.support
            )
        };
        for (name, m) in self.names.iter().zip(self.per_class()) {
            row(f, name, &m)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:>width$}  {:>9} {:>9} {:>9.digits$} {:>9}",
            "accuracy",
            "",
            "",
            self.accuracy(),
            self.total()
        )?;
        row(f, "macro avg", &self.macro_avg())?;
        row(f, "weighted avg", &self.weighted_avg())
    }
}
