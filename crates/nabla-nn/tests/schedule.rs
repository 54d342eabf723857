//! Learning-rate schedules against hand-computed sequences, state round trips and errors.

use nabla_core::Var;
use nabla_nn::optim::{Optimizer, ParamGroup, Sgd};
use nabla_nn::schedule::{
    Anneal, CosineAnnealingLR, ExponentialLR, LinearWarmup, LrScheduler, MultiStepLR,
    OneCycleConfig, OneCycleLR, PlateauMode, ReduceLROnPlateau, StepLR, ThresholdMode,
};
use nabla_nn::StateDict;
use std::f64::consts::PI;

/// An optimizer with two groups at base rates 1.0 and 0.5.
fn opt() -> Sgd {
    let a = Var::from_vec(vec![1.0f64], &[1]).unwrap();
    let b = Var::from_vec(vec![2.0f64], &[1]).unwrap();
    Sgd::with_groups(vec![
        ParamGroup::new(vec![a], 1.0),
        ParamGroup::new(vec![b], 0.5),
    ])
}

/// Group 0's rate after construction, then after each of `n` steps; checks that group 1
/// follows at half the rate when `scaled` and that `last_lr` agrees with the optimizer.
fn sequence(opt: &mut Sgd, s: &mut dyn LrScheduler, n: usize, scaled: bool) -> Vec<f64> {
    let mut out = vec![opt.lr()];
    for _ in 0..n {
        s.step(opt, None).unwrap();
        let lrs: Vec<f64> = opt.groups().iter().map(|g| g.lr).collect();
        assert_eq!(s.last_lr(), lrs);
        if scaled {
            assert_close(&[lrs[1]], &[lrs[0] * 0.5]);
        }
        out.push(lrs[0]);
    }
    out
}

/// [`sequence`] of a fresh [`opt`] under the scheduler `make` builds on it.
fn fresh_sequence<S: LrScheduler>(
    make: impl FnOnce(&mut Sgd) -> nabla_core::Result<S>,
    n: usize,
    scaled: bool,
) -> Vec<f64> {
    let mut o = opt();
    let mut s = make(&mut o).unwrap();
    sequence(&mut o, &mut s, n, scaled)
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-14 * a.abs().max(b.abs()).max(1e-300),
            "entry {i}: got {a}, want {b}\n{got:?}\n{want:?}"
        );
    }
}

#[test]
fn step_lr() {
    let got = fresh_sequence(|o| StepLR::new(o, 3, 0.1), 9, true);
    let want = [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001];
    assert_close(&got, &want);
}

#[test]
fn multi_step_lr() {
    // unsorted, and 7 twice: it counts twice, as in PyTorch
    let got = fresh_sequence(|o| MultiStepLR::new(o, &[5, 2, 7, 7], 0.5), 9, true);
    let want = [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.0625, 0.0625, 0.0625];
    assert_close(&got, &want);
}

#[test]
fn exponential_lr() {
    let got = fresh_sequence(|o| ExponentialLR::new(o, 0.9), 4, true);
    assert_close(&got, &[1.0, 0.9, 0.81, 0.729, 0.6561]);
}

#[test]
fn cosine_annealing_lr() {
    let mut o = opt();
    let mut s = CosineAnnealingLR::new(&mut o, 4, 0.1).unwrap();
    let got = sequence(&mut o, &mut s, 6, false);
    let h = std::f64::consts::FRAC_1_SQRT_2;
    // eta_min + (1 - eta_min) (1 + cos(pi e / 4)) / 2
    let want = [
        1.0,
        0.1 + 0.45 * (1.0 + h),
        0.55,
        0.1 + 0.45 * (1.0 - h),
        0.1,
        0.1 + 0.45 * (1.0 - h),
        0.55,
    ];
    assert_close(&got, &want);
    // group 1: base 0.5
    assert_close(
        &[o.groups()[1].lr],
        &[0.1 + 0.4 * (1.0 + (1.5 * PI).cos()) / 2.0],
    );
}

