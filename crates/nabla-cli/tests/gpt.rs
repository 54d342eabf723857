//! End-to-end tests of a character GPT with the real binary: training on windows at random
//! offsets for a number of steps, an exact resume after SIGKILL, sampling with and without
//! the key/value cache, and the transformer configs' bad input (one line, exit 2, nothing
//! written).

use std::path::Path;

mod common;
use common::{assert_bad, assert_ok, kill_and_resume_equals, lm_text, nabla, ok, text, tmp};

/// A tiny character GPT: 2 pre-norm causal layers of width 16, a tied head, AdamW with
/// warm-up and cosine decay, random windows, 40 steps.
const GPT: &str = include_str!("fixtures/char-gpt.toml");

fn setup(d: &Path) {
    std::fs::write(d.join("t.txt"), lm_text()).unwrap();
    std::fs::write(d.join("gpt.toml"), GPT).unwrap();
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_gpt_trains_for_max_steps_and_samples_with_or_without_its_cache() {
    let dir = tmp();
    let d = dir.path();
    setup(d);
    let out = ok(&nabla(&["train", "gpt.toml", "--out", "a", "--plain"], d));
    assert!(out.contains("val_bpc"), "{out}");
    let rows = metrics(&d.join("a"));
    let last = rows.last().unwrap();
    assert_eq!(last["step"], 40, "max_steps ends the run: {last}");
    assert!(rows.len() < 4, "before the 4 epochs: {} rows", rows.len());
    let first_loss = rows[0]["train_loss"].as_f64().unwrap();
    assert!(
        first_loss < (12f64).ln() + 0.2,
        "starts near ln(12): {first_loss}"
    );
    // a run measured in steps is finished at max_steps
    assert_bad(&nabla(&["train", "--resume", "a"], d), "max_steps");
    // sampling past max_len = 16: cached while the text fits, then the window slides; the
    // cache changes only the cost
    let args = [
        "sample", "a", "--prompt", "abc", "--length", "60", "--seed", "3",
    ];
    let cached = ok(&nabla(&args, d));
    let mut no_cache = args.to_vec();
    no_cache.push("--no-cache");
    let recomputed = ok(&nabla(&no_cache, d));
    assert_eq!(cached, recomputed);
    assert!(
        cached.starts_with("abc") && cached.trim_end_matches('\n').chars().count() == 63,
        "{cached:?}"
    );
    // a prompt longer than the model sees at once
    assert_bad(
        &nabla(&["sample", "a", "--prompt", &"abc ".repeat(5)], d),
        "--prompt",
    );
    let summary = ok(&nabla(&["summary", "gpt.toml"], d));
    assert!(summary.contains("TransformerEncoder"), "{summary}");
}

#[test]
fn a_gpt_killed_mid_epoch_resumes_bitwise() {
    let dir = tmp();
    let d = dir.path();
    setup(d);
    // long enough to be killed while it runs (the schedule spans the whole run, so the
    // killed run is the same config, resumed as it is)
    let cfg = GPT
        .replace("max_steps = 40\n", "")
        .replace("epochs = 4", "epochs = 60");
    std::fs::write(d.join("e.toml"), cfg).unwrap();
    assert_ok(&nabla(&["train", "e.toml", "--out", "a", "--plain"], d));
    let steps = metrics(&d.join("a")).last().unwrap()["step"]
        .as_u64()
        .unwrap();
    assert!(steps > 600, "{steps}");
    // checkpoints every 5 steps; killed inside the first epoch
    kill_and_resume_equals(d, &["e.toml"], &[], "a", 15, steps);
}

#[test]
fn bad_transformer_configs_are_one_line_exit_2_and_write_nothing() {
    let dir = tmp();
    let d = dir.path();
    setup(d);
    let cases: &[(&str, &str, &str, &str)] = &[
        ("heads", "heads = 2", "heads = 3", "heads"),
        ("longer", "seq_len = 16", "seq_len = 32", "max_len"),
        ("no_table", "{ type = \"embedding\", dim = 16, std = 0.02 },\n  { type = \"positional_embedding\", max_len = 16 },", "{ type = \"embedding\", dim = 16, std = 0.02 },\n  { type = \"positional_embedding\", max_len = 16 },\n  { type = \"linear\", out = 16 },\n  { type = \"linear\", out = 16, tie = \"linear\" },", "tie"),
        ("tie_misfit", "{ type = \"linear\", out = 12, tie", "{ type = \"linear\", out = 13, tie", "tie"),
        ("random_windows_digits", "dataset = \"text\"\npath = \"t.txt\"\nseq_len = 16", "dataset = \"digits\"", "random_windows"),
        ("max_steps_zero", "max_steps = 40", "max_steps = 0", "max_steps"),
        ("max_steps_negative", "max_steps = 40", "max_steps = -4", "max_steps"),
        ("random_windows_string", "random_windows = true", "random_windows = \"yes\"", "random_windows"),
    ];
    for (name, from, to, needle) in cases {
        assert!(GPT.contains(from), "{name}: {from}");
        let cfg = GPT.replacen(from, to, 1);
        let file = format!("{name}.toml");
        std::fs::write(d.join(&file), cfg).unwrap();
        let o = nabla(&["train", &file, "--out", name, "--plain"], d);
        let (_, err) = text(&o);
        assert_bad(&o, needle);
        assert!(!d.join(name).exists(), "{name} wrote its folder: {err}");
    }
    // causal attention over data that is not a sequence, and a permute that is not a
    // permutation
    let images = r#"[data]
dataset = "digits"
[model]
input_shape = [1, 8, 8]
layers = [
  { type = "conv2d", out = 16, kernel_size = 4, stride = 4 },
  { type = "flatten", start_dim = 2 },
  { type = "permute", dims = [0, 2, 1] },
  { type = "transformer", layers = 1, heads = 2, dim_feedforward = 32, causal = true },
  { type = "mean", dim = 1 },
  { type = "linear", out = 10 },
]
[train]
epochs = 1
"#;
    std::fs::write(
        d.join("vit.toml"),
        images.replace("causal = true", "causal = false"),
    )
    .unwrap();
    ok(&nabla(&["summary", "vit.toml"], d));
    for (name, cfg, needle) in [
        ("causal_images", images.to_string(), "causal"),
        (
            "not_a_permutation",
            images
                .replace("causal = true", "causal = false")
                .replace("dims = [0, 2, 1]", "dims = [0, 2, 2]"),
            "dims",
        ),
    ] {
        let file = format!("{name}.toml");
        std::fs::write(d.join(&file), cfg).unwrap();
        assert_bad(
            &nabla(&["train", &file, "--out", name, "--plain"], d),
            needle,
        );
        assert!(!d.join(name).exists(), "{name} wrote its folder");
    }
}
