//! Pooling with PyTorch's semantics and NCHW layout: `max_pool2d` (saving the argmax of each
//! window), `avg_pool2d`, `adaptive_avg_pool2d`, and the 1-d wrappers.
//!
//! Four primitives carry the gradients, in adjoint pairs: `max_pool2d` and
//! `max_pool2d_backward` (a scatter-add of the gradient to the saved indices, whose own
//! gradient is a gather at the same indices), `avg_pool2d` and `avg_pool2d_backward` (each
//! other's adjoint). Adaptive average pooling is an `avg_pool2d` with other windows.

pub use super::pool_options::{
    AvgPool1dOptions, AvgPool2dOptions, MaxPool1dOptions, MaxPool2dOptions,
};
use super::Op;
use crate::cpu::pool::{self as k, AvgWindows, MaxWindows};
use crate::dtype::DType;
use crate::layout::fmt_shape;
use crate::storage::Storage;
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::sync::Arc;

/// One spatial axis of a pooling: input length, kernel, stride, padding, dilation.
#[derive(Clone, Copy)]
struct Axis {
    len: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
}

/// PyTorch's `pooling_output_shape`: in ceil mode the last window must start inside the
/// input or its left padding.
fn out_len(a: Axis, ceil: bool) -> i64 {
    let (len, k, s, p, d) = (a.len as i64, a.k as i64, a.s as i64, a.p as i64, a.d as i64);
    let num = len + 2 * p - d * (k - 1) - 1 + if ceil { s - 1 } else { 0 };
    let mut out = num.div_euclid(s) + 1;
    if ceil && (out - 1) * s >= len + p {
        out -= 1;
    }
    out
}

/// Who is pooling, for messages: the op, the shape the caller passed, and whether to show
/// the width alone (1-d pools).
#[derive(Clone, Copy)]
struct Ctx<'a> {
    op: &'static str,
    shown: &'a [usize],
    one_d: bool,
}

impl<'a> Ctx<'a> {
    fn new(op: &'static str, x: &'a Tensor, one_d: bool) -> Self {
        Ctx {
            op,
            shown: x.shape(),
            one_d,
        }
    }
    fn pair(&self, p: (impl std::fmt::Debug, impl std::fmt::Debug)) -> String {
        if self.one_d {
            format!("{:?}", p.1)
        } else {
            format!("({:?}, {:?})", p.0, p.1)
        }
    }
}

/// Validates a pooling's parameters (PyTorch's `pool2d_shape_check`) and gives the output
/// size of both axes.
fn check_pool(cx: Ctx, ax: [Axis; 2], ceil: bool) -> Result<(usize, usize)> {
    let pair = |f: fn(&Axis) -> usize| cx.pair((f(&ax[0]), f(&ax[1])));
    let err = |what: String| Error::arg(cx.op, format!("input {}: {what}", fmt_shape(cx.shown)));
    if ax.iter().any(|a| a.k == 0) {
        return Err(err(format!(
            "kernel size {} must be at least 1",
            pair(|a| a.k)
        )));
    }
    if ax.iter().any(|a| a.s == 0) {
        return Err(err(format!("stride {} must be at least 1", pair(|a| a.s))));
    }
    if ax.iter().any(|a| a.d == 0) {
        return Err(err(format!(
            "dilation {} must be at least 1",
            pair(|a| a.d)
        )));
    }
    let big = super::conv::MAX_PARAM;
    if ax.iter().any(|a| a.k > big || a.s > big || a.d > big) {
        return Err(err(format!(
            "kernel size {}, stride {} or dilation {} is too large (at most {big})",
            pair(|a| a.k),
            pair(|a| a.s),
            pair(|a| a.d)
        )));
    }
    if ax.iter().any(|a| a.p > a.k / 2) {
        return Err(err(format!(
            "padding {} must be at most half the kernel size {}",
            pair(|a| a.p),
            pair(|a| a.k)
        )));
    }
    let (oh, ow) = (out_len(ax[0], ceil), out_len(ax[1], ceil));
    if oh < 1 || ow < 1 {
        return Err(Error::shape(
            cx.op,
            format!(
                "input {} with kernel {}, stride {}, padding {}, dilation {} gives output size {}, which is too small",
                fmt_shape(cx.shown),
                pair(|a| a.k),
                pair(|a| a.s),
                pair(|a| a.p),
                pair(|a| a.d),
                cx.pair((oh, ow)),
            ),
        ));
    }
    Ok((oh as usize, ow as usize))
}

