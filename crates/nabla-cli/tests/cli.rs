//! End-to-end tests that run the real `nabla` binary.

use std::path::Path;
use std::process::Output;

mod common;
use common::{stderr, stdout};

/// Runs the binary in the package folder.
fn nabla(args: &[&str]) -> Output {
    common::nabla(args, Path::new(env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn demo_xor_prints_what_the_numpy_program_prints() {
    let o = nabla(&["demo", "xor"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `python shared/peers/python/seed_xor.py`
    assert_eq!(
        stdout(&o),
        "Output after training:\n[[0.04336566]\n [0.86002551]\n [0.86003252]\n [0.55139487]]\n"
    );
}

#[test]
fn demo_xor_origin_and_iterations_follow_numpy() {
    // `python seed_xor_param.py 3 10000`
    let o = nabla(&["demo", "xor", "--seed", "3"]);
    assert_eq!(
        stdout(&o),
        "Output after training:\n[[0.59050217]\n [0.49943832]\n [0.67413727]\n [0.02006589]]\n"
    );
    // one iteration: the untrained network's output for seed 1
    let o = nabla(&["demo", "xor", "--iterations", "1"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("Output after training:\n[[0.3184497 ]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn demo_xor_autograd_prints_the_same() {
    let a = nabla(&["demo", "xor", "--autograd"]);
    let b = nabla(&["demo", "xor"]);
    assert!(a.status.success());
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn demo_xor_with_bias_learns_and_explains() {
    let o = nabla(&["demo", "xor", "--bias", "--explain"]);
    assert!(o.status.success());
    let s = stdout(&o);
    for sym in ["z¹", "a¹", "δ²", "δ¹", "∂C/∂W²", "∂C/∂W¹", "∂C/∂b²"] {
        assert!(s.contains(sym), "missing {sym} in\n{s}");
    }
    let tail = s
        .split("Output after training:\n")
        .nth(1)
        .expect("the report");
    let vals: Vec<f64> = tail
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(vals.len(), 4, "{tail}");
    for (v, t) in vals.iter().zip([0.0, 1.0, 1.0, 0.0]) {
        assert!((v - t).abs() < 0.1, "{vals:?}");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        &["demo", "nosuch"][..],
        &["demo", "xor", "--bogus"],
        &["demo", "xor", "--seed", "x"],
        &["bench", "W99"],
        &["frobnicate"],
    ] {
        let o = nabla(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.trim_end().lines().count(), 1, "{args:?} printed:\n{e}");
        assert!(e.starts_with("nabla: "), "{e}");
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn bench_prints_one_json_object_per_line() {
    let o = nabla(&["bench", "W6", "--threads", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    assert_eq!(v["workload"], "W6");
    assert_eq!(v["params"]["size"], 4);
    assert_eq!(v["threads"], 1);
    assert_eq!(v["unit"], "graphs/s");
    assert!(v["median_ms"].as_f64().unwrap() > 0.0);
    assert!(v["throughput"].as_f64().unwrap() > 0.0);
}

#[test]
fn demo_vanishing_shows_the_sigmoid_gradient_shrink_and_the_fix() {
    let ratio = |args: &[&str]| -> f64 {
        let mut a = vec!["demo", "vanishing", "--steps", "5"];
        a.extend_from_slice(args);
        let o = nabla(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("δˡ") && out.contains("‖∂C/∂Wˡ‖"), "{out}");
        let last = out.lines().last().unwrap();
        last.strip_prefix("first_to_last_grad_ratio=")
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(ratio(&[]) < 1e-3);
    assert!(ratio(&["--activation", "relu", "--init", "kaiming_normal"]) > 0.1);
    assert!(ratio(&["--batch-norm"]) > 1e-3);
    let o = nabla(&["demo", "vanishing", "--activation", "softsign"]);
    assert_eq!(o.status.code(), Some(2));
}
