//! The gradient-health monitor: a model with each problem gets its diagnosis, a healthy one
//! none; health.jsonl is written and read back, damaged lines reported.

use nabla_core::{Mt19937, Tensor};
use nabla_data::{DataLoader, LoaderConfig};
use nabla_nn::loss::cross_entropy_loss;
use nabla_nn::optim::{Adam, Optimizer, Sgd};
use nabla_nn::{Activation, Linear, Module, Sequential};
use nabla_train::health::{diagnose, read_health, HealthRecord, ParamHealth};
use nabla_train::{ProgressMode, TrainConfig, Trainer};

fn mlp(widths: &[usize], act: Activation, rng: &mut Mt19937) -> Sequential {
    let mut m = Sequential::new();
    for w in widths.windows(2) {
        m = m.append(Linear::new(w[0], w[1], rng).unwrap());
        if w[1] != 10 {
            m = m.append(act);
        }
    }
    m
}

fn kinds<O: Optimizer + 'static>(model: Sequential, opt: O, epochs: usize) -> Vec<&'static str> {
    let (train, _) = nabla_data::digits().unwrap().split([0.5, 0.5], 0).unwrap();
    let cfg = TrainConfig {
        health_every: 5,
        ..TrainConfig::default()
            .with_epochs(epochs)
            .with_progress(ProgressMode::Quiet)
    };
    let mut t = Trainer::new(model, opt, cross_entropy_loss, cfg);
    let mut l = DataLoader::new(train, LoaderConfig::new(32).with_shuffle(true)).unwrap();
    t.fit(&mut l, None).unwrap();
    assert!(!t.health_records().is_empty());
    diagnose(t.health_records())
        .iter()
        .map(|d| d.kind)
        .collect()
}

#[test]
fn a_healthy_run_has_no_diagnosis() {
    let mut rng = Mt19937::new(0);
    let m = mlp(&[64, 64, 10], Activation::ReLU, &mut rng);
    let opt = Adam::new(m.parameters(), 1e-3);
    assert_eq!(kinds(m, opt, 2), Vec::<&str>::new());
}

#[test]
fn a_deep_sigmoid_net_has_vanishing_gradients() {
    let mut rng = Mt19937::new(0);
    let m = mlp(
        &[64, 32, 32, 32, 32, 32, 32, 32, 32, 32, 10],
        Activation::Sigmoid,
        &mut rng,
    );
    let opt = Sgd::new(m.parameters(), 0.01);
    assert!(kinds(m, opt, 1).contains(&"vanishing_gradients"));
}

#[test]
fn dead_and_saturated_units_are_seen() {
    let mut rng = Mt19937::new(0);
    let m = mlp(&[64, 32, 10], Activation::ReLU, &mut rng);
    // every hidden unit starts (and stays) below zero
    let first = &m.parameters()[1].1;
    first
        .set(&Tensor::full(-100.0, &[32], nabla_core::DType::F32))
        .unwrap();
    let opt = Sgd::new(m.parameters(), 0.01);
    assert!(kinds(m, opt, 1).contains(&"dead_relu"));
    let m = mlp(&[64, 32, 10], Activation::Tanh, &mut rng);
    let w = &m.parameters()[0].1;
    w.set(&w.as_tensor().mul_scalar(80.0).unwrap()).unwrap();
    let opt = Sgd::new(m.parameters(), 1e-4);
    assert!(kinds(m, opt, 1).contains(&"saturated"));
}

#[test]
fn learning_rates_far_from_the_rule_of_thumb_are_named() {
    let mut rng = Mt19937::new(0);
    let m = mlp(&[64, 32, 10], Activation::Tanh, &mut rng);
    let opt = Sgd::new(m.parameters(), 3.0);
    let k = kinds(m, opt, 1);
    assert!(k.contains(&"learning_rate_too_high"), "{k:?}");
    let m = mlp(&[64, 32, 10], Activation::ReLU, &mut rng);
    let opt = Adam::new(m.parameters(), 1e-10);
    assert!(kinds(m, opt, 1).contains(&"learning_rate_too_low"));
}

