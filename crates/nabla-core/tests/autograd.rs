//! The autograd engine: the sum over paths, deep graphs on a default stack, no_grad, detach,
//! gradients of gradients, and results that do not depend on the number of threads.

use nabla_core::{no_grad, DType, GradStore, Mt19937, Result, Tensor, Var};

mod common;
use common::{bits, on_threads, t};

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64()
}

#[track_caller]
fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: {g} vs {w} (got {got:?}, want {want:?})"
        );
    }
}

fn grad(g: &GradStore, v: &Var) -> Vec<f64> {
    vals(v.grad(g).expect("the var has a gradient"))
}

// ---------- paths ----------

#[test]
fn a_tensor_used_twice_gets_the_sum_of_its_paths() {
    let x = Var::new(&t(vec![1.5, -2.0, 0.5], &[3]));
    let xt = x.as_tensor();
    // y = x*x + x  =>  dy/dx = 2x + 1
    let y = xt.mul(&xt).unwrap().add(&xt).unwrap().sum().unwrap();
    let g = y.backward().unwrap();
    assert_eq!(grad(&g, &x), vec![4.0, -3.0, 2.0]);
    // a diamond: a = exp(x); y = a*sin(x) + a  =>  dy/dx = a*sin + a*cos + a
    let a = xt.exp().unwrap();
    let y = a
        .mul(&xt.sin().unwrap())
        .unwrap()
        .add(&a)
        .unwrap()
        .sum()
        .unwrap();
    let g = y.backward().unwrap();
    let want: Vec<f64> = [1.5f64, -2.0, 0.5]
        .iter()
        .map(|&v| v.exp() * (v.sin() + v.cos() + 1.0))
        .collect();
    assert_close(&grad(&g, &x), &want, 1e-14);
    // the same var through a broadcast and directly: y = sum(x + m) + sum(x), m [2,3]
    let m = t(vec![1.0; 6], &[2, 3]);
    let y = xt
        .add(&m)
        .unwrap()
        .sum()
        .unwrap()
        .add(&xt.sum().unwrap())
        .unwrap();
    assert_eq!(grad(&y.backward().unwrap(), &x), vec![3.0, 3.0, 3.0]);
    // a var used in two separate graphs that are then combined
    let w = Var::new(&t(vec![2.0], &[1]));
    let p = w.as_tensor().mul_scalar(3.0).unwrap();
    let q = w.as_tensor().powf(2.0).unwrap();
    let y = p.add(&q).unwrap().sum().unwrap();
    assert_eq!(grad(&y.backward().unwrap(), &w), vec![3.0 + 4.0]);
}

/// A second backward through the same graph needs the graph kept (`create_graph`, DESIGN
/// §9: otherwise backward frees each node's saved tensors once its rule has run); without
/// it the second backward is an error that says so, not a silently empty gradient.
#[test]
fn backward_can_run_twice_with_the_graph_kept_and_returns_only_vars() {
    let x = Var::new(&t(vec![1.0, 2.0], &[2]));
    let c = t(vec![5.0, 7.0], &[2]); // a constant: never gets a gradient
    let h = x.as_tensor().mul(&c).unwrap();
    let y = h.sum().unwrap();
    let g1 = y.backward_with(None, true).unwrap();
    let g2 = y.backward().unwrap();
    let e = y.backward().err().expect("the graph was freed").to_string();
    assert!(e.contains("freed") && e.contains("backward_with"), "{e}");
    assert_eq!(grad(&g1, &x), vec![5.0, 7.0]);
    assert_eq!(grad(&g1, &x), grad(&g2, &x));
    assert_eq!(g1.len(), 1, "only the var's gradient is returned");
    assert!(g1.get(&c).is_none() && g1.get(&h).is_none());
    // a var that the loss does not depend on gets no entry
    let unused = Var::new(&t(vec![1.0], &[1]));
    assert!(unused.grad(&g1).is_none());
}

