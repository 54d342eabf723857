//! `scaled_dot_product_attention`: the fused flash kernel against the composed form (matmul,
//! mask, softmax, matmul) over random shapes, gradcheck on shapes past one block, PyTorch's
//! numbers, second order, thread-count independence, memory, and its errors.

use nabla_core::{gradcheck, DType, GradcheckOptions, Mt19937, Result, Tensor, Var};

mod common;
use common::{bits, on_threads, t};

/// Counts the largest allocation, to show that no `L × S` buffer is made.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Counting;
    pub static LARGEST: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: forwards to the system allocator, only recording sizes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            LARGEST.fetch_max(l.size(), Ordering::Relaxed);
            // SAFETY: the caller's contract is the system allocator's.
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            LARGEST.fetch_max(l.size(), Ordering::Relaxed);
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            LARGEST.fetch_max(new, Ordering::Relaxed);
            // SAFETY: as above.
            unsafe { System.realloc(p, l, new) }
        }
    }
}

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// The composed form, the test oracle: `softmax(q kᵀ · scale + mask) v` in ordinary ops, a
/// row whose keys are all blocked giving zeros.
fn composed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: Option<f64>,
) -> Result<Tensor> {
    let e = q.shape()[q.rank() - 1];
    let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
    let mut sc = q.matmul(&k.transpose(-1, -2)?)?.mul_scalar(scale)?;
    let ninf = Tensor::full(f64::NEG_INFINITY, &[], q.dtype());
    if let Some(m) = mask {
        sc = if m.dtype() == DType::I64 {
            Tensor::where_cond(m, &sc, &ninf)?
        } else {
            sc.add(m)?
        };
    }
    if causal {
        let (l, s) = (q.shape()[q.rank() - 2], k.shape()[k.rank() - 2]);
        let keep: Vec<i64> = (0..l * s).map(|x| (x % s <= x / s) as i64).collect();
        sc = Tensor::where_cond(&Tensor::from_vec(keep, &[l, s])?, &sc, &ninf)?;
    }
    let m = sc.max_dims(&[-1], true)?.detach();
    let m = Tensor::where_cond(&m.isfinite()?, &m, &Tensor::zeros(&[], q.dtype()))?;
    let ex = sc.sub(&m)?.exp()?;
    let sum = ex.sum_dims(&[-1], true)?;
    let sum = Tensor::where_cond(&sum.eq_scalar(0.0)?, &Tensor::ones(&[], q.dtype()), &sum)?;
    ex.div(&sum)?.matmul(v)
}

fn randn(shape: &[usize], dtype: DType, rng: &mut Mt19937) -> Tensor {
    Tensor::randn(shape, dtype, rng).unwrap()
}

/// Asserts |a - b| <= tol * max(1, |b|) elementwise.
fn close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (x, y)) in a.to_vec_f64().iter().zip(b.to_vec_f64()).enumerate() {
        assert!(
            (x - y).abs() <= tol * y.abs().max(1.0),
            "{what}: element {i}: {x} vs {y}"
        );
    }
}

/// The output and the gradients of `sum(y * w)` in q, k, v (and a float mask) of `f`.
fn value_and_grads(
    xs: &[Tensor],
    mask: Option<&Tensor>,
    w: &Tensor,
    f: impl Fn(&[Tensor], Option<&Tensor>) -> Result<Tensor>,
) -> Vec<Tensor> {
    let vars: Vec<Var> = xs.iter().map(Var::new).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
    let mvar = mask.filter(|m| m.dtype() != DType::I64).map(Var::new);
    let mt = mvar.as_ref().map(|m| m.as_tensor());
    let y = f(&ts, mt.as_ref().or(mask)).unwrap();
    let g = y.mul(w).unwrap().sum().unwrap().backward().unwrap();
    let mut out = vec![y.detach()];
    out.extend(vars.iter().map(|v| v.grad(&g).unwrap().clone()));
    out.extend(mvar.map(|m| m.grad(&g).unwrap().clone()));
    out
}

