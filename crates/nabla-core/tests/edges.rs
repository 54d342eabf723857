//! Values and gradients exactly at the edges (kinks, ties, zero bases, zero spreads, NaN,
//! infinities, 0-d tensors), each against PyTorch 2.15.0 (CPU, float64 autograd).
//!
//! Every expected number was printed by the snippet in the comment beside it, run after
//!
//! ```python
//! import torch; import torch.nn.functional as F
//! D = torch.float64
//! def g(f, *vals):                      # value of f and the gradient of f(...).sum()
//!     xs = [torch.tensor(v, dtype=D, requires_grad=True) for v in vals]
//!     y = f(*xs); y.sum().backward()
//!     return y.detach().tolist(), [x.grad.tolist() for x in xs]
//! ```
//!
//! The points where a central difference is honest (a symmetric kink, a smooth edge) are also
//! in the gradcheck table; the rest (one-sided kinks, NaN, inf) are checked only here.

use nabla_core::{DType, Result, Tensor, Var};

/// Value and gradients (of `f(xs).sum()`) of `f` at `xs`, as the Python helper `g`.
fn g(f: impl Fn(&[Tensor]) -> Result<Tensor>, xs: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let vars: Vec<Var> = xs
        .iter()
        .map(|v| Var::new(&Tensor::from_vec(v.clone(), &[v.len()]).unwrap()))
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
    let y = f(&ts).unwrap();
    let grads = y.sum().unwrap().backward().unwrap();
    let gs = vars
        .iter()
        .zip(xs)
        .map(|(v, x)| match v.grad(&grads) {
            Some(t) => t.to_vec_f64(),
            None => vec![0.0; x.len()],
        })
        .collect();
    (y.to_vec_f64(), gs)
}

/// The same for one 0-d input.
fn g0(f: impl Fn(&Tensor) -> Result<Tensor>, x: f64) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
    let v = Var::new(&Tensor::scalar(x));
    let y = f(&v.as_tensor()).unwrap();
    let grads = y.sum().unwrap().backward().unwrap();
    let gr = v.grad(&grads).map(|t| t.to_vec_f64()).unwrap_or(vec![0.0]);
    (y.to_vec_f64(), gr, y.shape().to_vec())
}

/// Equal as PyTorch prints them: NaN matches NaN, infinities match exactly, finite values to
/// a relative 1e-15 (a few ulps: the kernels are not PyTorch's), 0 matches -0.
#[track_caller]
fn same(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let ok = (a.is_nan() && b.is_nan())
            || a == b
            || (a.is_finite() && b.is_finite() && (a - b).abs() <= 1e-15 * b.abs());
        assert!(
            ok,
            "element {i}: got {a:e}, want {b:e} (got {got:?}, want {want:?})"
        );
    }
}

#[track_caller]
fn check(got: (Vec<f64>, Vec<Vec<f64>>), value: &[f64], grads: &[&[f64]]) {
    same(&got.0, value);
    assert_eq!(got.1.len(), grads.len());
    for (gv, w) in got.1.iter().zip(grads) {
        same(gv, w);
    }
}

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

fn v(x: &[f64]) -> Vec<f64> {
    x.to_vec()
}

// ---------- std / var at a zero spread ----------

#[test]
fn std_of_a_constant_slice_has_gradient_0() {
    // g(lambda x: x.std(), [2., 2., 2.])  ->  (0.0, [[0.0, 0.0, 0.0]])   (nabla had NaN)
    check(
        g(|x| x[0].std(), &[v(&[2.0, 2.0, 2.0])]),
        &[0.0],
        &[&[0.0; 3]],
    );
    // g(lambda x: x.std(dim=1), [[2., 2., 2.], [1., 2., 4.]])
    //   -> ([0.0, 1.5275252316519465],
    //       [[[0.0, 0.0, 0.0], [-0.43643578047198484, -0.10910894511799625, 0.5455447255899809]]])
    let y = g(
        |x| x[0].reshape(&[2, 3])?.std_dims(&[1], false, 1),
        &[v(&[2.0, 2.0, 2.0, 1.0, 2.0, 4.0])],
    );
    check(
        y,
        &[0.0, 1.5275252316519465],
        &[&[
            0.0,
            0.0,
            0.0,
            -0.43643578047198484,
            -0.10910894511799625,
            0.5455447255899809,
        ]],
    );
    // g(lambda x: x.std(dim=0, correction=0), [5., 5.])  ->  (0.0, [[0.0, 0.0]])
    check(
        g(|x| x[0].std_dims(&[0], false, 0), &[v(&[5.0, 5.0])]),
        &[0.0],
        &[&[0.0, 0.0]],
    );
}

/// The second derivative at a constant slice is 0 too (PyTorch's double backward of std).
#[test]
fn std_second_derivative_at_a_constant_slice() {
    // x = torch.tensor([2., 2., 2.], dtype=D, requires_grad=True)
    // (gx,) = torch.autograd.grad(x.std(), x, create_graph=True); gx.sum().backward()
    // gx -> [0.0, 0.0, 0.0], x.grad -> [0.0, 0.0, 0.0]
    let x = Var::new(&Tensor::from_vec(vec![2.0f64, 2.0, 2.0], &[3]).unwrap());
    let gs = x
        .as_tensor()
        .std()
        .unwrap()
        .backward_with(None, true)
        .unwrap();
    let first = x.grad(&gs).unwrap().clone();
    same(&first.to_vec_f64(), &[0.0; 3]);
    let gg = first.sum().unwrap().backward().unwrap();
    let second = x.grad(&gg).map(|t| t.to_vec_f64()).unwrap_or(vec![0.0; 3]);
    same(&second, &[0.0; 3]);
}