#[test]
fn var_set_keeps_old_graphs_and_gradients_flow_to_the_new_value() {
    let v = Var::new(&t(vec![1.0, 2.0], &[2]));
    let y_old = v.as_tensor().sqr().unwrap().sum().unwrap();
    v.set(&t(vec![10.0, 20.0], &[2])).unwrap();
    assert_eq!(vals(&y_old), vec![5.0]);
    assert_eq!(grad(&y_old.backward().unwrap(), &v), vec![2.0, 4.0]);
    let y_new = v.as_tensor().sqr().unwrap().sum().unwrap();
    assert_eq!(grad(&y_new.backward().unwrap(), &v), vec![20.0, 40.0]);
}

// ---------- deep graphs ----------

/// 100,000 ops in a chain, built, backpropagated and dropped on a thread with the default
/// 2 MiB stack: sorting, walking and dropping the graph must all be iterative.
#[test]
fn a_chain_of_100k_ops_needs_no_deep_stack() {
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| -> Result<()> {
            let x = Var::new(&t(vec![0.5], &[1]));
            let xt = x.as_tensor();
            // unary chain: grad exactly 1
            let mut y = xt.clone();
            for i in 0..100_000 {
                y = if i % 2 == 0 {
                    y.add_scalar(1.0)?
                } else {
                    y.mul_scalar(1.0)?
                };
            }
            let loss = y.sum()?;
            let g = loss.backward()?;
            assert_eq!(grad(&g, &x), vec![1.0]);
            drop(g);
            drop(loss);
            drop(y);
            // a chain that reuses x at every step: y_{i+1} = y_i + x, grad = 100,001
            let mut y = xt.clone();
            for _ in 0..100_000 {
                y = y.add(&xt)?;
            }
            let g = y.sum()?.backward()?;
            assert_eq!(grad(&g, &x), vec![100_001.0]);
            // second order through a deep chain: d/dx of (x * c)^2 summed over a chain
            let mut z = xt.clone();
            for _ in 0..100_000 {
                z = z.mul_scalar(1.0)?;
            }
            let loss = z.sqr()?.sum()?;
            let g = loss.backward_with(None, true)?;
            let gx = x.grad(&g).unwrap().clone();
            let gg = gx.sum()?.backward()?;
            assert_eq!(grad(&gg, &x), vec![2.0]);
            // a graph dropped without ever running backward
            let mut w = xt.clone();
            for _ in 0..100_000 {
                w = w.exp()?.log()?;
            }
            drop(w);
            Ok(())
        })
        .unwrap();
    h.join()
        .expect("the deep-graph thread panicked (stack overflow?)")
        .unwrap();
}

// ---------- no_grad and detach ----------

#[test]
fn no_grad_makes_results_not_require_grad() {
    let x = Var::new(&t(vec![1.0, 2.0], &[2]));
    assert!(x.as_tensor().requires_grad());
    assert!(nabla_core::is_grad_enabled());
    {
        let _g = no_grad();
        assert!(!nabla_core::is_grad_enabled());
        let y = x.as_tensor().exp().unwrap().mul(&x.as_tensor()).unwrap();
        assert!(!y.requires_grad());
        assert!(y.op_name().is_none());
        assert!(y.sum().unwrap().backward().is_err());
        {
            let _inner = no_grad();
        }
        assert!(
            !nabla_core::is_grad_enabled(),
            "an inner guard restores the outer state"
        );
    }
    assert!(nabla_core::is_grad_enabled());
    let y = x.as_tensor().exp().unwrap();
    assert!(y.requires_grad());
    assert_eq!(y.op_name(), Some("exp"));
    // no_grad is per thread
    let _g = no_grad();
    let other = std::thread::spawn(nabla_core::is_grad_enabled)
        .join()
        .unwrap();
    assert!(other);
}

