//! The parameters of the poolings, with PyTorch's defaults and small builders.

#[cfg(doc)]
use crate::tensor::Tensor;

/// Options of [`Tensor::max_pool2d`]; [`MaxPool2dOptions::new`] gives PyTorch's defaults
/// (stride = kernel size, no padding, dilation 1, floor mode). Pairs are (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2dOptions {
    /// Window size (each at least 1).
    pub kernel: (usize, usize),
    /// Step between windows (each at least 1).
    pub stride: (usize, usize),
    /// Implicit `-inf` on both sides, at most half the kernel size.
    pub padding: (usize, usize),
    /// Spacing between window taps (each at least 1).
    pub dilation: (usize, usize),
    /// Round the output size up instead of down (the last window must still start inside
    /// the input or its left padding).
    pub ceil_mode: bool,
}

impl MaxPool2dOptions {
    /// A `kh x kw` window with stride equal to the window.
    pub fn new(kh: usize, kw: usize) -> Self {
        MaxPool2dOptions {
            kernel: (kh, kw),
            stride: (kh, kw),
            padding: (0, 0),
            dilation: (1, 1),
            ceil_mode: false,
        }
    }
    /// Sets the stride.
    pub fn with_stride(mut self, h: usize, w: usize) -> Self {
        self.stride = (h, w);
        self
    }
    /// Sets the padding.
    pub fn with_padding(mut self, h: usize, w: usize) -> Self {
        self.padding = (h, w);
        self
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, h: usize, w: usize) -> Self {
        self.dilation = (h, w);
        self
    }
    /// Sets ceil mode.
    pub fn with_ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
}

/// Options of [`Tensor::avg_pool2d`]; [`AvgPool2dOptions::new`] gives PyTorch's defaults
/// (stride = kernel size, no padding, floor mode, padding counted in the divisor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2dOptions {
    /// Window size (each at least 1).
    pub kernel: (usize, usize),
    /// Step between windows (each at least 1).
    pub stride: (usize, usize),
    /// Implicit zeros on both sides, at most half the kernel size.
    pub padding: (usize, usize),
    /// Round the output size up instead of down (the last window must still start inside
    /// the input or its left padding).
    pub ceil_mode: bool,
    /// Whether padding positions count in the divisor (positions past the right padding,
    /// reached only in ceil mode, never do).
    pub count_include_pad: bool,
}

impl AvgPool2dOptions {
    /// A `kh x kw` window with stride equal to the window.
    pub fn new(kh: usize, kw: usize) -> Self {
        AvgPool2dOptions {
            kernel: (kh, kw),
            stride: (kh, kw),
            padding: (0, 0),
            ceil_mode: false,
            count_include_pad: true,
        }
    }
    /// Sets the stride.
    pub fn with_stride(mut self, h: usize, w: usize) -> Self {
        self.stride = (h, w);
        self
    }
    /// Sets the padding.
    pub fn with_padding(mut self, h: usize, w: usize) -> Self {
        self.padding = (h, w);
        self
    }
    /// Sets ceil mode.
    pub fn with_ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
    /// Sets whether padding counts in the divisor.
    pub fn with_count_include_pad(mut self, on: bool) -> Self {
        self.count_include_pad = on;
        self
    }
}

/// Options of [`Tensor::max_pool1d`]; [`MaxPool1dOptions::new`] gives PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool1dOptions {
    /// Window size (at least 1).
    pub kernel: usize,
    /// Step between windows (at least 1).
    pub stride: usize,
    /// Implicit `-inf` on both ends, at most half the kernel size.
    pub padding: usize,
    /// Spacing between window taps (at least 1).
    pub dilation: usize,
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
}

impl MaxPool1dOptions {
    /// A window of `k` with stride `k`.
    pub fn new(k: usize) -> Self {
        MaxPool1dOptions {
            kernel: k,
            stride: k,
            padding: 0,
            dilation: 1,
            ceil_mode: false,
        }
    }
    /// The 2-d options of this 1-d pooling (height 1: the window runs along the width).
    pub fn to_2d(self) -> MaxPool2dOptions {
        MaxPool2dOptions {
            kernel: (1, self.kernel),
            stride: (1, self.stride),
            padding: (0, self.padding),
            dilation: (1, self.dilation),
            ceil_mode: self.ceil_mode,
        }
    }
}

/// Options of [`Tensor::avg_pool1d`]; [`AvgPool1dOptions::new`] gives PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool1dOptions {
    /// Window size (at least 1).
    pub kernel: usize,
    /// Step between windows (at least 1).
    pub stride: usize,
    /// Implicit zeros on both ends, at most half the kernel size.
    pub padding: usize,
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
    /// Whether padding positions count in the divisor.
    pub count_include_pad: bool,
}

impl AvgPool1dOptions {
    /// A window of `k` with stride `k`.
    pub fn new(k: usize) -> Self {
        AvgPool1dOptions {
            kernel: k,
            stride: k,
            padding: 0,
            ceil_mode: false,
            count_include_pad: true,
        }
    }
    /// The 2-d options of this 1-d pooling (height 1: the window runs along the width).
    pub fn to_2d(self) -> AvgPool2dOptions {
        AvgPool2dOptions {
            kernel: (1, self.kernel),
            stride: (1, self.stride),
            padding: (0, self.padding),
            ceil_mode: self.ceil_mode,
            count_include_pad: self.count_include_pad,
        }
    }
}