#[test]
fn std_and_var_of_one_element() {
    // g(lambda x: x.std(correction=0), [3.])  ->  (0.0, [[0.0]])   (nabla had NaN)
    check(
        g(|x| x[0].std_dims(&[], false, 0), &[v(&[3.0])]),
        &[0.0],
        &[&[0.0]],
    );
    // g(lambda x: x.std(), [3.])  ->  (nan, [[nan]]); the same with dim=0
    check(g(|x| x[0].std(), &[v(&[3.0])]), &[NAN], &[&[NAN]]);
    check(
        g(|x| x[0].std_dims(&[0], false, 1), &[v(&[3.0])]),
        &[NAN],
        &[&[NAN]],
    );
    // g(lambda x: x.var(), [3.])  ->  (nan, [[nan]]); the same with dim=0
    check(g(|x| x[0].var(), &[v(&[3.0])]), &[NAN], &[&[NAN]]);
    check(
        g(|x| x[0].var_dims(&[0], false, 1), &[v(&[3.0])]),
        &[NAN],
        &[&[NAN]],
    );
    // g(lambda x: x.std(correction=2), [1., 2.])  ->  (inf, [[nan, nan]])
    check(
        g(|x| x[0].std_dims(&[], false, 2), &[v(&[1.0, 2.0])]),
        &[INF],
        &[&[NAN, NAN]],
    );
    // g(lambda x: x.var(correction=2), [1., 2.])  ->  (inf, [[inf, inf]]), and with dim=0
    // (inf, [[-inf, inf]]): nabla gives NaN there (documented on var_dims)
    let (val, gr) = g(|x| x[0].var_dims(&[], false, 2), &[v(&[1.0, 2.0])]);
    same(&val, &[INF]);
    assert!(gr[0].iter().all(|g| g.is_nan()), "{gr:?}");
}

// ---------- softplus ----------

#[test]
fn softplus_at_0_and_far_out() {
    // g(lambda x: F.softplus(x), [0.])  ->  ([0.6931471805599453], [[0.5]])   (nabla had 0)
    check(
        g(|x| x[0].softplus(), &[v(&[0.0])]),
        &[std::f64::consts::LN_2],
        &[&[0.5]],
    );
    // g(lambda x: F.softplus(x), [-30., -38., -1000., 1000., 20., 20.5, 19.9])
    //   -> ([9.357622968839737e-14, 3.1391327920480296e-17, 0.0, 1000.0, 20.000000002061153,
    //        20.5, 19.900000002277924],
    //       [[9.3576229688393e-14, 3.1391327920480296e-17, 0.0, 1.0, 0.9999999979388464, 1.0,
    //         0.9999999977220729]])
    // (nabla had 9.34e-14 and 0 for -30 and -38: log(1 + e^x) rounds 1 + e^x)
    check(
        g(
            |x| x[0].softplus(),
            &[v(&[-30.0, -38.0, -1000.0, 1000.0, 20.0, 20.5, 19.9])],
        ),
        &[
            9.357622968839737e-14,
            3.1391327920480296e-17,
            0.0,
            1000.0,
            20.000000002061153,
            20.5,
            19.900000002277924,
        ],
        &[&[
            9.3576229688393e-14,
            3.1391327920480296e-17,
            0.0,
            1.0,
            0.9999999979388464,
            1.0,
            0.9999999977220729,
        ]],
    );
    // g(lambda x: F.softplus(x), [-2.0, -0.5, 0.0, 1.0, 3.0])
    //   -> ([0.1269280110429725, 0.4740769841801067, 0.6931471805599453, 1.3132616875182228,
    //        3.048587351573742],
    //       [[0.11920292202211755, 0.37754066879814546, 0.5, 0.7310585786300049,
    //         0.9525741268224333]])
    check(
        g(|x| x[0].softplus(), &[v(&[-2.0, -0.5, 0.0, 1.0, 3.0])]),
        &[
            0.1269280110429725,
            0.4740769841801067,
            std::f64::consts::LN_2,
            1.3132616875182228,
            3.048587351573742,
        ],
        &[&[
            0.11920292202211755,
            0.37754066879814546,
            0.5,
            0.7310585786300049,
            0.9525741268224333,
        ]],
    );
}