/// Random shapes (past one block, not multiples of it, L < S and L > S, broadcast k and v,
/// strided q), each mask kind and causal, f64 and f32: the fused op equals the composed form,
/// values and gradients, including rows whose keys are all blocked.
#[test]
fn equals_the_composed_form_on_random_shapes() {
    let mut rng = Mt19937::new(25);
    for case in 0..40 {
        let dtype = if case % 3 == 2 {
            DType::F32
        } else {
            DType::F64
        };
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
        let pick = |rng: &mut Mt19937, lo: u64, hi: u64| (lo + rng.below(hi - lo + 1)) as usize;
        let (n, h) = (pick(&mut rng, 1, 2), pick(&mut rng, 1, 3));
        let (l, s) = if case % 5 == 0 {
            (pick(&mut rng, 60, 150), pick(&mut rng, 60, 150))
        } else {
            (pick(&mut rng, 1, 20), pick(&mut rng, 1, 20))
        };
        let (e, ev) = (pick(&mut rng, 1, 9), pick(&mut rng, 1, 9));
        // q as a transposed view [n, h, l, e] of [n, l, h, e] every other case
        let q = if case % 2 == 0 {
            randn(&[n, l, h, e], dtype, &mut rng)
                .transpose(1, 2)
                .unwrap()
        } else {
            randn(&[n, h, l, e], dtype, &mut rng)
        };
        let kv_heads = if case % 4 == 1 { 1 } else { h };
        let k = randn(&[n, kv_heads, s, e], dtype, &mut rng);
        let v = randn(&[n, kv_heads, s, ev], dtype, &mut rng);
        let kind = case % 4;
        let causal = kind == 3;
        let mask = match kind {
            1 => {
                // additive, broadcast over the batch, with one row all -inf
                let mut m: Vec<f64> = (0..l * s)
                    .map(|_| {
                        if rng.random() < 0.2 {
                            f64::NEG_INFINITY
                        } else {
                            rng.random() - 0.5
                        }
                    })
                    .collect();
                let row = rng.below(l as u64) as usize;
                m[row * s..(row + 1) * s].fill(f64::NEG_INFINITY);
                Some(t(m, &[l, s]).to_dtype(dtype).unwrap())
            }
            2 => {
                // keep-mask per batch item [n, 1, l, s], with one row all 0
                let mut m: Vec<i64> = (0..n * l * s)
                    .map(|_| (rng.random() < 0.7) as i64)
                    .collect();
                let row = rng.below((n * l) as u64) as usize;
                m[row * s..(row + 1) * s].fill(0);
                Some(Tensor::from_vec(m, &[n, 1, l, s]).unwrap())
            }
            _ => None,
        };
        let scale = (case % 7 == 0).then_some(0.3);
        let w = randn(&[n, h, l, ev], dtype, &mut rng);
        let fused = value_and_grads(
            &[q.clone(), k.clone(), v.clone()],
            mask.as_ref(),
            &w,
            |x, m| x[0].scaled_dot_product_attention(&x[1], &x[2], m, causal, scale),
        );
        let reference = value_and_grads(&[q, k, v], mask.as_ref(), &w, |x, m| {
            composed(&x[0], &x[1], &x[2], m, causal, scale)
        });
        for (i, (a, b)) in fused.iter().zip(&reference).enumerate() {
            let what = format!(
                "case {case} {dtype} [{n}, {h}, {l}, {e}] S {s} Ev {ev} kind {kind}: {}",
                ["y", "dq", "dk", "dv", "dmask"][i]
            );
            assert!(
                a.to_vec_f64().iter().all(|x| x.is_finite()),
                "{what}: not finite"
            );
            close(&what, a, b, tol);
        }
    }
}