/// `[n, c, h, w]` of a batched (rank 4) or unbatched (rank 3) input, or an error.
fn nchw(op: &'static str, x: &Tensor, one_d: bool) -> Result<(Tensor, [usize; 4])> {
    let want = if one_d { 3 } else { 4 };
    if x.rank() != want && x.rank() + 1 != want {
        return Err(Error::shape(
            op,
            format!(
                "the input {} must have rank {want} (batched) or {} (unbatched)",
                fmt_shape(x.shape()),
                want - 1
            ),
        ));
    }
    x.check_float(op)?;
    let x4 = if one_d { x.unsqueeze(-2)? } else { x.clone() };
    let x4 = if x.rank() + 1 == want {
        x4.unsqueeze(0)?
    } else {
        x4
    };
    let s = x4.shape();
    let s = [s[0], s[1], s[2], s[3]];
    Ok((x4, s))
}

/// Back to the caller's rank after [`nchw`].
fn un_nchw(y: Tensor, x: &Tensor, one_d: bool) -> Result<Tensor> {
    let y = if one_d { y.squeeze(-2)? } else { y };
    let want = if one_d { 3 } else { 4 };
    if x.rank() + 1 == want {
        y.squeeze(0)
    } else {
        Ok(y)
    }
}

fn max_windows(cx: Ctx, s: [usize; 4], o: MaxPool2dOptions) -> Result<MaxWindows> {
    let ax = [
        Axis {
            len: s[2],
            k: o.kernel.0,
            s: o.stride.0,
            p: o.padding.0,
            d: o.dilation.0,
        },
        Axis {
            len: s[3],
            k: o.kernel.1,
            s: o.stride.1,
            p: o.padding.1,
            d: o.dilation.1,
        },
    ];
    let (oh, ow) = check_pool(cx, ax, o.ceil_mode)?;
    let axis = |a: Axis, out: usize, dim: &str| -> Result<Vec<(usize, usize)>> {
        (0..out)
            .map(|i| {
                // taps start + t d for t < k; the valid ones are t0 <= t < t1
                let (start, d) = ((i * a.s) as i64 - a.p as i64, a.d as i64);
                let t0 = if start < 0 { (-start + d - 1) / d } else { 0 };
                let t1 = ((a.len as i64 - start + d - 1) / d).clamp(0, a.k as i64);
                match t0 < t1 {
                    true => Ok(((start + t0 * d) as usize, (t1 - t0) as usize)),
                    false => Err(Error::shape(
                        cx.op,
                        format!(
                            "input {}: pooling window {i} of the {dim} covers no input element",
                            fmt_shape(cx.shown)
                        ),
                    )),
                }
            })
            .collect()
    };
    Ok(MaxWindows {
        n: s[0],
        c: s[1],
        h: s[2],
        w: s[3],
        rows: axis(ax[0], oh, "height")?,
        cols: axis(ax[1], ow, "width")?,
        kernel: o.kernel,
        stride: o.stride,
        padding: o.padding,
        dil: o.dilation,
    })
}

fn avg_windows(cx: Ctx, s: [usize; 4], o: AvgPool2dOptions) -> Result<AvgWindows> {
    let ax = [
        Axis {
            len: s[2],
            k: o.kernel.0,
            s: o.stride.0,
            p: o.padding.0,
            d: 1,
        },
        Axis {
            len: s[3],
            k: o.kernel.1,
            s: o.stride.1,
            p: o.padding.1,
            d: 1,
        },
    ];
    let (oh, ow) = check_pool(cx, ax, o.ceil_mode)?;
    // PyTorch's divisor: the window clipped to the padded input, or to the input itself
    let axis = |a: Axis, out: usize| -> Vec<(usize, usize, usize)> {
        (0..out)
            .map(|i| {
                let start = (i * a.s) as i64 - a.p as i64;
                let end = (start + a.k as i64).min((a.len + a.p) as i64);
                let pool = (end - start) as usize;
                let (s0, e0) = (
                    start.max(0) as usize,
                    (end.min(a.len as i64)).max(0) as usize,
                );
                let e0 = e0.max(s0);
                let div = if o.count_include_pad { pool } else { e0 - s0 };
                (s0, e0, div)
            })
            .collect()
    };
    Ok(AvgWindows {
        n: s[0],
        c: s[1],
        h: s[2],
        w: s[3],
        rows: axis(ax[0], oh),
        cols: axis(ax[1], ow),
    })
}