#[test]
fn softplus_beta_and_threshold() {
    // g(lambda x: F.softplus(x, beta=2., threshold=5.), [0., 2.4, 2.5, 2.6, -1., -20.])
    //   -> ([0.34657359027997264, 2.404098033669134, 2.503357674244559, 2.6,
    //        0.06346400552148625, 2.1241771276457944e-18],
    //       [[0.5, 0.9918374288468401, 0.9933071490757152, 1.0, 0.11920292202211755,
    //         4.248354255291589e-18]])
    check(
        g(
            |x| x[0].softplus_with(2.0, 5.0),
            &[v(&[0.0, 2.4, 2.5, 2.6, -1.0, -20.0])],
        ),
        &[
            0.34657359027997264,
            2.404098033669134,
            2.503357674244559,
            2.6,
            0.06346400552148625,
            2.1241771276457944e-18,
        ],
        &[&[
            0.5,
            0.9918374288468401,
            0.9933071490757152,
            1.0,
            0.11920292202211755,
            4.248354255291589e-18,
        ]],
    );
    // g(lambda x: F.softplus(x, beta=0.5, threshold=20.), [0., 39., 41., -3.])
    //   -> ([1.3862943611198906, 39.00000000679653, 41.0, 0.4028265559655048],
    //       [[0.5, 0.9999999966017322, 1.0, 0.18242552380635632]])
    check(
        g(
            |x| x[0].softplus_with(0.5, 20.0),
            &[v(&[0.0, 39.0, 41.0, -3.0])],
        ),
        &[
            1.3862943611198906,
            39.00000000679653,
            41.0,
            0.4028265559655048,
        ],
        &[&[0.5, 0.9999999966017322, 1.0, 0.18242552380635632]],
    );
    // a threshold of inf never switches and does not overflow
    let y = Tensor::from_vec(vec![1000.0f64, -1000.0], &[2])
        .unwrap()
        .softplus_with(1.0, f64::INFINITY)
        .unwrap();
    assert_eq!(y.to_vec_f64(), vec![1000.0, 0.0]);
    // f32 too
    let y = Tensor::from_vec(vec![-38.0f32, 0.0, 100.0], &[3])
        .unwrap()
        .softplus_with(1.0, f64::INFINITY)
        .unwrap();
    let yv = y.to_vec_f64();
    assert!(
        (yv[0] / 3.1391327920480296e-17 - 1.0).abs() < 1e-6,
        "{yv:?}"
    );
    assert_eq!(yv[2], 100.0);
}

/// Second derivatives of softplus, as PyTorch's softplus double backward.
#[test]
fn softplus_second_derivative() {
    // x = torch.tensor([0., 1., -1.], dtype=D, requires_grad=True)
    // (gx,) = torch.autograd.grad(F.softplus(x).sum(), x, create_graph=True)
    // gx.sum().backward(); x.grad  ->  [0.25, 0.19661193324148185, 0.19661193324148185]
    let x = Var::new(&Tensor::from_vec(vec![0.0f64, 1.0, -1.0], &[3]).unwrap());
    let gx = x.as_tensor().softplus().unwrap().sum().unwrap();
    let gs = gx.backward_with(None, true).unwrap();
    let gg = x.grad(&gs).unwrap().sum().unwrap().backward().unwrap();
    same(
        &x.grad(&gg).unwrap().to_vec_f64(),
        &[0.25, 0.19661193324148185, 0.19661193324148185],
    );
    // the same with beta=2., threshold=20. at [0., 1., 25.]: gx [0.5, 0.8807970779778824, 1.0],
    // x.grad [0.5, 0.20998717080701323, 0.0]
    let x = Var::new(&Tensor::from_vec(vec![0.0f64, 1.0, 25.0], &[3]).unwrap());
    let gx = x
        .as_tensor()
        .softplus_with(2.0, 20.0)
        .unwrap()
        .sum()
        .unwrap();
    let gs = gx.backward_with(None, true).unwrap();
    let first = x.grad(&gs).unwrap().clone();
    same(&first.to_vec_f64(), &[0.5, 0.8807970779778824, 1.0]);
    let gg = first.sum().unwrap().backward().unwrap();
    same(
        &x.grad(&gg).unwrap().to_vec_f64(),
        &[0.5, 0.20998717080701323, 0.0],
    );
}

// ---------- pow / powf at a zero base ----------

/// `pow(a, b)` for one pair: value, d/da, d/db.
fn pow1(a: f64, b: f64) -> (Vec<f64>, Vec<Vec<f64>>) {
    g(|x| x[0].pow(&x[1]), &[v(&[a]), v(&[b])])
}

