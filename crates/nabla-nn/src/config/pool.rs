//! Configs of the pooling layers. Their output shapes come from nabla-core's shape functions,
//! which run the ops' own validation without touching data.

use super::sizes::Size2;
use super::sizes::{one, one2, yes, zero2};
use super::{Layer, LayerInput};
use crate::module::Module;
use crate::{AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d};
use nabla_core::{
    avg_pool_output_shape, max_pool_output_shape, AvgPool1dOptions, AvgPool2dOptions,
    MaxPool1dOptions, MaxPool2dOptions, Mt19937,
};
use serde::{Deserialize, Serialize};

/// `{ type = "max_pool2d", kernel_size = 2 }`: 2-d max pooling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPool2dConfig {
    /// Window.
    pub kernel_size: Size2,
    /// Stride (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<Size2>,
    /// Padding (default 0; at most half the window).
    #[serde(default = "zero2")]
    pub padding: Size2,
    /// Dilation (default 1).
    #[serde(default = "one2")]
    pub dilation: Size2,
    /// Round the output size up (default false).
    #[serde(default)]
    pub ceil_mode: bool,
}

impl MaxPool2dConfig {
    fn options(&self) -> MaxPool2dOptions {
        let (k, p, d) = (
            self.kernel_size.pair(),
            self.padding.pair(),
            self.dilation.pair(),
        );
        let s = self.stride.unwrap_or(self.kernel_size).pair();
        MaxPool2dOptions::new(k.0, k.1)
            .with_stride(s.0, s.1)
            .with_padding(p.0, p.1)
            .with_dilation(d.0, d.1)
            .with_ceil_mode(self.ceil_mode)
    }
}

impl Layer for MaxPool2dConfig {
    fn validate(&self) -> Result<(), String> {
        self.kernel_size.positive("kernel_size")?;
        self.dilation.positive("dilation")?;
        self.stride.map_or(Ok(()), |s| s.positive("stride"))
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(4, "[C, H, W]")?;
        max_pool_output_shape(x.shape, self.options(), false).map_err(|e| e.to_string())
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(4, "[C, H, W]")?;
        Ok(Box::new(MaxPool2d::with_options(self.options())))
    }
}

/// `{ type = "avg_pool2d", kernel_size = 2 }`: 2-d average pooling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvgPool2dConfig {
    /// Window.
    pub kernel_size: Size2,
    /// Stride (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<Size2>,
    /// Padding (default 0).
    #[serde(default = "zero2")]
    pub padding: Size2,
    /// Round the output size up (default false).
    #[serde(default)]
    pub ceil_mode: bool,
    /// Count the padding zeros in the divisor (default true).
    #[serde(default = "yes")]
    pub count_include_pad: bool,
}

impl AvgPool2dConfig {
    fn options(&self) -> AvgPool2dOptions {
        let (k, p) = (self.kernel_size.pair(), self.padding.pair());
        let s = self.stride.unwrap_or(self.kernel_size).pair();
        AvgPool2dOptions::new(k.0, k.1)
            .with_stride(s.0, s.1)
            .with_padding(p.0, p.1)
            .with_ceil_mode(self.ceil_mode)
            .with_count_include_pad(self.count_include_pad)
    }
}

impl Layer for AvgPool2dConfig {
    fn validate(&self) -> Result<(), String> {
        self.kernel_size.positive("kernel_size")?;
        self.stride.map_or(Ok(()), |s| s.positive("stride"))
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(4, "[C, H, W]")?;
        avg_pool_output_shape(x.shape, self.options(), false).map_err(|e| e.to_string())
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(4, "[C, H, W]")?;
        Ok(Box::new(AvgPool2d::with_options(self.options())))
    }
}

/// `{ type = "adaptive_avg_pool2d", output_size = 1 }`: average pooling to a fixed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveAvgPool2dConfig {
    /// The output size: `1` or `[h, w]`.
    pub output_size: Size2,
}

impl Layer for AdaptiveAvgPool2dConfig {
    fn validate(&self) -> Result<(), String> {
        self.output_size.positive("output_size")
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(4, "[C, H, W]")?;
        if x.shape[2] == 0 || x.shape[3] == 0 {
            return Err(format!("input {:?} has an empty height or width", x.shape));
        }
        let (h, w) = self.output_size.pair();
        Ok(vec![x.shape[0], x.shape[1], h, w])
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(4, "[C, H, W]")?;
        Ok(Box::new(AdaptiveAvgPool2d::new(self.output_size.pair())))
    }
}

/// `{ type = "max_pool1d", kernel_size = 2 }`: 1-d max pooling over `[N, C, L]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPool1dConfig {
    /// Window.
    pub kernel_size: usize,
    /// Stride (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    /// Padding (default 0).
    #[serde(default)]
    pub padding: usize,
    /// Dilation (default 1).
    #[serde(default = "one")]
    pub dilation: usize,
    /// Round the output size up (default false).
    #[serde(default)]
    pub ceil_mode: bool,
}

impl MaxPool1dConfig {
    fn options(&self) -> MaxPool1dOptions {
        let mut o = MaxPool1dOptions::new(self.kernel_size);
        o.stride = self.stride.unwrap_or(self.kernel_size);
        o.padding = self.padding;
        o.dilation = self.dilation;
        o.ceil_mode = self.ceil_mode;
        o
    }
}

impl Layer for MaxPool1dConfig {
    fn validate(&self) -> Result<(), String> {
        Size2::One(self.kernel_size).positive("kernel_size")?;
        Size2::One(self.dilation).positive("dilation")?;
        self.stride
            .map_or(Ok(()), |s| Size2::One(s).positive("stride"))
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(3, "[C, L]")?;
        max_pool_output_shape(x.shape, self.options().to_2d(), true).map_err(|e| e.to_string())
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(3, "[C, L]")?;
        Ok(Box::new(MaxPool1d::with_options(self.options())))
    }
}

/// `{ type = "avg_pool1d", kernel_size = 2 }`: 1-d average pooling over `[N, C, L]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvgPool1dConfig {
    /// Window.
    pub kernel_size: usize,
    /// Stride (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    /// Padding (default 0).
    #[serde(default)]
    pub padding: usize,
    /// Round the output size up (default false).
    #[serde(default)]
    pub ceil_mode: bool,
    /// Count the padding zeros in the divisor (default true).
    #[serde(default = "yes")]
    pub count_include_pad: bool,
}

impl AvgPool1dConfig {
    fn options(&self) -> AvgPool1dOptions {
        let mut o = AvgPool1dOptions::new(self.kernel_size);
        o.stride = self.stride.unwrap_or(self.kernel_size);
        o.padding = self.padding;
        o.ceil_mode = self.ceil_mode;
        o.count_include_pad = self.count_include_pad;
        o
    }
}

impl Layer for AvgPool1dConfig {
    fn validate(&self) -> Result<(), String> {
        Size2::One(self.kernel_size).positive("kernel_size")?;
        self.stride
            .map_or(Ok(()), |s| Size2::One(s).positive("stride"))
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(3, "[C, L]")?;
        avg_pool_output_shape(x.shape, self.options().to_2d(), true).map_err(|e| e.to_string())
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(3, "[C, L]")?;
        Ok(Box::new(AvgPool1d::with_options(self.options())))
    }
}
