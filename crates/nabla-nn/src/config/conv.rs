//! Configs of the convolution and pooling layers. Their output shapes come from nabla-core's
//! shape functions, which run the ops' own validation without touching data.

use super::sizes::{Padding, Size2};
use super::{Layer, LayerCounts, LayerInput};
use crate::module::Module;
use crate::{AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d};
use crate::{MaxPool1d, MaxPool2d};
use nabla_core::{
    avg_pool_output_shape, conv1d_output_shape, conv2d_output_shape, conv_transpose2d_output_shape,
    max_pool_output_shape, AvgPool1dOptions, AvgPool2dOptions, Conv1dOptions, Conv2dOptions,
    ConvTranspose2dOptions, MaxPool1dOptions, MaxPool2dOptions, Mt19937,
};
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn one2() -> Size2 {
    Size2::One(1)
}
fn zero2() -> Size2 {
    Size2::One(0)
}

fn boxed<M: Module + 'static>(m: nabla_core::Result<M>) -> Result<Box<dyn Module>, String> {
    m.map(|m| Box::new(m) as Box<dyn Module>)
        .map_err(|e| e.to_string())
}

fn check_groups(g: usize) -> Result<(), String> {
    if g == 0 {
        return Err("groups must be at least 1".into());
    }
    Ok(())
}

fn check_out(out: usize) -> Result<(), String> {
    if out == 0 {
        return Err("out must be at least 1".into());
    }
    Ok(())
}

fn check_padding(p: Padding, stride_one: bool) -> Result<(), String> {
    if p == Padding::Same && !stride_one {
        return Err("padding = \"same\" needs stride 1 (as PyTorch)".into());
    }
    Ok(())
}

/// Fails when a convolution's declared input channels differ from its input's.
fn check_in(declared: Option<usize>, x: &LayerInput<'_>) -> Result<(), String> {
    match declared {
        Some(c) if c != x.shape[1] => Err(format!(
            "in = {c} channels but the previous layer gives {} (input {:?}, batch first)",
            x.shape[1], x.shape
        )),
        _ => Ok(()),
    }
}

fn conv_counts(
    x: &LayerInput<'_>,
    out: usize,
    groups: usize,
    kernel: u128,
    bias: bool,
) -> LayerCounts {
    let c = x.shape.get(1).copied().unwrap_or(0) as u128;
    let o = out as u128;
    LayerCounts::params(o * (c / groups.max(1) as u128) * kernel + if bias { o } else { 0 })
}

/// Padding for the shape check of a `"same"` convolution: enough that the kernel fits.
fn same_pad(k: usize, d: usize) -> usize {
    (d * (k - 1)).div_ceil(2)
}

/// `{ type = "conv2d", out = 32, kernel_size = 3 }`: a 2-d convolution over `[N, C, H, W]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2dConfig {
    /// Output channels.
    pub out: usize,
    /// Input channels (optional; checked against the previous layer).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub input: Option<usize>,
    /// Kernel size: `3` or `[3, 5]`.
    pub kernel_size: Size2,
    /// Stride (default 1).
    #[serde(default = "one2")]
    pub stride: Size2,
    /// Padding: `1`, `[1, 2]`, `"same"` (stride 1) or `"valid"` (default 0).
    #[serde(default)]
    pub padding: Padding,
    /// Dilation (default 1).
    #[serde(default = "one2")]
    pub dilation: Size2,
    /// Groups (default 1).
    #[serde(default = "one")]
    pub groups: usize,
    /// With a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

impl Conv2dConfig {
    /// `out` channels with a `kernel_size` window and PyTorch's defaults.
    pub fn new(out: usize, kernel_size: impl Into<Size2>) -> Self {
        Conv2dConfig {
            out,
            input: None,
            kernel_size: kernel_size.into(),
            stride: one2(),
            padding: Padding::default(),
            dilation: one2(),
            groups: 1,
            bias: true,
        }
    }
    /// With a stride.
    pub fn with_stride(mut self, s: impl Into<Size2>) -> Self {
        self.stride = s.into();
        self
    }
    /// With a padding.
    pub fn with_padding(mut self, p: Padding) -> Self {
        self.padding = p;
        self
    }
    fn options(&self) -> Conv2dOptions {
        let (s, d) = (self.stride.pair(), self.dilation.pair());
        let (k, dl) = (self.kernel_size.pair(), self.dilation.pair());
        let p = self
            .padding
            .sizes()
            .unwrap_or((same_pad(k.0, dl.0), same_pad(k.1, dl.1)));
        Conv2dOptions::default()
            .with_stride(s.0, s.1)
            .with_padding(p.0, p.1)
            .with_dilation(d.0, d.1)
            .with_groups(self.groups)
    }
}

impl Layer for Conv2dConfig {
    fn validate(&self) -> Result<(), String> {
        check_out(self.out)?;
        self.kernel_size.positive("kernel_size")?;
        self.stride.positive("stride")?;
        self.dilation.positive("dilation")?;
        check_groups(self.groups)?;
        check_padding(self.padding, self.stride.pair() == (1, 1))
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(4, "[C, H, W]")?;
        let (kh, kw) = self.kernel_size.pair();
        let w = [self.out, x.shape[1] / self.groups.max(1), kh, kw];
        let mut s = conv2d_output_shape(x.shape, &w, self.options()).map_err(|e| e.to_string())?;
        if self.padding == Padding::Same {
            s[2..].copy_from_slice(&x.shape[2..]);
        }
        Ok(s)
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let (kh, kw) = self.kernel_size.pair();
        Ok(conv_counts(
            x,
            self.out,
            self.groups,
            (kh * kw) as u128,
            self.bias,
        ))
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(4, "[C, H, W]")?;
        check_in(self.input, x)?;
        let mut opts = self.options();
        if self.padding == Padding::Same {
            opts = opts.with_padding(0, 0);
        }
        let c = Conv2d::with_options(
            x.shape[1],
            self.out,
            self.kernel_size.pair(),
            opts,
            self.bias,
            rng,
        );
        boxed(if self.padding == Padding::Same {
            c.and_then(Conv2d::padding_same)
        } else {
            c
        })
    }
}