#[test]
fn detach_stops_the_gradient() {
    let x = Var::new(&t(vec![1.5, -0.5], &[2]));
    let xt = x.as_tensor();
    let d = xt.detach();
    assert!(!d.requires_grad() && !d.is_var());
    assert_eq!(vals(&d), vals(&xt));
    // y = x * detach(x): dy/dx = detach(x), not 2x
    let y = xt.mul(&d).unwrap().sum().unwrap();
    assert_eq!(grad(&y.backward().unwrap(), &x), vec![1.5, -0.5]);
    // everything computed from a detached tensor alone is constant
    let c = d.exp().unwrap().sum().unwrap();
    assert!(!c.requires_grad());
    assert!(c.backward().is_err());
    // detaching an intermediate cuts only that path
    let a = xt.sqr().unwrap();
    let y = a.detach().add(&xt).unwrap().sum().unwrap();
    assert_eq!(grad(&y.backward().unwrap(), &x), vec![1.0, 1.0]);
}

// ---------- second order ----------

/// A variable holding `x`, and sum(f(x)) computed from it.
fn summed(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &[f64]) -> (Var, Tensor) {
    let v = Var::new(&t(x.to_vec(), &[x.len()]));
    let s = f(&v.as_tensor()).unwrap().sum().unwrap();
    (v, s)
}

/// First derivative of sum(f(x)) at `x` by backpropagation (elementwise f: the diagonal).
fn first_derivative(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &[f64]) -> Vec<f64> {
    let (v, s) = summed(f, x);
    grad(&s.backward().unwrap(), &v)
}

/// Second derivative of an elementwise f by double backpropagation.
fn second_derivative(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &[f64]) -> Vec<f64> {
    let (v, s) = summed(f, x);
    let g = s.backward_with(None, true).unwrap();
    let gx = v.grad(&g).unwrap();
    assert!(
        gx.requires_grad(),
        "create_graph gives a differentiable gradient"
    );
    grad(&gx.sum().unwrap().backward().unwrap(), &v)
}

/// Central differences of the first derivative.
fn fd_of_first(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &[f64], h: f64) -> Vec<f64> {
    let xp: Vec<f64> = x.iter().map(|v| v + h).collect();
    let xm: Vec<f64> = x.iter().map(|v| v - h).collect();
    let (dp, dm) = (first_derivative(f, &xp), first_derivative(f, &xm));
    dp.iter()
        .zip(&dm)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect()
}

#[test]
fn second_derivative_of_tanh() {
    let x = [-1.5, -0.3, 0.2, 0.9, 2.0];
    let f = |t: &Tensor| t.tanh();
    let d2 = second_derivative(&f, &x);
    let exact: Vec<f64> = x
        .iter()
        .map(|v: &f64| -2.0 * v.tanh() * (1.0 - v.tanh().powi(2)))
        .collect();
    assert_close(&d2, &exact, 1e-12);
    assert_close(&d2, &fd_of_first(&f, &x, 1e-5), 1e-8);
    // without create_graph the gradient is a constant
    let v = Var::new(&t(x.to_vec(), &[5]));
    let g = v
        .as_tensor()
        .tanh()
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert!(!v.grad(&g).unwrap().requires_grad());
}

#[test]
fn second_and_third_derivative_of_cube() {
    let x = [-2.0, -0.5, 0.0, 0.7, 3.0];
    let six_x: Vec<f64> = x.iter().map(|v| 6.0 * v).collect();
    let by_powf = |t: &Tensor| t.powf(3.0);
    let by_mul = |t: &Tensor| t.mul(t)?.mul(t);
    for f in [&by_powf as &dyn Fn(&Tensor) -> Result<Tensor>, &by_mul] {
        let d2 = second_derivative(f, &x);
        assert_close(&d2, &six_x, 1e-12);
        assert_close(&d2, &fd_of_first(f, &x, 1e-5), 1e-8);
        // third order: d3/dx3 x^3 = 6
        let v = Var::new(&t(x.to_vec(), &[5]));
        let g1 = f(&v.as_tensor())
            .unwrap()
            .sum()
            .unwrap()
            .backward_with(None, true)
            .unwrap();
        let g2 = v
            .grad(&g1)
            .unwrap()
            .sum()
            .unwrap()
            .backward_with(None, true)
            .unwrap();
        let g3 = v.grad(&g2).unwrap().sum().unwrap().backward().unwrap();
        assert_close(&grad(&g3, &v), &[6.0; 5], 1e-12);
    }
}