fn record(step: u64, norm: f64, bad: usize) -> HealthRecord {
    HealthRecord {
        step,
        epoch: 1,
        global_grad_norm: norm,
        clipped: false,
        non_finite: bad,
        params: vec![ParamHealth {
            name: "0.weight".into(),
            grad_norm: norm,
            weight_norm: 1.0,
            update_ratio: 1e-3,
            non_finite: bad,
        }],
        activations: vec![],
        histograms: vec![],
    }
}

#[test]
fn growing_or_non_finite_norms_are_exploding() {
    let d = diagnose(&[record(1, 1.0, 0), record(50, 30.0, 0), record(100, 5e3, 0)]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].kind == "exploding_gradients" && d[0].message.contains("grew"),
        "{d:?}"
    );
    let d = diagnose(&[record(1, 1.0, 0), record(50, f64::INFINITY, 3)]);
    assert!(
        d[0].kind == "exploding_gradients" && d[0].message.contains("non-finite"),
        "{d:?}"
    );
    assert!(diagnose(&[record(1, 1.0, 0), record(50, 2.0, 0)]).is_empty());
}

#[test]
fn health_jsonl_is_written_and_damage_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (train, _) = nabla_data::digits().unwrap().split([0.5, 0.5], 0).unwrap();
    let mut rng = Mt19937::new(0);
    let m = mlp(&[64, 16, 10], Activation::ReLU, &mut rng);
    let opt = Adam::new(m.parameters(), 1e-3);
    let cfg = TrainConfig {
        health_every: 10,
        ..TrainConfig::default()
            .with_epochs(1)
            .with_out_dir(dir)
            .with_progress(ProgressMode::Quiet)
    };
    let mut t = Trainer::new(m, opt, cross_entropy_loss, cfg);
    let mut l = DataLoader::new(train, LoaderConfig::new(32)).unwrap();
    t.fit(&mut l, None).unwrap();
    let p = dir.join("health.jsonl");
    let (records, damage) = read_health(&p).unwrap();
    // steps 1, 10, 20 (29 steps in the epoch)
    assert_eq!(
        records.iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![1, 10, 20]
    );
    assert!(damage.is_empty());
    let r = &records[0];
    assert_eq!(r.params.len(), 4);
    assert_eq!(r.params[0].name, "0.weight");
    assert!(r
        .params
        .iter()
        .all(|p| p.grad_norm > 0.0 && p.update_ratio > 0.0));
    assert_eq!(r.activations.len(), 1);
    assert_eq!(r.activations[0].layer, "1 (ReLU)");
    // a line cut short (as a crash mid-write leaves it): the complete ones are used
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, &text[..text.len() - 40]).unwrap();
    let (records, damage) = read_health(&p).unwrap();
    assert_eq!(records.len(), 2);
    assert!(
        damage[0].contains("line 3") && damage[0].contains("cut short"),
        "{damage:?}"
    );
}

/// A layer whose gradient is zero (dead) moves by 0 of its norm: that is no evidence of a low
/// learning rate; one step that moves the weights by more than their norm is a high one.
#[test]
fn zero_gradient_layers_are_not_a_low_learning_rate() {
    let dead = |step: u64, ratio: f64| {
        let mut r = record(step, 1.0, 0);
        r.params[0].update_ratio = ratio;
        r.params.push(ParamHealth {
            name: "3.weight".into(),
            grad_norm: 0.0,
            weight_norm: 1.0,
            update_ratio: 0.0,
            non_finite: 0,
        });
        r.params.push(ParamHealth {
            name: "6.weight".into(),
            grad_norm: 0.0,
            weight_norm: 2.0,
            update_ratio: 0.0,
            non_finite: 0,
        });
        r
    };
    let k: Vec<&str> = diagnose(&[dead(1, 1e-3), dead(50, 1e-3), dead(100, 1e-3)])
        .iter()
        .map(|d| d.kind)
        .collect();
    assert!(!k.contains(&"learning_rate_too_low"), "{k:?}");
    let k: Vec<&str> = diagnose(&[dead(1, 40.0), dead(50, 1e-3), dead(100, 1e-3)])
        .iter()
        .map(|d| d.kind)
        .collect();
    assert!(k.contains(&"learning_rate_too_high"), "{k:?}");
}