#[test]
fn linear_warmup() {
    let mut o = opt();
    let mut s = LinearWarmup::new(&mut o, 0.25, 3).unwrap();
    // set at construction, as PyTorch's LinearLR does
    assert_eq!(o.lr(), 0.25);
    let got = sequence(&mut o, &mut s, 5, true);
    assert_close(&got, &[0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
    let mut o = opt();
    let mut s = LinearWarmup::new(&mut o, 0.5, 0).unwrap();
    assert_close(&sequence(&mut o, &mut s, 2, true), &[1.0, 1.0, 1.0]);
}

#[test]
fn one_cycle_lr_cos() {
    let mut o = opt();
    let mut s = OneCycleLR::new(&mut o, 1.0, 10).unwrap();
    let got = sequence(&mut o, &mut s, 10, false);
    // initial 1/25, min 1/25/1e4; up over steps 0..=2 (pct_start 0.3 => end 2), down to 9
    let (init, max, min) = (0.04, 1.0, 0.04 / 1e4);
    let cos = |start: f64, end: f64, pct: f64| end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0);
    let mut want = vec![init, cos(init, max, 0.5), max];
    for step in 3..=10 {
        want.push(cos(max, min, (step as f64 - 2.0) / 7.0));
    }
    assert_close(&got, &want);
    assert_close(&[got[9]], &[min]);
    // every group follows max_lr
    assert_eq!(o.groups()[1].lr, got[10]);
    // a step past total_steps fails and changes nothing
    let e = s.step(&mut o, None).unwrap_err().to_string();
    assert!(
        e.contains("OneCycleLR: tried to step 11 times; the cycle has total_steps = 10"),
        "{e}"
    );
    assert_eq!(o.lr(), got[10]);
    assert_eq!(s.state_dict().scalars["last_epoch"], 10.0);
}

#[test]
fn one_cycle_lr_linear_three_phase() {
    let mut o = opt();
    let cfg = OneCycleConfig {
        anneal: Anneal::Linear,
        three_phase: true,
        pct_start: 0.25,
        div_factor: 10.0,
        final_div_factor: 100.0,
        ..OneCycleConfig::new(2.0, 12)
    };
    let mut s = OneCycleLR::with_config(&mut o, cfg).unwrap();
    let got = sequence(&mut o, &mut s, 12, false);
    // phases end at 2 (0.2 -> 2), 4 (2 -> 0.2), 11 (0.2 -> 0.002)
    let (init, max, min) = (0.2, 2.0, 0.002);
    let lin = |start: f64, end: f64, pct: f64| (end - start) * pct + start;
    let mut want = vec![init, lin(init, max, 0.5), max, lin(max, init, 0.5), init];
    for step in 5..=12 {
        want.push(lin(init, min, (step as f64 - 4.0) / 7.0));
    }
    assert_close(&got, &want);
}

#[test]
fn reduce_on_plateau_min() {
    let mut o = opt();
    let mut s = ReduceLROnPlateau::new(&o, PlateauMode::Min)
        .patience(2)
        .factor(0.5)
        .cooldown(1);
    assert_eq!(s.best(), f64::INFINITY);
    let metrics = [
        1.0, 0.9, 0.95, 0.91, 0.92, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89,
    ];
    let mut got = vec![];
    for m in metrics {
        s.step(&mut o, Some(m)).unwrap();
        got.push(o.lr());
        assert_eq!(s.last_lr(), vec![o.lr(), o.groups()[1].lr]);
        assert_eq!(o.groups()[1].lr, o.lr() * 0.5);
    }
    assert_eq!(
        got,
        [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    );
    assert_eq!(s.best(), 0.8);
    assert_eq!(s.num_bad_epochs(), 1);
}

#[test]
fn reduce_on_plateau_threshold_and_min_lr() {
    // relative threshold: 0.99995 is not better than 1.0 * (1 - 1e-4)
    let mut o = opt();
    let mut s = ReduceLROnPlateau::new(&o, PlateauMode::Min).patience(0);
    s.step(&mut o, Some(1.0)).unwrap();
    s.step(&mut o, Some(0.99995)).unwrap();
    assert_eq!(o.lr(), 0.1);
    assert_eq!(s.best(), 1.0);

    // max mode, absolute threshold, floor at min_lr
    let mut o = opt();
    let mut s = ReduceLROnPlateau::new(&o, PlateauMode::Max)
        .patience(1)
        .threshold(0.1, ThresholdMode::Abs)
        .min_lr(0.3);
    for (m, want) in [
        (0.5, 1.0),
        (0.55, 1.0), // +0.05 is not a significant gain: 1 bad epoch
        (0.65, 1.0), // +0.15 is
        (0.7, 1.0),
        (0.7, 0.3), // second bad epoch: 1.0 * 0.1 floored at 0.3 (group 1: 0.5 -> 0.3)
        (0.7, 0.3),
        (0.7, 0.3), // 0.3 -> max(0.03, 0.3) = 0.3 changes nothing
    ] {
        s.step(&mut o, Some(m)).unwrap();
        assert_eq!(o.lr(), want, "metric {m}");
    }
    assert_eq!(o.groups()[1].lr, 0.3);
    assert_eq!(s.best(), 0.65);
}

#[test]
fn reduce_on_plateau_errors() {
    let mut o = opt();
    let mut s = ReduceLROnPlateau::new(&o, PlateauMode::Min);
    let e = s.step(&mut o, None).unwrap_err().to_string();
    assert!(
        e.contains("ReduceLROnPlateau: step needs the monitored metric"),
        "{e}"
    );
    let mut s = ReduceLROnPlateau::new(&o, PlateauMode::Min).factor(1.0);
    let e = s.step(&mut o, Some(1.0)).unwrap_err().to_string();
    assert!(e.contains("factor 1 must be in [0, 1)"), "{e}");
}

/// Runs `make` for `n` steps straight, and for `k` steps, save, rebuild over a fresh
/// optimizer (with the saved optimizer state), load, `n - k` more; the rates must agree
/// bitwise.
fn resume(
    make: impl Fn(&mut Sgd) -> Box<dyn LrScheduler>,
    n: usize,
    k: usize,
    metric: impl Fn(usize) -> Option<f64>,
) {
    // the rates after each of the steps `range`
    let steps = |o: &mut Sgd, s: &mut dyn LrScheduler, range: std::ops::Range<usize>| {
        let mut rates = vec![];
        for e in range {
            s.step(o, metric(e)).unwrap();
            rates.push(s.last_lr());
        }
        rates
    };
    let mut o = opt();
    let mut s = make(&mut o);
    let straight = steps(&mut o, s.as_mut(), 0..n);
    let mut o1 = opt();
    let mut s1 = make(&mut o1);
    let mut resumed = steps(&mut o1, s1.as_mut(), 0..k);
    let (opt_state, sched_state) = (o1.state_dict(), s1.state_dict());
    let mut o2 = opt();
    let mut s2 = make(&mut o2);
    o2.load_state_dict(&opt_state).unwrap();
    s2.load_state_dict(&sched_state).unwrap();
    assert_eq!(s2.last_lr(), s1.last_lr());
    resumed.extend(steps(&mut o2, s2.as_mut(), k..n));
    assert_eq!(straight, resumed);
    assert_eq!(s.state_dict().scalars, s2.state_dict().scalars);
}

#[test]
fn state_round_trips() {
    let none = |_| None;
    resume(|o| Box::new(StepLR::new(o, 2, 0.5).unwrap()), 8, 3, none);
    resume(
        |o| Box::new(MultiStepLR::new(o, &[1, 4], 0.5).unwrap()),
        8,
        3,
        none,
    );
    resume(
        |o| Box::new(ExponentialLR::new(o, 0.7).unwrap()),
        8,
        3,
        none,
    );
    resume(
        |o| Box::new(CosineAnnealingLR::new(o, 5, 0.01).unwrap()),
        8,
        3,
        none,
    );
    resume(
        |o| Box::new(LinearWarmup::new(o, 0.1, 4).unwrap()),
        8,
        2,
        none,
    );
    resume(
        |o| Box::new(OneCycleLR::new(o, 0.3, 8).unwrap()),
        8,
        5,
        none,
    );
    let metric = |e: usize| Some([3.0, 2.0, 2.5, 2.4, 2.6, 2.7, 1.0, 1.5, 1.6, 1.7][e]);
    resume(
        |o| {
            Box::new(
                ReduceLROnPlateau::new(o, PlateauMode::Min)
                    .patience(1)
                    .cooldown(1),
            )
        },
        10,
        4,
        metric,
    );
}

#[test]
fn state_names_and_load_errors() {
    let mut o = opt();
    let mut s = StepLR::new(&mut o, 2, 0.5).unwrap();
    s.step(&mut o, None).unwrap();
    let sd = s.state_dict();
    let names: Vec<&str> = sd.scalars.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "base_lr.0",
            "base_lr.1",
            "last_epoch",
            "last_lr.0",
            "last_lr.1"
        ]
    );
    assert_eq!(sd.scalars["last_epoch"], 1.0);
    assert_eq!(sd.scalars["base_lr.1"], 0.5);

    let fails = |s: &mut dyn LrScheduler, st: &StateDict, needle: &str| {
        let before = s.state_dict().scalars;
        let e = s.load_state_dict(st).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
        assert_eq!(s.state_dict().scalars, before);
    };
    let mut bad = sd.clone();
    bad.scalars.remove("base_lr.1");
    fails(
        &mut s,
        &bad,
        "StepLR: load_state_dict: missing entry \"base_lr.1\"",
    );
    let mut bad = sd.clone();
    bad.scalars.insert("last_epoch".into(), -1.0);
    fails(&mut s, &bad, "entry \"last_epoch\" = -1 is not a count");
    let mut bad = sd.clone();
    bad.scalars.insert("base_lr.2".into(), 0.1);
    fails(&mut s, &bad, "unexpected entry \"base_lr.2\"");
    let mut bad = sd.clone();
    bad.scalars.insert("last_lr.0".into(), f64::NAN);
    fails(&mut s, &bad, "\"last_lr.0\" = NaN is not a learning rate");

    let mut p = ReduceLROnPlateau::new(&o, PlateauMode::Min);
    fails(
        &mut p,
        &sd,
        "ReduceLROnPlateau: load_state_dict: missing entry \"best\"",
    );
    let mut ps = p.state_dict();
    let pnames: Vec<&str> = ps.scalars.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        pnames,
        [
            "best",
            "cooldown_counter",
            "last_epoch",
            "last_lr.0",
            "last_lr.1",
            "num_bad_epochs"
        ]
    );
    ps.scalars.insert("extra".into(), 1.0);
    fails(&mut p, &ps, "unexpected entry \"extra\"");
    fails(&mut s, &p.state_dict(), "missing entry \"base_lr.0\"");
}