/// Causal attention with L > S and L < S (top-left aligned, as `torch.ones(L, S).tril()`):
/// with L < S the last keys are never attended; with L > S every row sees all keys from row
/// S - 1 on.
#[test]
fn causal_is_top_left_aligned() {
    let mut rng = Mt19937::new(3);
    for (l, s) in [(70, 5), (5, 70), (130, 129), (1, 1)] {
        let q = randn(&[2, l, 4], DType::F64, &mut rng);
        let k = randn(&[2, s, 4], DType::F64, &mut rng);
        let v = randn(&[2, s, 3], DType::F64, &mut rng);
        let w = randn(&[2, l, 3], DType::F64, &mut rng);
        let xs = [q, k, v];
        let a = value_and_grads(&xs, None, &w, |x, _| {
            x[0].scaled_dot_product_attention(&x[1], &x[2], None, true, None)
        });
        let b = value_and_grads(&xs, None, &w, |x, _| {
            composed(&x[0], &x[1], &x[2], None, true, None)
        });
        for (x, y) in a.iter().zip(&b) {
            close(&format!("L {l} S {s}"), x, y, 1e-12);
        }
        if l < s {
            // keys past L - 1 get no gradient
            let dk = a[2].narrow(1, l, s - l).unwrap().to_vec_f64();
            assert!(dk.iter().all(|&x| x == 0.0));
        }
    }
}

fn golden_inputs() -> [Tensor; 4] {
    let vals = |n: usize, a: usize, b: usize, shape: &[usize]| {
        t(
            (0..n)
                .map(|i| ((i * a + b) % 11) as f64 / 5.0 - 1.0)
                .collect(),
            shape,
        )
    };
    [
        vals(12, 7, 3, &[1, 2, 3, 2]),
        vals(16, 5, 1, &[1, 2, 4, 2]),
        vals(24, 3, 2, &[1, 2, 4, 3]),
        vals(18, 4, 5, &[1, 2, 3, 3]),
    ]
}

