//! Convolutions with PyTorch's semantics and NCHW layout: `conv2d`, its adjoint
//! `conv_transpose2d`, and `conv1d` (a `conv2d` with height 1).
//!
//! Three primitives carry the gradients: `conv2d`, `conv_transpose2d` and `conv2d_weight`
//! (the weight gradient of a `conv2d`, itself differentiable). The input gradient of each
//! convolution is the other convolution, and the weight gradient is bilinear in its two
//! inputs, so gradients of gradients are convolutions again.

pub use super::conv_options::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions};
use super::Op;
use crate::cpu::conv::{conv_forward, conv_input_grad, conv_weight_grad, ConvGeom};
use crate::dtype::DType;
use crate::layout::fmt_shape;
use crate::storage::{Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// The shapes of a call as the user passed them, for messages.
pub(super) struct Shown<'a> {
    pub(super) op: &'static str,
    pub(super) x: &'a [usize],
    pub(super) w: &'a [usize],
    /// A 1-d convolution: pairs are shown by their width alone.
    pub(super) one_d: bool,
}

impl Shown<'_> {
    fn pair(&self, p: (usize, usize)) -> String {
        if self.one_d {
            p.1.to_string()
        } else {
            format!("{p:?}")
        }
    }
    pub(super) fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::shape(
            self.op,
            format!(
                "input {} and weight {}: {what}",
                fmt_shape(self.x),
                fmt_shape(self.w)
            ),
        )
    }
    fn arg(&self, what: impl std::fmt::Display) -> Error {
        Error::arg(
            self.op,
            format!(
                "input {} and weight {}: {what}",
                fmt_shape(self.x),
                fmt_shape(self.w)
            ),
        )
    }
}

/// Checks dtypes and an optional bias of `len` channels.
fn check_operands(
    s: &Shown,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    len: usize,
) -> Result<()> {
    x.check_float(s.op)?;
    x.check_same_dtype(s.op, w)?;
    if let Some(b) = bias {
        x.check_same_dtype(s.op, b)?;
        if b.shape() != [len] {
            return Err(s.err(format_args!(
                "bias {} should be [{len}] (one per output channel)",
                fmt_shape(b.shape())
            )));
        }
    }
    Ok(())
}

/// Strides, paddings, dilations and kernel sizes above this are refused, so the size
/// arithmetic cannot overflow.
pub(crate) const MAX_PARAM: usize = 1 << 31;

/// Checks that no size parameter exceeds [`MAX_PARAM`].
fn check_small(s: &Shown, params: &[(&str, (usize, usize))]) -> Result<()> {
    for (name, p) in params {
        if p.0 > MAX_PARAM || p.1 > MAX_PARAM {
            return Err(s.arg(format_args!(
                "{name} {} is too large (at most {MAX_PARAM})",
                s.pair(*p)
            )));
        }
    }
    Ok(())
}

/// Checks that every stride, dilation and kernel size is at least 1 and `groups` too.
fn check_positive(
    s: &Shown,
    stride: (usize, usize),
    dilation: (usize, usize),
    kernel: (usize, usize),
    groups: usize,
) -> Result<()> {
    if stride.0 == 0 || stride.1 == 0 {
        return Err(s.arg(format_args!("stride {} must be at least 1", s.pair(stride))));
    }
    if dilation.0 == 0 || dilation.1 == 0 {
        return Err(s.arg(format_args!(
            "dilation {} must be at least 1",
            s.pair(dilation)
        )));
    }
    if kernel.0 == 0 || kernel.1 == 0 {
        return Err(s.arg(format_args!(
            "kernel size {} must be at least 1",
            s.pair(kernel)
        )));
    }
    if groups == 0 {
        return Err(s.arg("groups must be at least 1"));
    }
    Ok(())
}

