//! What a scan is, as its kernels see it: the cell it runs, its sizes, and the width of the
//! activations it saves for the backward pass.

/// Which cell a scan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell {
    Tanh,
    Relu,
    Lstm,
    Gru,
}

impl Cell {
    /// Gates per unit: the rows of `W_hh` are `gates() * hidden`.
    pub(crate) fn gates(self) -> usize {
        match self {
            Cell::Tanh | Cell::Relu => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// Sizes of one scan: `t` steps of a batch of `n`, hidden size `h`, `g` gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub(crate) t: usize,
    pub(crate) n: usize,
    pub(crate) h: usize,
    pub(crate) g: usize,
}

impl Dims {
    /// Width of the gate pre-activations, `g * h`.
    pub(crate) fn gh(&self) -> usize {
        self.g * self.h
    }
    /// The time index of processing step `s`.
    pub(super) fn time(&self, s: usize, reverse: bool) -> usize {
        if reverse {
            self.t - 1 - s
        } else {
            s
        }
    }
}

/// Width per row of the activations saved for the backward pass.
pub(crate) fn saved_width(cell: Cell, h: usize) -> usize {
    match cell {
        Cell::Tanh | Cell::Relu => 0,
        // i, f, g, o and tanh(c)
        Cell::Lstm => 5 * h,
        // r, z, n and W_hn h + b_hn
        Cell::Gru => 4 * h,
    }
}
