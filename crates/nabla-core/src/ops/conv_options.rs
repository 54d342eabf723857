//! The parameters of the convolutions, with PyTorch's defaults and small builders.

#[cfg(doc)]
use crate::tensor::Tensor;

/// Options of [`Tensor::conv2d`], with PyTorch's defaults: stride 1, no padding, dilation 1,
/// one group. Pairs are (height, width).
///
/// ```
/// use nabla_core::Conv2dOptions;
/// let o = Conv2dOptions::default().with_stride(2, 2).with_padding(1, 1);
/// assert_eq!((o.stride, o.padding, o.dilation, o.groups), ((2, 2), (1, 1), (1, 1), 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step between output positions (each at least 1).
    pub stride: (usize, usize),
    /// Implicit zeros on both sides of each spatial dim.
    pub padding: (usize, usize),
    /// Spacing between kernel taps (each at least 1).
    pub dilation: (usize, usize),
    /// Channel groups: input and output channels are split into `groups` independent
    /// convolutions (at least 1; divides both channel counts).
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

impl Conv2dOptions {
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
    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
}

/// Options of [`Tensor::conv_transpose2d`], with PyTorch's defaults: stride 1, no padding, no
/// output padding, dilation 1, one group. Pairs are (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dOptions {
    /// Stride of the convolution this is the adjoint of (each at least 1).
    pub stride: (usize, usize),
    /// Padding of that convolution: `padding` rows and columns are cut from each side of the
    /// full output.
    pub padding: (usize, usize),
    /// Rows and columns added at the bottom and right of the output, to choose among the
    /// input sizes that a strided convolution maps to the same size; each must be smaller
    /// than the stride or the dilation of its dim.
    pub output_padding: (usize, usize),
    /// Spacing between kernel taps (each at least 1).
    pub dilation: (usize, usize),
    /// Channel groups (at least 1; divides the input channels).
    pub groups: usize,
}

impl Default for ConvTranspose2dOptions {
    fn default() -> Self {
        ConvTranspose2dOptions {
            stride: (1, 1),
            padding: (0, 0),
            output_padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

impl ConvTranspose2dOptions {
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
    /// Sets the output padding.
    pub fn with_output_padding(mut self, h: usize, w: usize) -> Self {
        self.output_padding = (h, w);
        self
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, h: usize, w: usize) -> Self {
        self.dilation = (h, w);
        self
    }
    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
}

/// Options of [`Tensor::conv1d`], with PyTorch's defaults: stride 1, no padding, dilation 1,
/// one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1dOptions {
    /// Step between output positions (at least 1).
    pub stride: usize,
    /// Implicit zeros on both ends.
    pub padding: usize,
    /// Spacing between kernel taps (at least 1).
    pub dilation: usize,
    /// Channel groups (at least 1; divides both channel counts).
    pub groups: usize,
}

impl Default for Conv1dOptions {
    fn default() -> Self {
        Conv1dOptions {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

impl Conv1dOptions {
    /// Sets the stride.
    pub fn with_stride(mut self, s: usize) -> Self {
        self.stride = s;
        self
    }
    /// Sets the padding.
    pub fn with_padding(mut self, p: usize) -> Self {
        self.padding = p;
        self
    }
    /// Sets the dilation.
    pub fn with_dilation(mut self, d: usize) -> Self {
        self.dilation = d;
        self
    }
    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
}
