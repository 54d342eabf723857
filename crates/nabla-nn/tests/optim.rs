//! Optimizers against written-out scalar reference implementations of PyTorch's documented
//! update rules (f64, 10 steps, rtol 1e-12), plus groups, skipping, state round trips and
//! errors.

use nabla_core::{DType, GradStore, Tensor, Var};
use nabla_nn::optim::{Adagrad, Adam, AdamW, Optimizer, ParamGroup, RMSprop, Sgd};
use nabla_nn::StateDict;

// ---------------------------------------------------------------- the problem

/// Initial values of the two test parameters (shapes [2, 3] and [4]).
fn init() -> Vec<Vec<f64>> {
    vec![
        vec![0.5, -1.25, 2.0, 0.1, -0.7, 3.3],
        vec![1.5, -0.2, 0.9, -2.4],
    ]
}

fn shapes() -> Vec<Vec<usize>> {
    vec![vec![2, 3], vec![4]]
}

/// The gradient of parameter `k` at step `t`: a quadratic pull towards a target plus an
/// oscillating term, so the second moment sometimes shrinks (AMSGrad differs from Adam).
fn grad_of(k: usize, p: &[f64], t: usize) -> Vec<f64> {
    p.iter()
        .enumerate()
        .map(|(i, &x)| {
            let target = 0.3 * i as f64 - 0.5 * k as f64;
            2.0 * (x - target) + 0.8 * ((3 * t + 5 * i + 7 * k) as f64 * 0.7).sin()
        })
        .collect()
}

fn make_vars(vals: &[Vec<f64>]) -> Vec<Var> {
    vals.iter()
        .zip(shapes())
        .map(|(v, s)| Var::from_vec(v.clone(), &s).unwrap())
        .collect()
}

fn values(vars: &[Var]) -> Vec<Vec<f64>> {
    vars.iter()
        .map(|v| v.as_tensor().to_vec::<f64>().unwrap())
        .collect()
}

/// Steps `t0..t0 + n` of the optimizer on `vars`; `skip(t, k)` leaves parameter `k` without a
/// gradient at step `t`.
fn run_opt(
    opt: &mut dyn Optimizer,
    vars: &[Var],
    t0: usize,
    n: usize,
    skip: impl Fn(usize, usize) -> bool,
) {
    for t in t0..t0 + n {
        let mut grads = GradStore::default();
        for (k, v) in vars.iter().enumerate() {
            if skip(t, k) {
                continue;
            }
            let p = v.as_tensor().to_vec::<f64>().unwrap();
            let g = Tensor::from_vec(grad_of(k, &p, t), v.as_tensor().shape()).unwrap();
            grads.insert(&v.as_tensor(), g);
        }
        opt.step(&grads).unwrap();
    }
}

/// A reference optimizer: updates parameter `k` (a flat vector) with gradient `g`.
trait Reference {
    fn update(&mut self, k: usize, p: &mut [f64], g: &[f64]);
}

fn run_ref(
    r: &mut dyn Reference,
    params: &mut [Vec<f64>],
    n: usize,
    skip: impl Fn(usize, usize) -> bool,
) {
    for t in 0..n {
        for (k, p) in params.iter_mut().enumerate() {
            if skip(t, k) {
                continue;
            }
            let g = grad_of(k, p, t);
            r.update(k, p, &g);
        }
    }
}

fn assert_close(got: &[Vec<f64>], want: &[Vec<f64>], rtol: f64, what: &str) {
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        assert_eq!(a.len(), b.len());
        for (j, (&x, &y)) in a.iter().zip(b).enumerate() {
            let tol = rtol * x.abs().max(y.abs());
            assert!(
                (x - y).abs() <= tol,
                "{what}: param {k} element {j}: got {x}, reference {y} (diff {:e})",
                (x - y).abs()
            );
        }
    }
}

/// Runs `opt` and `reference` for 10 steps from the same start and compares.
fn golden(mut opt: impl Optimizer, vars: &[Var], mut reference: impl Reference, what: &str) {
    let mut want = init();
    run_opt(&mut opt, vars, 0, 10, |_, _| false);
    run_ref(&mut reference, &mut want, 10, |_, _| false);
    let got = values(vars);
    assert_ne!(got, init(), "{what}: nothing moved");
    assert_close(&got, &want, 1e-12, what);
}

// ---------------------------------------------------------------- reference rules

/// Per-parameter, per-element state vectors, created on first use.
#[derive(Default)]
struct Bufs(Vec<Option<Vec<f64>>>);