/// PyTorch 2.15's numbers for a float mask with a fully masked row (zeros out, zero
/// gradients) and for the same blocking as a bool mask with an explicit scale.
#[test]
fn matches_pytorch() {
    // import torch, torch.nn.functional as F
    // def vals(n, a, b): return torch.tensor([((i * a + b) % 11) / 5 - 1 for i in range(n)], dtype=torch.float64)
    // q = vals(12, 7, 3).reshape(1, 2, 3, 2).requires_grad_()
    // k = vals(16, 5, 1).reshape(1, 2, 4, 2).requires_grad_()
    // v = vals(24, 3, 2).reshape(1, 2, 4, 3).requires_grad_()
    // mask = torch.tensor([[0.0, -0.5, 0.25, float('-inf')], [float('-inf')]*4,
    //                      [1.0, 0.0, float('-inf'), -1.0]], dtype=torch.float64)
    // y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    // w = vals(18, 4, 5).reshape(1, 2, 3, 3); (y * w).sum().backward()
    // print(y.flatten().tolist(), q.grad.flatten().tolist(), k.grad..., v.grad...)
    #[rustfmt::skip]
    let want_float = [
        vec![-0.3235007738434249, -0.3217517295459811, 0.27824827045401906, 0.0, 0.0, 0.0, -0.47784172773436057, 0.12215827226563944, 0.2795758185038071, -0.4481116232638296, 0.15188837673617045, 0.014298028421194126, 0.0, 0.0, 0.0, -0.05172639548765936, 0.437337363874978, -0.48989061871212625],
        vec![-0.032529042627087605, 0.00793337301855305, 0.0, 0.0, -0.08903744175131688, 0.0207433203989218, -0.008783382733922287, -0.008783382733922325, 0.0, 0.0, -0.04505437510577749, 0.08536761333756623],
        vec![-0.0053772158878396354, 0.021274857981110423, 0.03794069018871905, -0.002882850869455579, 0.007356802844661938, -0.01839200711165484, -0.03992027714554133, 0.0, -0.02568512393567214, 0.02993448610070252, 0.020108117403359167, -0.019823458999497615, -0.01813608227556773, 0.013602061706675796, 0.023713088807880676, -0.02371308880788068],
        vec![0.24051489259901876, -0.22724488851585228, -0.4007892035357804, 0.07901557035337528, 0.010872929061210262, -0.19581667638517403, 0.0, 0.21754580207365684, -0.1631593515552426, 0.08046953704760589, -0.20117384261901475, -0.04023476852380294, 0.8953555416254955, -0.545892487130374, 0.27767781501583705, 0.3808904554667837, -0.26949936865700047, 0.10215195941373327, 0.27332843898164705, -0.364437918642196, 0.0, 0.05042556392607394, -0.02017022557042958, 0.02017022557042957],
    ];
    // bm = torch.tensor([[1,1,1,0],[0,0,0,0],[1,1,0,1]], dtype=torch.bool)
    // y2 = F.scaled_dot_product_attention(q2, k2, v2, attn_mask=bm, scale=0.8)
    // (y2 * w).sum().backward()  (q2, k2, v2: fresh copies of q, k, v)
    #[rustfmt::skip]
    let want_bool = [
        vec![-0.5101754342442166, -0.2978184136867999, 0.3021815863132001, 0.0, 0.0, 0.0, -0.07849842835440202, 0.5215015716455982, -0.19180615101635107, -0.4085318773008201, 0.19146812269918007, 0.08147232841971472, 0.0, 0.0, 0.0, 0.037923041310749334, 0.20173079890770887, -0.08017307989077088],
        vec![-0.02420146730896308, 0.0069452793053811765, 0.0, 0.0, -0.17131634151581568, 0.04454972400498325, -0.00852896588172881, -0.008528965881728863, 0.0, 0.0, -0.1196700237328063, 0.3391478627998182],
        vec![0.012977880051197719, 0.020568784429476673, 0.059855826208302966, -0.006411172332047479, 0.005663044838971689, -0.014157612097429223, -0.0784967510984723, 0.0, -0.05562119914319339, 0.05984019426628689, -0.010560351737287864, 0.010651327372829728, -0.01723988303454139, 0.012929912275906045, 0.08342143391502263, -0.08342143391502266],
        vec![0.0857602935879941, 0.13092352209008154, -0.30187333883904716, 0.07545648410983333, 0.1250734502316832, -0.27301423743461656, 0.0, 0.14096108343366662, -0.10572081257524994, 0.23878322230217253, -0.5969580557554315, -0.11939161115108626, 0.5945006160755268, -0.41852644861043825, 0.16034615978154174, 0.6007971502592797, -0.4269218275221089, 0.16034615978154174, 0.20643303257290238, -0.2752440434305365, 0.0, 0.1982692010922911, -0.07930768043691644, 0.07930768043691643],
    ];
    let [q, k, v, w] = golden_inputs();
    let ninf = f64::NEG_INFINITY;
    #[rustfmt::skip]
    let fmask = t(vec![0.0, -0.5, 0.25, ninf, ninf, ninf, ninf, ninf, 1.0, 0.0, ninf, -1.0], &[3, 4]);
    let bmask = Tensor::from_vec(vec![1i64, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1], &[3, 4]).unwrap();
    for (mask, scale, want) in [(fmask, None, want_float), (bmask, Some(0.8), want_bool)] {
        let xs = [q.clone(), k.clone(), v.clone()];
        // the float mask is a constant here (a -inf entry has no finite gradient)
        let mask = mask.detach();
        let vars: Vec<Var> = xs.iter().map(Var::new).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
        let y = ts[0]
            .scaled_dot_product_attention(&ts[1], &ts[2], Some(&mask), false, scale)
            .unwrap();
        let g = y.mul(&w).unwrap().sum().unwrap().backward().unwrap();
        let got = [
            y.to_vec_f64(),
            vars[0].grad(&g).unwrap().to_vec_f64(),
            vars[1].grad(&g).unwrap().to_vec_f64(),
            vars[2].grad(&g).unwrap().to_vec_f64(),
        ];
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            for (j, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-14,
                    "{} [{j}]: {x} vs {y}",
                    ["y", "dq", "dk", "dv"][i]
                );
            }
        }
    }
}

fn check(what: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, xs: &[Tensor]) {
    let rep = gradcheck(f, xs, GradcheckOptions::default()).unwrap();
    assert!(rep.passed(), "{what}: {rep}");
}