#[test]
fn pow_at_a_zero_or_negative_base() {
    // g(lambda a, b: a**b, [0.], [2.])  ->  ([0.0], [[0.0], [0.0]])   (nabla: d/db NaN)
    check(pow1(0.0, 2.0), &[0.0], &[&[0.0], &[0.0]]);
    // g(lambda a, b: a**b, [0.], [0.])  ->  ([1.0], [[0.0], [0.0]])   (nabla: NaN, -inf)
    check(pow1(0.0, 0.0), &[1.0], &[&[0.0], &[0.0]]);
    // g(lambda a, b: a**b, [0.], [-0.])  ->  ([1.0], [[0.0], [0.0]])
    check(pow1(0.0, -0.0), &[1.0], &[&[0.0], &[0.0]]);
    // g(lambda a, b: a**b, [0.], [-1.])  ->  ([inf], [[-inf], [-inf]])
    check(pow1(0.0, -1.0), &[INF], &[&[-INF], &[-INF]]);
    // g(lambda a, b: a**b, [0.], [0.5])  ->  ([0.0], [[inf], [0.0]])
    check(pow1(0.0, 0.5), &[0.0], &[&[INF], &[0.0]]);
    // g(lambda a, b: a**b, [0.], [1.])  ->  ([0.0], [[1.0], [0.0]])
    check(pow1(0.0, 1.0), &[0.0], &[&[1.0], &[0.0]]);
    // g(lambda a, b: a**b, [-0.], [2.])  ->  ([0.0], [[-0.0], [0.0]])
    check(pow1(-0.0, 2.0), &[0.0], &[&[-0.0], &[0.0]]);
    // g(lambda a, b: a**b, [-2.], [2.])  ->  ([4.0], [[-4.0], [nan]])
    check(pow1(-2.0, 2.0), &[4.0], &[&[-4.0], &[NAN]]);
    // g(lambda a, b: a**b, [-2.], [3.])  ->  ([-8.0], [[12.0], [nan]])
    check(pow1(-2.0, 3.0), &[-8.0], &[&[12.0], &[NAN]]);
    // g(lambda a, b: a**b, [-2.], [0.])  ->  ([1.0], [[0.0], [nan]])
    check(pow1(-2.0, 0.0), &[1.0], &[&[0.0], &[NAN]]);
    // g(lambda a, b: a**b, [-2.], [0.5])  ->  ([nan], [[nan], [nan]])
    check(pow1(-2.0, 0.5), &[NAN], &[&[NAN], &[NAN]]);
    // g(lambda a, b: a**b, [nan], [0.])  ->  ([1.0], [[0.0], [nan]])
    check(pow1(NAN, 0.0), &[1.0], &[&[0.0], &[NAN]]);
    // g(lambda a, b: a**b, [2.], [0.])  ->  ([1.0], [[0.0], [0.6931471805599453]])
    check(pow1(2.0, 0.0), &[1.0], &[&[0.0], &[std::f64::consts::LN_2]]);
    // broadcast: a [2] ^ b [] with the rule's masks broadcast too
    let (val, gr) = g(
        |x| x[0].pow(&x[1].reshape(&[])?),
        &[v(&[0.0, 3.0]), v(&[2.0])],
    );
    same(&val, &[0.0, 9.0]);
    same(&gr[0], &[0.0, 6.0]);
    same(&gr[1], &[9.0 * 3f64.ln()]);
}

#[test]
fn powf_at_a_zero_base() {
    // g(lambda a: a**0.0, [0.])  ->  ([1.0], [[0.0]])   (nabla had NaN)
    // g(lambda a: a**2.0, [0.]) -> ([0.0], [[0.0]]);  g(lambda a: a**1.0, [0.]) -> ([0.0], [[1.0]])
    // g(lambda a: a**0.5, [0.]) -> ([0.0], [[inf]]);  g(lambda a: a**-1.0, [0.]) -> ([inf], [[-inf]])
    // g(lambda a: a**3.0, [0.]) -> ([0.0], [[0.0]]);  g(lambda a: a**0.5, [-2.]) -> ([nan], [[nan]])
    // g(lambda a: a**0.0, [nan]) / [-2.] / [inf]  ->  ([1.0], [[0.0]]) each
    for (x, e, val, grad) in [
        (0.0, 0.0, 1.0, 0.0),
        (0.0, 2.0, 0.0, 0.0),
        (0.0, 1.0, 0.0, 1.0),
        (0.0, 0.5, 0.0, INF),
        (0.0, -1.0, INF, -INF),
        (0.0, 3.0, 0.0, 0.0),
        (-2.0, 0.5, NAN, NAN),
        (NAN, 0.0, 1.0, 0.0),
        (-2.0, 0.0, 1.0, 0.0),
        (INF, 0.0, 1.0, 0.0),
    ] {
        let got = g(|t| t[0].powf(e), &[v(&[x])]);
        same(&got.0, &[val]);
        same(&got.1[0], &[grad]);
    }
}

// ---------- clamp ----------

