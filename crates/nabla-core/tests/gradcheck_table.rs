//! One table of every differentiable op, each checked against central finite differences in
//! f64 with PyTorch's default tolerances (eps 1e-6, atol 1e-5, rtol 1e-3).
//!
//! Every name in `nabla_core::PRIMITIVE_OPS` must be covered by at least one entry, so adding a
//! primitive op without a gradcheck entry fails this suite. Inputs are seeded and kept away from
//! kinks, ties and singularities (unless an entry says why a tie is honest to check).
//!
//! Edge points. The section "edge points" below checks those where a central difference is
//! honest (a symmetric kink gives 0, a two-way tie 1/2, a smooth edge its derivative): std of a
//! constant slice and of one element with correction 0 (0), abs at 0 (0), amax/amin over a
//! two-way tie (1/2 each), pow at a zero base with a positive exponent (0 for both inputs) and
//! with exponent 0 (0), powf(x, 0) at 0 (0), clamp with min > max and min == max (0), softplus
//! at 0 (1/2) and across its threshold, and 0-d tensors reduced over dim 0 / -1. The one-sided
//! edges, where a central difference is not the derivative PyTorch defines, are checked
//! against PyTorch's numbers in `tests/edges.rs`: relu at 0 (0) and NaN (1), leaky_relu at 0
//! (slope), clamp at its bounds (0, PyTorch 2.15) and at NaN, maximum/minimum ties (1/2) and
//! NaN (1 to both), amax ties among three (1/3) and NaN, max(dim) (one index, via argmax +
//! gather), sqrt / log / recip / div at 0 (±inf, NaN), pow(0, 0), pow(0, -1), pow(0, 0.5)
//! and negative bases, std / var with correction >= n, softplus far out (log1p) and its
//! second derivative, logsumexp / softmax of infinities, and where.

use nabla_core::{
    assert_gradcheck, gradcheck, index_tensor, AvgPool1dOptions, AvgPool2dOptions, Conv1dOptions,
    Conv2dOptions, ConvTranspose2dOptions, DType, GradcheckOptions, GradcheckReport,
    MaxPool1dOptions, MaxPool2dOptions, Mt19937, Result, RnnNonlinearity, Tensor, Var,
    PRIMITIVE_OPS,
};
use std::collections::BTreeSet;

mod common;
use common::t;

type CaseFn = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

/// One row of the table.
struct Case {
    name: &'static str,
    /// The primitive ops (names from `PRIMITIVE_OPS`) whose backward rules this entry exercises.
    covers: &'static [&'static str],
    inputs: Vec<Tensor>,
    f: CaseFn,
    opts: GradcheckOptions,
}

fn case(
    name: &'static str,
    covers: &'static [&'static str],
    inputs: Vec<Tensor>,
    f: impl Fn(&[Tensor]) -> Result<Tensor> + 'static,
) -> Case {
    Case {
        name,
        covers,
        inputs,
        f: Box::new(f),
        opts: GradcheckOptions::default(),
    }
}

impl Case {
    /// Non-default options; every caller states why in a comment.
    fn opts(mut self, opts: GradcheckOptions) -> Case {
        self.opts = opts;
        self
    }
}

// ----- seeded inputs -----

fn randn(shape: &[usize], rng: &mut Mt19937) -> Tensor {
    Tensor::randn(shape, DType::F64, rng).unwrap()
}

fn uniform(shape: &[usize], lo: f64, hi: f64, rng: &mut Mt19937) -> Tensor {
    Tensor::uniform(shape, lo, hi, DType::F64, rng).unwrap()
}

/// Values whose magnitude is in [lo, hi] with a random sign: away from a kink at 0.
fn away_from_zero(shape: &[usize], lo: f64, hi: f64, rng: &mut Mt19937) -> Tensor {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|_| {
            let m = lo + (hi - lo) * rng.random();
            if rng.random() < 0.5 {
                -m
            } else {
                m
            }
        })
        .collect();
    t(v, shape)
}

/// Distinct values, pairwise at least 0.3 apart (no ties for max/min/maximum), shuffled.
fn distinct(shape: &[usize], rng: &mut Mt19937) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..n)
        .map(|i| i as f64 * 0.35 - n as f64 * 0.175 + 0.02 * rng.random())
        .collect();
    rng.shuffle(&mut v);
    t(v, shape)
}

fn idx(v: &[i64], shape: &[usize]) -> Tensor {
    index_tensor(v, shape).unwrap()
}

/// The gradient of `sum(f(xs[..last]) * xs[last])` with respect to `xs[wrt]`, computed with
/// `create_graph`: a differentiable function of all inputs whose output comes from the
/// backward rule of the op in `f` (how the table reaches backward-only primitives).
fn grad_of(xs: &[Tensor], wrt: usize, f: impl Fn(&[Tensor]) -> Result<Tensor>) -> Result<Tensor> {
    let mut xs = xs.to_vec();
    if !xs[wrt].requires_grad() {
        xs[wrt] = Var::new(&xs[wrt]).as_tensor();
    }
    let v = xs.pop().expect("a cotangent input");
    let gs = f(&xs)?.mul(&v)?.sum()?.backward_with(None, true)?;
    Ok(gs
        .get(&xs[wrt])
        .cloned()
        .unwrap_or_else(|| xs[wrt].zeros_like()))
}