impl Bufs {
    fn get(&mut self, k: usize, n: usize, init: f64) -> &mut Vec<f64> {
        if self.0.len() <= k {
            self.0.resize(k + 1, None);
        }
        self.0[k].get_or_insert_with(|| vec![init; n])
    }
    fn has(&self, k: usize) -> bool {
        self.0.get(k).is_some_and(|b| b.is_some())
    }
}

/// torch.optim.SGD's algorithm box.
struct RefSgd {
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    wd: f64,
    buf: Bufs,
}

impl RefSgd {
    fn new(lr: f64) -> Self {
        RefSgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            wd: 0.0,
            buf: Bufs::default(),
        }
    }
}

impl Reference for RefSgd {
    fn update(&mut self, k: usize, p: &mut [f64], g: &[f64]) {
        let first = !self.buf.has(k);
        let b = self.buf.get(k, p.len(), 0.0);
        for j in 0..p.len() {
            let mut gt = g[j];
            if self.wd != 0.0 {
                gt += self.wd * p[j];
            }
            if self.momentum != 0.0 {
                if first {
                    b[j] = gt;
                } else {
                    b[j] = self.momentum * b[j] + (1.0 - self.dampening) * gt;
                }
                if self.nesterov {
                    gt += self.momentum * b[j];
                } else {
                    gt = b[j];
                }
            }
            p[j] -= self.lr * gt;
        }
    }
}

/// torch.optim.Adam's and torch.optim.AdamW's algorithm boxes.
struct RefAdam {
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    amsgrad: bool,
    decoupled: bool,
    t: Vec<u32>,
    m: Bufs,
    v: Bufs,
    vmax: Bufs,
}

impl RefAdam {
    fn new(lr: f64) -> Self {
        RefAdam {
            lr,
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
            wd: 0.0,
            amsgrad: false,
            decoupled: false,
            t: vec![0; 8],
            m: Bufs::default(),
            v: Bufs::default(),
            vmax: Bufs::default(),
        }
    }
}