/// `max_pool2d` as a recorded primitive, with its indices.
fn max_op(x: &Tensor, win: MaxWindows) -> Result<(Tensor, Tensor)> {
    let shape = [win.n, win.c, win.rows.len(), win.cols.len()];
    let (s, idx) = match x.dtype() {
        DType::F32 => {
            let (v, i) = k::max_pool::<f32>(&x.data()?, &win);
            (Storage::F32(v), i)
        }
        DType::F64 => {
            let (v, i) = k::max_pool::<f64>(&x.data()?, &win);
            (Storage::F64(v), i)
        }
        DType::I64 => return Err(Error::dtype("max_pool2d", "needs a float tensor, got i64")),
    };
    let indices = Tensor::from_vec(idx, &shape)?;
    let op = Op::MaxPool2d {
        win: Arc::new(win),
        indices: indices.clone(),
    };
    Ok((Tensor::from_op(s, &shape, op, &[x]), indices))
}

/// The gradient of a max pooling: `g` `[n, c, oh, ow]` added at the saved indices into
/// zeros `[n, c, h, w]`, as a recorded primitive.
pub(crate) fn max_backward_op(
    g: &Tensor,
    win: &Arc<MaxWindows>,
    indices: &Tensor,
) -> Result<Tensor> {
    let idx = indices.data::<i64>()?;
    let s = match g.dtype() {
        DType::F32 => Storage::F32(k::max_pool_backward::<f32>(&g.data()?, &idx, win)),
        DType::F64 => Storage::F64(k::max_pool_backward::<f64>(&g.data()?, &idx, win)),
        DType::I64 => return Err(Error::dtype("max_pool2d_backward", "needs a float tensor")),
    };
    let op = Op::MaxPool2dBackward {
        win: win.clone(),
        indices: indices.clone(),
    };
    Ok(Tensor::from_op(s, &[win.n, win.c, win.h, win.w], op, &[g]))
}

/// The gradient of [`max_backward_op`]: `h` `[n, c, h, w]` gathered at the indices.
pub(crate) fn max_backward_grad(h: &Tensor, win: &MaxWindows, indices: &Tensor) -> Result<Tensor> {
    let (oh, ow) = (win.rows.len(), win.cols.len());
    let idx = indices.reshape(&[win.n, win.c, oh * ow])?;
    h.reshape(&[win.n, win.c, win.h * win.w])?
        .gather(2, &idx)?
        .reshape(&[win.n, win.c, oh, ow])
}

/// `avg_pool2d` over the windows `win`, as a recorded primitive.
pub(crate) fn avg_op(x: &Tensor, win: &Arc<AvgWindows>) -> Result<Tensor> {
    let s = match x.dtype() {
        DType::F32 => Storage::F32(k::avg_pool::<f32>(&x.data()?, win)),
        DType::F64 => Storage::F64(k::avg_pool::<f64>(&x.data()?, win)),
        DType::I64 => return Err(Error::dtype("avg_pool2d", "needs a float tensor, got i64")),
    };
    let shape = [win.n, win.c, win.rows.len(), win.cols.len()];
    Ok(Tensor::from_op(
        s,
        &shape,
        Op::AvgPool2d { win: win.clone() },
        &[x],
    ))
}

/// The adjoint of [`avg_op`], as a recorded primitive.
pub(crate) fn avg_backward_op(g: &Tensor, win: &Arc<AvgWindows>) -> Result<Tensor> {
    let s = match g.dtype() {
        DType::F32 => Storage::F32(k::avg_pool_backward::<f32>(&g.data()?, win)),
        DType::F64 => Storage::F64(k::avg_pool_backward::<f64>(&g.data()?, win)),
        DType::I64 => return Err(Error::dtype("avg_pool2d_backward", "needs a float tensor")),
    };
    Ok(Tensor::from_op(
        s,
        &[win.n, win.c, win.h, win.w],
        Op::AvgPool2dBackward { win: win.clone() },
        &[g],
    ))
}