#[test]
fn construction_and_group_errors() {
    let mut o = opt();
    let e = |r: Result<(), nabla_core::Error>| r.unwrap_err().to_string();
    assert!(
        e(StepLR::new(&mut o, 0, 0.1).map(|_| ())).contains("StepLR: step_size must be at least 1")
    );
    assert!(e(StepLR::new(&mut o, 1, -0.1).map(|_| ())).contains("invalid gamma -0.1"));
    assert!(e(MultiStepLR::new(&mut o, &[1], f64::NAN).map(|_| ())).contains("gamma NaN"));
    assert!(e(ExponentialLR::new(&mut o, -1.0).map(|_| ())).contains("ExponentialLR"));
    assert!(
        e(CosineAnnealingLR::new(&mut o, 0, 0.0).map(|_| ())).contains("t_max must be at least 1")
    );
    assert!(e(LinearWarmup::new(&mut o, 0.0, 3).map(|_| ()))
        .contains("start_factor 0 must be in (0, 1]"));
    assert!(e(LinearWarmup::new(&mut o, 1.5, 3).map(|_| ())).contains("start_factor 1.5"));
    assert!(
        e(OneCycleLR::new(&mut o, 1.0, 0).map(|_| ())).contains("total_steps must be at least 1")
    );
    let cfg = OneCycleConfig {
        pct_start: 1.5,
        ..OneCycleConfig::new(1.0, 10)
    };
    assert!(e(OneCycleLR::with_config(&mut o, cfg).map(|_| ())).contains("pct_start 1.5"));
    // failed construction left the rates alone
    assert_eq!(o.lr(), 1.0);

    // a scheduler stepped with an optimizer of another group count
    let mut s = ExponentialLR::new(&mut o, 0.5).unwrap();
    let mut single = Sgd::new(vec![Var::from_vec(vec![1.0f64], &[1]).unwrap()], 0.1);
    let msg = e(s.step(&mut single, None));
    assert!(
        msg.contains(
            "ExponentialLR: the scheduler was built for 2 parameter groups but the optimizer has 1"
        ),
        "{msg}"
    );
    assert_eq!(single.lr(), 0.1);
    assert_eq!(s.state_dict().scalars["last_epoch"], 0.0);
}

#[test]
fn schedulers_are_send_trait_objects() {
    fn send<T: Send>(_: &T) {}
    let mut o = opt();
    let all: Vec<Box<dyn LrScheduler>> = vec![
        Box::new(StepLR::new(&mut o, 1, 0.5).unwrap()),
        Box::new(ReduceLROnPlateau::new(&o, PlateauMode::Max)),
    ];
    send(&all);
}