#[test]
fn clamp_at_the_bounds_and_with_min_above_max() {
    // g(lambda x: x.clamp(0., 1.), [-0.5, 0., 0.5, 1., 1.5])
    //   -> ([0.0, 0.0, 0.5, 1.0, 1.0], [[0.0, 0.0, 1.0, 0.0, 0.0]])   (nabla had 1 at 0 and 1)
    check(
        g(|x| x[0].clamp(0.0, 1.0), &[v(&[-0.5, 0.0, 0.5, 1.0, 1.5])]),
        &[0.0, 0.0, 0.5, 1.0, 1.0],
        &[&[0.0, 0.0, 1.0, 0.0, 0.0]],
    );
    // g(lambda x: x.clamp(-0.5, 0.7), [-0.5, 0.7, -0.6, 0.0, 0.8])
    //   -> ([-0.5, 0.7, -0.5, 0.0, 0.7], [[0.0, 0.0, 0.0, 1.0, 0.0]])
    check(
        g(
            |x| x[0].clamp(-0.5, 0.7),
            &[v(&[-0.5, 0.7, -0.6, 0.0, 0.8])],
        ),
        &[-0.5, 0.7, -0.5, 0.0, 0.7],
        &[&[0.0, 0.0, 0.0, 1.0, 0.0]],
    );
    // g(lambda x: x.clamp(min=0.), [-1., 0., 1.])  ->  ([0.0, 0.0, 1.0], [[0.0, 0.0, 1.0]])
    check(
        g(|x| x[0].clamp(0.0, INF), &[v(&[-1.0, 0.0, 1.0])]),
        &[0.0, 0.0, 1.0],
        &[&[0.0, 0.0, 1.0]],
    );
    // g(lambda x: x.clamp(max=1.), [0., 1., 2.])  ->  ([0.0, 1.0, 1.0], [[1.0, 0.0, 0.0]])
    check(
        g(|x| x[0].clamp(-INF, 1.0), &[v(&[0.0, 1.0, 2.0])]),
        &[0.0, 1.0, 1.0],
        &[&[1.0, 0.0, 0.0]],
    );
    // g(lambda x: x.clamp(1., 0.), [-0.5, 0., 0.5, 1., 1.5])
    //   -> ([0.0, 0.0, 0.0, 0.0, 0.0], [[0.0, 0.0, 0.0, 0.0, 0.0]])   (nabla refused)
    check(
        g(|x| x[0].clamp(1.0, 0.0), &[v(&[-0.5, 0.0, 0.5, 1.0, 1.5])]),
        &[0.0; 5],
        &[&[0.0; 5]],
    );
    // torch.tensor([-3., 0.5, 5.], dtype=D).clamp(2., -1.).tolist()  ->  [-1.0, -1.0, -1.0]
    let y = Tensor::from_vec(vec![-3.0f64, 0.5, 5.0], &[3])
        .unwrap()
        .clamp(2.0, -1.0)
        .unwrap();
    assert_eq!(y.to_vec_f64(), vec![-1.0; 3]);
    let y32 = Tensor::from_vec(vec![-3.0f32, 0.5, 5.0], &[3])
        .unwrap()
        .clamp(2.0, -1.0)
        .unwrap();
    assert_eq!(y32.to_vec_f64(), vec![-1.0; 3]);
    // g(lambda x: x.clamp(0.5, 0.5), [0., 0.5, 1.])  ->  ([0.5, 0.5, 0.5], [[0.0, 0.0, 0.0]])
    check(
        g(|x| x[0].clamp(0.5, 0.5), &[v(&[0.0, 0.5, 1.0])]),
        &[0.5; 3],
        &[&[0.0; 3]],
    );
    // g(lambda x: x.clamp(0., 1.), [nan])  ->  ([nan], [[0.0]])
    check(g(|x| x[0].clamp(0.0, 1.0), &[v(&[NAN])]), &[NAN], &[&[0.0]]);
    // g(lambda x: x.clamp(float('nan'), 1.), [0.5, 2.])  ->  ([nan, nan], [[0.0, 0.0]])
    check(
        g(|x| x[0].clamp(NAN, 1.0), &[v(&[0.5, 2.0])]),
        &[NAN, NAN],
        &[&[0.0, 0.0]],
    );
    // g(lambda x: x.clamp(0., float('nan')), [0.5, -2.])  ->  ([nan, nan], [[0.0, 0.0]])
    check(
        g(|x| x[0].clamp(0.0, NAN), &[v(&[0.5, -2.0])]),
        &[NAN, NAN],
        &[&[0.0, 0.0]],
    );
}

// ---------- kinks of elementwise ops ----------

#[test]
fn relu_abs_leaky_relu_at_0_and_nan() {
    let xs = v(&[-1.0, 0.0, -0.0, 1.0, NAN]);
    // g(lambda x: x.relu(), [-1., 0., -0., 1., float('nan')])
    //   -> ([0.0, 0.0, -0.0, 1.0, nan], [[0.0, 0.0, 0.0, 1.0, 1.0]])   (nabla: relu(nan) = 0,
    //      gradient 0 there)
    check(
        g(|x| x[0].relu(), std::slice::from_ref(&xs)),
        &[0.0, 0.0, -0.0, 1.0, NAN],
        &[&[0.0, 0.0, 0.0, 1.0, 1.0]],
    );
    // the fused first-order kernel (no graph kept) gives the same
    let x = Var::new(&Tensor::from_vec(xs.clone(), &[5]).unwrap());
    let y = x.as_tensor().relu().unwrap();
    let gs = y.sum().unwrap().backward().unwrap();
    same(
        &x.grad(&gs).unwrap().to_vec_f64(),
        &[0.0, 0.0, 0.0, 1.0, 1.0],
    );
    // and with create_graph (the mask from the output; a new graph: backward freed the first)
    let y = x.as_tensor().relu().unwrap();
    let gs = y.sum().unwrap().backward_with(None, true).unwrap();
    same(
        &x.grad(&gs).unwrap().to_vec_f64(),
        &[0.0, 0.0, 0.0, 1.0, 1.0],
    );
    // g(lambda x: x.abs(), [-1., 0., -0., 1., float('nan')])
    //   -> ([1.0, 0.0, 0.0, 1.0, nan], [[-1.0, 0.0, 0.0, 1.0, 0.0]])
    check(
        g(|x| x[0].abs(), std::slice::from_ref(&xs)),
        &[1.0, 0.0, 0.0, 1.0, NAN],
        &[&[-1.0, 0.0, 0.0, 1.0, 0.0]],
    );
    // g(lambda x: F.leaky_relu(x, 0.1), [-1., 0., -0., 1., float('nan')])
    //   -> ([-0.1, 0.0, -0.0, 1.0, nan], [[0.1, 0.1, 0.1, 1.0, 0.1]])
    check(
        g(|x| x[0].leaky_relu(0.1), std::slice::from_ref(&xs)),
        &[-0.1, 0.0, -0.0, 1.0, NAN],
        &[&[0.1, 0.1, 0.1, 1.0, 0.1]],
    );
}