/// The table: every differentiable op, with broadcasting, size-1 and size-0 dims and
/// non-contiguous inputs. An entry is one line where it fits; otherwise its name and covers
/// lead and its inputs and function follow, indented under the name (rustfmt would spread
/// each entry over six lines or more).
#[rustfmt::skip]
#[allow(clippy::vec_init_then_push)] // one push per entry, section by section
fn table() -> Vec<Case> {
    let r = &mut Mt19937::new(20240601);
    let mut c: Vec<Case> = Vec::new();

    // ---------- unary ----------
    c.push(case("neg", &["neg"], vec![randn(&[2, 3], r)], |x| x[0].neg()));
    c.push(case("exp of a transposed view", &["exp", "permute"],
                vec![randn(&[3, 4], r)], |x| x[0].t()?.exp()));
    c.push(case("log of positives", &["log"], vec![uniform(&[4], 0.3, 3.0, r)], |x| x[0].log()));
    c.push(case("sqrt of positives", &["sqrt"],
                vec![uniform(&[2, 3], 0.3, 3.0, r)], |x| x[0].sqrt()));
    c.push(case("tanh of a permuted view", &["tanh", "permute"],
                vec![randn(&[2, 3, 2], r)], |x| x[0].permute(&[2, 0, 1])?.tanh()));
    c.push(case("sin", &["sin"], vec![uniform(&[2, 3], -3.0, 3.0, r)], |x| x[0].sin()));
    c.push(case("cos of a narrowed view", &["cos", "narrow"],
                vec![uniform(&[3, 4], -3.0, 3.0, r)], |x| x[0].narrow(1, 1, 2)?.cos()));
    c.push(case("abs away from 0", &["abs"],
                vec![away_from_zero(&[2, 3], 0.1, 2.0, r)], |x| x[0].abs()));
    c.push(case("recip away from 0", &["recip"],
                vec![away_from_zero(&[2, 3], 0.4, 2.0, r)], |x| x[0].recip()));
    c.push(case("sigmoid, both branches", &["sigmoid"],
                vec![uniform(&[2, 4], -6.0, 6.0, r)], |x| x[0].sigmoid()));
    c.push(case("relu away from 0", &["relu"],
                vec![away_from_zero(&[3, 3], 0.1, 2.0, r)], |x| x[0].relu()));
    c.push(case("erf, both series and continued fraction", &["erf"],
                vec![uniform(&[2, 5], -2.5, 2.5, r)], |x| x[0].erf()));
    c.push(case("leaky_relu away from 0", &["leaky_relu"],
                vec![away_from_zero(&[2, 3], 0.1, 2.0, r)], |x| x[0].leaky_relu(0.1)));
    c.push(case("affine", &["affine"], vec![randn(&[2, 3], r)], |x| x[0].affine(1.5, -0.3)));
    c.push(case("scalar arithmetic", &["affine"],
                vec![randn(&[4], r)],
                |x| x[0].add_scalar(2.0)?.sub_scalar(0.5)?.mul_scalar(-3.0)?.div_scalar(4.0)));
    c.push(case("scalar minus tensor", &["affine", "mul"], vec![randn(&[2, 3], r)],
                |x| x[0].rsub_scalar(1.0)?.mul(&(0.25 - &x[0])?)));
    c.push(case("powf 3 (cube)", &["powf"], vec![randn(&[2, 3], r)], |x| x[0].powf(3.0)));
    c.push(case("powf 2 (square kernel) and sqr", &["powf", "add"],
                vec![randn(&[2, 3], r)], |x| x[0].powf(2.0)?.add(&x[0].sqr()?)));
    c.push(case("powf -1.5 of positives", &["powf"],
                vec![uniform(&[5], 0.5, 2.0, r)], |x| x[0].powf(-1.5)));
    c.push(case("powf 0.5 of positives", &["powf"],
                vec![uniform(&[5], 0.5, 2.0, r)], |x| x[0].powf(0.5)));
    // below, inside and above [-0.5, 0.7], at least 0.1 from either bound
    c.push(case("clamp away from the bounds", &["clamp"],
                vec![t(vec![-1.5, -0.6, -0.4, 0.0, 0.3, 0.6, 0.8, 1.7], &[2, 4])],
                |x| x[0].clamp(-0.5, 0.7)));
    c.push(case("one-sided clamp", &["clamp"],
                vec![away_from_zero(&[6], 0.1, 2.0, r)], |x| x[0].clamp(0.0, f64::INFINITY)));
    c.push(case("gelu (exact, fused)", &["gelu"],
                vec![uniform(&[2, 4], -3.0, 3.0, r)], |x| x[0].gelu()));
    c.push(case("gelu of a transposed view, far tails", &["gelu", "permute", "mul"],
                vec![uniform(&[3, 2], -9.0, 9.0, r), randn(&[2, 3], r)],
                |x| x[0].t()?.gelu()?.mul(&x[1])));
    c.push(case("gelu_tanh (composite)", &["mul", "affine", "powf", "add", "tanh"],
                vec![uniform(&[2, 4], -3.0, 3.0, r)], |x| x[0].gelu_tanh()));
    c.push(case("silu (composite)", &["mul", "sigmoid"],
                vec![uniform(&[2, 4], -4.0, 4.0, r)], |x| x[0].silu()));
    c.push(case("softplus", &["softplus"],
                vec![away_from_zero(&[2, 4], 0.1, 5.0, r)], |x| x[0].softplus()));
    // smooth through 0; both sides of the threshold (beta x = 6.2 > 5 is x itself), far from it
    c.push(case("softplus at 0, beta 2, both sides of threshold 5", &["softplus"],
                vec![t(vec![-3.0, -0.5, 0.0, 0.7, 2.0, 3.1], &[2, 3])],
                |x| x[0].softplus_with(2.0, 5.0)));

    // ---------- binary, with broadcasting ----------
    c.push(case("add same shape", &["add"],
                vec![randn(&[2, 3], r), randn(&[2, 3], r)], |x| x[0].add(&x[1])));
    c.push(case("add [2,3] + [3]", &["add"],
                vec![randn(&[2, 3], r), randn(&[3], r)], |x| x[0].add(&x[1])));
    c.push(case("add [] + [2,3]", &["add"],
                vec![randn(&[], r), randn(&[2, 3], r)], |x| x[0].add(&x[1])));
    c.push(case("sub [2,1] - [1,4]", &["sub"],
                vec![randn(&[2, 1], r), randn(&[1, 4], r)], |x| x[0].sub(&x[1])));
    c.push(case("sub [3] - [2,3]", &["sub"],
                vec![randn(&[3], r), randn(&[2, 3], r)], |x| x[0].sub(&x[1])));
    c.push(case("mul [2,3] * []", &["mul"],
                vec![randn(&[2, 3], r), randn(&[], r)], |x| x[0].mul(&x[1])));
    c.push(case("mul transposed * [3,1]", &["mul", "permute"],
                vec![randn(&[2, 3], r), randn(&[3, 1], r)], |x| x[0].t()?.mul(&x[1])));
    c.push(case("mul of a tensor by itself", &["mul"], vec![randn(&[4], r)], |x| x[0].mul(&x[0])));
    c.push(case("div [2,3] / [3]", &["div"],
                vec![randn(&[2, 3], r), away_from_zero(&[3], 0.5, 2.0, r)], |x| x[0].div(&x[1])));
    c.push(case("div [2,1] / [1,4]", &["div"],
                vec![randn(&[2, 1], r), away_from_zero(&[1, 4], 0.5, 2.0, r)],
                |x| x[0].div(&x[1])));
    c.push(case("div [] / [2,2]", &["div"],
                vec![randn(&[], r), away_from_zero(&[2, 2], 0.5, 2.0, r)], |x| x[0].div(&x[1])));
    {
        let d = distinct(&[4, 3], r);
        let a = d.narrow(0, 0, 2).unwrap().contiguous().unwrap();
        let b = d.narrow(0, 2, 2).unwrap().contiguous().unwrap();
        c.push(case("maximum without ties", &["maximum"],
                    vec![a.clone(), b.clone()], |x| x[0].maximum(&x[1])));
        c.push(case("minimum without ties", &["minimum"], vec![a, b], |x| x[0].minimum(&x[1])));
    }
    {
        let d = distinct(&[10], r);
        let a = d.narrow(0, 0, 2).unwrap().reshape(&[2, 1]).unwrap();
        let b = d.narrow(0, 2, 4).unwrap().reshape(&[1, 4]).unwrap();
        let (a, b) = (a.contiguous().unwrap(), b.contiguous().unwrap());
        c.push(case("maximum [2,1] with [1,4]", &["maximum"],
                    vec![a.clone(), b.clone()], |x| x[0].maximum(&x[1])));
        c.push(case("minimum [2,1] with [1,4]", &["minimum"], vec![a, b], |x| x[0].minimum(&x[1])));
    }
    // At an exact tie the rule splits the gradient evenly; a central difference at a tie of two
    // values also gives exactly 1/2 per side, so this check is honest.
    c.push(case("maximum/minimum at exact ties split evenly", &["maximum", "minimum", "add"],
                vec![t(vec![0.5, -1.0, 2.0], &[3]), t(vec![0.5, -1.0, 1.0], &[3])],
                |x| x[0].maximum(&x[1])?.add(&x[0].minimum(&x[1])?.mul_scalar(3.0)?)));
    c.push(case("maximum with a scalar", &["maximum"],
                vec![distinct(&[2, 3], r), t(vec![0.13], &[])], |x| x[0].maximum(&x[1])));
    c.push(case("pow positive base, both inputs", &["pow"],
                vec![uniform(&[2, 3], 0.5, 2.0, r), randn(&[2, 3], r)], |x| x[0].pow(&x[1])));
    c.push(case("pow [2,3] ^ [3]", &["pow"],
                vec![uniform(&[2, 3], 0.5, 2.0, r), randn(&[3], r)], |x| x[0].pow(&x[1])));
    c.push(case("pow [] ^ [2,2]", &["pow"],
                vec![uniform(&[], 0.5, 2.0, r), randn(&[2, 2], r)], |x| x[0].pow(&x[1])));
    {
        let m = t(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], &[2, 3]);
        c.push(case("where [2,3] mask, a [2,3], b [3]", &["where"],
                    vec![randn(&[2, 3], r), randn(&[3], r)],
                    move |x| Tensor::where_cond(&m, &x[0], &x[1])));
        let m = idx(&[0, 1], &[2, 1]);
        c.push(case("where i64 [2,1] mask, a [], b [1,3]", &["where"],
                    vec![randn(&[], r), randn(&[1, 3], r)],
                    move |x| Tensor::where_cond(&m, &x[0], &x[1])));
        c.push(case("where with a mask computed from the input", &["where", "mul"],
                    vec![away_from_zero(&[2, 3], 0.1, 2.0, r)],
                    |x| {
                        let m = x[0].gt_scalar(0.0)?;
                        Tensor::where_cond(&m, &x[0].mul(&x[0])?, &x[0].mul_scalar(-2.0)?)
                    }));
    }

    // ---------- reductions ----------
    c.push(case("sum all", &["sum", "reshape"], vec![randn(&[2, 3], r)], |x| x[0].sum()));
    c.push(case("sum dim 1", &["sum", "reshape"],
                vec![randn(&[2, 3], r)], |x| x[0].sum_dims(&[1], false)));
    c.push(case("sum dims 0,2 keepdim", &["sum"],
                vec![randn(&[2, 3, 4], r)], |x| x[0].sum_dims(&[0, 2], true)));
    c.push(case("sum dim -1 of a transposed view", &["sum", "reshape", "permute"],
                vec![randn(&[3, 2], r)], |x| x[0].t()?.sum_dims(&[-1], false)));
    c.push(case("sum over a size-1 dim", &["sum", "reshape"],
                vec![randn(&[3, 1, 2], r)], |x| x[0].sum_dims(&[1], false)));
    c.push(case("sum over a size-0 dim", &["sum", "reshape", "add"],
                vec![randn(&[0, 3], r), randn(&[3], r)],
                |x| x[0].sum_dims(&[0], false)?.add(&x[1])));
    c.push(case("sum keeping a size-0 dim", &["sum", "reshape", "add"],
                vec![randn(&[3, 0], r), randn(&[1], r)],
                |x| x[0].sum_dims(&[0], false)?.add(&x[1])));
    c.push(case("mean all", &["sum", "reshape", "affine"],
                vec![randn(&[3, 4], r)], |x| x[0].mean()));
    c.push(case("mean dim 0 keepdim", &["sum", "affine"],
                vec![randn(&[3, 4], r)], |x| x[0].mean_dims(&[0], true)));
    c.push(case("max all", &["max", "reshape"], vec![distinct(&[3, 4], r)], |x| x[0].max()));
    c.push(case("max dim 1", &["max", "reshape"],
                vec![distinct(&[3, 4], r)], |x| x[0].max_dims(&[1], false)));
    c.push(case("max dims 0,2 keepdim of a permuted view", &["max", "permute"],
                vec![distinct(&[3, 2, 4], r)],
                |x| x[0].permute(&[1, 0, 2])?.max_dims(&[0, 2], true)));
    c.push(case("min all", &["min", "reshape"], vec![distinct(&[3, 4], r)], |x| x[0].min()));
    c.push(case("min dim -1 keepdim", &["min"],
                vec![distinct(&[3, 4], r)], |x| x[0].min_dims(&[-1], true)));
    c.push(case("min dim 0", &["min", "reshape"],
                vec![distinct(&[3, 1, 2], r)], |x| x[0].min_dims(&[0], false)));
    c.push(case("var all (unbiased)", &["sum", "sub", "powf", "affine", "reshape"],
                vec![randn(&[3, 4], r)], |x| x[0].var()));
    c.push(case("var dim 1 keepdim", &["sum", "sub", "powf", "affine"],
                vec![randn(&[3, 4], r)], |x| x[0].var_dims(&[1], true, 1)));
    c.push(case("var dim 0 biased", &["sum", "sub", "powf", "affine", "reshape"],
                vec![randn(&[3, 4], r)], |x| x[0].var_dims(&[0], false, 0)));
    c.push(case("std all", &["sqrt", "mul"], vec![randn(&[3, 4], r)], |x| x[0].std()));
    c.push(case("std dims 0,2", &["sqrt", "mul", "sum", "sub", "powf", "affine"],
                vec![randn(&[2, 3, 4], r)], |x| x[0].std_dims(&[0, 2], false, 1)));
    c.push(case("logsumexp dim 1", &["log", "exp", "sum", "sub", "add", "reshape"],
                vec![randn(&[3, 4], r)], |x| x[0].logsumexp(&[1], false)));
    c.push(case("logsumexp dims 0,1 keepdim", &["log", "exp", "sum", "sub", "add"],
                vec![randn(&[2, 3, 2], r)], |x| x[0].logsumexp(&[0, 1], true)));
    c.push(case("logsumexp of large values", &["log", "exp", "sum", "sub", "add", "reshape"],
                vec![uniform(&[2, 4], 300.0, 303.0, r)], |x| x[0].logsumexp(&[-1], false)));
    c.push(case("softmax dim -1", &["exp", "sub", "div", "sum"],
                vec![randn(&[3, 4], r)], |x| x[0].softmax(-1)));
    c.push(case("softmax dim 0 of a transposed view", &["exp", "sub", "div", "sum", "permute"],
                vec![randn(&[4, 3], r)], |x| x[0].t()?.softmax(0)));
    c.push(case("log_softmax dim 1", &["log_softmax"],
                vec![randn(&[3, 4], r)], |x| x[0].log_softmax(1)));
    c.push(case("log_softmax dim 0 of a 3-d tensor (strided slices)", &["log_softmax"],
                vec![randn(&[3, 2, 4], r)], |x| x[0].log_softmax(0)));
    c.push(case("log_softmax dim -1 of a transposed view", &["log_softmax", "permute"],
                vec![randn(&[4, 3], r)], |x| x[0].t()?.log_softmax(-1)));
    // its rule as built for a second-order graph (the first-order one is a fused pass)
    c.push(case("log_softmax second order", &["log_softmax", "exp", "mul", "sub", "sum"],
                vec![randn(&[3, 4], r), randn(&[3, 4], r)],
                |x| grad_of(x, 0, |y| y[0].log_softmax(1))));

    c.push(case("rsqrt of positives", &["rsqrt"],
                vec![uniform(&[2, 3], 0.3, 3.0, r)], |x| x[0].rsqrt()));
    c.push(case("cumsum dim 1 of a 3-d tensor", &["cumsum"],
                vec![randn(&[2, 3, 4], r)], |x| x[0].cumsum(1)));
    c.push(case("cumsum dim -1 of a transposed view", &["cumsum", "permute"],
                vec![randn(&[4, 3], r)], |x| x[0].t()?.cumsum(-1)));
    // through the rule (the reverse sum) and its rule in turn
    c.push(case("cumsum second order", &["cumsum", "mul", "sum"],
                vec![randn(&[3, 4], r), randn(&[3, 4], r)],
                |x| grad_of(x, 0, |v| v[0].cumsum(0)?.sqr())));
    c.push(case("tril diagonal -1 and triu diagonal 2, batched", &["tril_triu", "add"],
                vec![randn(&[2, 3, 4], r)], |x| x[0].tril(-1)?.add(&x[0].triu(2)?)));
    c.push(case("tril of a transposed view", &["tril_triu", "permute"],
                vec![randn(&[3, 4], r)], |x| x[0].t()?.tril(0)));
    {
        let m = idx(&[1, 0, 0, 1, 1, 0], &[2, 3]);
        c.push(case("masked_fill (composite of where)", &["where"],
                    vec![randn(&[2, 3], r)], move |x| x[0].masked_fill(&m, -2.5)));
    }
    // distinct values: the chosen entries are locally constant
    c.push(case("topk values (composite of gather)", &["gather"],
                vec![distinct(&[3, 5], r)], |x| Ok(x[0].topk(2, 1, true, true)?.0)));
    c.push(case("topk smallest along dim 0", &["gather"],
                vec![distinct(&[4, 3], r)], |x| Ok(x[0].topk(3, 0, false, true)?.0)));

    // ---------- edge points (PyTorch's values there are in tests/edges.rs) ----------
    // A constant row: std(x ± h e_i) is the same for +h and -h, so the central difference is 0,
    // PyTorch's gradient there (not 0 * inf). One element with correction 0: std is always 0.
    c.push(case("std of a constant row and of single elements (correction 0)", &["mul", "add"],
                vec![t(vec![2.0, 2.0, 2.0, 1.0, 2.0, 4.0], &[2, 3]), t(vec![0.3, -1.2], &[2, 1])],
                |x| x[0].std_dims(&[1], false, 1)?.add(&x[1].std_dims(&[1], false, 0)?)));
    // a symmetric kink: the central difference at 0 is 0, PyTorch's gradient
    c.push(case("abs at exactly 0", &["abs"],
                vec![t(vec![0.0, 1.5, -0.7, 0.0], &[4])], |x| x[0].abs()));
    // a two-way tie: +h raises the max by h, -h leaves it, so the central difference is 1/2
    c.push(case("max/min over two-way ties split evenly", &["max", "min", "reshape", "add"],
                vec![t(vec![1.0, 3.0, 3.0, 2.0, 0.5, 2.0], &[2, 3])],
                |x| {
                    x[0].max_dims(&[1], false)?
                        .add(&x[0].min_dims(&[1], false)?.mul_scalar(2.0)?)
                }));
    // 0^(b ± h) = 0 for b > 0, and (±h)^2, (±h)^3 are (nearly) symmetric: both gradients 0
    c.push(case("pow at a zero base with positive exponents", &["pow"],
                vec![t(vec![0.0, 0.0, 1.3], &[3]), t(vec![2.0, 3.0, 0.7], &[3])],
                |x| x[0].pow(&x[1])));
    {
        // (±h)^0 = 1: 0 w.r.t. the base at exponent 0 (the exponent held constant here: 0^(±h)
        // is 0 or inf, no derivative)
        let b = t(vec![0.0, 0.0, 2.0], &[3]);
        c.push(case("pow at a zero base with exponent 0 (exponent constant)", &["pow"],
                    vec![t(vec![0.0, 1.5, 0.0], &[3])], move |x| x[0].pow(&b)));
    }
    c.push(case("powf 0 at 0 and elsewhere", &["powf"],
                vec![t(vec![0.0, -1.5, 2.0], &[3])], |x| x[0].powf(0.0)));
    c.push(case("clamp with min > max and min == max is constant", &["clamp", "add"],
                vec![randn(&[2, 3], r)], |x| x[0].clamp(1.0, 0.0)?.add(&x[0].clamp(0.25, 0.25)?)));
    c.push(case("0-d tensors reduced over dim 0 and -1",
                &["add", "sum", "max", "min", "exp", "log", "sub", "div", "affine", "mul"],
                vec![t(vec![0.7], &[])],
                |x| {
                    let s = &x[0];
                    let parts = [
                        s.softmax(0)?,
                        s.log_softmax(-1)?,
                        s.sum_dims(&[0], false)?,
                        s.mean_dims(&[-1], true)?.mul_scalar(2.0)?,
                        s.max_dims(&[0], false)?.sqr()?,
                        s.min_dims(&[-1], true)?.exp()?,
                        s.logsumexp(&[0], false)?.sin()?,
                        s.transpose(0, -1)?.mul_scalar(-1.5)?,
                        s.std_dims(&[0], false, 0)?,
                        s.var_dims(&[-1], false, 0)?,
                    ];
                    let mut y = parts[0].clone();
                    for p in &parts[1..] {
                        y = y.add(p)?;
                    }
                    Ok(y)
                }));

    // ---------- shape ----------
    c.push(case("reshape [2,3,4] -> [6,4]", &["reshape"],
                vec![randn(&[2, 3, 4], r)], |x| x[0].reshape(&[6, 4])));
    c.push(case("reshape of a transposed view (copies)", &["reshape", "contiguous", "permute"],
                vec![randn(&[3, 4], r)], |x| x[0].t()?.reshape(&[12])));
    c.push(case("reshape with -1, flatten, unsqueeze, squeeze", &["reshape", "mul"],
                vec![randn(&[2, 3, 2], r)],
                |x| {
                    let a = x[0].reshape_infer(&[-1, 2])?.unsqueeze(1)?.squeeze(1)?;
                    a.mul(&x[0].flatten(1, 2)?.reshape(&[6, 2])?)
                }));
    c.push(case("permute [2,0,1]", &["permute"],
                vec![randn(&[2, 3, 4], r)], |x| x[0].permute(&[2, 0, 1])));
    c.push(case("transpose(0, 2)", &["permute"],
                vec![randn(&[2, 3, 2], r)], |x| x[0].transpose(0, 2)));
    c.push(case("t", &["permute"], vec![randn(&[2, 3], r)], |x| x[0].t()));
    c.push(case("broadcast_to [3] -> [2,3]", &["expand"],
                vec![randn(&[3], r)], |x| x[0].broadcast_to(&[2, 3])));
    c.push(case("expand [2,1] -> [2,4]", &["expand"],
                vec![randn(&[2, 1], r)], |x| x[0].expand(&[2, 4])));
    c.push(case("broadcast_to [] -> [2,3]", &["expand"],
                vec![randn(&[], r)], |x| x[0].broadcast_to(&[2, 3])));
    c.push(case("broadcast_to of a transposed view", &["expand", "permute"],
                vec![randn(&[1, 3], r)], |x| x[0].t()?.broadcast_to(&[2, 3, 4])));
    c.push(case("narrow dim 1", &["narrow"], vec![randn(&[2, 5], r)], |x| x[0].narrow(1, 1, 3)));
    c.push(case("narrow to length 0", &["narrow", "sum", "reshape", "add"],
                vec![randn(&[2, 5], r), randn(&[2], r)],
                |x| x[0].narrow(1, 2, 0)?.sum_dims(&[1], false)?.add(&x[1])));
    c.push(case("narrow of a permuted view", &["narrow", "permute"],
                vec![randn(&[2, 3, 4], r)],
                |x| x[0].permute(&[2, 1, 0])?.narrow(0, 1, 2)?.narrow(2, 1, 1)));
    c.push(case("contiguous of a transposed view", &["contiguous", "permute"],
                vec![randn(&[3, 4], r)], |x| x[0].t()?.contiguous()));
    c.push(case("pad both dims with a value", &["pad"],
                vec![randn(&[2, 3], r)], |x| x[0].pad(&[(1, 2), (0, 1)], 0.5)));
    c.push(case("pad leading dim only, of a transposed view", &["pad", "permute"],
                vec![randn(&[2, 3], r)], |x| x[0].t()?.pad(&[(2, 0)], 0.0)));
    c.push(case("cat dim 0", &["cat"],
                vec![randn(&[2, 3], r), randn(&[1, 3], r)], |x| Tensor::cat(&[&x[0], &x[1]], 0)));
    c.push(case("cat dim 1 of three, one transposed and one empty", &["cat", "permute"],
                vec![randn(&[2, 2], r), randn(&[3, 2], r), randn(&[2, 0], r)],
                |x| Tensor::cat(&[&x[0], &x[1].t()?, &x[2]], 1)));
    c.push(case("cat a tensor with itself", &["cat"],
                vec![randn(&[2, 2], r)], |x| Tensor::cat(&[&x[0], &x[0]], -1)));
    c.push(case("stack dim 0", &["cat", "reshape"],
                vec![randn(&[2, 3], r), randn(&[2, 3], r)], |x| Tensor::stack(&[&x[0], &x[1]], 0)));
    c.push(case("stack dim -1", &["cat", "reshape"],
                vec![randn(&[2, 3], r), randn(&[2, 3], r), randn(&[2, 3], r)],
                |x| Tensor::stack(&[&x[0], &x[1], &x[2]], -1)));
    c.push(case("split into uneven pieces", &["narrow", "cat", "exp", "sin"],
                vec![randn(&[2, 5], r)],
                |x| {
                    let p = x[0].split(2, 1)?;
                    assert_eq!(p.len(), 3);
                    Tensor::cat(&[&p[0].exp()?, &p[1].sin()?, &p[2]], 1)
                }));
    c.push(case("chunk", &["narrow", "cat", "mul", "affine"],
                vec![randn(&[5, 2], r)],
                |x| {
                    let p = x[0].chunk(3, 0)?;
                    assert_eq!(p.len(), 3);
                    Tensor::cat(&[&p[0].mul(&p[1])?, &p[2].mul_scalar(3.0)?], 0)
                }));
    {
        let i = idx(&[2, 0, 2, 1], &[4]);
        c.push(case("index_select dim 0 with repeats", &["index_select"],
                    vec![randn(&[3, 2], r)], move |x| x[0].index_select(0, &i)));
        let i = idx(&[3, 1], &[2]);
        c.push(case("index_select dim -1 of a transposed view", &["index_select", "permute"],
                    vec![randn(&[4, 3], r)], move |x| x[0].t()?.index_select(-1, &i)));
        let i = idx(&[0, 0, 2, 1, 2, 2], &[2, 3]);
        c.push(case("gather dim 1 with repeats", &["gather"],
                    vec![randn(&[2, 3], r)], move |x| x[0].gather(1, &i)));
        let i = idx(&[1, 0, 1, 2], &[2, 2]);
        c.push(case("gather dim 0, index smaller than input", &["gather"],
                    vec![randn(&[3, 3], r)], move |x| x[0].gather(0, &i)));
        let i = idx(&[0, 3, 3, 1, 2, 2], &[3, 2]);
        c.push(case("scatter_add dim 1 with duplicates", &["scatter_add"],
                    vec![randn(&[3, 4], r), randn(&[3, 2], r)],
                    move |x| x[0].scatter_add(1, &i, &x[1])));
        let i = idx(&[2, 0, 1], &[1, 3]);
        c.push(case("scatter_add dim 0 into a transposed view", &["scatter_add", "permute"],
                    vec![randn(&[3, 3], r), randn(&[1, 3], r)],
                    move |x| x[0].t()?.scatter_add(0, &i, &x[1])));
        let i = idx(&[3, 0, 3], &[3]);
        c.push(case("index_add dim 0 with duplicates", &["index_add"],
                    vec![randn(&[4, 2], r), randn(&[3, 2], r)],
                    move |x| x[0].index_add(0, &i, &x[1])));
        let i = idx(&[1, 1], &[2]);
        c.push(case("index_add dim 1 of a transposed source", &["index_add", "permute"],
                    vec![randn(&[2, 3], r), randn(&[2, 2], r)],
                    move |x| x[0].index_add(1, &i, &x[1].t()?)));
    }

    // ---------- matmul ----------
    c.push(case("matmul 1-d . 1-d", &["matmul", "reshape", "expand"],
                vec![randn(&[4], r), randn(&[4], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul 1-d . 2-d", &["matmul", "reshape", "expand"],
                vec![randn(&[3], r), randn(&[3, 2], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul 2-d . 1-d", &["matmul", "reshape", "expand"],
                vec![randn(&[2, 3], r), randn(&[3], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul 2-d", &["matmul", "expand"],
                vec![randn(&[2, 3], r), randn(&[3, 4], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul of transposed views", &["matmul", "permute", "expand"],
                vec![randn(&[3, 2], r), randn(&[4, 3], r)], |x| x[0].t()?.matmul(&x[1].t()?)));
    c.push(case("matmul batched [2,1,3,4] x [5,4,2]", &["matmul", "expand"],
                vec![randn(&[2, 1, 3, 4], r), randn(&[5, 4, 2], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul 3-d . 1-d", &["matmul", "reshape", "expand"],
                vec![randn(&[2, 2, 3], r), randn(&[3], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul 1-d . 3-d", &["matmul", "reshape", "expand"],
                vec![randn(&[3], r), randn(&[2, 3, 2], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul with size-1 dims", &["matmul", "expand"],
                vec![randn(&[1, 1, 3], r), randn(&[2, 3, 1], r)], |x| x[0].matmul(&x[1])));
    c.push(case("matmul with k = 0", &["matmul", "expand", "add"],
                vec![randn(&[2, 0], r), randn(&[0, 3], r), randn(&[2, 3], r)],
                |x| x[0].matmul(&x[1])?.add(&x[2])));
    c.push(case("matmul with an empty batch", &["matmul", "expand", "sum", "reshape", "add"],
                vec![randn(&[0, 2, 3], r), randn(&[3, 4], r), randn(&[2, 4], r)],
                |x| x[0].matmul(&x[1])?.sum_dims(&[0], false)?.add(&x[2])));
    c.push(case("matmul batched permuted lhs", &["matmul", "permute", "expand"],
                vec![randn(&[3, 2, 2], r), randn(&[2, 2, 3], r)],
                |x| x[0].permute(&[1, 0, 2])?.matmul(&x[1])));

    // ---------- convolutions ----------
    let cv = Conv2dOptions::default();
    c.push(case("conv2d with bias", &["conv2d"],
                vec![randn(&[2, 3, 5, 5], r), randn(&[4, 3, 3, 3], r), randn(&[4], r)],
                move |x| x[0].conv2d(&x[1], Some(&x[2]), cv)));
    c.push(case("conv2d stride (2, 1), padding (1, 2), no bias", &["conv2d"],
                vec![randn(&[1, 2, 6, 5], r), randn(&[3, 2, 3, 2], r)],
                move |x| x[0].conv2d(&x[1], None, cv.with_stride(2, 1).with_padding(1, 2))));
    c.push(case("conv2d groups 2, dilation (2, 1), padding, bias", &["conv2d"],
                vec![randn(&[1, 4, 7, 6], r), randn(&[4, 2, 2, 3], r), randn(&[4], r), ],
                move |x| {
                    let o = cv.with_groups(2).with_dilation(2, 1).with_padding(1, 2);
                    x[0].conv2d(&x[1], Some(&x[2]), o)
                }));
    c.push(case("conv2d depthwise, stride 2, of a transposed input", &["conv2d", "permute"],
                vec![randn(&[2, 3, 6, 5], r), randn(&[3, 1, 3, 3], r)],
                move |x| {
                    let o = cv.with_groups(3).with_stride(2, 2).with_padding(1, 1);
                    x[0].transpose(2, 3)?.conv2d(&x[1], None, o)
                }));
    c.push(case("conv2d 1x1 with bias", &["conv2d"],
                vec![randn(&[2, 3, 3, 4], r), randn(&[2, 3, 1, 1], r), randn(&[2], r)],
                move |x| x[0].conv2d(&x[1], Some(&x[2]), cv)));
    c.push(case("conv2d inside tanh (second order through every conv rule)", &["conv2d", "tanh"],
                vec![randn(&[2, 2, 4, 4], r), randn(&[3, 2, 2, 2], r).mul_scalar(0.5).unwrap()],
                move |x| x[0].conv2d(&x[1], None, cv.with_padding(1, 0))?.tanh()));
    // a positive input; output channel 0 has positive weights (every output > 0), channel 1
    // negative ones (every output < 0, gradient 0): no output near the kink
    c.push(case("conv2d_relu stride (1, 2), bias, one channel on each side of 0", &["conv2d_relu"],
                vec![uniform(&[2, 2, 5, 6], 0.5, 1.5, r),
                     Tensor::cat(&[&uniform(&[1, 2, 2, 3], 0.2, 1.0, r),
                                   &uniform(&[1, 2, 2, 3], -1.0, -0.2, r)], 0).unwrap(),
                     uniform(&[2], -0.1, 0.1, r)],
                move |x| x[0].conv2d_relu(&x[1], Some(&x[2]), cv.with_stride(1, 2))));
    c.push(case("conv1d stride 2, padding 1, dilation 2, groups 2, bias", &["conv2d", "reshape"],
                vec![randn(&[2, 4, 9], r), randn(&[4, 2, 3], r), randn(&[4], r)],
                |x| {
                    let o = Conv1dOptions::default().with_stride(2).with_padding(1)
                        .with_dilation(2).with_groups(2);
                    x[0].conv1d(&x[1], Some(&x[2]), o)
                }));
    let ct = ConvTranspose2dOptions::default();
    c.push(case("conv_transpose2d with bias", &["conv_transpose2d"],
                vec![randn(&[2, 3, 3, 3], r), randn(&[3, 2, 3, 3], r), randn(&[2], r)],
                move |x| x[0].conv_transpose2d(&x[1], Some(&x[2]), ct)));
    c.push(case("conv_transpose2d stride 2, padding 1, output_padding (1, 0), groups 2",
                &["conv_transpose2d"],
                vec![randn(&[1, 4, 3, 3], r), randn(&[4, 1, 3, 2], r)],
                move |x| {
                    let o = ct.with_stride(2, 2).with_padding(1, 1).with_output_padding(1, 0)
                        .with_groups(2);
                    x[0].conv_transpose2d(&x[1], None, o)
                }));
    c.push(case("conv_transpose2d dilation 2, output_padding 1 >= stride 1", &["conv_transpose2d"],
                vec![randn(&[1, 2, 3, 3], r), randn(&[2, 2, 2, 2], r), randn(&[2], r)],
                move |x| {
                    let o = ct.with_dilation(2, 2).with_output_padding(1, 1);
                    x[0].conv_transpose2d(&x[1], Some(&x[2]), o)
                }));
    c.push(case("conv2d_weight of input and output gradient (groups 2, stride 2, padding 1)",
                &["conv2d_weight"],
                vec![randn(&[2, 4, 5, 5], r), randn(&[4, 2, 3, 3], r), randn(&[2, 4, 3, 3], r)],
                move |x| {
                    let o = cv.with_groups(2).with_stride(2, 2).with_padding(1, 1);
                    grad_of(x, 1, |v| v[0].conv2d(&v[1], None, o))
                }));

    // ---------- pooling ----------
    // Max pooling inputs are `distinct` (no ties, so the argmax is locally constant).
    c.push(case("max_pool2d 2x2", &["max_pool2d"],
                vec![distinct(&[2, 2, 4, 4], r)],
                |x| x[0].max_pool2d(MaxPool2dOptions::new(2, 2))));
    c.push(case("max_pool2d stride (2, 1), padding, dilation (2, 1), ceil mode", &["max_pool2d"],
                vec![distinct(&[1, 2, 7, 6], r)],
                |x| {
                    let o = MaxPool2dOptions::new(3, 2).with_stride(2, 1).with_padding(1, 1)
                        .with_dilation(2, 1).with_ceil_mode(true);
                    x[0].max_pool2d(o)
                }));
    c.push(case("max_pool2d overlapping windows of a transposed view", &["max_pool2d", "permute"],
                vec![distinct(&[1, 2, 5, 4], r)],
                |x| {
                    let o = MaxPool2dOptions::new(3, 3).with_stride(1, 1);
                    x[0].transpose(2, 3)?.max_pool2d(o)
                }));
    let o = MaxPool1dOptions { stride: 2, padding: 1, ..MaxPool1dOptions::new(3) };
    c.push(case("max_pool1d stride 2, padding 1", &["max_pool2d", "reshape"],
                vec![distinct(&[2, 3, 8], r)], move |x| x[0].max_pool1d(o)));
    c.push(case("max_pool2d_backward (gradient to the saved indices)", &["max_pool2d_backward"],
                vec![distinct(&[1, 2, 4, 5], r), randn(&[1, 2, 2, 2], r)],
                |x| grad_of(x, 0, |v| v[0].max_pool2d(MaxPool2dOptions::new(2, 2)))));
    for (name, inc) in [
        ("avg_pool2d padding counted, ceil mode", true),
        ("avg_pool2d padding not counted, ceil mode", false),
    ] {
        c.push(case(name, &["avg_pool2d"],
                    vec![randn(&[1, 2, 5, 6], r)],
                    move |x| {
                        let o = AvgPool2dOptions::new(3, 3).with_stride(2, 2).with_padding(1, 1)
                            .with_ceil_mode(true).with_count_include_pad(inc);
                        x[0].avg_pool2d(o)
                    }));
    }
    c.push(case("avg_pool2d 2x2 of a transposed view", &["avg_pool2d", "permute"],
                vec![randn(&[2, 2, 4, 6], r)],
                |x| x[0].transpose(2, 3)?.avg_pool2d(AvgPool2dOptions::new(2, 2))));
    c.push(case("adaptive_avg_pool2d 5x7 -> 3x4", &["avg_pool2d"],
                vec![randn(&[1, 2, 5, 7], r)], |x| x[0].adaptive_avg_pool2d((3, 4))));
    let o = AvgPool1dOptions::new(3);
    let o = AvgPool1dOptions { stride: 2, padding: 1, count_include_pad: false, ..o };
    c.push(case("avg_pool1d padding not counted", &["avg_pool2d", "reshape"],
                vec![randn(&[2, 2, 7], r)], move |x| x[0].avg_pool1d(o)));
    c.push(case("avg_pool2d_backward (the adjoint of avg_pool2d)", &["avg_pool2d_backward"],
                vec![randn(&[1, 2, 5, 5], r), randn(&[1, 2, 3, 3], r)],
                |x| {
                    let o = AvgPool2dOptions::new(3, 3).with_stride(2, 2).with_padding(1, 1);
                    grad_of(x, 0, |v| v[0].avg_pool2d(o))
                }));

    // ---------- dtype casts ----------
    // f64 -> f32 -> f64 is not differentiable to f64 precision at arbitrary points. Here the
    // inputs are multiples of 2^-8 and the step is 2^-12, so every perturbed input is exactly
    // representable in f32 and both casts (and the exact f32 doubling between them) are exact:
    // the central differences are then as accurate as for any f64 function, and the default
    // tolerances apply. Only eps differs from the default.
    {
        let v: Vec<f64> = (0..6)
            .map(|_| ((r.random() * 512.0).floor() - 256.0) / 256.0)
            .collect();
        c.push(case("to_dtype f64 -> f32 -> f64", &["to_dtype", "affine", "tanh", "mul"],
                    vec![t(v, &[2, 3])],
                    |x| {
                        let y = x[0].to_dtype(DType::F32)?.mul_scalar(2.0)?.to_dtype(DType::F64)?;
                        y.tanh()?.mul(&x[0])
                    })
               .opts(GradcheckOptions::default().with_eps(1.0 / 4096.0)));
    }

    // ---------- recurrent scans: T = 3 steps, N = 2, H = 3 ----------
    // Inputs: gx [T, N, G*H], w_hh [G*H, H], b_hh [G*H], h0 (and c0) [N, H].
    let scan_inputs = |g: usize, c0: bool, r: &mut Mt19937| {
        let mut v = vec![
            randn(&[3, 2, g * 3], r),
            uniform(&[g * 3, 3], -0.8, 0.8, r),
            randn(&[g * 3], r),
            randn(&[2, 3], r),
        ];
        if c0 {
            v.push(randn(&[2, 3], r));
        }
        v
    };
    c.push(case("rnn_scan tanh", &["rnn_scan"],
                scan_inputs(1, false, r),
                |x| x[0].rnn_scan(&x[1], Some(&x[2]), &x[3], RnnNonlinearity::Tanh, false)));
    // random pre-activations are far from relu's kink at 0 (further than eps)
    c.push(case("rnn_scan relu reverse", &["rnn_scan"],
                scan_inputs(1, false, r),
                |x| x[0].rnn_scan(&x[1], Some(&x[2]), &x[3], RnnNonlinearity::Relu, true)));
    c.push(case("lstm_scan", &["lstm_scan"],
                scan_inputs(4, true, r),
                |x| x[0].lstm_scan(&x[1], Some(&x[2]), &x[3], &x[4], false)));
    c.push(case("lstm_scan reverse, outputs used through narrow",
                &["lstm_scan", "narrow", "reshape", "mul", "add"],
                scan_inputs(4, true, r),
                |x| {
                    let y = x[0].lstm_scan(&x[1], Some(&x[2]), &x[3], &x[4], true)?;
                    // the h sequence and the final c, as a layer uses them
                    let h = y.narrow(0, 0, 1)?.reshape(&[3, 2, 3])?;
                    let c = y.narrow(0, 1, 1)?.narrow(1, 0, 1)?.reshape(&[2, 3])?;
                    h.mul(&h)?.add(&c)
                }));
    c.push(case("lstm_scan_h reverse (h alone; the cells get no gradient from outside)",
                &["lstm_scan", "mul"],
                scan_inputs(4, true, r),
                |x| {
                    let h = x[0].lstm_scan_h(&x[1], Some(&x[2]), &x[3], &x[4], true)?;
                    h.mul(&h)
                }));
    c.push(case(
        "lstm_scan_rows (table rows picked by index, one picked twice in a step, one unused)",
                &["lstm_scan", "mul"],
                {
                    let mut v = scan_inputs(4, true, r);
                    v[0] = randn(&[4, 12], r);
                    v
                },
                |x| {
                    let idx = Tensor::from_vec(vec![0i64, 2, 1, 1, 2, 0], &[3, 2])?;
                    let h = x[0].lstm_scan_rows(&idx, &x[1], Some(&x[2]), &x[3], &x[4], false)?;
                    h.mul(&h)
                }));
    c.push(case("lstm_scan without bias", &["lstm_scan"],
                {
                    let mut v = scan_inputs(4, true, r);
                    v.remove(2);
                    v
                },
                |x| x[0].lstm_scan(&x[1], None, &x[2], &x[3], false)));
    // the loss weights the outputs unevenly (a plain sum of normalized values is constant)
    c.push(case("batch_norm over [N, C, H, W] with weight and bias",
                &["batch_norm", "mul", "sum", "reshape"],
                vec![randn(&[3, 2, 2, 3], r), randn(&[2], r), randn(&[2], r),
                     randn(&[3, 2, 2, 3], r)],
                |x| {
                    let (y, _, _) = x[0].batch_norm_train(Some(&x[1]), Some(&x[2]), 1e-5)?;
                    y.mul(&x[3])?.sum()
                }));
    c.push(case("batch_norm over [N, C] without affine", &["batch_norm", "mul", "sum", "reshape"],
                vec![randn(&[5, 3], r), randn(&[5, 3], r)],
                |x| {
                    let (y, _, _) = x[0].batch_norm_train(None, None, 1e-3)?;
                    y.mul(&x[1])?.sum()
                }));
    c.push(case("linear with bias over [N, T, in]", &["linear", "reshape", "mul", "sum"],
                vec![randn(&[2, 3, 4], r), randn(&[5, 4], r), randn(&[5], r),
                     randn(&[2, 3, 5], r)],
                |x| x[0].linear(&x[1], Some(&x[2]))?.mul(&x[3])?.sum()));
    c.push(case("linear of a transposed view, the input used again", &["linear", "permute", "mul"],
                vec![randn(&[4, 3], r), randn(&[4, 4], r), randn(&[4], r)],
                |x| x[0].t()?.linear(&x[1], Some(&x[2]))?.mul(&x[0].t()?)));
    c.push(case("linear second order (input and weight)",
                &["linear", "matmul", "mul", "sum", "reshape", "permute"],
                vec![randn(&[3, 4], r), randn(&[2, 4], r), randn(&[2], r), randn(&[3, 2], r)],
                |x| {
                    let f = |v: &[Tensor]| v[0].linear(&v[1], Some(&v[2]))?.tanh();
                    let gx = grad_of(x, 0, f)?;
                    let gw = grad_of(x, 1, f)?;
                    gx.sum()?.mul(&gw.sum()?)
                }));
    // the loss weights the outputs unevenly (a plain sum of normalized values is constant)
    c.push(case("layer_norm over the last two dims with weight and bias",
                &["layer_norm", "mul", "sum", "reshape"],
                vec![randn(&[2, 3, 4], r), randn(&[3, 4], r), randn(&[3, 4], r),
                     randn(&[2, 3, 4], r)],
                |x| x[0].layer_norm(&[3, 4], Some(&x[1]), Some(&x[2]), 1e-5)?.mul(&x[3])?.sum()));
    c.push(case("layer_norm of a transposed view, weight without bias",
                &["layer_norm", "mul", "sum", "reshape", "permute"],
                vec![randn(&[5, 3], r), randn(&[5], r), randn(&[3, 5], r)],
                |x| x[0].t()?.layer_norm(&[5], Some(&x[1]), None, 1e-3)?.mul(&x[2])?.sum()));
    c.push(case("layer_norm without affine, bias alone", &["layer_norm", "mul", "add"],
                vec![randn(&[4, 3], r), randn(&[3], r), randn(&[4, 3], r)],
                |x| {
                    let a = x[0].layer_norm(&[3], None, None, 1e-5)?.mul(&x[2])?;
                    a.add(&x[0].layer_norm(&[3], None, Some(&x[1]), 1e-5)?)
                }));
    // its rule as built for a second-order graph (the first-order one is a fused pass)
    c.push(case("layer_norm second order (input and weight)",
                &["layer_norm", "mul", "sub", "sum", "affine", "recip", "reshape"],
                vec![randn(&[3, 4], r), randn(&[4], r), randn(&[4], r), randn(&[3, 4], r)],
                |x| {
                    let gx = grad_of(x, 0, |v| v[0].layer_norm(&[4], Some(&v[1]), Some(&v[2]), 1e-5))?;
                    let gw = grad_of(x, 1, |v| v[0].layer_norm(&[4], Some(&v[1]), Some(&v[2]), 1e-5))?;
                    gx.sum_dims(&[0], false)?.mul(&gw)
                }));
    c.push(case("scaled_dot_product_attention, k and v shared by the heads",
                &["scaled_dot_product_attention"],
                vec![randn(&[2, 2, 3, 4], r), randn(&[2, 1, 5, 4], r), randn(&[2, 1, 5, 3], r)],
                |x| x[0].scaled_dot_product_attention(&x[1], &x[2], None, false, None)));
    c.push(case("scaled_dot_product_attention causal, L > S, scale", &["scaled_dot_product_attention"],
                vec![randn(&[2, 5, 3], r), randn(&[2, 4, 3], r), randn(&[2, 4, 2], r)],
                |x| x[0].scaled_dot_product_attention(&x[1], &x[2], None, true, Some(0.7))));
    c.push(case("scaled_dot_product_attention with a float mask (its gradient too)",
                &["scaled_dot_product_attention"],
                vec![randn(&[2, 3, 2], r), randn(&[2, 4, 2], r), randn(&[2, 4, 3], r),
                     uniform(&[3, 4], -1.0, 1.0, r)],
                |x| x[0].scaled_dot_product_attention(&x[1], &x[2], Some(&x[3]), false, None)));
    c.push(case("scaled_dot_product_attention with a keep-mask, one row fully blocked",
                &["scaled_dot_product_attention"],
                vec![randn(&[1, 3, 2], r), randn(&[1, 4, 2], r), randn(&[1, 4, 2], r)],
                |x| {
                    let keep = idx(&[1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0], &[3, 4]);
                    x[0].scaled_dot_product_attention(&x[1], &x[2], Some(&keep), false, None)
                }));
    c.push(case("gru_scan", &["gru_scan"],
                scan_inputs(3, false, r), |x| x[0].gru_scan(&x[1], Some(&x[2]), &x[3], false)));
    c.push(case("gru_scan reverse", &["gru_scan"],
                scan_inputs(3, false, r), |x| x[0].gru_scan(&x[1], Some(&x[2]), &x[3], true)));
    c
}

/// Runs `check` on every entry of the table but those named in `skip`; every failing entry is
/// reported at once. Gives the number of elements checked.
fn check_every_entry(skip: &[&str], check: impl Fn(&Case) -> Result<GradcheckReport>) -> usize {
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in table() {
        if skip.contains(&c.name) {
            continue;
        }
        match check(&c) {
            Ok(rep) if rep.passed() => checked += rep.checked,
            Ok(rep) => failures.push(format!("{}: {rep}", c.name)),
            Err(e) => failures.push(format!("{}: error {e}", c.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} entries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

/// The table passes, entry by entry; every failing entry is reported at once.
#[test]
fn every_entry_passes_gradcheck() {
    let checked = check_every_entry(&[], |c| gradcheck(&c.f, &c.inputs, c.opts));
    assert!(checked > 500, "only {checked} elements were checked");
}

/// Adding a primitive op without a table entry fails here; so does a typo in `covers`.
#[test]
fn every_primitive_op_is_covered() {
    let table = table();
    let covered: BTreeSet<&str> = table
        .iter()
        .flat_map(|c| c.covers.iter().copied())
        .collect();
    let ops: BTreeSet<&str> = PRIMITIVE_OPS.iter().copied().collect();
    let missing: Vec<&str> = ops.difference(&covered).copied().collect();
    assert!(
        missing.is_empty(),
        "primitive ops without a gradcheck entry: {missing:?}"
    );
    let unknown: Vec<&str> = covered.difference(&ops).copied().collect();
    assert!(
        unknown.is_empty(),
        "covers names that are not primitive ops: {unknown:?}"
    );
    let mut names = BTreeSet::new();
    for c in &table {
        assert!(names.insert(c.name), "duplicate entry name {:?}", c.name);
    }
}

/// An entry's claims are checked where the graph shows them: the op that produced the output
/// must be one of the ops the entry says it covers.
#[test]
fn each_entry_output_comes_from_a_claimed_op() {
    for c in table() {
        let vars: Vec<Var> = c.inputs.iter().map(Var::new).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
        let out = (c.f)(&ts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let op = out
            .op_name()
            .unwrap_or_else(|| panic!("{}: output is not tracked", c.name));
        assert!(
            c.covers.contains(&op),
            "{}: output comes from {op:?}, not one of {:?}",
            c.name,
            c.covers
        );
    }
}

#[test]
fn default_options_are_pytorchs() {
    let o = GradcheckOptions::default();
    assert_eq!((o.eps, o.atol, o.rtol), (1e-6, 1e-5, 1e-3));
}

/// f(x, y) = x + y * detach(y): backpropagation gives d/dy = y (times the weights), the truth
/// is 2y. The report must name the input, the element and both values.
#[test]
fn gradcheck_reports_a_wrong_gradient() {
    let x = t(vec![0.5, -1.0, 2.0], &[3]);
    let y = t(vec![1.0, 2.0, -3.0, 0.25, 4.0, -0.5], &[2, 3]);
    let f = |v: &[Tensor]| v[0].add(&v[1].mul(&v[1].detach())?);
    let rep = gradcheck(f, &[x.clone(), y.clone()], GradcheckOptions::default()).unwrap();
    assert!(!rep.passed());
    assert_eq!(rep.checked, 9);
    assert_eq!(rep.mismatches.len(), 6, "{rep}");
    let indices: Vec<Vec<usize>> = rep.mismatches.iter().map(|m| m.index.clone()).collect();
    assert_eq!(
        indices,
        vec![
            vec![0, 0],
            vec![0, 1],
            vec![0, 2],
            vec![1, 0],
            vec![1, 1],
            vec![1, 2]
        ]
    );
    let yv = y.to_vec_f64();
    for (m, &yi) in rep.mismatches.iter().zip(&yv) {
        assert_eq!(m.input, 1);
        // analytical = w * y, numerical = 2 w y for some weight w in [0.5, 1.5]
        let w = m.analytical / yi;
        assert!((0.5..1.5).contains(&w), "{m:?}");
        assert!(
            (m.numerical - 2.0 * m.analytical).abs() < 1e-6 * m.analytical.abs().max(1.0),
            "{m:?}"
        );
    }
    assert!(rep.max_abs_error[0] < 1e-8, "input 0 is right: {rep}");
    let msg = rep.to_string();
    let first = &rep.mismatches[0];
    for part in [
        "input 1",
        "element [0, 0]",
        &first.analytical.to_string(),
        &first.numerical.to_string(),
    ] {
        assert!(msg.contains(part), "{msg:?} does not contain {part:?}");
    }
    // assert_gradcheck turns the report into an error with the same facts and the shapes
    let err = assert_gradcheck(f, &[x.clone(), y], GradcheckOptions::default())
        .unwrap_err()
        .to_string();
    for part in ["input 1", "element [0, 0]", "[3]", "[2, 3]"] {
        assert!(err.contains(part), "{err:?} does not contain {part:?}");
    }
    // and a correct function passes assert_gradcheck
    assert!(assert_gradcheck(|v| v[0].sqr(), &[x], GradcheckOptions::default()).is_ok());
}

/// A gradient that is silently missing (the output does not depend on an input through the
/// graph, though it does numerically) is a mismatch too, not a pass.
#[test]
fn gradcheck_reports_a_missing_gradient() {
    let x = t(vec![0.5, -1.0], &[2]);
    let rep = gradcheck(
        |v| v[0].detach().exp()?.add(&v[0].mul_scalar(0.0)?),
        &[x],
        GradcheckOptions::default(),
    )
    .unwrap();
    assert_eq!(rep.mismatches.len(), 2, "{rep}");
    assert!(rep
        .mismatches
        .iter()
        .all(|m| m.analytical == 0.0 && m.numerical > 0.1));
}

/// The gradient of `f` at `xs` (with a fixed weighting of the output), flattened and
/// concatenated over the inputs, computed with `create_graph` so that it is differentiable.
/// Inputs that do not track gradients (gradcheck's perturbed evaluations) get fresh vars.
fn first_order_grad(f: &CaseFn, xs: &[Tensor]) -> Result<Tensor> {
    let xs: Vec<Tensor> = xs
        .iter()
        .map(|x| {
            if x.requires_grad() {
                x.clone()
            } else {
                Var::new(x).as_tensor()
            }
        })
        .collect();
    let out = f(&xs)?;
    let w = Tensor::uniform(out.shape(), 0.5, 1.5, DType::F64, &mut Mt19937::new(7))?;
    let grads = out.mul(&w)?.sum()?.backward_with(None, true)?;
    let flat: Vec<Tensor> = xs
        .iter()
        .map(|x| match grads.get(x) {
            Some(g) => g.reshape(&[g.numel()]),
            None => Ok(Tensor::zeros(&[x.numel()], DType::F64)),
        })
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = flat.iter().collect();
    Tensor::cat(&refs, 0)
}

/// Entries left out of the second-order check, with the reason.
const NOT_TWICE: &[(&str, &str)] = &[
    (
        "to_dtype f64 -> f32 -> f64",
        "its gradient passes through f32, so differences of the gradient carry f32 rounding",
    ),
    (
        "maximum/minimum at exact ties split evenly",
        "the first derivative jumps at a tie (it is 1/2 only exactly there): no second derivative",
    ),
    (
        "max/min over two-way ties split evenly",
        "the first derivative jumps at a tie (it is 1/2 only exactly there): no second derivative",
    ),
    (
        "std of a constant row and of single elements (correction 0)",
        "at a constant row the first derivative jumps (0 there, ±1/sqrt(n) beside it)",
    ),
    (
        "abs at exactly 0",
        "the first derivative jumps from -1 to 1 at 0: no second derivative",
    ),
    (
        "pow at a zero base with positive exponents",
        "the mixed second derivative at a zero base is 0 * log 0 = NaN, as in PyTorch",
    ),
    (
        "pow at a zero base with exponent 0 (exponent constant)",
        "the rule's unselected branch b a^(b-1) is 0 * inf at a = 0, b = 0 in second order, as in PyTorch",
    ),
];

/// Gradients of gradients: every backward rule is written in differentiable ops, so the
/// gradient computed with `create_graph` must itself pass gradcheck (PyTorch's gradgradcheck).
#[test]
fn every_entry_passes_gradgradcheck() {
    let skip: Vec<&str> = NOT_TWICE.iter().map(|(n, _)| *n).collect();
    check_every_entry(&skip, |c| {
        gradcheck(|xs| first_order_grad(&c.f, xs), &c.inputs, c.opts)
    });
}