impl Tensor {
    /// 2-d max pooling (`torch.nn.functional.max_pool2d`) of `[N, C, H, W]` (or unbatched
    /// `[C, H, W]`), giving `[N, C, Ho, Wo]` with
    /// `Ho = (H + 2 padding - dilation (k - 1) - 1) / stride + 1`, rounded down, or up in ceil
    /// mode (where the last window must start inside the input or its left padding); padding
    /// is `-inf`. The gradient of each window goes to one element: its first maximum in scan
    /// order (rows, then columns), as PyTorch; ties are not split. A NaN counts as a maximum.
    ///
    /// Fails (naming `max_pool2d` and the shape) on a wrong rank, an i64 tensor, a kernel
    /// size, stride or dilation of 0, padding above half the kernel size, or an output size
    /// below 1.
    /// ```
    /// use nabla_core::{MaxPool2dOptions, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 0.0], &[1, 1, 2, 2]).unwrap();
    /// let y = x.max_pool2d(MaxPool2dOptions::new(2, 2)).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0]);
    /// ```
    pub fn max_pool2d(&self, opts: MaxPool2dOptions) -> Result<Tensor> {
        Ok(self.max_pool2d_with_indices(opts)?.0)
    }

    /// [`Tensor::max_pool2d`] and the indices of the maxima (i64, same shape as the output),
    /// each the flat position `y * W + x` in its `[H, W]` plane, as PyTorch's
    /// `return_indices=True`.
    ///
    /// Fails as [`Tensor::max_pool2d`].
    pub fn max_pool2d_with_indices(&self, opts: MaxPool2dOptions) -> Result<(Tensor, Tensor)> {
        let (x, s) = nchw("max_pool2d", self, false)?;
        let win = max_windows(Ctx::new("max_pool2d", self, false), s, opts)?;
        let (y, i) = max_op(&x, win)?;
        Ok((un_nchw(y, self, false)?, un_nchw(i, self, false)?))
    }

    /// 1-d max pooling (`torch.nn.functional.max_pool1d`) of `[N, C, L]` (or unbatched
    /// `[C, L]`): [`Tensor::max_pool2d`] with height 1.
    ///
    /// Fails (naming `max_pool1d`) as `max_pool2d`.
    pub fn max_pool1d(&self, opts: MaxPool1dOptions) -> Result<Tensor> {
        let (x, s) = nchw("max_pool1d", self, true)?;
        let win = max_windows(Ctx::new("max_pool1d", self, true), s, opts.to_2d())?;
        un_nchw(max_op(&x, win)?.0, self, true)
    }

    /// 2-d average pooling (`torch.nn.functional.avg_pool2d`) of `[N, C, H, W]` (or unbatched
    /// `[C, H, W]`), giving `[N, C, Ho, Wo]` (sizes as [`Tensor::max_pool2d`] with dilation
    /// 1). The divisor is PyTorch's: the window clipped to the padded input when
    /// `count_include_pad` (so in ceil mode a window hanging past the right padding counts
    /// only what lies inside it), else the number of input elements in the window.
    ///
    /// Fails (naming `avg_pool2d` and the shape) on a wrong rank, an i64 tensor, a kernel
    /// size or stride of 0, padding above half the kernel size, or an output size below 1.
    /// ```
    /// use nabla_core::{AvgPool2dOptions, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 3.0, 2.0, 0.0], &[1, 1, 2, 2]).unwrap();
    /// let y = x.avg_pool2d(AvgPool2dOptions::new(2, 2)).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.5]);
    /// ```
    pub fn avg_pool2d(&self, opts: AvgPool2dOptions) -> Result<Tensor> {
        let (x, s) = nchw("avg_pool2d", self, false)?;
        let win = avg_windows(Ctx::new("avg_pool2d", self, false), s, opts)?;
        un_nchw(avg_op(&x, &Arc::new(win))?, self, false)
    }