#[test]
fn sqrt_log_recip_div_at_0() {
    // g(lambda x: x.sqrt(), [0., 4., -1.])  ->  ([0.0, 2.0, nan], [[inf, 0.25, nan]])
    check(
        g(|x| x[0].sqrt(), &[v(&[0.0, 4.0, -1.0])]),
        &[0.0, 2.0, NAN],
        &[&[INF, 0.25, NAN]],
    );
    // g(lambda x: x.log(), [0., 4., -1.])  ->  ([-inf, 1.3862943611198906, nan], [[inf, 0.25, -1.0]])
    check(
        g(|x| x[0].log(), &[v(&[0.0, 4.0, -1.0])]),
        &[-INF, 1.3862943611198906, NAN],
        &[&[INF, 0.25, -1.0]],
    );
    // g(lambda x: x.reciprocal(), [0., -0., 2.])  ->  ([inf, -inf, 0.5], [[-inf, -inf, -0.25]])
    check(
        g(|x| x[0].recip(), &[v(&[0.0, -0.0, 2.0])]),
        &[INF, -INF, 0.5],
        &[&[-INF, -INF, -0.25]],
    );
    // g(lambda a, b: a / b, [1., 0., -1.], [0., 0., 0.])
    //   -> ([inf, nan, -inf], [[inf, inf, inf], [-inf, nan, inf]])
    check(
        g(|x| x[0].div(&x[1]), &[v(&[1.0, 0.0, -1.0]), v(&[0.0; 3])]),
        &[INF, NAN, -INF],
        &[&[INF, INF, INF], &[-INF, NAN, INF]],
    );
    // g(lambda x: x.tanh(), [float('inf')]) -> ([1.0], [[0.0]]);
    // g(lambda x: x.sigmoid(), [-1000., 1000.]) -> ([0.0, 1.0], [[0.0, 0.0]]);
    // g(lambda x: x.exp(), [float('-inf')]) -> ([0.0], [[0.0]])
    check(g(|x| x[0].tanh(), &[v(&[INF])]), &[1.0], &[&[0.0]]);
    check(
        g(|x| x[0].sigmoid(), &[v(&[-1000.0, 1000.0])]),
        &[0.0, 1.0],
        &[&[0.0, 0.0]],
    );
    check(g(|x| x[0].exp(), &[v(&[-INF])]), &[0.0], &[&[0.0]]);
}

#[test]
fn maximum_minimum_ties_and_nan() {
    let a = v(&[1.0, 2.0, 3.0, NAN, 1.0]);
    let b = v(&[1.0, 1.0, 4.0, 1.0, NAN]);
    // g(lambda a, b: torch.maximum(a, b), [1., 2., 3., nan, 1.], [1., 1., 4., 1., nan])
    //   -> ([1.0, 2.0, 4.0, nan, nan],
    //       [[0.5, 1.0, 0.0, 1.0, 1.0], [0.5, 0.0, 1.0, 1.0, 1.0]])   (nabla: NaN gave 0 / 1)
    check(
        g(|x| x[0].maximum(&x[1]), &[a.clone(), b.clone()]),
        &[1.0, 2.0, 4.0, NAN, NAN],
        &[&[0.5, 1.0, 0.0, 1.0, 1.0], &[0.5, 0.0, 1.0, 1.0, 1.0]],
    );
    // g(lambda a, b: torch.minimum(a, b), same)
    //   -> ([1.0, 1.0, 3.0, nan, nan],
    //       [[0.5, 0.0, 1.0, 1.0, 1.0], [0.5, 1.0, 0.0, 1.0, 1.0]])
    check(
        g(|x| x[0].minimum(&x[1]), &[a, b]),
        &[1.0, 1.0, 3.0, NAN, NAN],
        &[&[0.5, 0.0, 1.0, 1.0, 1.0], &[0.5, 1.0, 0.0, 1.0, 1.0]],
    );
}

#[test]
fn max_min_reductions_with_ties_and_nan() {
    // g(lambda x: x.amax(), [1., 3., 3.]) -> (3.0, [[0.0, 0.5, 0.5]]); x.max() gives the same
    check(
        g(|x| x[0].max(), &[v(&[1.0, 3.0, 3.0])]),
        &[3.0],
        &[&[0.0, 0.5, 0.5]],
    );
    // g(lambda x: x.amin(), [1., 1., 3.]) -> (1.0, [[0.5, 0.5, 0.0]]); x.min() gives the same
    check(
        g(|x| x[0].min(), &[v(&[1.0, 1.0, 3.0])]),
        &[1.0],
        &[&[0.5, 0.5, 0.0]],
    );
    // g(lambda x: x.amax(dim=1), [[1., 3., 3.], [2., 2., 2.]])
    //   -> ([3.0, 2.0], [[[0.0, 0.5, 0.5], [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]]])
    check(
        g(
            |x| x[0].reshape(&[2, 3])?.max_dims(&[1], false),
            &[v(&[1.0, 3.0, 3.0, 2.0, 2.0, 2.0])],
        ),
        &[3.0, 2.0],
        &[&[0.0, 0.5, 0.5, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]],
    );
    // g(lambda x: x.amax(), [1., float('nan'), 3.])  ->  (nan, [[nan, nan, nan]])
    check(
        g(|x| x[0].max(), &[v(&[1.0, NAN, 3.0])]),
        &[NAN],
        &[&[NAN, NAN, NAN]],
    );
    // g(lambda x: x.max(dim=0).values, [1., 3., 3.]) -> (3.0, [[0.0, 1.0, 0.0]]): PyTorch's
    // max(dim) sends it to the index it returns; in nabla that is argmax + gather
    check(
        g(
            |x| x[0].gather(0, &x[0].argmax(Some(0), true)?),
            &[v(&[1.0, 3.0, 3.0])],
        ),
        &[3.0],
        &[&[0.0, 1.0, 0.0]],
    );
}