/// gradcheck (f64) in q, k and v past one block (L = S = 130), with causal, a float mask
/// (also in the mask), a keep-mask, L != S and E != Ev.
#[test]
fn gradcheck_past_one_block() {
    let mut rng = Mt19937::new(11);
    let r = &mut rng;
    let qkv = |l: usize, s: usize, e: usize, ev: usize, r: &mut Mt19937| {
        vec![
            randn(&[1, l, e], DType::F64, r),
            randn(&[1, s, e], DType::F64, r),
            randn(&[1, s, ev], DType::F64, r),
        ]
    };
    check(
        "plain 130",
        |x| x[0].scaled_dot_product_attention(&x[1], &x[2], None, false, None),
        &qkv(130, 130, 3, 2, r),
    );
    check(
        "causal 130",
        |x| x[0].scaled_dot_product_attention(&x[1], &x[2], None, true, None),
        &qkv(130, 130, 2, 3, r),
    );
    check(
        "causal L 67 > S 65",
        |x| x[0].scaled_dot_product_attention(&x[1], &x[2], None, true, Some(0.7)),
        &qkv(67, 65, 2, 1, r),
    );
    let keep = Tensor::from_vec(
        (0..70 * 131)
            .map(|i| ((i * 7) % 5 != 0 && i / 131 != 3) as i64)
            .collect::<Vec<_>>(),
        &[70, 131],
    )
    .unwrap();
    check(
        "keep-mask 70 x 131 with a blocked row",
        |x| x[0].scaled_dot_product_attention(&x[1], &x[2], Some(&keep), false, None),
        &qkv(70, 131, 3, 2, r),
    );
    // the float mask as a fourth input: its gradient too (the composed rule)
    let mut xs = qkv(66, 70, 2, 2, r);
    xs.push(Tensor::uniform(&[66, 70], -1.0, 1.0, DType::F64, r).unwrap());
    check(
        "float mask 66 x 70 (and its gradient)",
        |x| x[0].scaled_dot_product_attention(&x[1], &x[2], Some(&x[3]), false, None),
        &xs,
    );
}

/// Gradients of gradients: with `create_graph` the rule is the composed form's, so the
/// second derivative equals the composed path's, and passes gradcheck.
#[test]
fn second_order_equals_the_composed_path() {
    let mut rng = Mt19937::new(5);
    let xs = vec![
        randn(&[2, 3, 2], DType::F64, &mut rng),
        randn(&[2, 4, 2], DType::F64, &mut rng),
        randn(&[2, 4, 3], DType::F64, &mut rng),
    ];
    let w = randn(&[2, 3, 3], DType::F64, &mut rng);
    let w2: Vec<Tensor> = xs
        .iter()
        .map(|x| randn(x.shape(), DType::F64, &mut rng))
        .collect();
    for causal in [false, true] {
        // d/dx of sum_i <grad_i(x), w2_i>, the gradient being taken with create_graph
        let second = |fused: bool| {
            let vars: Vec<Var> = xs.iter().map(Var::new).collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
            let y = if fused {
                ts[0].scaled_dot_product_attention(&ts[1], &ts[2], None, causal, None)
            } else {
                composed(&ts[0], &ts[1], &ts[2], None, causal, None)
            }
            .unwrap();
            let g = y
                .mul(&w)
                .unwrap()
                .sum()
                .unwrap()
                .backward_with(None, true)
                .unwrap();
            let mut z = Tensor::zeros(&[], DType::F64);
            for (v, w2) in vars.iter().zip(&w2) {
                z = z
                    .add(&v.grad(&g).unwrap().mul(w2).unwrap().sum().unwrap())
                    .unwrap();
            }
            let g2 = z.backward().unwrap();
            vars.iter()
                .map(|v| v.grad(&g2).unwrap().clone())
                .collect::<Vec<_>>()
        };
        for (a, b) in second(true).iter().zip(&second(false)) {
            close("second order", a, b, 1e-12);
        }
        // gradgradcheck of the gradient in q, k, v
        let first = |x: &[Tensor]| -> Result<Tensor> {
            let x: Vec<Tensor> = x
                .iter()
                .map(|t| {
                    if t.requires_grad() {
                        t.clone()
                    } else {
                        Var::new(t).as_tensor()
                    }
                })
                .collect();
            let y = x[0].scaled_dot_product_attention(&x[1], &x[2], None, causal, None)?;
            let g = y.mul(&w)?.sum()?.backward_with(None, true)?;
            let parts: Vec<Tensor> = x
                .iter()
                .map(|t| g.get(t).unwrap().reshape(&[t.numel()]))
                .collect::<Result<_>>()?;
            Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)
        };
        check("gradgradcheck", first, &xs);
    }
}