/// The geometry of `conv2d(x [n, c, h, w], w [o, c/groups, kh, kw])`, validated.
pub(super) fn conv2d_geom(
    s: &Shown,
    xs: &[usize],
    ws: &[usize],
    o: Conv2dOptions,
) -> Result<ConvGeom> {
    let [n, c, h, wd] = [xs[0], xs[1], xs[2], xs[3]];
    let [oc, cg, kh, kw] = [ws[0], ws[1], ws[2], ws[3]];
    check_positive(s, o.stride, o.dilation, (kh, kw), o.groups)?;
    check_small(
        s,
        &[
            ("stride", o.stride),
            ("padding", o.padding),
            ("dilation", o.dilation),
            ("kernel size", (kh, kw)),
        ],
    )?;
    if cg.checked_mul(o.groups) != Some(c) {
        return Err(s.err(format_args!(
            "the input has {c} channels but the weight expects {cg} x groups {} = {}",
            o.groups,
            cg.saturating_mul(o.groups)
        )));
    }
    if oc % o.groups != 0 {
        return Err(s.err(format_args!(
            "groups {} does not divide the {oc} output channels",
            o.groups
        )));
    }
    let out = |len: usize, k: usize, st: usize, p: usize, d: usize, dim: &str| {
        let span = d * (k - 1) + 1;
        if len + 2 * p < span {
            Err(s.err(format_args!(
                "the kernel (size {k}, dilation {d}: {span}) is larger than the padded input {dim} ({len} + 2 x {p})"
            )))
        } else {
            Ok((len + 2 * p - span) / st + 1)
        }
    };
    let oh = out(h, kh, o.stride.0, o.padding.0, o.dilation.0, "height")?;
    let ow = out(wd, kw, o.stride.1, o.padding.1, o.dilation.1, "width")?;
    Ok(ConvGeom {
        n,
        c,
        h,
        w: wd,
        o: oc,
        kh,
        kw,
        stride: o.stride,
        padding: o.padding,
        dilation: o.dilation,
        groups: o.groups,
        oh,
        ow,
    })
}

/// The geometry of the convolution whose adjoint is `conv_transpose2d(x [n, cin, h, w],
/// w [cin, cout/groups, kh, kw])`, validated.
pub(super) fn conv_transpose2d_geom(
    s: &Shown,
    xs: &[usize],
    ws: &[usize],
    o: ConvTranspose2dOptions,
) -> Result<ConvGeom> {
    let [n, cin, h, wd] = [xs[0], xs[1], xs[2], xs[3]];
    let [wc, cg, kh, kw] = [ws[0], ws[1], ws[2], ws[3]];
    check_positive(s, o.stride, o.dilation, (kh, kw), o.groups)?;
    check_small(
        s,
        &[
            ("stride", o.stride),
            ("padding", o.padding),
            ("output_padding", o.output_padding),
            ("dilation", o.dilation),
            ("kernel size", (kh, kw)),
        ],
    )?;
    if wc != cin {
        return Err(s.err(format_args!(
            "the input has {cin} channels but the weight expects {wc} (its first dim)"
        )));
    }
    if cin % o.groups != 0 {
        return Err(s.err(format_args!(
            "groups {} does not divide the {cin} input channels",
            o.groups
        )));
    }
    for (dim, op, st, d) in [
        ("height", o.output_padding.0, o.stride.0, o.dilation.0),
        ("width", o.output_padding.1, o.stride.1, o.dilation.1),
    ] {
        if op >= st && op >= d {
            return Err(s.arg(format_args!(
                "output_padding {op} of the {dim} must be smaller than its stride {st} or its dilation {d}"
            )));
        }
    }
    if h == 0 || wd == 0 {
        return Err(s.err("the input has an empty spatial dim"));
    }
    let out = |len: usize, k: usize, st: usize, p: usize, d: usize, op: usize, dim: &str| {
        let full = (len - 1)
            .checked_mul(st)
            .and_then(|v| v.checked_add(d * (k - 1) + op + 1))
            .ok_or_else(|| s.err(format_args!("the output {dim} overflows")))?;
        if full <= 2 * p {
            Err(s.err(format_args!(
                "padding {p} leaves no output {dim} (the full output is {full})"
            )))
        } else {
            Ok(full - 2 * p)
        }
    };
    let (sh, sw) = o.stride;
    let (ph, pw) = o.padding;
    let (dh, dw) = o.dilation;
    Ok(ConvGeom {
        n,
        c: cg
            .checked_mul(o.groups)
            .ok_or_else(|| s.err("the number of output channels overflows"))?,
        h: out(h, kh, sh, ph, dh, o.output_padding.0, "height")?,
        w: out(wd, kw, sw, pw, dw, o.output_padding.1, "width")?,
        o: cin,
        kh,
        kw,
        stride: o.stride,
        padding: o.padding,
        dilation: o.dilation,
        groups: o.groups,
        oh: h,
        ow: wd,
    })
}

