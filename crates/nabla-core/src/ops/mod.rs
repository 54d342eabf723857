//! The primitive ops, what each one means: the `Tensor` methods with their validation, the
//! [`Op`] each records, and its vector-Jacobian rule ([`backward_rule`]) written in ordinary
//! differentiable tensor ops, so gradients of gradients come for free. How an op runs fast is
//! [`crate::cpu`]'s business: the files here validate, call a kernel there and record the op.

pub(crate) mod attention;
pub(crate) mod batch_norm;
pub(crate) mod binary;
pub(crate) mod conv;
pub(crate) mod conv_options;
pub(crate) mod conv_shapes;
mod cumsum;
pub(crate) mod index;
pub(crate) mod layer_norm;
mod log_softmax;
pub(crate) mod matmul;
pub(crate) mod pool;
pub(crate) mod pool_options;
pub(crate) mod reduce;
pub(crate) mod rnn;
pub(crate) mod shape;
mod topk;
mod triangular;
pub(crate) mod unary;

use crate::cpu::conv::ConvGeom;
use crate::cpu::pool::{AvgWindows, MaxWindows};
use crate::layout::Dims;
use crate::tensor::Tensor;
use crate::Result;
use std::sync::Arc;

macro_rules! define_ops {
    ($($(#[$m:meta])* $name:ident $({ $($f:ident : $t:ty),* $(,)? })? => $s:literal,)*) => {
        /// A primitive op recorded in the graph (with the parameters its rule needs).
        #[derive(Debug, Clone)]
        #[allow(dead_code)] // some parameters are only read by `Debug`
        pub(crate) enum Op {
            $($(#[$m])* $name $({ $($f: $t),* })?,)*
        }
        impl Op {
            /// The op's name as the error messages and gradcheck table use it.
            pub(crate) fn name(&self) -> &'static str {
                match self {
                    $(Op::$name { .. } => $s,)*
                }
            }
        }
        /// Names of every primitive differentiable op; the gradcheck table must cover each.
        pub const PRIMITIVE_OPS: &[&str] = &[$($s),*];
    };
}

define_ops! {
    Neg => "neg",
    Exp => "exp",
    Log => "log",
    Sqrt => "sqrt",
    Tanh => "tanh",
    Sin => "sin",
    Cos => "cos",
    Abs => "abs",
    Recip => "recip",
    Sigmoid => "sigmoid",
    Relu => "relu",
    Erf => "erf",
    /// exact GELU `x Φ(x)` in one pass
    Gelu => "gelu",
    Softplus { beta: f64, threshold: f64 } => "softplus",
    LeakyRelu { slope: f64 } => "leaky_relu",
    Affine { mul: f64, add: f64 } => "affine",
    PowF { e: f64 } => "powf",
    Clamp { min: f64, max: f64 } => "clamp",
    Add => "add",
    Sub => "sub",
    Mul => "mul",
    Div => "div",
    Maximum => "maximum",
    Minimum => "minimum",
    Pow => "pow",
    Where => "where",
    Sum { axes: Dims } => "sum",
    Max { axes: Dims } => "max",
    LogSoftmax { dim: usize } => "log_softmax",
    Min { axes: Dims } => "min",
    Reshape => "reshape",
    Permute { perm: Dims } => "permute",
    Expand => "expand",
    Narrow { dim: usize, start: usize } => "narrow",
    Copy => "contiguous",
    Pad { pads: Vec<(usize, usize)> } => "pad",
    Cat { dim: usize } => "cat",
    IndexSelect { dim: usize } => "index_select",
    Gather { dim: usize } => "gather",
    ScatterAdd { dim: usize } => "scatter_add",
    IndexAdd { dim: usize } => "index_add",
    Matmul => "matmul",
    /// inputs: x `[rows, in]`, weight `[out, in]`, bias `[out]`
    Linear => "linear",
    Cast => "to_dtype",
    /// inputs: x, weight (, bias)
    Conv2d { geom: ConvGeom } => "conv2d",
    /// `relu(conv2d(..))` in one primitive; inputs as `conv2d`
    Conv2dRelu { geom: ConvGeom } => "conv2d_relu",
    /// inputs: x (the convolution's output side), weight (, bias)
    ConvTranspose2d { geom: ConvGeom } => "conv_transpose2d",
    /// inputs: the convolution's input and its output's gradient
    Conv2dWeight { geom: ConvGeom } => "conv2d_weight",
    MaxPool2d { win: Arc<MaxWindows>, indices: Tensor } => "max_pool2d",
    MaxPool2dBackward { win: Arc<MaxWindows>, indices: Tensor } => "max_pool2d_backward",
    AvgPool2d { win: Arc<AvgWindows> } => "avg_pool2d",
    AvgPool2dBackward { win: Arc<AvgWindows> } => "avg_pool2d_backward",
    // recurrent scans (ops/rnn.rs): the activations their rules need are saved
    RnnScan { relu: bool, reverse: bool } => "rnn_scan",
    /// `hc`: for the output with h only ([`Tensor::lstm_scan_h`]), the whole `[2, T, N, H]`
    /// of h and c (sharing the output's storage), which the rule reads; `rows`: for
    /// [`Tensor::lstm_scan_rows`], the flat `[T*N]` indices of the table rows (input 0)
    LstmScan { reverse: bool, saved: Tensor, hc: Option<Tensor>, rows: Option<Tensor> } => "lstm_scan",
    GruScan { reverse: bool, saved: Tensor } => "gru_scan",
    /// inputs: x, weight?, bias? (which ones: `affine`); the batch's mean and 1/std saved
    BatchNorm { eps: f64, mean: Tensor, invstd: Tensor, affine: (bool, bool) } => "batch_norm",
    /// inputs: x, weight?, bias? (which ones: `affine`); over the last `k` dims, each row's
    /// mean and 1/std saved (f64)
    LayerNorm { eps: f64, k: usize, mean: Tensor, rstd: Tensor, affine: (bool, bool) } => "layer_norm",
    Rsqrt => "rsqrt",
    /// running sums along `dim`, from the end when `reverse`
    Cumsum { dim: usize, reverse: bool } => "cumsum",
    /// `tril` (or `triu` when `upper`) of the last two dims
    Triangle { diagonal: i64, upper: bool } => "tril_triu",
    /// inputs: q, k, v (, attn_mask), broadcast to the output's batch dims; the log-sum-exp
    /// of each query row saved
    ScaledDotProductAttention { scale: f64, causal: bool, lse: Tensor } => "scaled_dot_product_attention",
}

/// Whether the last two dims are stored column-major (a transposed view of a packed matrix).
fn col_major(t: &Tensor) -> bool {
    let r = t.rank();
    r >= 2 && {
        let (sh, st) = (t.shape(), t.layout().strides());
        st[r - 2] == 1 && st[r - 1] == sh[r - 2] && sh[r - 2] > 1 && sh[r - 1] > 1
    }
}

/// The gradient of a convolution's bias from the output's gradient `[n, c, h, w]`: sums over
/// the trailing dims, then the leading one (two fast reductions, no transposed copy).
fn bias_grad(g: &Tensor) -> Result<Tensor> {
    g.sum_dims(&[2, 3], false)?.sum_dims(&[0], false)
}

/// ReLU's rule from its output `out`: `g` where `out != 0` (the input was > 0, or NaN:
/// PyTorch passes NaN's gradient), 0 elsewhere. First order, it is one pass written over `g`
/// when nothing else holds it (`out <= 0` exactly where the input was `<= 0`).
fn relu_grad(g: Tensor, out: &Tensor) -> Result<Tensor> {
    if crate::backprop::is_grad_enabled() {
        g.mul(&out.ne_scalar(0.0)?)
    } else {
        g.relu_backward_into(out)
    }
}

/// The input gradients a rule returns, one per input (`None`: no gradient), held inline.
pub(crate) type RuleGrads = smallvec::SmallVec<[Option<Tensor>; 3]>;

/// The rule of `conv2d(x[0], x[1], x[2]?)` for the output gradient `g`: the input gradient is
/// the adjoint convolution, the weight gradient a bilinear primitive of the input and `g`,
/// the bias gradient the sum over N, H, W.
fn conv_rule(geom: &ConvGeom, x: &[Tensor], g: &Tensor) -> Result<RuleGrads> {
    let need = |i: usize| x.get(i).is_some_and(|t| t.requires_grad());
    let mut v: RuleGrads = smallvec::smallvec![
        need(0)
            .then(|| conv::conv_transpose_op(g, &x[1], None, geom))
            .transpose()?,
        need(1)
            .then(|| conv::conv_weight_op(&x[0], g, geom))
            .transpose()?,
    ];
    if x.len() == 3 {
        v.push(need(2).then(|| bias_grad(g)).transpose()?);
    }
    Ok(v)
}

/// The vector-Jacobian product of `op`: given the inputs, the output and the output's gradient
/// `g`, the gradient of each input (`None` for inputs that take none, such as indices).
/// Gradients may have the output's broadcast shape: the engine sums them down.
pub(crate) fn backward_rule(
    op: &Op,
    x: &[Tensor],
    out: &Tensor,
    grad: Tensor,
) -> Result<RuleGrads> {
    // the rules that can write over the gradient take `grad` itself, the others borrow it
    let g = &grad;
    let one = |t: Tensor| Ok(smallvec::smallvec![Some(t)]);
    match op {
        Op::Neg => one(g.neg()?),
        Op::Exp => one(g.mul(out)?),
        // (`dim` is 0 for a 0-d tensor, which both the sum and the fused pass accept)
        Op::LogSoftmax { dim } => {
            if crate::backprop::is_grad_enabled() {
                let sg = g.sum_dims(&[*dim as isize], true)?;
                one(g.sub(&out.exp()?.mul(&sg)?)?)
            } else {
                one(g.log_softmax_backward(out, *dim)?)
            }
        }
        Op::Log => one(g.div(&x[0])?),
        Op::Sqrt => one(g.div(out)?.mul_scalar(0.5)?),
        // first order in one pass: g * (1 - y²), rounded as sqr, affine(-1, 1) and mul round
        Op::Tanh if !crate::backprop::is_grad_enabled() => one(g.zip_rule(
            "tanh_backward",
            out,
            |g, y| g * (1.0 - y * y),
            |g, y| g * (1.0 - y * y),
        )?),
        Op::Tanh => one(g.mul(&out.sqr()?.affine(-1.0, 1.0)?)?),
        Op::Sin => one(g.mul(&x[0].cos()?)?),
        Op::Cos => one(g.mul(&x[0].sin()?)?.neg()?),
        Op::Abs => one(g.mul(&x[0].sign()?)?),
        Op::Recip => one(g.mul(&out.sqr()?)?.neg()?),
        // first order in one pass: g * (y (1 - y)), rounded as the composed ops round
        Op::Sigmoid if !crate::backprop::is_grad_enabled() => one(g.zip_rule(
            "sigmoid_backward",
            out,
            |g, y| g * (y * (1.0 - y)),
            |g, y| g * (y * (1.0 - y)),
        )?),
        Op::Sigmoid => one(g.mul(&out.mul(&out.affine(-1.0, 1.0)?)?)?),
        Op::Relu => one(relu_grad(grad, out)?),
        Op::Erf => {
            let d = x[0]
                .sqr()?
                .neg()?
                .exp()?
                .mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?;
            one(g.mul(&d)?)
        }
        Op::Gelu => {
            if crate::backprop::is_grad_enabled() {
                // differentiable: Φ(x) + x φ(x) from ops
                let x = &x[0];
                let cdf = x
                    .mul_scalar(std::f64::consts::FRAC_1_SQRT_2)?
                    .erf()?
                    .affine(0.5, 0.5)?;
                let pdf = x.sqr()?.mul_scalar(-0.5)?.exp()?.mul_scalar(
                    0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2,
                )?;
                one(g.mul(&cdf.add(&x.mul(&pdf)?)?)?)
            } else {
                one(grad.gelu_backward(&x[0], out)?)
            }
        }
        Op::Softplus { beta, threshold } => {
            // sigmoid(beta x), or 1 where beta x > threshold (PyTorch's softplus_backward)
            let bx = x[0].mul_scalar(*beta)?;
            let over = bx.gt_scalar(*threshold)?;
            let d = Tensor::where_cond(&over, &Tensor::ones(&[], g.dtype()), &bx.sigmoid()?)?;
            one(g.mul(&d)?)
        }
        Op::LeakyRelu { slope } => {
            let m = x[0].gt_scalar(0.0)?.affine(1.0 - slope, *slope)?;
            one(g.mul(&m)?)
        }
        Op::Affine { mul, .. } => one(g.mul_scalar(*mul)?),
        // x^0 is constant: gradient 0 even at x = 0 (not 0 * inf), as PyTorch's pow_backward
        Op::PowF { e } if *e == 0.0 => one(Tensor::zeros(x[0].shape(), g.dtype())),
        Op::PowF { e } => one(g.mul(&x[0].powf(e - 1.0)?.mul_scalar(*e)?)?),
        Op::Clamp { min, max } => {
            // strictly inside the bounds (PyTorch 2.15: 0 at a bound); an infinite bound is none
            let lo = (*min != f64::NEG_INFINITY)
                .then(|| x[0].gt_scalar(*min))
                .transpose()?;
            let hi = (*max != f64::INFINITY)
                .then(|| x[0].lt_scalar(*max))
                .transpose()?;
            match (lo, hi) {
                (Some(l), Some(h)) => one(g.mul(&l.mul(&h)?)?),
                (Some(m), None) | (None, Some(m)) => one(g.mul(&m)?),
                (None, None) => one(g.clone()),
            }
        }
        Op::Add => Ok(smallvec::smallvec![Some(g.clone()), Some(g.clone())]),
        // (only the sides that need a gradient get one: a constant operand costs nothing)
        Op::Sub => Ok(smallvec::smallvec![
            Some(g.clone()),
            x[1].requires_grad().then(|| g.neg()).transpose()?,
        ]),
        Op::Mul => Ok(smallvec::smallvec![
            x[0].requires_grad().then(|| g.mul(&x[1])).transpose()?,
            x[1].requires_grad().then(|| g.mul(&x[0])).transpose()?,
        ]),
        Op::Div => {
            // d(a/b)/db = -(a/b)/b: reuse g/b
            let ga = g.div(&x[1])?;
            let gb = x[1]
                .requires_grad()
                .then(|| ga.mul(out)?.neg())
                .transpose()?;
            Ok(smallvec::smallvec![Some(ga), gb])
        }
        Op::Maximum | Op::Minimum => {
            // As torch.maximum: each side gets the gradient unless it loses, ties split it
            // evenly, and where a NaN is involved (no order) both sides get all of it.
            let (lose_a, lose_b) = if matches!(op, Op::Maximum) {
                (x[0].lt(&x[1])?, x[0].gt(&x[1])?)
            } else {
                (x[0].gt(&x[1])?, x[0].lt(&x[1])?)
            };
            let half = x[0].eq(&x[1])?.mul_scalar(-0.5)?;
            let wa = lose_a.affine(-1.0, 1.0)?.add(&half)?;
            let wb = lose_b.affine(-1.0, 1.0)?.add(&half)?;
            Ok(smallvec::smallvec![Some(g.mul(&wa)?), Some(g.mul(&wb)?)])
        }
        Op::Pow => {
            // PyTorch's pow_backward_self / pow_backward_exponent: 0 w.r.t. the base where the
            // exponent is 0, 0 w.r.t. the exponent where base == 0 and exponent >= 0 (not
            // 0 * log 0); a negative base gives NaN w.r.t. the exponent (log of a negative).
            let (a, b) = (&x[0], &x[1]);
            let z = Tensor::zeros(&[], g.dtype());
            let ga = if a.requires_grad() {
                let d = g.mul(b)?.mul(&a.pow(&b.add_scalar(-1.0)?)?)?;
                Some(Tensor::where_cond(&b.eq_scalar(0.0)?, &z, &d)?)
            } else {
                None
            };
            let gb = if b.requires_grad() {
                let d = g.mul(out)?.mul(&a.log()?)?;
                let at_zero = a.eq_scalar(0.0)?.mul(&b.ge_scalar(0.0)?)?;
                Some(Tensor::where_cond(&at_zero, &z, &d)?)
            } else {
                None
            };
            Ok(smallvec::smallvec![ga, gb])
        }
        Op::Where => {
            let z = Tensor::zeros(&[], g.dtype());
            Ok(smallvec::smallvec![
                None,
                Some(Tensor::where_cond(&x[0], g, &z)?),
                Some(Tensor::where_cond(&x[0], &z, g)?),
            ])
        }
        Op::Sum { .. } => one(g.broadcast_to(x[0].shape())?),
        Op::Max { axes } | Op::Min { axes } => {
            // `out` and `g` keep the reduced dims as size 1; eq and mul broadcast them
            let mask = x[0].eq(out)?;
            let count = mask.sum_axes_keepdim(axes, true)?;
            one(g.div(&count)?.mul(&mask)?)
        }
        Op::Reshape => one(g.reshape(x[0].shape())?),
        Op::Permute { perm } => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            one(g.permute(&inv)?)
        }
        Op::Expand | Op::Copy | Op::Cast => one(g.clone()),
        Op::Narrow { dim, start } => {
            let total = x[0].shape()[*dim];
            let len = out.shape()[*dim];
            let mut pads = vec![(0, 0); x[0].rank()];
            pads[*dim] = (*start, total - start - len);
            one(g.pad(&pads, 0.0)?)
        }
        Op::Pad { pads } => {
            let mut r = g.clone();
            for (d, (before, _)) in pads.iter().enumerate() {
                r = r.narrow(d, *before, x[0].shape()[d])?;
            }
            one(r)
        }
        Op::Cat { dim } => {
            let mut start = 0;
            let mut v = RuleGrads::with_capacity(x.len());
            for t in x {
                let len = t.shape()[*dim];
                v.push(Some(g.narrow(*dim, start, len)?));
                start += len;
            }
            Ok(v)
        }
        Op::IndexSelect { dim } => Ok(smallvec::smallvec![
            Some(Tensor::zeros(x[0].shape(), g.dtype()).index_add(*dim as isize, &x[1], g)?),
            None,
        ]),
        Op::Gather { dim } => Ok(smallvec::smallvec![
            Some(Tensor::zeros(x[0].shape(), g.dtype()).scatter_add(*dim as isize, &x[1], g)?),
            None,
        ]),
        Op::ScatterAdd { dim } => Ok(smallvec::smallvec![
            Some(g.clone()),
            None,
            Some(g.gather(*dim as isize, &x[1])?),
        ]),
        Op::IndexAdd { dim } => Ok(smallvec::smallvec![
            Some(g.clone()),
            None,
            Some(g.index_select(*dim as isize, &x[1])?),
        ]),
        Op::Matmul => {
            // Only what is needed, laid out like the input: the gradient of a transposed view
            // (a Linear layer's `w.t()`) is computed transposed, so it arrives contiguous.
            let (a, b) = (&x[0], &x[1]);
            let ga = if a.requires_grad() {
                Some(if col_major(a) {
                    b.matmul(&g.transpose(-1, -2)?)?.transpose(-1, -2)?
                } else {
                    g.matmul(&b.transpose(-1, -2)?)?
                })
            } else {
                None
            };
            let gb = if b.requires_grad() {
                Some(if col_major(b) {
                    g.transpose(-1, -2)?.matmul(a)?.transpose(-1, -2)?
                } else {
                    a.transpose(-1, -2)?.matmul(g)?
                })
            } else {
                None
            };
            Ok(smallvec::smallvec![ga, gb])
        }
        Op::Linear => {
            let (a, w) = (&x[0], &x[1]);
            let ga = a.requires_grad().then(|| g.matmul(w)).transpose()?;
            let gw = w
                .requires_grad()
                .then(|| g.transpose(-1, -2)?.matmul(a))
                .transpose()?;
            let gb = x[2]
                .requires_grad()
                .then(|| g.sum_dims(&[0], false))
                .transpose()?;
            Ok(smallvec::smallvec![ga, gw, gb])
        }
        // Convolutions: each one's input gradient is the other, the weight gradient is a
        // bilinear primitive of the input and the output's gradient; bias sums over N, H, W.
        Op::Conv2d { geom } => conv_rule(geom, x, g),
        // ReLU's rule first (on the output, which is 0 exactly where the pre-activation was
        // <= 0), then the convolution's
        Op::Conv2dRelu { geom } => conv_rule(geom, x, &relu_grad(grad, out)?),
        Op::ConvTranspose2d { geom } => {
            let need = |i: usize| x.get(i).is_some_and(|t| t.requires_grad());
            let mut v: RuleGrads = smallvec::smallvec![
                need(0)
                    .then(|| conv::conv_op(g, &x[1], None, geom, false))
                    .transpose()?,
                need(1)
                    .then(|| conv::conv_weight_op(g, &x[0], geom))
                    .transpose()?,
            ];
            if x.len() == 3 {
                v.push(need(2).then(|| bias_grad(g)).transpose()?);
            }
            Ok(v)
        }
        Op::Conv2dWeight { geom } => {
            // out = dW(x, gy) is bilinear: <h, dW(x, gy)> = <conv(x, h), gy> = <x, convT(gy, h)>
            let need = |i: usize| x[i].requires_grad();
            Ok(smallvec::smallvec![
                need(0)
                    .then(|| conv::conv_transpose_op(&x[1], g, None, geom))
                    .transpose()?,
                need(1)
                    .then(|| conv::conv_op(&x[0], g, None, geom, false))
                    .transpose()?,
            ])
        }
        // Pooling: adjoint pairs. Max pooling sends each window's gradient to its saved index;
        // the gradient of that scatter is a gather at the same indices.
        Op::MaxPool2d { win, indices } => one(pool::max_backward_op(g, win, indices)?),
        Op::MaxPool2dBackward { win, indices } => one(pool::max_backward_grad(g, win, indices)?),
        Op::AvgPool2d { win } => one(pool::avg_backward_op(g, win)?),
        Op::AvgPool2dBackward { win } => one(pool::avg_op(g, win)?),
        Op::RnnScan { .. } | Op::LstmScan { .. } | Op::GruScan { .. } => {
            rnn::backward(op, x, out, g).map(RuleGrads::from_vec)
        }
        Op::BatchNorm { .. } => batch_norm::backward(op, x, g).map(RuleGrads::from_vec),
        Op::LayerNorm { .. } => layer_norm::backward(op, x, g).map(RuleGrads::from_vec),
        // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 out^3
        Op::Rsqrt => one(g.mul(&out.powf(3.0)?)?.mul_scalar(-0.5)?),
        Op::Cumsum { dim, reverse } => one(g.cumsum_dir(*dim, !reverse)?),
        Op::Triangle { diagonal, upper } => one(g.triangle("tril_triu", *diagonal, *upper)?),
        Op::ScaledDotProductAttention { .. } => {
            attention::backward(op, x, out, g).map(RuleGrads::from_vec)
        }
    }
}
