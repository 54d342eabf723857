//! Convolution layers: `Conv1d`, `Conv2d`, `ConvTranspose2d`, with PyTorch's names, defaults,
//! initialization and weight layouts.

use crate::init::Init;
use crate::module::{misfit, shape_by_forward, ForwardCtx, Module};
use nabla_core::{
    Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, DType, Error, Mt19937, Result, Tensor,
    Var,
};

/// A weight drawn as PyTorch's `kaiming_uniform_(a=√5)` (uniform in ±1/√fan_in) and a bias
/// uniform in ±1/√fan_in, with fan_in = `shape[1]·kh·kw` of the weight.
fn init_params(
    shape: &[usize],
    bias: Option<usize>,
    rng: &mut Mt19937,
) -> Result<(Var, Option<Var>)> {
    let w = Init::Default.weight(shape, DType::F32, rng)?;
    let fan_in: usize = shape[1..].iter().product();
    let b = match bias {
        Some(n) => {
            let bound = if fan_in > 0 {
                1.0 / (fan_in as f64).sqrt()
            } else {
                0.0
            };
            Some(Var::new(&Tensor::uniform(
                &[n],
                -bound,
                bound,
                DType::F32,
                rng,
            )?))
        }
        None => None,
    };
    Ok((Var::new(&w), b))
}

/// Fails unless every kernel, stride and dilation size is at least 1 and `groups` divides
/// both channel counts; `op` is the layer type, `name` the layer as messages show it.
#[allow(clippy::too_many_arguments)]
fn check_sizes(
    op: &'static str,
    name: &str,
    kernel: &[usize],
    stride: &[usize],
    dilation: &[usize],
    groups: usize,
    in_channels: usize,
    out_channels: usize,
) -> Result<()> {
    for (what, v) in [
        ("kernel_size", kernel),
        ("stride", stride),
        ("dilation", dilation),
    ] {
        if v.contains(&0) {
            return Err(Error::Arg {
                op,
                msg: format!("{name}: {what} must be at least 1, got {v:?}"),
            });
        }
    }
    let g = groups;
    if g == 0 || !in_channels.is_multiple_of(g) || !out_channels.is_multiple_of(g) {
        return Err(Error::Arg {
            op,
            msg: format!("{name}: groups = {g} must divide in_channels and out_channels"),
        });
    }
    Ok(())
}

/// Pads `x`'s last two dims (or last one) as `padding = "same"` asks, returning the input for
/// a convolution with no padding of its own.
fn pad_same(x: &Tensor, kernel: &[usize], dilation: &[usize]) -> Result<Tensor> {
    let r = x.rank();
    let mut pads = vec![(0, 0); r];
    for (i, (&k, &d)) in kernel.iter().zip(dilation).enumerate() {
        let total = d * (k - 1);
        pads[r - kernel.len() + i] = (total / 2, total - total / 2);
    }
    x.pad(&pads, 0.0)
}

/// 2-d convolution over `[N, C, H, W]` (or `[C, H, W]`), as `nn.Conv2d`: weight
/// `[out_channels, in_channels / groups, kh, kw]`, bias `[out_channels]`.
///
/// ```
/// use nabla_core::{Mt19937, Tensor, DType};
/// use nabla_nn::{Conv2d, ForwardCtx, Module};
/// let mut rng = Mt19937::new(0);
/// let conv = Conv2d::new(1, 8, 3, &mut rng).unwrap();
/// let y = conv.forward(&Tensor::zeros(&[2, 1, 28, 28], DType::F32), &mut ForwardCtx::eval()).unwrap();
/// assert_eq!(y.shape(), &[2, 8, 26, 26]);
/// assert_eq!(conv.parameters()[0].1.shape(), vec![8, 1, 3, 3]);
/// ```
pub struct Conv2d {
    /// `[out, in / groups, kh, kw]`
    pub weight: Var,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Var>,
    in_channels: usize,
    out_channels: usize,
    kernel: (usize, usize),
    opts: Conv2dOptions,
    same: bool,
}

