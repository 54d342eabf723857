//! The windows of a pooling, computed once by the op from its options and saved in its `Op`
//! for the backward. A pooling window is separable: per output row a set of input rows, per
//! output column a set of input columns. [`MaxWindows`] holds, per output index, the first
//! valid input index and how many valid taps follow it (at the dilation); [`AvgWindows`]
//! holds contiguous ranges and the divisor factor of each axis (the divisor of a window is the
//! product).

/// Windows of a max pooling over `[n, c, h, w]`: output row `i` reads input rows
/// `rows[i].0 + a * dil.0` for `a < rows[i].1`, likewise columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MaxWindows {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub rows: Vec<(usize, usize)>,
    pub cols: Vec<(usize, usize)>,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dil: (usize, usize),
}

impl MaxWindows {
    /// A 2x2, stride-2 pooling whose windows all lie inside the input (they do not overlap).
    pub(super) fn fast_2x2(&self) -> bool {
        self.kernel == (2, 2)
            && self.stride == (2, 2)
            && self.padding == (0, 0)
            && self.dil == (1, 1)
            && 2 * self.rows.len() <= self.h
            && 2 * self.cols.len() <= self.w
    }
}

/// Windows of an average pooling over `[n, c, h, w]`: output row `i` averages input rows
/// `rows[i].0..rows[i].1`, and its divisor factor is `rows[i].2`; likewise columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvgWindows {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub rows: Vec<(usize, usize, usize)>,
    pub cols: Vec<(usize, usize, usize)>,
}