/// `{ type = "conv1d", out = 16, kernel_size = 5 }`: a 1-d convolution over `[N, C, L]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv1dConfig {
    /// Output channels.
    pub out: usize,
    /// Input channels (optional; checked against the previous layer).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub input: Option<usize>,
    /// Kernel size.
    pub kernel_size: usize,
    /// Stride (default 1).
    #[serde(default = "one")]
    pub stride: usize,
    /// Padding: an integer, `"same"` (stride 1) or `"valid"` (default 0).
    #[serde(default)]
    pub padding: Padding,
    /// Dilation (default 1).
    #[serde(default = "one")]
    pub dilation: usize,
    /// Groups (default 1).
    #[serde(default = "one")]
    pub groups: usize,
    /// With a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

impl Conv1dConfig {
    fn options(&self) -> Conv1dOptions {
        let p = match self.padding.sizes() {
            Some((_, w)) => w,
            None => same_pad(self.kernel_size, self.dilation),
        };
        Conv1dOptions::default()
            .with_stride(self.stride)
            .with_padding(p)
            .with_dilation(self.dilation)
            .with_groups(self.groups)
    }
}

impl Layer for Conv1dConfig {
    fn validate(&self) -> Result<(), String> {
        check_out(self.out)?;
        Size2::One(self.kernel_size).positive("kernel_size")?;
        Size2::One(self.stride).positive("stride")?;
        Size2::One(self.dilation).positive("dilation")?;
        check_groups(self.groups)?;
        check_padding(self.padding, self.stride == 1)
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(3, "[C, L]")?;
        let w = [self.out, x.shape[1] / self.groups.max(1), self.kernel_size];
        let mut s = conv1d_output_shape(x.shape, &w, self.options()).map_err(|e| e.to_string())?;
        if self.padding == Padding::Same {
            s[2] = x.shape[2];
        }
        Ok(s)
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        Ok(conv_counts(
            x,
            self.out,
            self.groups,
            self.kernel_size as u128,
            self.bias,
        ))
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(3, "[C, L]")?;
        check_in(self.input, x)?;
        let mut opts = self.options();
        if self.padding == Padding::Same {
            opts = opts.with_padding(0);
        }
        let c = Conv1d::with_options(x.shape[1], self.out, self.kernel_size, opts, self.bias, rng);
        boxed(if self.padding == Padding::Same {
            c.and_then(Conv1d::padding_same)
        } else {
            c
        })
    }
}

/// `{ type = "conv_transpose2d", out = 16, kernel_size = 2, stride = 2 }`: a transposed 2-d
/// convolution over `[N, C, H, W]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvTranspose2dConfig {
    /// Output channels.
    pub out: usize,
    /// Input channels (optional; checked against the previous layer).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub input: Option<usize>,
    /// Kernel size.
    pub kernel_size: Size2,
    /// Stride (default 1).
    #[serde(default = "one2")]
    pub stride: Size2,
    /// Padding (default 0).
    #[serde(default = "zero2")]
    pub padding: Size2,
    /// Extra rows/columns on one side of the output (default 0).
    #[serde(default = "zero2")]
    pub output_padding: Size2,
    /// Dilation (default 1).
    #[serde(default = "one2")]
    pub dilation: Size2,
    /// Groups (default 1).
    #[serde(default = "one")]
    pub groups: usize,
    /// With a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

impl ConvTranspose2dConfig {
    fn options(&self) -> ConvTranspose2dOptions {
        let (s, p, o, d) = (
            self.stride.pair(),
            self.padding.pair(),
            self.output_padding.pair(),
            self.dilation.pair(),
        );
        ConvTranspose2dOptions::default()
            .with_stride(s.0, s.1)
            .with_padding(p.0, p.1)
            .with_output_padding(o.0, o.1)
            .with_dilation(d.0, d.1)
            .with_groups(self.groups)
    }
}

impl Layer for ConvTranspose2dConfig {
    fn validate(&self) -> Result<(), String> {
        check_out(self.out)?;
        self.kernel_size.positive("kernel_size")?;
        self.stride.positive("stride")?;
        self.dilation.positive("dilation")?;
        check_groups(self.groups)
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(4, "[C, H, W]")?;
        let (kh, kw) = self.kernel_size.pair();
        let w = [x.shape[1], self.out / self.groups.max(1), kh, kw];
        conv_transpose2d_output_shape(x.shape, &w, self.options()).map_err(|e| e.to_string())
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let (kh, kw) = self.kernel_size.pair();
        Ok(conv_counts(
            x,
            self.out,
            self.groups,
            (kh * kw) as u128,
            self.bias,
        ))
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(4, "[C, H, W]")?;
        check_in(self.input, x)?;
        boxed(ConvTranspose2d::with_options(
            x.shape[1],
            self.out,
            self.kernel_size.pair(),
            self.options(),
            self.bias,
            rng,
        ))
    }
}

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