impl Conv2d {
    /// A square `kernel_size` kernel, stride 1, no padding, with a bias (PyTorch's defaults).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        Self::with_options(
            in_channels,
            out_channels,
            (kernel_size, kernel_size),
            Conv2dOptions::default(),
            true,
            rng,
        )
    }
    /// Any options; `opts.padding` is the explicit padding.
    ///
    /// Fails when a size is 0 or the groups do not divide both channel counts.
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        opts: Conv2dOptions,
        bias: bool,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        let name = format!("Conv2d({in_channels}, {out_channels})");
        check_sizes(
            "Conv2d",
            &name,
            &[kernel.0, kernel.1],
            &[opts.stride.0, opts.stride.1],
            &[opts.dilation.0, opts.dilation.1],
            opts.groups,
            in_channels,
            out_channels,
        )?;
        let g = opts.groups;
        let (weight, bias) = init_params(
            &[out_channels, in_channels / g, kernel.0, kernel.1],
            bias.then_some(out_channels),
            rng,
        )?;
        Ok(Conv2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel,
            opts,
            same: false,
        })
    }
    /// The same layer with PyTorch's `padding = "same"`.
    ///
    /// Fails unless the stride is 1 (as PyTorch).
    pub fn padding_same(mut self) -> Result<Self> {
        if self.opts.stride != (1, 1) {
            return Err(Error::Arg {
                op: "Conv2d",
                msg: format!(
                    "padding = \"same\" needs stride 1, got {:?}",
                    self.opts.stride
                ),
            });
        }
        self.same = true;
        self.opts.padding = (0, 0);
        Ok(self)
    }
    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The convolution, through ReLU with `relu` (one fused primitive).
    fn conv(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        let w = self.weight.as_tensor();
        let b = self.bias.as_ref().map(Var::as_tensor);
        let padded;
        let x = if self.same {
            let d = self.opts.dilation;
            padded = pad_same(x, &[self.kernel.0, self.kernel.1], &[d.0, d.1])?;
            &padded
        } else {
            x
        };
        if relu {
            x.conv2d_relu(&w, b.as_ref(), self.opts)
        } else {
            x.conv2d(&w, b.as_ref(), self.opts)
        }
    }
}

impl Module for Conv2d {
    fn kind(&self) -> &'static str {
        "Conv2d"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.conv(x, false)
    }
    fn forward_relu(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Option<Result<Tensor>> {
        Some(self.conv(x, true))
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        weight_and_bias(&self.weight, &self.bias)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() != 4 || input[1] != self.in_channels {
            return Err(misfit(
                &format!("Conv2d({}, {})", self.in_channels, self.out_channels),
                format!("input {input:?} is not [N, {}, H, W]", self.in_channels),
            ));
        }
        shape_by_forward(self, input)
    }
    fn describe(&self) -> String {
        format!(
            "{}, {}, kernel_size={:?}, stride={:?}, padding={}, dilation={:?}, groups={}, bias={}",
            self.in_channels,
            self.out_channels,
            self.kernel,
            self.opts.stride,
            if self.same {
                "same".to_string()
            } else {
                format!("{:?}", self.opts.padding)
            },
            self.opts.dilation,
            self.opts.groups,
            self.bias.is_some()
        )
    }
}

fn weight_and_bias(w: &Var, b: &Option<Var>) -> Vec<(String, Var)> {
    let mut v = vec![("weight".to_string(), w.clone())];
    if let Some(b) = b {
        v.push(("bias".into(), b.clone()));
    }
    v
}

/// 1-d convolution over `[N, C, L]` (or `[C, L]`), as `nn.Conv1d`: weight
/// `[out_channels, in_channels / groups, k]`, bias `[out_channels]`.
pub struct Conv1d {
    /// `[out, in / groups, k]`
    pub weight: Var,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Var>,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    opts: Conv1dOptions,
    same: bool,
}

impl Conv1d {
    /// Kernel `kernel_size`, stride 1, no padding, with a bias (PyTorch's defaults).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        Self::with_options(
            in_channels,
            out_channels,
            kernel_size,
            Conv1dOptions::default(),
            true,
            rng,
        )
    }
    /// Any options.
    ///
    /// Fails when a size is 0 or the groups do not divide both channel counts.
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        opts: Conv1dOptions,
        bias: bool,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        let name = format!("Conv1d({in_channels}, {out_channels})");
        check_sizes(
            "Conv1d",
            &name,
            &[kernel],
            &[opts.stride],
            &[opts.dilation],
            opts.groups,
            in_channels,
            out_channels,
        )?;
        let g = opts.groups;
        let (weight, bias) = init_params(
            &[out_channels, in_channels / g, kernel],
            bias.then_some(out_channels),
            rng,
        )?;
        Ok(Conv1d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel,
            opts,
            same: false,
        })
    }
    /// The same layer with PyTorch's `padding = "same"`.
    ///
    /// Fails unless the stride is 1 (as PyTorch).
    pub fn padding_same(mut self) -> Result<Self> {
        if self.opts.stride != 1 {
            return Err(Error::Arg {
                op: "Conv1d",
                msg: format!(
                    "padding = \"same\" needs stride 1, got {}",
                    self.opts.stride
                ),
            });
        }
        self.same = true;
        self.opts.padding = 0;
        Ok(self)
    }
}