/// Unbatched `[c, ...]` inputs get a batch dim of 1; other ranks are errors.
fn batched(s: &Shown, x: &Tensor, rank: usize) -> Result<(Tensor, bool)> {
    if x.rank() == rank {
        Ok((x.clone(), false))
    } else if x.rank() + 1 == rank {
        Ok((x.unsqueeze(0)?, true))
    } else {
        Err(s.err(format_args!(
            "the input must have rank {rank} (batched) or {} (unbatched)",
            rank - 1
        )))
    }
}

fn data<'a, T: StorageElem>(t: &'a Tensor) -> Result<std::borrow::Cow<'a, [T]>> {
    t.data::<T>()
}

/// `conv2d` as a recorded primitive (with `relu`: `relu(conv2d(..))`, one primitive).
pub(crate) fn conv_op(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &ConvGeom,
    relu: bool,
) -> Result<Tensor> {
    fn conv_op_typed<T: crate::dtype::Float + StorageElem>(
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        g: &ConvGeom,
        relu: bool,
    ) -> Result<Vec<T>> {
        let bias = b.map(data::<T>).transpose()?;
        Ok(conv_forward(&data(x)?, &data(w)?, bias.as_deref(), g, relu))
    }
    let s = match x.dtype() {
        DType::F32 => Storage::F32(conv_op_typed(x, w, b, g, relu)?),
        DType::F64 => Storage::F64(conv_op_typed(x, w, b, g, relu)?),
        DType::I64 => return Err(Error::dtype("conv2d", "needs float tensors, got i64")),
    };
    let mut inputs = vec![x, w];
    inputs.extend(b);
    let op = if relu {
        Op::Conv2dRelu { geom: *g }
    } else {
        Op::Conv2d { geom: *g }
    };
    Ok(Tensor::from_op(s, &g.output_shape(), op, &inputs))
}

/// `conv_transpose2d` (the adjoint of the convolution `g` in its input) as a recorded
/// primitive: `y` is `[n, o, oh, ow]`, the result `[n, c, h, w]`.
pub(crate) fn conv_transpose_op(
    y: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &ConvGeom,
) -> Result<Tensor> {
    fn conv_transpose_op_typed<T: crate::dtype::Float + StorageElem>(
        y: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        g: &ConvGeom,
    ) -> Result<Vec<T>> {
        let mut v = conv_input_grad(&data(y)?, &data(w)?, g);
        if let Some(b) = b {
            let b = data::<T>(b)?;
            let hw = g.h * g.w;
            for (i, plane) in v.chunks_mut(hw.max(1)).enumerate() {
                let bv = b[i % g.c];
                for e in plane {
                    *e += bv;
                }
            }
        }
        Ok(v)
    }
    let s = match y.dtype() {
        DType::F32 => Storage::F32(conv_transpose_op_typed(y, w, b, g)?),
        DType::F64 => Storage::F64(conv_transpose_op_typed(y, w, b, g)?),
        DType::I64 => {
            return Err(Error::dtype(
                "conv_transpose2d",
                "needs float tensors, got i64",
            ))
        }
    };
    let mut inputs = vec![y, w];
    inputs.extend(b);
    Ok(Tensor::from_op(
        s,
        &g.input_shape(),
        Op::ConvTranspose2d { geom: *g },
        &inputs,
    ))
}