/// Large enough to be split across threads (forward and backward): the same bits on 1, 2
/// and 3 threads.
#[test]
fn same_bits_for_any_thread_count() {
    for dtype in [DType::F32, DType::F64] {
        let work = || {
            let mut rng = Mt19937::new(9);
            let q = Var::new(&randn(&[2, 3, 150, 16], dtype, &mut rng));
            let k = Var::new(&randn(&[2, 3, 140, 16], dtype, &mut rng));
            let v = Var::new(&randn(&[2, 3, 140, 8], dtype, &mut rng));
            let w = randn(&[2, 3, 150, 8], dtype, &mut rng);
            let y = q
                .as_tensor()
                .scaled_dot_product_attention(&k.as_tensor(), &v.as_tensor(), None, true, None)
                .unwrap();
            let g = y.mul(&w).unwrap().sum().unwrap().backward().unwrap();
            let mut out = bits(&y);
            for x in [&q, &k, &v] {
                out.extend(bits(x.grad(&g).unwrap()));
            }
            out
        };
        let one = on_threads(1, work);
        for n in [2, 3] {
            assert!(
                one == on_threads(n, work),
                "{dtype}: 1 and {n} threads differ"
            );
        }
    }
}

/// [1, 2, 2048, 16] causal, forward and backward: no allocation anywhere near one `L × S`
/// score matrix (16 MiB in f32); the largest is a few of the `[.., L, E]` tensors.
#[test]
fn memory_grows_with_the_sequence_not_its_square() {
    use std::sync::atomic::Ordering;
    let mut rng = Mt19937::new(1);
    let (l, e) = (2048, 16);
    let q = Var::new(&randn(&[1, 2, l, e], DType::F32, &mut rng));
    let k = Var::new(&randn(&[1, 2, l, e], DType::F32, &mut rng));
    let v = Var::new(&randn(&[1, 2, l, e], DType::F32, &mut rng));
    // the counter sees an L x S buffer
    counting::LARGEST.store(0, Ordering::Relaxed);
    std::hint::black_box(vec![0f32; l * l]);
    assert!(counting::LARGEST.load(Ordering::Relaxed) >= l * l * 4);
    counting::LARGEST.store(0, Ordering::Relaxed);
    let y = q
        .as_tensor()
        .scaled_dot_product_attention(&k.as_tensor(), &v.as_tensor(), None, true, None)
        .unwrap();
    assert_eq!(y.op_name(), Some("scaled_dot_product_attention"));
    let g = y.sum().unwrap().backward().unwrap();
    assert!(q.grad(&g).is_some());
    let largest = counting::LARGEST.load(Ordering::Relaxed);
    // other tests of this binary run beside this one, but none allocates 4 MiB at once
    assert!(
        largest < (l * l * 4) / 4,
        "an allocation of {largest} bytes"
    );
}