impl Module for Conv1d {
    fn kind(&self) -> &'static str {
        "Conv1d"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let w = self.weight.as_tensor();
        let b = self.bias.as_ref().map(Var::as_tensor);
        if self.same {
            pad_same(x, &[self.kernel], &[self.opts.dilation])?.conv1d(&w, b.as_ref(), self.opts)
        } else {
            x.conv1d(&w, b.as_ref(), self.opts)
        }
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        weight_and_bias(&self.weight, &self.bias)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() != 3 || input[1] != self.in_channels {
            return Err(misfit(
                &format!("Conv1d({}, {})", self.in_channels, self.out_channels),
                format!("input {input:?} is not [N, {}, L]", self.in_channels),
            ));
        }
        shape_by_forward(self, input)
    }
    fn describe(&self) -> String {
        format!(
            "{}, {}, kernel_size={}, stride={}, padding={}, dilation={}, groups={}, bias={}",
            self.in_channels,
            self.out_channels,
            self.kernel,
            self.opts.stride,
            if self.same {
                "same".to_string()
            } else {
                self.opts.padding.to_string()
            },
            self.opts.dilation,
            self.opts.groups,
            self.bias.is_some()
        )
    }
}

/// Transposed 2-d convolution (the adjoint of [`Conv2d`]), as `nn.ConvTranspose2d`: weight
/// `[in_channels, out_channels / groups, kh, kw]`, bias `[out_channels]`.
pub struct ConvTranspose2d {
    /// `[in, out / groups, kh, kw]`
    pub weight: Var,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Var>,
    in_channels: usize,
    out_channels: usize,
    opts: ConvTranspose2dOptions,
}

impl ConvTranspose2d {
    /// A square kernel, stride 1, no padding, with a bias (PyTorch's defaults).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        Self::with_options(
            in_channels,
            out_channels,
            (kernel_size, kernel_size),
            ConvTranspose2dOptions::default(),
            true,
            rng,
        )
    }
    /// Any options.
    ///
    /// Fails when a size is 0 or the groups do not divide both channel counts.
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        opts: ConvTranspose2dOptions,
        bias: bool,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        let name = format!("ConvTranspose2d({in_channels}, {out_channels})");
        check_sizes(
            "ConvTranspose2d",
            &name,
            &[kernel.0, kernel.1],
            &[opts.stride.0, opts.stride.1],
            &[opts.dilation.0, opts.dilation.1],
            opts.groups,
            in_channels,
            out_channels,
        )?;
        let g = opts.groups;
        let (weight, bias) = init_params(
            &[in_channels, out_channels / g, kernel.0, kernel.1],
            bias.then_some(out_channels),
            rng,
        )?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            in_channels,
            out_channels,
            opts,
        })
    }
}

impl Module for ConvTranspose2d {
    fn kind(&self) -> &'static str {
        "ConvTranspose2d"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let b = self.bias.as_ref().map(Var::as_tensor);
        x.conv_transpose2d(&self.weight.as_tensor(), b.as_ref(), self.opts)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        weight_and_bias(&self.weight, &self.bias)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() != 4 || input[1] != self.in_channels {
            return Err(misfit(
                &format!(
                    "ConvTranspose2d({}, {})",
                    self.in_channels, self.out_channels
                ),
                format!("input {input:?} is not [N, {}, H, W]", self.in_channels),
            ));
        }
        shape_by_forward(self, input)
    }
    fn describe(&self) -> String {
        format!(
            "{}, {}, stride={:?}, padding={:?}, output_padding={:?}, dilation={:?}, groups={}",
            self.in_channels,
            self.out_channels,
            self.opts.stride,
            self.opts.padding,
            self.opts.output_padding,
            self.opts.dilation,
            self.opts.groups
        )
    }
}