    /// 1-d average pooling (`torch.nn.functional.avg_pool1d`) of `[N, C, L]` (or unbatched
    /// `[C, L]`): [`Tensor::avg_pool2d`] with height 1.
    ///
    /// Fails (naming `avg_pool1d`) as `avg_pool2d`.
    pub fn avg_pool1d(&self, opts: AvgPool1dOptions) -> Result<Tensor> {
        let (x, s) = nchw("avg_pool1d", self, true)?;
        let win = avg_windows(Ctx::new("avg_pool1d", self, true), s, opts.to_2d())?;
        un_nchw(avg_op(&x, &Arc::new(win))?, self, true)
    }

    /// Adaptive average pooling (`torch.nn.functional.adaptive_avg_pool2d`) of
    /// `[N, C, H, W]` (or unbatched `[C, H, W]`) to `[N, C, oh, ow]`: output row `i` averages
    /// input rows `floor(i H / oh) .. ceil((i + 1) H / oh)`, likewise columns.
    ///
    /// Fails (naming `adaptive_avg_pool2d` and the shape) on a wrong rank, an i64 tensor, or
    /// an empty input height or width.
    pub fn adaptive_avg_pool2d(&self, output: (usize, usize)) -> Result<Tensor> {
        let op = "adaptive_avg_pool2d";
        let (x, s) = nchw(op, self, false)?;
        if s[2] == 0 || s[3] == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "input {} has an empty height or width",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let axis = |len: usize, out: usize| -> Vec<(usize, usize, usize)> {
            (0..out)
                .map(|i| {
                    let a = i * len / out;
                    let b = ((i + 1) * len).div_ceil(out);
                    (a, b, b - a)
                })
                .collect()
        };
        let win = AvgWindows {
            n: s[0],
            c: s[1],
            h: s[2],
            w: s[3],
            rows: axis(s[2], output.0),
            cols: axis(s[3], output.1),
        };
        un_nchw(avg_op(&x, &Arc::new(win))?, self, false)
    }
}

/// The output shape of `max_pool2d` (`one_d`: `max_pool1d`, whose options are given in
/// their 2-d form) for an input of `shape` (`[N, C, H, W]`, or `[N, C, L]` for 1-d), with
/// the op's own validation and messages, without touching any data.
pub fn max_pool_output_shape(
    shape: &[usize],
    opts: MaxPool2dOptions,
    one_d: bool,
) -> Result<Vec<usize>> {
    let op = if one_d { "max_pool1d" } else { "max_pool2d" };
    let s = pool_input(op, shape, one_d)?;
    let cx = Ctx {
        op,
        shown: shape,
        one_d,
    };
    let w = max_windows(cx, s, opts)?;
    Ok(pool_output(shape, one_d, w.rows.len(), w.cols.len()))
}

/// The output shape of `avg_pool2d` (`one_d`: `avg_pool1d`), as [`max_pool_output_shape`].
pub fn avg_pool_output_shape(
    shape: &[usize],
    opts: AvgPool2dOptions,
    one_d: bool,
) -> Result<Vec<usize>> {
    let op = if one_d { "avg_pool1d" } else { "avg_pool2d" };
    let s = pool_input(op, shape, one_d)?;
    let cx = Ctx {
        op,
        shown: shape,
        one_d,
    };
    let w = avg_windows(cx, s, opts)?;
    Ok(pool_output(shape, one_d, w.rows.len(), w.cols.len()))
}

/// `shape` as `[N, C, H, W]` (a 1-d input `[N, C, L]` has height 1).
fn pool_input(op: &'static str, shape: &[usize], one_d: bool) -> Result<[usize; 4]> {
    match (one_d, shape) {
        (false, &[n, c, h, w]) => Ok([n, c, h, w]),
        (true, &[n, c, l]) => Ok([n, c, 1, l]),
        _ => Err(Error::shape(
            op,
            format!(
                "input {} must have rank {}",
                fmt_shape(shape),
                if one_d { 3 } else { 4 }
            ),
        )),
    }
}

fn pool_output(shape: &[usize], one_d: bool, oh: usize, ow: usize) -> Vec<usize> {
    if one_d {
        vec![shape[0], shape[1], ow]
    } else {
        vec![shape[0], shape[1], oh, ow]
    }
}