struct Mlp {
    x: Tensor,
    y: Tensor,
}

impl Mlp {
    /// mean((tanh(x w1ᵀ + b1) w2ᵀ + b2 - y)²) for params [w1 [4,3], b1 [4], w2 [2,4], b2 [2]].
    fn loss(&self, p: &[Tensor]) -> Result<Tensor> {
        let h = self.x.matmul(&p[0].t()?)?.add(&p[1])?.tanh()?;
        let out = h.matmul(&p[2].t()?)?.add(&p[3])?;
        out.sub(&self.y)?.sqr()?.mean()
    }

    fn grads(&self, p: &[Tensor]) -> Vec<Vec<f64>> {
        let vars: Vec<Var> = p.iter().map(Var::new).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
        let g = self.loss(&ts).unwrap().backward().unwrap();
        vars.iter().map(|v| grad(&g, v)).collect()
    }
}

/// A Hessian-vector product by double backpropagation equals central differences of the
/// gradient along v: H v ≈ (g(w + h v) - g(w - h v)) / 2h.
#[test]
fn hessian_vector_product_of_a_small_mlp() {
    let r = &mut Mt19937::new(42);
    let shapes: [&[usize]; 4] = [&[4, 3], &[4], &[2, 4], &[2]];
    let p: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::randn(s, DType::F64, r).unwrap())
        .collect();
    let v: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::randn(s, DType::F64, r).unwrap())
        .collect();
    let mlp = Mlp {
        x: Tensor::randn(&[5, 3], DType::F64, r).unwrap(),
        y: Tensor::randn(&[5, 2], DType::F64, r).unwrap(),
    };

    let vars: Vec<Var> = p.iter().map(Var::new).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
    let g = mlp.loss(&ts).unwrap().backward_with(None, true).unwrap();
    let mut gv = Tensor::zeros(&[], DType::F64);
    for (var, vi) in vars.iter().zip(&v) {
        gv = gv
            .add(&var.grad(&g).unwrap().mul(vi).unwrap().sum().unwrap())
            .unwrap();
    }
    let hv = gv.backward().unwrap();

    let h = 1e-5;
    let shift = |s: f64| -> Vec<Tensor> {
        p.iter()
            .zip(&v)
            .map(|(a, b)| a.add(&b.mul_scalar(s).unwrap()).unwrap())
            .collect()
    };
    let (gp, gm) = (mlp.grads(&shift(h)), mlp.grads(&shift(-h)));
    for (i, var) in vars.iter().enumerate() {
        let fd: Vec<f64> = gp[i]
            .iter()
            .zip(&gm[i])
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        let got = grad(&hv, var);
        assert_close(&got, &fd, 1e-6);
        assert!(
            got.iter().any(|x| x.abs() > 1e-3),
            "the product should not be trivially zero: {got:?}"
        );
    }
}

// ---------- thread-count independence ----------

