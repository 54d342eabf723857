//! Pooling layers: `MaxPool1d`, `MaxPool2d`, `AvgPool1d`, `AvgPool2d`, `AdaptiveAvgPool2d`,
//! with PyTorch's defaults (the stride defaults to the kernel size).

use crate::module::{misfit, shape_by_forward, ForwardCtx, Module};
use nabla_core::{
    AvgPool1dOptions, AvgPool2dOptions, MaxPool1dOptions, MaxPool2dOptions, Result, Tensor,
};

/// The output shape by a forward pass on zeros of one sample, after checking the rank.
fn pool_shape(m: &dyn Module, input: &[usize], rank: usize, want: &str) -> Result<Vec<usize>> {
    if input.len() != rank {
        return Err(misfit(m.kind(), format!("input {input:?} is not {want}")));
    }
    shape_by_forward(m, input)
}

macro_rules! pool_layer {
    ($(#[$m:meta])* $name:ident, $opts:ty, $method:ident, $rank:expr, $want:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name {
            /// The window, stride, padding and mode.
            pub options: $opts,
        }
        impl $name {
            /// A layer with these options.
            pub fn with_options(options: $opts) -> Self {
                $name { options }
            }
        }
        impl Module for $name {
            fn kind(&self) -> &'static str {
                stringify!($name)
            }
            fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
                x.$method(self.options)
            }
            fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
                pool_shape(self, input, $rank, $want)
            }
            fn describe(&self) -> String {
                format!("{:?}", self.options)
            }
        }
    };
}

pool_layer!(
    /// Max pooling over `[N, C, H, W]`, as `nn.MaxPool2d` (the gradient goes to the first
    /// maximum of each window).
    ///
    /// ```
    /// use nabla_core::{Tensor, DType};
    /// use nabla_nn::{ForwardCtx, MaxPool2d, Module};
    /// let p = MaxPool2d::new(2);
    /// let y = p.forward(&Tensor::zeros(&[1, 3, 8, 8], DType::F32), &mut ForwardCtx::eval()).unwrap();
    /// assert_eq!(y.shape(), &[1, 3, 4, 4]);
    /// ```
    MaxPool2d, MaxPool2dOptions, max_pool2d, 4, "[N, C, H, W]"
);
pool_layer!(
    /// Average pooling over `[N, C, H, W]`, as `nn.AvgPool2d`.
    AvgPool2d, AvgPool2dOptions, avg_pool2d, 4, "[N, C, H, W]"
);
pool_layer!(
    /// Max pooling over `[N, C, L]`, as `nn.MaxPool1d`.
    MaxPool1d, MaxPool1dOptions, max_pool1d, 3, "[N, C, L]"
);
pool_layer!(
    /// Average pooling over `[N, C, L]`, as `nn.AvgPool1d`.
    AvgPool1d, AvgPool1dOptions, avg_pool1d, 3, "[N, C, L]"
);

impl MaxPool2d {
    /// A square `kernel_size` window with stride `kernel_size`.
    pub fn new(kernel_size: usize) -> Self {
        Self::with_options(MaxPool2dOptions::new(kernel_size, kernel_size))
    }
}
impl AvgPool2d {
    /// A square `kernel_size` window with stride `kernel_size`.
    pub fn new(kernel_size: usize) -> Self {
        Self::with_options(AvgPool2dOptions::new(kernel_size, kernel_size))
    }
}
impl MaxPool1d {
    /// A `kernel_size` window with stride `kernel_size`.
    pub fn new(kernel_size: usize) -> Self {
        Self::with_options(MaxPool1dOptions::new(kernel_size))
    }
}
impl AvgPool1d {
    /// A `kernel_size` window with stride `kernel_size`.
    pub fn new(kernel_size: usize) -> Self {
        Self::with_options(AvgPool1dOptions::new(kernel_size))
    }
}

/// Average pooling to a fixed output size over `[N, C, H, W]`, as `nn.AdaptiveAvgPool2d`
/// (window i spans `floor(i·H/oh) .. ceil((i+1)·H/oh)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    /// The output (height, width).
    pub output_size: (usize, usize),
}

impl AdaptiveAvgPool2d {
    /// Pools to `output_size`.
    pub fn new(output_size: (usize, usize)) -> Self {
        AdaptiveAvgPool2d { output_size }
    }
}

impl Module for AdaptiveAvgPool2d {
    fn kind(&self) -> &'static str {
        "AdaptiveAvgPool2d"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        x.adaptive_avg_pool2d(self.output_size)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        pool_shape(self, input, 4, "[N, C, H, W]")
    }
    fn describe(&self) -> String {
        format!("output_size={:?}", self.output_size)
    }
}