/// The weight gradient of the convolution `g` as a recorded primitive: from its input `x`
/// `[n, c, h, w]` and its output's gradient `gy` `[n, o, oh, ow]`, `[o, c/groups, kh, kw]`.
pub(crate) fn conv_weight_op(x: &Tensor, gy: &Tensor, g: &ConvGeom) -> Result<Tensor> {
    let s = match x.dtype() {
        DType::F32 => Storage::F32(conv_weight_grad::<f32>(&data(x)?, &data(gy)?, g)),
        DType::F64 => Storage::F64(conv_weight_grad::<f64>(&data(x)?, &data(gy)?, g)),
        DType::I64 => {
            return Err(Error::dtype(
                "conv2d_weight",
                "needs float tensors, got i64",
            ))
        }
    };
    Ok(Tensor::from_op(
        s,
        &g.weight_shape(),
        Op::Conv2dWeight { geom: *g },
        &[x, gy],
    ))
}

impl Tensor {
    /// 2-d convolution (cross-correlation, as `torch.nn.functional.conv2d`) of `self`
    /// `[N, C, H, W]` (or unbatched `[C, H, W]`) with `weight` `[O, C / groups, kH, kW]` plus
    /// an optional `bias` `[O]`, giving `[N, O, Ho, Wo]` with
    /// `Ho = (H + 2 padding - dilation (kH - 1) - 1) / stride + 1` (rounded down), likewise `Wo`.
    ///
    /// Fails (naming `conv2d` and the shapes) when a rank is wrong, `C != (C / groups) * groups`
    /// of the weight, `groups` does not divide `O`, the bias is not `[O]`, a stride, dilation,
    /// kernel size or `groups` is 0, the dilated kernel is larger than the padded input, or the
    /// dtypes are not one float type.
    /// ```
    /// use nabla_core::{Conv2dOptions, Tensor};
    /// let x = Tensor::ones(&[1, 1, 4, 4], nabla_core::DType::F32);
    /// let w = Tensor::ones(&[2, 1, 3, 3], nabla_core::DType::F32);
    /// let y = x.conv2d(&w, None, Conv2dOptions::default().with_padding(1, 1)).unwrap();
    /// assert_eq!(y.shape(), &[1, 2, 4, 4]);
    /// assert_eq!(y.to_vec::<f32>().unwrap()[..4], [4.0, 6.0, 6.0, 4.0]);
    /// ```
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: Conv2dOptions,
    ) -> Result<Tensor> {
        self.conv2d_then(weight, bias, opts, false)
    }

    /// `relu(conv2d(..))` as one primitive (`conv2d_relu`): the same values bit for bit and
    /// the same gradients, without the pre-activation tensor; ReLU is applied as the
    /// convolution writes its output, and its backward is part of the convolution's rule.
    /// [`nabla_nn`'s `Sequential`] runs a `Conv2d` followed by a `ReLU` through it.
    ///
    /// Fails as [`Tensor::conv2d`] (naming `conv2d`).
    /// ```
    /// use nabla_core::{Conv2dOptions, DType, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, -4.0], &[1, 1, 2, 2]).unwrap();
    /// let w = Tensor::ones(&[1, 1, 1, 1], DType::F32);
    /// let y = x.conv2d_relu(&w, None, Conv2dOptions::default()).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 0.0, 3.0, 0.0]);
    /// ```
    ///
    /// [`nabla_nn`'s `Sequential`]: https://docs.rs/nabla-nn
    pub fn conv2d_relu(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: Conv2dOptions,
    ) -> Result<Tensor> {
        self.conv2d_then(weight, bias, opts, true)
    }

    fn conv2d_then(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: Conv2dOptions,
        relu: bool,
    ) -> Result<Tensor> {
        let s = Shown {
            op: "conv2d",
            x: self.shape(),
            w: weight.shape(),
            one_d: false,
        };
        if weight.rank() != 4 {
            return Err(s.err("the weight must have rank 4 [O, C / groups, kH, kW]"));
        }
        let (x, unbatched) = batched(&s, self, 4)?;
        check_operands(&s, &x, weight, bias, weight.shape()[0])?;
        let g = conv2d_geom(&s, x.shape(), weight.shape(), opts)?;
        let y = conv_op(&x, weight, bias, &g, relu)?;
        if unbatched {
            y.squeeze(0)
        } else {
            Ok(y)
        }
    }

    /// 2-d transposed convolution (`torch.nn.functional.conv_transpose2d`): the adjoint of
    /// [`Tensor::conv2d`] in its input. `self` is `[N, Cin, H, W]` (or unbatched
    /// `[Cin, H, W]`), `weight` `[Cin, Cout / groups, kH, kW]` (PyTorch's layout), `bias`
    /// `[Cout]`; the result is `[N, Cout, Ho, Wo]` with
    /// `Ho = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1`.
    ///
    /// Fails (naming `conv_transpose2d` and the shapes) when a rank is wrong, `Cin` differs from
    /// the weight's first dim, `groups` does not divide `Cin`, the bias is not `[Cout]`, a
    /// stride, dilation, kernel size or `groups` is 0, an output padding is not smaller than
    /// its stride or its dilation, the padding leaves no output, or the dtypes are not one
    /// float type.
    /// ```
    /// use nabla_core::{ConvTranspose2dOptions, DType, Tensor};
    /// let x = Tensor::ones(&[1, 1, 2, 2], DType::F64);
    /// let w = Tensor::ones(&[1, 1, 2, 2], DType::F64);
    /// let y = x.conv_transpose2d(&w, None, ConvTranspose2dOptions::default()).unwrap();
    /// assert_eq!(y.to_vec::<f64>().unwrap(), vec![1., 2., 1., 2., 4., 2., 1., 2., 1.]);
    /// ```
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: ConvTranspose2dOptions,
    ) -> Result<Tensor> {
        let s = Shown {
            op: "conv_transpose2d",
            x: self.shape(),
            w: weight.shape(),
            one_d: false,
        };
        if weight.rank() != 4 {
            return Err(s.err("the weight must have rank 4 [Cin, Cout / groups, kH, kW]"));
        }
        let (x, unbatched) = batched(&s, self, 4)?;
        let cout = weight.shape()[1].saturating_mul(opts.groups.max(1));
        check_operands(&s, &x, weight, bias, cout)?;
        let g = conv_transpose2d_geom(&s, x.shape(), weight.shape(), opts)?;
        let y = conv_transpose_op(&x, weight, bias, &g)?;
        if unbatched {
            y.squeeze(0)
        } else {
            Ok(y)
        }
    }

    /// 1-d convolution (`torch.nn.functional.conv1d`) of `self` `[N, C, L]` (or unbatched
    /// `[C, L]`) with `weight` `[O, C / groups, k]` plus an optional `bias` `[O]`, giving
    /// `[N, O, Lo]`, `Lo = (L + 2 padding - dilation (k - 1) - 1) / stride + 1`. It is a
    /// [`Tensor::conv2d`] with height 1.
    ///
    /// Fails (naming `conv1d` and the shapes) for the same reasons as `conv2d`.
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: Conv1dOptions,
    ) -> Result<Tensor> {
        let s = Shown {
            op: "conv1d",
            x: self.shape(),
            w: weight.shape(),
            one_d: true,
        };
        if weight.rank() != 3 {
            return Err(s.err("the weight must have rank 3 [O, C / groups, k]"));
        }
        let (x, unbatched) = batched(&s, self, 3)?;
        check_operands(&s, &x, weight, bias, weight.shape()[0])?;
        let x4 = x.unsqueeze(2)?;
        let w4 = weight.unsqueeze(2)?;
        let o2 = Conv2dOptions {
            stride: (1, opts.stride),
            padding: (0, opts.padding),
            dilation: (1, opts.dilation),
            groups: opts.groups,
        };
        let g = conv2d_geom(&s, x4.shape(), w4.shape(), o2)?;
        let y = conv_op(&x4, &w4, bias, &g, false)?.squeeze(2)?;
        if unbatched {
            y.squeeze(0)
        } else {
            Ok(y)
        }
    }
}