/// Large sums, means, softmaxes, matmuls, elementwise ops and a backward pass.
fn large_workload(dtype: DType) -> Vec<(&'static str, Vec<u64>)> {
    let r = &mut Mt19937::new(9);
    let x = Tensor::randn(&[1 << 20], dtype, r).unwrap();
    let y = Tensor::randn(&[1 << 20], dtype, r).unwrap();
    let m = Tensor::randn(&[300, 4000], dtype, r).unwrap();
    let a = Tensor::randn(&[256, 512], dtype, r).unwrap();
    let b = Tensor::randn(&[512, 384], dtype, r).unwrap();
    let row = Tensor::randn(&[4000], dtype, r).unwrap();
    let sq = x.reshape(&[1024, 1024]).unwrap();
    let w = Var::new(&m);
    let loss = w
        .as_tensor()
        .mul(&row)
        .unwrap()
        .tanh()
        .unwrap()
        .sum()
        .unwrap();
    let g = loss.backward().unwrap();
    vec![
        ("sum", bits(&x.sum().unwrap())),
        ("mean", bits(&x.mean().unwrap())),
        ("exp", bits(&x.exp().unwrap())),
        ("tanh", bits(&x.tanh().unwrap())),
        ("mul", bits(&x.mul(&y).unwrap())),
        ("add broadcast", bits(&m.add(&row).unwrap())),
        ("softmax last", bits(&sq.softmax(-1).unwrap())),
        ("softmax first", bits(&sq.softmax(0).unwrap())),
        ("logsumexp", bits(&m.logsumexp(&[1], false).unwrap())),
        ("matmul", bits(&a.matmul(&b).unwrap())),
        (
            "matmul transposed",
            bits(&b.t().unwrap().matmul(&a.t().unwrap()).unwrap()),
        ),
        ("sum axis 0", bits(&m.sum_dims(&[0], false).unwrap())),
        ("sum axis 1", bits(&m.sum_dims(&[1], false).unwrap())),
        (
            "sum of transposed axis 0",
            bits(&m.t().unwrap().sum_dims(&[0], false).unwrap()),
        ),
        ("sum all of matrix", bits(&m.sum().unwrap())),
        ("mean axis 0", bits(&m.mean_dims(&[0], true).unwrap())),
        ("max axis 1", bits(&m.max_dims(&[1], false).unwrap())),
        ("var axis 0", bits(&m.var_dims(&[0], false, 1).unwrap())),
        ("loss", bits(&loss)),
        ("grad", bits(w.grad(&g).unwrap())),
    ]
}

#[test]
fn results_are_bitwise_identical_for_any_thread_count() {
    for dtype in [DType::F32, DType::F64] {
        let run = |n: usize| on_threads(n, || large_workload(dtype));
        let one = run(1);
        for n in [2, 3] {
            let many = run(n);
            for ((name, a), (_, b)) in one.iter().zip(&many) {
                assert!(a == b, "{dtype} {name}: 1 thread and {n} threads differ");
            }
        }
    }
}

/// The large sums are also right (not just repeatable): against an f64 reference.
#[test]
fn large_reductions_match_an_f64_reference() {
    let r = &mut Mt19937::new(11);
    let m = Tensor::randn(&[300, 4000], DType::F32, r).unwrap();
    let v = m.to_vec_f64();
    let cols = m.sum_dims(&[0], false).unwrap().to_vec_f64();
    let rows = m.sum_dims(&[1], false).unwrap().to_vec_f64();
    for j in (0..4000).step_by(397) {
        let want: f64 = (0..300).map(|i| v[i * 4000 + j]).sum();
        assert!(
            (cols[j] - want).abs() < 1e-3,
            "column {j}: {} vs {want}",
            cols[j]
        );
    }
    for i in (0..300).step_by(37) {
        let want: f64 = v[i * 4000..(i + 1) * 4000].iter().sum();
        assert!(
            (rows[i] - want).abs() < 1e-2,
            "row {i}: {} vs {want}",
            rows[i]
        );
    }
    let total: f64 = v.iter().sum();
    assert!((m.sum().unwrap().to_scalar().unwrap() - total).abs() < 0.5);
}