impl Reference for RefAdam {
    fn update(&mut self, k: usize, p: &mut [f64], g: &[f64]) {
        self.t[k] += 1;
        let t = self.t[k] as f64;
        let n = p.len();
        for j in 0..n {
            let mut gt = g[j];
            if self.wd != 0.0 {
                if self.decoupled {
                    p[j] *= 1.0 - self.lr * self.wd;
                } else {
                    gt += self.wd * p[j];
                }
            }
            let m = &mut self.m.get(k, n, 0.0)[j];
            *m = self.b1 * *m + (1.0 - self.b1) * gt;
            let m_hat = *m / (1.0 - self.b1.powf(t));
            let v = &mut self.v.get(k, n, 0.0)[j];
            *v = self.b2 * *v + (1.0 - self.b2) * gt * gt;
            let v_now = *v;
            let v_hat = if self.amsgrad {
                let vm = &mut self.vmax.get(k, n, 0.0)[j];
                *vm = vm.max(v_now);
                *vm / (1.0 - self.b2.powf(t))
            } else {
                v_now / (1.0 - self.b2.powf(t))
            };
            p[j] -= self.lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}

/// torch.optim.RMSprop's algorithm box.
struct RefRms {
    lr: f64,
    alpha: f64,
    eps: f64,
    wd: f64,
    momentum: f64,
    centered: bool,
    v: Bufs,
    gavg: Bufs,
    buf: Bufs,
}

impl RefRms {
    fn new(lr: f64) -> Self {
        RefRms {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            wd: 0.0,
            momentum: 0.0,
            centered: false,
            v: Bufs::default(),
            gavg: Bufs::default(),
            buf: Bufs::default(),
        }
    }
}

impl Reference for RefRms {
    fn update(&mut self, k: usize, p: &mut [f64], g: &[f64]) {
        let n = p.len();
        for j in 0..n {
            let mut gt = g[j];
            if self.wd != 0.0 {
                gt += self.wd * p[j];
            }
            let v = &mut self.v.get(k, n, 0.0)[j];
            *v = self.alpha * *v + (1.0 - self.alpha) * gt * gt;
            let mut v_tilde = *v;
            if self.centered {
                let ga = &mut self.gavg.get(k, n, 0.0)[j];
                *ga = self.alpha * *ga + (1.0 - self.alpha) * gt;
                v_tilde -= *ga * *ga;
            }
            if self.momentum > 0.0 {
                let b = &mut self.buf.get(k, n, 0.0)[j];
                *b = self.momentum * *b + gt / (v_tilde.sqrt() + self.eps);
                p[j] -= self.lr * *b;
            } else {
                p[j] -= self.lr * gt / (v_tilde.sqrt() + self.eps);
            }
        }
    }
}

/// torch.optim.Adagrad's algorithm box.
struct RefAdagrad {
    lr: f64,
    lr_decay: f64,
    wd: f64,
    init_acc: f64,
    eps: f64,
    t: Vec<u32>,
    sum: Bufs,
}

impl Reference for RefAdagrad {
    fn update(&mut self, k: usize, p: &mut [f64], g: &[f64]) {
        self.t[k] += 1;
        let t = self.t[k] as f64;
        let n = p.len();
        let lr_t = self.lr / (1.0 + (t - 1.0) * self.lr_decay);
        for j in 0..n {
            let mut gt = g[j];
            if self.wd != 0.0 {
                gt += self.wd * p[j];
            }
            let s = &mut self.sum.get(k, n, self.init_acc)[j];
            *s += gt * gt;
            p[j] -= lr_t * gt / (s.sqrt() + self.eps);
        }
    }
}

// ---------------------------------------------------------------- golden tests

#[test]
fn sgd_plain() {
    let v = make_vars(&init());
    golden(Sgd::new(v.clone(), 0.1), &v, RefSgd::new(0.1), "SGD");
}

#[test]
fn sgd_momentum_dampening() {
    let v = make_vars(&init());
    let opt = Sgd::new(v.clone(), 0.05).momentum(0.9).dampening(0.3);
    let r = RefSgd {
        momentum: 0.9,
        dampening: 0.3,
        ..RefSgd::new(0.05)
    };
    golden(opt, &v, r, "SGD momentum+dampening");
}

#[test]
fn sgd_nesterov() {
    let v = make_vars(&init());
    let opt = Sgd::new(v.clone(), 0.05).momentum(0.8).nesterov(true);
    let r = RefSgd {
        momentum: 0.8,
        nesterov: true,
        ..RefSgd::new(0.05)
    };
    golden(opt, &v, r, "SGD nesterov");
}

#[test]
fn sgd_weight_decay() {
    let v = make_vars(&init());
    let opt = Sgd::new(v.clone(), 0.1).weight_decay(0.05);
    let r = RefSgd {
        wd: 0.05,
        ..RefSgd::new(0.1)
    };
    golden(opt, &v, r, "SGD weight_decay");
    let v = make_vars(&init());
    let opt = Sgd::new(v.clone(), 0.1).weight_decay(0.05).momentum(0.5);
    let r = RefSgd {
        wd: 0.05,
        momentum: 0.5,
        ..RefSgd::new(0.1)
    };
    golden(opt, &v, r, "SGD weight_decay+momentum");
}

#[test]
fn adam_default() {
    let v = make_vars(&init());
    golden(Adam::new(v.clone(), 0.05), &v, RefAdam::new(0.05), "Adam");
}

#[test]
fn adam_amsgrad() {
    let v = make_vars(&init());
    let opt = Adam::new(v.clone(), 0.05).amsgrad(true).betas(0.5, 0.6);
    let r = RefAdam {
        amsgrad: true,
        b1: 0.5,
        b2: 0.6,
        ..RefAdam::new(0.05)
    };
    golden(opt, &v, r, "Adam amsgrad");
    // and it differs from plain Adam on this problem
    let plain = make_vars(&init());
    run_opt(
        &mut Adam::new(plain.clone(), 0.05).betas(0.5, 0.6),
        &plain,
        0,
        10,
        |_, _| false,
    );
    assert_ne!(values(&plain), values(&v));
}

#[test]
fn adam_weight_decay_betas_eps() {
    let v = make_vars(&init());
    let opt = Adam::new(v.clone(), 0.02)
        .weight_decay(0.1)
        .betas(0.8, 0.99)
        .eps(1e-6);
    let r = RefAdam {
        wd: 0.1,
        b1: 0.8,
        b2: 0.99,
        eps: 1e-6,
        ..RefAdam::new(0.02)
    };
    golden(opt, &v, r, "Adam weight_decay");
}

#[test]
fn adamw_decoupled() {
    let v = make_vars(&init());
    let opt = AdamW::new(v.clone(), 0.05).weight_decay(0.1);
    let r = RefAdam {
        wd: 0.1,
        decoupled: true,
        ..RefAdam::new(0.05)
    };
    golden(opt, &v, r, "AdamW");
    // the default weight decay is 0.01
    let v = make_vars(&init());
    let opt = AdamW::new(v.clone(), 0.05).amsgrad(true);
    let r = RefAdam {
        wd: 0.01,
        decoupled: true,
        amsgrad: true,
        ..RefAdam::new(0.05)
    };
    golden(opt, &v, r, "AdamW default decay + amsgrad");
}

#[test]
fn rmsprop_plain() {
    let v = make_vars(&init());
    golden(
        RMSprop::new(v.clone(), 0.01),
        &v,
        RefRms::new(0.01),
        "RMSprop",
    );
}

#[test]
fn rmsprop_centered_momentum() {
    let v = make_vars(&init());
    let opt = RMSprop::new(v.clone(), 0.01)
        .centered(true)
        .momentum(0.9)
        .alpha(0.9)
        .weight_decay(0.01);
    let r = RefRms {
        centered: true,
        momentum: 0.9,
        alpha: 0.9,
        wd: 0.01,
        ..RefRms::new(0.01)
    };
    golden(opt, &v, r, "RMSprop centered+momentum");
    let v = make_vars(&init());
    let opt = RMSprop::new(v.clone(), 0.01).centered(true).eps(1e-4);
    let r = RefRms {
        centered: true,
        eps: 1e-4,
        ..RefRms::new(0.01)
    };
    golden(opt, &v, r, "RMSprop centered");
}

#[test]
fn adagrad_lr_decay_weight_decay() {
    let v = make_vars(&init());
    let opt = Adagrad::new(v.clone(), 0.5)
        .lr_decay(0.1)
        .weight_decay(0.05)
        .initial_accumulator_value(0.2);
    let r = RefAdagrad {
        lr: 0.5,
        lr_decay: 0.1,
        wd: 0.05,
        init_acc: 0.2,
        eps: 1e-10,
        t: vec![0; 2],
        sum: Bufs::default(),
    };
    golden(opt, &v, r, "Adagrad");
    let v = make_vars(&init());
    let r = RefAdagrad {
        lr: 0.5,
        lr_decay: 0.0,
        wd: 0.0,
        init_acc: 0.0,
        eps: 1e-10,
        t: vec![0; 2],
        sum: Bufs::default(),
    };
    golden(Adagrad::new(v.clone(), 0.5), &v, r, "Adagrad default");
}

#[test]
fn gradients_from_backward() {
    // loss = sum((w - c)^2) has gradient 2 (w - c); compare Adam on it with the reference.
    let c = [0.25, -0.5, 1.0];
    let w = Var::from_vec(vec![1.0f64, 2.0, -3.0], &[3]).unwrap();
    let ct = Tensor::from_vec(c.to_vec(), &[3]).unwrap();
    let mut opt = Adam::new(vec![w.clone()], 0.1);
    let mut r = RefAdam::new(0.1);
    let mut p = vec![1.0f64, 2.0, -3.0];
    for _ in 0..10 {
        let loss = w
            .as_tensor()
            .sub(&ct)
            .unwrap()
            .sqr()
            .unwrap()
            .sum()
            .unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads).unwrap();
        let g: Vec<f64> = p.iter().zip(&c).map(|(x, c)| 2.0 * (x - c)).collect();
        r.update(0, &mut p, &g);
    }
    let got = w.as_tensor().to_vec::<f64>().unwrap();
    assert_close(&[got], &[p], 1e-12, "Adam via backward");
    // the updated value is a fresh leaf: no graph recorded by the update
    assert!(w.as_tensor().op_name().is_none());
}

#[test]
fn f32_parameters_stay_f32() {
    let w = Var::from_vec(vec![0.5f32, -1.5, 2.0], &[3]).unwrap();
    let mut opt = Adam::new(vec![w.clone()], 0.05)
        .amsgrad(true)
        .weight_decay(0.01);
    let mut r = RefAdam {
        amsgrad: true,
        wd: 0.01,
        ..RefAdam::new(0.05)
    };
    let mut p = vec![0.5f64, -1.5, 2.0];
    for t in 0..10 {
        let cur: Vec<f64> = w.as_tensor().to_vec_f64();
        let g = grad_of(0, &cur, t);
        let g32: Vec<f32> = g.iter().map(|&x| x as f32).collect();
        let mut grads = GradStore::default();
        grads.insert(&w.as_tensor(), Tensor::from_vec(g32, &[3]).unwrap());
        opt.step(&grads).unwrap();
        let g = grad_of(0, &p, t);
        r.update(0, &mut p, &g);
    }
    assert_eq!(w.dtype(), DType::F32);
    let got = w.as_tensor().to_vec_f64();
    assert_close(&[got], &[p], 1e-5, "Adam f32");
    let sd = opt.state_dict();
    assert_eq!(sd.tensors["state.0.0.exp_avg"].dtype(), DType::F32);
}

// ---------------------------------------------------------------- groups and skipping

#[test]
fn per_group_learning_rates_and_weight_decay() {
    let v = make_vars(&init());
    let groups = vec![
        ParamGroup::new(vec![v[0].clone()], 0.1),
        ParamGroup::new(vec![v[1].clone()], 0.01).with_weight_decay(0.2),
    ];
    let mut opt = Adam::with_groups(groups);
    assert_eq!(opt.lr(), 0.1);
    run_opt(&mut opt, &v, 0, 10, |_, _| false);
    // reference: each parameter with its group's settings
    let mut want = init();
    let mut r0 = RefAdam::new(0.1);
    let mut r1 = RefAdam {
        wd: 0.2,
        ..RefAdam::new(0.01)
    };
    for t in 0..10 {
        let g0 = grad_of(0, &want[0], t);
        r0.update(0, &mut want[0], &g0);
        let g1 = grad_of(1, &want[1], t);
        r1.update(1, &mut want[1], &g1);
    }
    assert_close(&values(&v), &want, 1e-12, "Adam per-group");

    opt.set_lr(0.5);
    assert!(opt.groups().iter().all(|g| g.lr == 0.5));
    opt.groups_mut()[1].lr = 0.25;
    assert_eq!(opt.lr(), 0.5);
    assert_eq!(opt.groups()[1].lr, 0.25);
}

#[test]
fn sgd_groups_use_their_own_rates() {
    let v = make_vars(&init());
    let groups = vec![
        ParamGroup::new(vec![v[0].clone()], 0.2),
        ParamGroup::new(vec![v[1].clone()], 0.02),
    ];
    let mut opt = Sgd::with_groups(groups).momentum(0.9);
    run_opt(&mut opt, &v, 0, 10, |_, _| false);
    let mut want = init();
    let mut r0 = RefSgd {
        momentum: 0.9,
        ..RefSgd::new(0.2)
    };
    let mut r1 = RefSgd {
        momentum: 0.9,
        ..RefSgd::new(0.02)
    };
    for t in 0..10 {
        let g0 = grad_of(0, &want[0], t);
        r0.update(0, &mut want[0], &g0);
        let g1 = grad_of(1, &want[1], t);
        r1.update(1, &mut want[1], &g1);
    }
    assert_close(&values(&v), &want, 1e-12, "SGD per-group");
}

#[test]
fn parameters_without_gradient_are_skipped() {
    // parameter 1 gets no gradient on steps 0..3 and 6; its step count starts late
    let skip = |t: usize, k: usize| k == 1 && (t < 3 || t == 6);
    let v = make_vars(&init());
    let mut opt = Adam::new(v.clone(), 0.05);
    run_opt(&mut opt, &v, 0, 2, skip);
    assert_eq!(
        values(&v)[1],
        init()[1],
        "untouched while it has no gradient"
    );
    let sd = opt.state_dict();
    assert_eq!(sd.scalars["state.0.0.step"], 2.0);
    assert!(!sd.scalars.contains_key("state.0.1.step"));
    assert!(!sd.tensors.contains_key("state.0.1.exp_avg"));
    run_opt(&mut opt, &v, 2, 8, skip);
    assert_eq!(opt.state_dict().scalars["state.0.1.step"], 6.0);
    let mut want = init();
    run_ref(&mut RefAdam::new(0.05), &mut want, 10, skip);
    assert_close(&values(&v), &want, 1e-12, "Adam with skipped steps");
    // an empty store changes nothing
    let before = values(&v);
    opt.step(&GradStore::default()).unwrap();
    assert_eq!(values(&v), before);
}

// ---------------------------------------------------------------- state

/// Every optimizer kind, with options that create every buffer.
fn all_kinds(vars: &[Var]) -> Vec<Box<dyn Optimizer>> {
    let groups = || {
        vec![
            ParamGroup::new(vec![vars[0].clone()], 0.03),
            ParamGroup::new(vec![vars[1].clone()], 0.01).with_weight_decay(0.1),
        ]
    };
    vec![
        Box::new(Sgd::with_groups(groups()).momentum(0.9).dampening(0.1)),
        Box::new(Sgd::with_groups(groups()).momentum(0.9).nesterov(true)),
        Box::new(Adam::with_groups(groups()).amsgrad(true)),
        Box::new(AdamW::with_groups(groups())),
        Box::new(RMSprop::with_groups(groups()).centered(true).momentum(0.5)),
        Box::new(Adagrad::with_groups(groups()).lr_decay(0.05)),
    ]
}

#[test]
fn save_and_load_resumes_bitwise() {
    let skip = |t: usize, k: usize| k == 1 && t == 2;
    let kinds = all_kinds(&make_vars(&init())).len();
    for kind in 0..kinds {
        // 10 straight steps
        let straight = make_vars(&init());
        let mut a = all_kinds(&straight).remove(kind);
        run_opt(a.as_mut(), &straight, 0, 10, skip);
        // 5 steps, save, load into a fresh optimizer over fresh vars, 5 more
        let first = make_vars(&init());
        let mut b = all_kinds(&first).remove(kind);
        run_opt(b.as_mut(), &first, 0, 5, skip);
        let state = b.state_dict();
        let resumed = make_vars(&values(&first));
        let mut c = all_kinds(&resumed).remove(kind);
        c.load_state_dict(&state).unwrap();
        run_opt(c.as_mut(), &resumed, 5, 5, skip);
        let (x, y) = (values(&straight), values(&resumed));
        let bits =
            |v: &Vec<Vec<f64>>| -> Vec<u64> { v.iter().flatten().map(|f| f.to_bits()).collect() };
        assert_eq!(bits(&x), bits(&y), "{} resumed differs", a.name());
        // the state after resuming equals the state of the straight run
        let (sa, sc) = (a.state_dict(), c.state_dict());
        assert_eq!(sa.scalars, sc.scalars, "{}", a.name());
        assert_eq!(
            sa.tensors.keys().collect::<Vec<_>>(),
            sc.tensors.keys().collect::<Vec<_>>()
        );
        for (k, t) in &sa.tensors {
            assert_eq!(
                t.to_vec::<f64>().unwrap(),
                sc.tensors[k].to_vec::<f64>().unwrap()
            );
        }
    }
}

#[test]
fn state_names() {
    let v = make_vars(&init());
    let mut opts = all_kinds(&v);
    for o in opts.iter_mut() {
        run_opt(o.as_mut(), &v, 0, 1, |_, _| false);
    }
    let names = |o: &dyn Optimizer| -> Vec<String> {
        let sd = o.state_dict();
        sd.tensors
            .keys()
            .chain(sd.scalars.keys())
            .cloned()
            .collect()
    };
    let group = [
        "group.0.lr",
        "group.0.params",
        "group.0.weight_decay",
        "group.1.lr",
        "group.1.params",
        "group.1.weight_decay",
    ];
    let with = |bufs: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for g in 0..2 {
            for b in bufs {
                v.push(format!("state.{g}.0.{b}"));
            }
        }
        v.extend(group.iter().map(|s| s.to_string()));
        v.push("state.0.0.step".into());
        v.push("state.1.0.step".into());
        v
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(names(opts[0].as_ref())),
        sorted(with(&["momentum_buffer"]))
    );
    assert_eq!(
        sorted(names(opts[2].as_ref())),
        sorted(with(&["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]))
    );
    assert_eq!(
        sorted(names(opts[3].as_ref())),
        sorted(with(&["exp_avg", "exp_avg_sq"]))
    );
    assert_eq!(
        sorted(names(opts[4].as_ref())),
        sorted(with(&["square_avg", "momentum_buffer", "grad_avg"]))
    );
    assert_eq!(sorted(names(opts[5].as_ref())), sorted(with(&["sum"])));
    let sd = opts[3].state_dict();
    assert_eq!(sd.scalars["group.1.lr"], 0.01);
    assert_eq!(sd.scalars["group.1.weight_decay"], 0.1);
    assert_eq!(sd.scalars["group.0.params"], 1.0);
    let names: Vec<&str> = opts.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["SGD", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]);
}

#[test]
fn loading_restores_group_rates() {
    let v = make_vars(&init());
    let mut a = Sgd::new(v.clone(), 0.1).momentum(0.9);
    run_opt(&mut a, &v, 0, 2, |_, _| false);
    a.set_lr(0.0125);
    a.groups_mut()[0].weight_decay = 0.5;
    let mut b = Sgd::new(make_vars(&init()), 0.1).momentum(0.9);
    b.load_state_dict(&a.state_dict()).unwrap();
    assert_eq!(b.lr(), 0.0125);
    assert_eq!(b.groups()[0].weight_decay, 0.5);
}

fn adam_state() -> StateDict {
    let v = make_vars(&init());
    let mut opt = Adam::new(v.clone(), 0.05).amsgrad(true);
    run_opt(&mut opt, &v, 0, 3, |_, _| false);
    opt.state_dict()
}

/// Loading `s` into a fresh amsgrad Adam fails with a message containing `needle`, and the
/// optimizer is unchanged.
fn load_fails(s: &StateDict, needle: &str) {
    let v = make_vars(&init());
    let mut opt = Adam::new(v.clone(), 0.05).amsgrad(true);
    let e = opt.load_state_dict(s).unwrap_err().to_string();
    assert!(
        e.contains(needle),
        "error {e:?} does not contain {needle:?}"
    );
    assert!(e.starts_with("Adam: load_state_dict"), "{e}");
    assert_eq!(opt.lr(), 0.05);
    assert!(opt.state_dict().tensors.is_empty());
}

#[test]
fn load_errors_name_the_entry() {
    let good = adam_state();
    let v = make_vars(&init());
    Adam::new(v, 0.05)
        .amsgrad(true)
        .load_state_dict(&good)
        .unwrap();

    let mut s = good.clone();
    s.tensors.remove("state.0.1.exp_avg");
    load_fails(&s, "missing entry \"state.0.1.exp_avg\"");

    let mut s = good.clone();
    s.tensors.remove("state.0.0.max_exp_avg_sq");
    load_fails(&s, "missing entry \"state.0.0.max_exp_avg_sq\"");

    let mut s = good.clone();
    s.tensors.insert(
        "state.0.0.exp_avg_sq".into(),
        Tensor::zeros(&[3, 2], DType::F64),
    );
    load_fails(
        &s,
        "entry \"state.0.0.exp_avg_sq\" is f64 [3, 2] but the parameter is f64 [2, 3]",
    );

    let mut s = good.clone();
    s.tensors
        .insert("state.0.1.exp_avg".into(), Tensor::zeros(&[4], DType::F32));
    load_fails(&s, "\"state.0.1.exp_avg\" is f32");

    let mut s = good.clone();
    s.scalars.remove("group.0.lr");
    load_fails(&s, "missing entry \"group.0.lr\"");

    let mut s = good.clone();
    s.scalars.insert("group.0.lr".into(), -1.0);
    load_fails(&s, "group.0.lr");

    let mut s = good.clone();
    s.scalars.insert("state.0.0.step".into(), 2.5);
    load_fails(&s, "\"state.0.0.step\" = 2.5 is not a step count");

    let mut s = good.clone();
    s.scalars.insert("group.0.params".into(), 3.0);
    load_fails(&s, "\"group.0.params\" says 3 parameters but group 0 has 2");

    let mut s = good.clone();
    s.scalars.insert("group.1.lr".into(), 0.1);
    load_fails(&s, "unexpected entry \"group.1.lr\"");

    load_fails(&StateDict::new(), "missing entry \"group.0.lr\"");

    // an SGD state is not an Adam state, and the other way round
    let v = make_vars(&init());
    let mut sgd = Sgd::new(v.clone(), 0.1).momentum(0.9);
    run_opt(&mut sgd, &v, 0, 1, |_, _| false);
    load_fails(&sgd.state_dict(), "missing entry \"state.0.0.exp_avg\"");
    let mut sgd = Sgd::new(make_vars(&init()), 0.1).momentum(0.9);
    let e = sgd.load_state_dict(&good).unwrap_err().to_string();
    assert!(
        e.contains("SGD: load_state_dict: missing entry \"state.0.0.momentum_buffer\""),
        "{e}"
    );
    let mut sgd = Sgd::new(make_vars(&init()), 0.1);
    let e = sgd.load_state_dict(&good).unwrap_err().to_string();
    assert!(e.contains("unexpected entry \"state.0.0.exp_avg\""), "{e}");
}

#[test]
fn a_plain_adam_state_does_not_fit_amsgrad() {
    let v = make_vars(&init());
    let mut plain = Adam::new(v.clone(), 0.05);
    run_opt(&mut plain, &v, 0, 1, |_, _| false);
    load_fails(
        &plain.state_dict(),
        "missing entry \"state.0.0.max_exp_avg_sq\"",
    );
}

// ---------------------------------------------------------------- step errors

#[test]
fn invalid_settings_fail_before_changing_anything() {
    let cases: Vec<(Box<dyn Optimizer>, &str)> = vec![
        (
            Box::new(Sgd::new(make_vars(&init()), 0.1).nesterov(true)),
            "SGD: Nesterov momentum requires a momentum > 0 and zero dampening",
        ),
        (
            Box::new(
                Sgd::new(make_vars(&init()), 0.1)
                    .momentum(0.9)
                    .dampening(0.1)
                    .nesterov(true),
            ),
            "Nesterov",
        ),
        (
            Box::new(Sgd::new(make_vars(&init()), -0.1)),
            "SGD: invalid learning rate of group 0: -0.1",
        ),
        (
            Box::new(Sgd::new(make_vars(&init()), 0.1).momentum(-1.0)),
            "invalid momentum -1",
        ),
        (
            Box::new(Adam::new(make_vars(&init()), 0.1).betas(1.0, 0.9)),
            "Adam: invalid beta1 1",
        ),
        (
            Box::new(AdamW::new(make_vars(&init()), 0.1).betas(0.9, -0.1)),
            "AdamW: invalid beta2 -0.1",
        ),
        (
            Box::new(Adam::new(make_vars(&init()), 0.1).eps(f64::NAN)),
            "invalid eps NaN",
        ),
        (
            Box::new(Adam::new(make_vars(&init()), 0.1).weight_decay(-1.0)),
            "weight decay of group 0",
        ),
        (
            Box::new(RMSprop::new(make_vars(&init()), 0.1).alpha(-0.5)),
            "RMSprop: invalid alpha",
        ),
        (
            Box::new(Adagrad::new(make_vars(&init()), 0.1).lr_decay(-0.5)),
            "Adagrad: invalid lr_decay",
        ),
    ];
    for (mut opt, needle) in cases {
        let vars: Vec<Var> = opt.groups()[0].params.clone();
        let before = values(&vars);
        let mut grads = GradStore::default();
        for v in &vars {
            grads.insert(&v.as_tensor(), v.as_tensor().ones_like());
        }
        let e = opt.step(&grads).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
        assert_eq!(values(&vars), before);
    }
}

#[test]
fn mismatched_gradients_fail_before_changing_anything() {
    let v = make_vars(&init());
    let mut opt = Adam::new(v.clone(), 0.1);
    let mut grads = GradStore::default();
    grads.insert(&v[0].as_tensor(), v[0].as_tensor().ones_like());
    grads.insert(&v[1].as_tensor(), Tensor::ones(&[5], DType::F64));
    let e = opt.step(&grads).unwrap_err().to_string();
    assert!(
        e.contains("Adam: group 0 param 1: gradient f64 [5] differs from the parameter's f64 [4]"),
        "{e}"
    );
    grads.insert(&v[1].as_tensor(), Tensor::ones(&[4], DType::F32));
    let e = opt.step(&grads).unwrap_err().to_string();
    assert!(e.contains("gradient f32 [4]"), "{e}");
    assert_eq!(values(&v), init());
    assert!(opt.state_dict().tensors.is_empty());

    let iv = Var::from_vec(vec![1i64, 2], &[2]).unwrap();
    let mut opt = Sgd::new(vec![iv.clone()], 0.1);
    let mut grads = GradStore::default();
    grads.insert(&iv.as_tensor(), iv.as_tensor());
    let e = opt.step(&grads).unwrap_err().to_string();
    assert!(e.contains("needs a float parameter"), "{e}");
}

#[test]
fn optimizers_are_send_trait_objects() {
    fn send<T: Send>(_: &T) {}
    let opts = all_kinds(&make_vars(&init()));
    send(&opts);
}

#[test]
fn a_parameter_listed_twice_is_an_error() {
    let v = make_vars(&init());
    let groups = vec![
        ParamGroup::new(vec![v[0].clone(), v[1].clone()], 0.1),
        ParamGroup::new(vec![v[1].clone()], 0.01),
    ];
    let mut opt = Sgd::with_groups(groups);
    let mut grads = GradStore::default();
    for x in &v {
        grads.insert(&x.as_tensor(), x.as_tensor().ones_like());
    }
    let e = opt.step(&grads).unwrap_err().to_string();
    assert!(
        e.contains("SGD: group 1 param 0 is the same parameter as group 0 param 1"),
        "{e}"
    );
    assert_eq!(values(&v), init());
}
