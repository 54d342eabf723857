//! Every example runs here on tiny data: each example file is compiled into this test as a
//! module and its `run` is called, so what `cargo run --example` runs is what is tested.

#[path = "../../../examples/char_gpt.rs"]
mod char_gpt;
#[path = "../../../examples/char_lstm.rs"]
mod char_lstm;
#[path = "../../../examples/custom_loop.rs"]
mod custom_loop;
#[path = "../../../examples/experiment_toml.rs"]
mod experiment_toml;
#[path = "../../../examples/mnist_cnn.rs"]
mod mnist_cnn;
#[path = "../../../examples/mnist_mlp.rs"]
mod mnist_mlp;
#[path = "../../../examples/residual_block.rs"]
mod residual_block;
#[path = "../../../examples/vae.rs"]
mod vae;
#[path = "../../../examples/xor_autograd.rs"]
mod xor_autograd;
#[path = "../../../examples/xor_origin.rs"]
mod xor_origin;

use nabla_testkit::{idx_images, idx_labels};
use std::path::Path;
use tempfile::TempDir;

/// A tiny MNIST in raw IDX files: `n` 28×28 images per split whose class (0..10) is drawn
/// as a bright band at a class-dependent row, so a model can learn it.
fn tiny_mnist(dir: &Path, n_train: usize, n_test: usize) {
    let class = |i: usize| (i * 7 + 3) % 10;
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let img = idx_images(n, 28, 28, |i, k| {
            let (r, c) = (k / 28, k % 28);
            let on = r / 2 == class(i) + 2 && (c + i) % 3 != 0;
            if on {
                230
            } else {
                ((r * 5 + c * 3 + i) % 17) as u8
            }
        });
        let lbl: Vec<u8> = (0..n).map(|i| class(i) as u8).collect();
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx_labels(&lbl),
        )
        .unwrap();
    }
}

#[test]
fn xor_origin_prints_what_numpy_prints() {
    // `python seed_xor.py` prints [[0.04336566] [0.86002551] [0.86003252] [0.55139487]]
    let l2 = xor_origin::run(1, 10_000).unwrap();
    assert_eq!(
        format!("{l2}"),
        "[[0.04336566]\n [0.86002551]\n [0.86003252]\n [0.55139487]]"
    );
}

#[test]
fn xor_autograd_learns() {
    let p = xor_autograd::run().unwrap().to_vec_f64();
    for (got, want) in p.iter().zip([0.0, 1.0, 1.0, 0.0]) {
        assert!((got - want).abs() < 0.1, "{p:?}");
    }
}

#[test]
fn custom_loop_trains_on_digits() {
    let (acc, losses) = custom_loop::run(3, 0).unwrap();
    assert_eq!(losses.len(), 3);
    assert!(losses[2] < losses[0], "{losses:?}");
    assert!(acc > 0.85, "{acc}");
}

#[test]
fn experiment_toml_runs_a_config() {
    let t = TempDir::new().unwrap();
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/digits-mlp.toml");
    let out = t.path().join("run");
    let run = experiment_toml::run(cfg, Some(2), Some(out.to_str().unwrap()), None).unwrap();
    assert_eq!(run.history.len(), 2);
    assert!(run.closing_line().starts_with("test_accuracy="));
    assert!(out.join("config.toml").exists() && out.join("summary.json").exists());
}

#[test]
fn mnist_mlp_equals_the_mnist_mlp_config() {
    let t = TempDir::new().unwrap();
    tiny_mnist(t.path(), 200, 50);
    let ev = mnist_mlp::run(t.path().to_str().unwrap(), 2, 0).unwrap();
    // the same run from configs/mnist-mlp.toml: the same numbers, bit for bit
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/mnist-mlp.toml");
    let run = nabla::experiment::Experiment::from_toml_file(cfg)
        .unwrap()
        .with_epochs(2)
        .with_data_dir(t.path())
        .with_out_dir(t.path().join("run"))
        .with_progress(nabla::train::ProgressMode::Quiet)
        .fit()
        .unwrap();
    let test = run.test.as_ref().expect("the run has a test set");
    assert_eq!(ev.accuracy, test.accuracy);
    assert_eq!(ev.loss.to_bits(), test.loss.to_bits());
}

#[test]
fn residual_block_is_a_custom_module_that_trains() {
    let (ev, names) = residual_block::run(3, 0).unwrap();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.fc1.weight",
            "1.fc1.bias",
            "1.fc2.weight",
            "1.fc2.bias",
            "3.weight",
            "3.bias"
        ]
    );
    let acc = ev.accuracy.unwrap();
    assert!(acc > 0.8, "test accuracy {acc}");
}

#[test]
fn vae_trains_and_draws() {
    let t = TempDir::new().unwrap();
    tiny_mnist(t.path(), 256, 64);
    let out = t.path().join("out");
    let h = vae::run(t.path(), 2, &out, 1).unwrap();
    assert_eq!(h.len(), 2);
    // per image: 784 Bernoulli terms, so a few hundred nats at first, then lower
    assert!(
        h.iter().all(|(a, b)| a.is_finite() && b.is_finite()),
        "{h:?}"
    );
    assert!(h[1].0 < h[0].0, "{h:?}");
    // 8×8 samples of 28 px with 2 px padding; 2 rows of 8 for the reconstructions
    let size = |f: &str| nabla::report::image::png_size(out.join(f)).unwrap();
    assert_eq!(size("samples.png"), (242, 242));
    assert_eq!(size("reconstructions.png"), (242, 62));
}

#[test]
fn mnist_cnn_trains_on_tiny_images() {
    let t = TempDir::new().unwrap();
    tiny_mnist(t.path(), 128, 32);
    let ev = mnist_cnn::run(t.path().to_str().unwrap(), 1, 0).unwrap();
    assert!(ev.loss.is_finite() && ev.samples == 32, "{ev:?}");
}

#[test]
fn char_gpt_learns_and_samples_the_same_text_with_or_without_its_cache() {
    let t = TempDir::new().unwrap();
    let p = t.path().join("t.txt");
    let text: String = (0..300)
        .map(|i| ["to be ", "or not ", "that is "][i % 3])
        .collect();
    std::fs::write(&p, &text).unwrap();
    let size = char_gpt::GptSize {
        width: 16,
        layers: 2,
        heads: 2,
        block: 16,
        batch: 8,
        steps: 200,
    };
    let r = char_gpt::run(p.to_str().unwrap(), size).unwrap();
    assert!(r.val_loss.is_finite() && r.val_loss < 1.5, "{}", r.val_loss);
    assert_eq!(r.sample.chars().count(), 301, "{:?}", r.sample);
    assert_eq!(r.sample, r.recomputed);
}

#[test]
fn char_lstm_learns_and_samples() {
    let t = TempDir::new().unwrap();
    let p = t.path().join("t.txt");
    let text: String = (0..300)
        .map(|i| ["to be ", "or not ", "that is "][i % 3])
        .collect();
    std::fs::write(&p, &text).unwrap();
    let (val_loss, sample) = char_lstm::run(p.to_str().unwrap(), 2, 16, 32).unwrap();
    assert!(
        val_loss.is_finite() && val_loss < (12f64).ln(),
        "{val_loss}"
    );
    assert_eq!(sample.chars().count(), 201, "{sample:?}");
}