#[test]
fn where_logsumexp_softmax_at_infinities() {
    // g(lambda a, b: torch.where(torch.tensor([True, False]), a, b), [1., 2.], [3., 4.])
    //   -> ([1.0, 4.0], [[1.0, 0.0], [0.0, 1.0]])
    let m = Tensor::from_vec(vec![1.0f64, 0.0], &[2]).unwrap();
    check(
        g(
            |x| Tensor::where_cond(&m, &x[0], &x[1]),
            &[v(&[1.0, 2.0]), v(&[3.0, 4.0])],
        ),
        &[1.0, 4.0],
        &[&[1.0, 0.0], &[0.0, 1.0]],
    );
    // g(lambda x: x.logsumexp(0), [float('-inf'), float('-inf')])  ->  (-inf, [[nan, nan]])
    check(
        g(|x| x[0].logsumexp(&[0], false), &[v(&[-INF, -INF])]),
        &[-INF],
        &[&[NAN, NAN]],
    );
    // g(lambda x: x.logsumexp(0), [float('inf'), 1.])  ->  (inf, [[nan, 0.0]])
    check(
        g(|x| x[0].logsumexp(&[0], false), &[v(&[INF, 1.0])]),
        &[INF],
        &[&[NAN, 0.0]],
    );
    // g(lambda x: x.softmax(0), [float('-inf'), float('-inf')])  ->  ([nan, nan], [[nan, nan]])
    check(
        g(|x| x[0].softmax(0), &[v(&[-INF, -INF])]),
        &[NAN, NAN],
        &[&[NAN, NAN]],
    );
    // g(lambda x: x.softmax(0) * torch.tensor([1., 2.], dtype=D), [float('-inf'), 0.])
    //   -> ([0.0, 2.0], [[-0.0, 0.0]])
    let w = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
    check(
        g(|x| x[0].softmax(0)?.mul(&w), &[v(&[-INF, 0.0])]),
        &[0.0, 2.0],
        &[&[0.0, 0.0]],
    );
}

// ---------- 0-d tensors ----------