#[test]
fn anomaly_mode_names_the_first_non_finite_op() {
    use nabla_core::anomaly;
    // forward: recorded, with the layer path, and reported once
    let x = Var::from_vec(vec![1.0f64, -1.0], &[2]).unwrap();
    {
        let _on = anomaly::detect_anomaly();
        let _l = anomaly::scope("2", "Linear");
        let y = x.as_tensor().sqrt().unwrap(); // sqrt(-1) = NaN
        let _ = y.exp().unwrap(); // NaN again: only the first is kept
        let e = anomaly::take_anomaly().unwrap();
        assert!(
            e.contains("sqrt") && e.contains("2 (Linear)") && e.contains("forward"),
            "{e}"
        );
        assert!(e.contains("[2]"), "{e}");
        assert!(anomaly::take_anomaly().is_none());
    }
    // backward: the gradient of sqrt at 0 is infinite; backward fails naming the op
    let z = Var::from_vec(vec![0.0f64, 4.0], &[2]).unwrap();
    let loss = z.as_tensor().sqrt().unwrap().sum().unwrap();
    let e = {
        let _on = anomaly::detect_anomaly();
        loss.backward().err().unwrap()
    };
    assert!(matches!(e, nabla_core::Error::Anomaly(_)), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("sqrt") && m.contains("backward"), "{m}");
    // outside the scope nothing is checked
    let loss = z.as_tensor().sqrt().unwrap().sum().unwrap();
    assert!(loss.backward().is_ok());
    let _ = x.as_tensor().sqrt().unwrap();
    assert!(anomaly::take_anomaly().is_none());
}

/// ReLU's first-order rule writes its mask over the incoming gradient only when nothing else
/// holds it: a seed the caller keeps, and the one gradient an `add` hands to both of its
/// inputs, come out as they went in, and each input gets its own mask.
#[test]
fn relu_leaves_shared_gradients_alone() {
    let (a, b) = (
        Var::new(&t(vec![1.0, -2.0, 3.0, -4.0], &[4])),
        Var::new(&t(vec![-1.0, 2.0, -3.0, 4.0], &[4])),
    );
    let seed = t(vec![0.5, 0.25, 2.0, 8.0], &[4]);
    let y = a
        .as_tensor()
        .relu()
        .unwrap()
        .add(&b.as_tensor().relu().unwrap())
        .unwrap();
    let g = y.backward_with(Some(seed.clone()), false).unwrap();
    assert_eq!(vals(a.grad(&g).unwrap()), [0.5, 0.0, 2.0, 0.0]);
    assert_eq!(vals(b.grad(&g).unwrap()), [0.0, 0.25, 0.0, 8.0]);
    assert_eq!(vals(&seed), [0.5, 0.25, 2.0, 8.0]);
    // a private gradient (from mul's rule) is masked in place, with the same values
    let z = a.as_tensor().mul_scalar(3.0).unwrap().relu().unwrap();
    let g = z.mul(&seed).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(vals(a.grad(&g).unwrap()), [1.5, 0.0, 6.0, 0.0]);
}

/// The one-pass first-order rules of tanh and sigmoid give bitwise the gradients of the
/// composed rules that second order uses (`create_graph`), in f32 and f64.
#[test]
fn one_pass_tanh_and_sigmoid_rules_equal_the_composed_ones_bitwise() {
    let mut rng = Mt19937::new(11);
    for dtype in [DType::F32, DType::F64] {
        let x = Var::new(
            &Tensor::randn(&[257], dtype, &mut rng)
                .unwrap()
                .mul_scalar(3.0)
                .unwrap(),
        );
        let w = Tensor::randn(&[257], dtype, &mut rng).unwrap();
        for f in [Tensor::tanh, Tensor::sigmoid] {
            let loss = || f(&x.as_tensor()).unwrap().mul(&w).unwrap().sum().unwrap();
            let one_pass = loss().backward().unwrap();
            let composed = loss().backward_with(None, true).unwrap();
            let (a, b) = (x.grad(&one_pass).unwrap(), x.grad(&composed).unwrap());
            assert_eq!(a.to_vec_f64(), b.to_vec_f64(), "{dtype:?}");
        }
    }
}
