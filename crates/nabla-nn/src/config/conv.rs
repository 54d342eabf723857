//! Configs of the convolution layers. Their output shapes come from nabla-core's shape
//! functions, which run the ops' own validation without touching data.

use super::sizes::{one, one2, yes, zero2, Padding, Size2};
use super::{Layer, LayerCounts, LayerInput};
use crate::module::Module;
use crate::{Conv1d, Conv2d, ConvTranspose2d};
use nabla_core::{
    conv1d_output_shape, conv2d_output_shape, conv_transpose2d_output_shape, Conv1dOptions,
    Conv2dOptions, ConvTranspose2dOptions, Mt19937,
};
use serde::{Deserialize, Serialize};

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

/// The im2col columns of one sample: input channels x kernel elements x output positions.
fn columns(x: &LayerInput<'_>, kernel: u128, out_positions: &[usize]) -> u128 {
    let c = x.shape.get(1).copied().unwrap_or(0) as u128;
    out_positions
        .iter()
        .fold(c.saturating_mul(kernel), |a, &d| {
            a.saturating_mul(d as u128)
        })
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
    /// The options with the explicit padding; `"same"` is 0 here, for the layer's own
    /// `padding_same` to set.
    fn options(&self) -> Conv2dOptions {
        let (s, d) = (self.stride.pair(), self.dilation.pair());
        let p = self.padding.sizes().unwrap_or((0, 0));
        Conv2dOptions::default()
            .with_stride(s.0, s.1)
            .with_padding(p.0, p.1)
            .with_dilation(d.0, d.1)
            .with_groups(self.groups)
    }
}

impl Layer for Conv2dConfig {
    fn scratch(&self, x: &LayerInput<'_>) -> Result<u128, String> {
        let (kh, kw) = self.kernel_size.pair();
        let out = self.output_shape(x)?;
        Ok(columns(
            x,
            (kh as u128).saturating_mul(kw as u128),
            &out[2..],
        ))
    }
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
        let mut opts = self.options();
        if self.padding == Padding::Same {
            // the kernel fits the padded input; the output keeps the input's size
            let (k, d) = (self.kernel_size.pair(), self.dilation.pair());
            opts = opts.with_padding(same_pad(k.0, d.0), same_pad(k.1, d.1));
        }
        let mut s = conv2d_output_shape(x.shape, &w, opts).map_err(|e| e.to_string())?;
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
            (kh as u128).saturating_mul(kw as u128),
            self.bias,
        ))
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(4, "[C, H, W]")?;
        check_in(self.input, x)?;
        let opts = self.options();
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
    /// The options with the explicit padding; `"same"` is 0 here, for the layer's own
    /// `padding_same` to set.
    fn options(&self) -> Conv1dOptions {
        Conv1dOptions::default()
            .with_stride(self.stride)
            .with_padding(self.padding.sizes().map_or(0, |(_, w)| w))
            .with_dilation(self.dilation)
            .with_groups(self.groups)
    }
}

impl Layer for Conv1dConfig {
    fn scratch(&self, x: &LayerInput<'_>) -> Result<u128, String> {
        let out = self.output_shape(x)?;
        Ok(columns(x, self.kernel_size as u128, &out[2..]))
    }
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
        let mut opts = self.options();
        if self.padding == Padding::Same {
            // the kernel fits the padded input; the output keeps the input's length
            opts = opts.with_padding(same_pad(self.kernel_size, self.dilation));
        }
        let mut s = conv1d_output_shape(x.shape, &w, opts).map_err(|e| e.to_string())?;
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
        let opts = self.options();
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
    fn scratch(&self, x: &LayerInput<'_>) -> Result<u128, String> {
        // the columns scattered back: out channels x kernel x input positions
        let (kh, kw) = self.kernel_size.pair();
        let positions: u128 = x.shape[2..].iter().map(|&d| d as u128).product();
        Ok((self.out as u128)
            .saturating_mul((kh as u128).saturating_mul(kw as u128))
            .saturating_mul(positions))
    }
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
            (kh as u128).saturating_mul(kw as u128),
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