#[test]
fn errors_name_the_argument() {
    let f = |s: &[usize]| Tensor::zeros(s, DType::F32);
    let (q, k, v) = (f(&[2, 3, 4]), f(&[2, 5, 4]), f(&[2, 5, 6]));
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let cases = [
        (
            err(f(&[4]).scaled_dot_product_attention(&k, &v, None, false, None)),
            "q (self)",
        ),
        (
            err(q.scaled_dot_product_attention(&f(&[5]), &v, None, false, None)),
            "k needs",
        ),
        (
            err(q.scaled_dot_product_attention(&f(&[2, 5, 3]), &v, None, false, None)),
            "E = 4",
        ),
        (
            err(q.scaled_dot_product_attention(&k, &f(&[2, 4, 6]), None, false, None)),
            "S = 5",
        ),
        (
            err(q.scaled_dot_product_attention(&f(&[3, 5, 4]), &v, None, false, None)),
            "batch dims",
        ),
        (
            err(q.scaled_dot_product_attention(
                &k,
                &Tensor::zeros(&[2, 5, 6], DType::F64),
                None,
                false,
                None,
            )),
            "v is f64",
        ),
        (
            err(Tensor::zeros(&[2, 3, 4], DType::I64)
                .scaled_dot_product_attention(&k, &v, None, false, None)),
            "float",
        ),
        (
            err(q.scaled_dot_product_attention(&k, &v, Some(&f(&[3, 4])), false, None)),
            "attn_mask [3, 4]",
        ),
        (
            err(q.scaled_dot_product_attention(&k, &v, Some(&f(&[1, 2, 3, 5])), false, None)),
            "attn_mask",
        ),
        (
            err(q.scaled_dot_product_attention(
                &k,
                &v,
                Some(&Tensor::zeros(&[3, 5], DType::F64)),
                false,
                None,
            )),
            "attn_mask must be",
        ),
        (
            err(q.scaled_dot_product_attention(&k, &v, Some(&f(&[3, 5])), true, None)),
            "is_causal",
        ),
    ];
    for (msg, part) in cases {
        assert!(
            msg.contains("scaled_dot_product_attention") && msg.contains(part),
            "{msg:?} lacks {part:?}"
        );
    }
    // and the accepted forms: a [L, S] mask, an i64 mask broadcast over the batch, k and v
    // shared by heads, an empty key set (all rows blocked: zeros)
    assert!(q
        .scaled_dot_product_attention(&k, &v, Some(&f(&[3, 5])), false, None)
        .is_ok());
    let y = f(&[2, 4, 3, 4])
        .scaled_dot_product_attention(&f(&[2, 1, 5, 4]), &f(&[1, 5, 6]), None, false, None)
        .unwrap();
    assert_eq!(y.shape(), [2, 4, 3, 6]);
    let y = q
        .scaled_dot_product_attention(&f(&[2, 0, 4]), &f(&[2, 0, 6]), None, false, None)
        .unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0; 36]);
}

/// Not a test: rough timings of forward + backward (`cargo test --release -p nabla-core
/// --test attention -- --ignored --nocapture timings`).
#[test]
#[ignore]
fn timings() {
    let run = |shape: [usize; 4], fused: bool, reps: usize| {
        let mut rng = Mt19937::new(2);
        let q = Var::new(&randn(&shape, DType::F32, &mut rng));
        let k = Var::new(&randn(&shape, DType::F32, &mut rng));
        let v = Var::new(&randn(&shape, DType::F32, &mut rng));
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t0 = std::time::Instant::now();
            let (qt, kt, vt) = (q.as_tensor(), k.as_tensor(), v.as_tensor());
            let y = if fused {
                qt.scaled_dot_product_attention(&kt, &vt, None, true, None)
            } else {
                composed(&qt, &kt, &vt, None, true, None)
            }
            .unwrap();
            let g = y.sum().unwrap().backward().unwrap();
            assert!(q.grad(&g).is_some());
            best = best.min(t0.elapsed().as_secs_f64());
        }
        best * 1e3
    };
    for (shape, reps, both) in [([12, 4, 64, 32], 20, true), ([1, 8, 4096, 64], 2, false)] {
        let f = run(shape, true, reps);
        let c = if both {
            run(shape, false, reps)
        } else {
            f64::NAN
        };
        println!("{shape:?} causal fwd+bwd f32: fused {f:.2} ms, composed {c:.2} ms");
    }
}