#[test]
fn dims_0_and_minus_1_of_a_0d_tensor() {
    // each: x = torch.tensor(2.5, dtype=D, requires_grad=True); y = f(x)
    //       (y * torch.tensor(1.5, dtype=D)).sum().backward(); list(y.shape), y, x.grad
    // (nabla refused all of these: "axis 0 out of range for a tensor of rank 0")
    type F = Box<dyn Fn(&Tensor) -> Result<Tensor>>;
    let cases: Vec<(&str, F, f64, f64)> = vec![
        // softmax 0 / -1: value 1.0, grad 0.0; log_softmax 0 / -1: value 0.0, grad 0.0
        ("softmax(0)", Box::new(|x| x.softmax(0)), 1.0, 0.0),
        ("softmax(-1)", Box::new(|x| x.softmax(-1)), 1.0, 0.0),
        ("log_softmax(0)", Box::new(|x| x.log_softmax(0)), 0.0, 0.0),
        ("log_softmax(-1)", Box::new(|x| x.log_softmax(-1)), 0.0, 0.0),
        // x.sum(0), x.sum(-1, keepdim=True), x.mean(0), x.mean(-1, keepdim=True), x.amax(0),
        // x.amin(-1, keepdim=True), x.logsumexp(0), x.logsumexp(-1, keepdim=True),
        // x.transpose(0, 0), x.transpose(0, -1): value 2.5, grad 1.5, shape []
        ("sum(0)", Box::new(|x| x.sum_dims(&[0], false)), 2.5, 1.5),
        (
            "sum(-1, keepdim)",
            Box::new(|x| x.sum_dims(&[-1], true)),
            2.5,
            1.5,
        ),
        ("mean(0)", Box::new(|x| x.mean_dims(&[0], false)), 2.5, 1.5),
        (
            "mean(-1, keepdim)",
            Box::new(|x| x.mean_dims(&[-1], true)),
            2.5,
            1.5,
        ),
        ("amax(0)", Box::new(|x| x.max_dims(&[0], false)), 2.5, 1.5),
        (
            "amin(-1, keepdim)",
            Box::new(|x| x.min_dims(&[-1], true)),
            2.5,
            1.5,
        ),
        (
            "logsumexp(0)",
            Box::new(|x| x.logsumexp(&[0], false)),
            2.5,
            1.5,
        ),
        (
            "logsumexp(-1, keepdim)",
            Box::new(|x| x.logsumexp(&[-1], true)),
            2.5,
            1.5,
        ),
        ("transpose(0, 0)", Box::new(|x| x.transpose(0, 0)), 2.5, 1.5),
        (
            "transpose(0, -1)",
            Box::new(|x| x.transpose(0, -1)),
            2.5,
            1.5,
        ),
        // x.var(0, correction=0) / x.std(0, correction=0): value 0.0, grad 0.0
        (
            "var(0, c=0)",
            Box::new(|x| x.var_dims(&[0], false, 0)),
            0.0,
            0.0,
        ),
        (
            "std(0, c=0)",
            Box::new(|x| x.std_dims(&[0], false, 0)),
            0.0,
            0.0,
        ),
        // x.var(0) / x.std(-1) (correction 1): value nan, grad nan
        ("var(0)", Box::new(|x| x.var_dims(&[0], false, 1)), NAN, NAN),
        (
            "std(-1)",
            Box::new(|x| x.std_dims(&[-1], false, 1)),
            NAN,
            NAN,
        ),
    ];
    for (name, f, val, grad) in cases {
        let (y, _, shape) = g0(&f, 2.5);
        assert_eq!(shape, Vec::<usize>::new(), "{name}: shape");
        same(&y, &[val]);
        let (_, gr, _) = g0(|x| f(x)?.mul_scalar(1.5), 2.5);
        same(&gr, &[grad]);
    }
    // torch.tensor(2.5).argmax(0) -> tensor(0); argmax(0, keepdim=True).shape -> []; argmin(-1)
    let s = Tensor::scalar(2.5f64);
    for a in [
        s.argmax(Some(0), false).unwrap(),
        s.argmax(Some(0), true).unwrap(),
        s.argmin(Some(-1), false).unwrap(),
    ] {
        assert_eq!(a.shape(), &[] as &[usize]);
        assert_eq!(a.to_vec::<i64>().unwrap(), vec![0]);
    }
    // x.softmax(1) -> IndexError (expected to be in range of [-1, 0], but got 1); also -2,
    // transpose(0, 1), sum([0, -1]) ("dim 0 appears multiple times")
    for r in [
        s.softmax(1),
        s.softmax(-2),
        s.transpose(0, 1),
        s.sum_dims(&[0, -1], false),
        s.max_dims(&[1], false),
    ] {
        assert!(r.is_err(), "{r:?}");
    }
    let e = s.softmax(1).unwrap_err().to_string();
    assert!(e.starts_with("softmax: ") && e.contains("rank 0"), "{e}");
    // the i64 0-d argmax works as well
    let i = nabla_core::index_tensor(&[7], &[]).unwrap();
    assert_eq!(
        i.argmax(Some(0), false).unwrap().to_vec::<i64>().unwrap(),
        vec![0]
    );
    assert_eq!(DType::I64, i.dtype());
}

// ---------- log_softmax at infinities and NaN ----------

#[test]
fn log_softmax_matches_pytorch_at_infinities_and_nan() {
    // x = torch.tensor([[-inf,-inf],[inf,1.],[1000.,0.],[nan,1.],[-inf,2.],[inf,inf],[3.,-inf]],
    //                  dtype=D, requires_grad=True)
    // y = torch.log_softmax(x, 1); (y * torch.tensor([[1., 2.]] * 7, dtype=D)).sum().backward()
    // (PyTorch 2.15, f32 and f64 alike)
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let x = vec![
        -inf, -inf, inf, 1.0, 1000.0, 0.0, nan, 1.0, -inf, 2.0, inf, inf, 3.0, -inf,
    ];
    let want_y = [
        nan, nan, nan, nan, 0.0, -1000.0, nan, nan, -inf, 0.0, nan, nan, 0.0, -inf,
    ];
    let want_g = [
        nan, nan, nan, nan, -2.0, 2.0, nan, nan, 1.0, -1.0, nan, nan, -2.0, 2.0,
    ];
    let same = |a: &[f64], b: &[f64]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.is_nan() && y.is_nan()) || x == y)
    };
    for dtype in [DType::F32, DType::F64] {
        let xv = nabla_core::Var::new(
            &Tensor::from_vec(x.clone(), &[7, 2])
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        );
        let y = xv.as_tensor().log_softmax(1).unwrap();
        assert!(
            same(&y.to_vec_f64(), &want_y),
            "{dtype}: {:?}",
            y.to_vec_f64()
        );
        let w = Tensor::from_vec([1.0, 2.0].repeat(7), &[7, 2])
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let grads = y.mul(&w).unwrap().sum().unwrap().backward().unwrap();
        let g = xv.grad(&grads).unwrap().to_vec_f64();
        assert!(same(&g, &want_g), "{dtype}: {g:?}");
        // the rule built for a second-order graph gives the same gradient
        let y = xv.as_tensor().log_softmax(1).unwrap();
        let grads = y
            .mul(&w)
            .unwrap()
            .sum()
            .unwrap()
            .backward_with(None, true)
            .unwrap();
        let g2 = xv.grad(&grads).unwrap().to_vec_f64();
        assert!(same(&g2, &want_g), "{dtype} second order: {g2:?}");
    }
}
