//! Experiments from TOML in the library: parsing, validation (errors name the key path or
//! the layer), regression, and whole runs on the bundled data.

use nabla_core::{DType, Mt19937, Tensor};
use nabla_data::{DataLoader, Dataset, LoaderConfig};
use nabla_experiment::Experiment;
use nabla_experiment::{
    build_model, new_run_dir, DatasetKind, ExperimentConfig, LayerConfig, OptimizerConfig,
};
use nabla_nn::loss::cross_entropy_loss;
use nabla_nn::optim::Adam;
use nabla_nn::{Activation, Linear, Module, Sequential};
use nabla_train::{Error, ProgressMode, Task, TrainConfig, Trainer};
use tempfile::TempDir;

/// `r` is an error whose message contains every one of `parts`.
#[track_caller]
fn assert_err<T>(r: Result<T, impl std::fmt::Display>, parts: &[&str]) {
    let e = match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    for p in parts {
        assert!(e.contains(p), "{e}");
    }
}

fn config_err(text: &str) -> String {
    match Experiment::from_toml_str(text, "c.toml") {
        Err(Error::Config(m)) => m,
        Err(e) => panic!("not a config error: {e:?}"),
        Ok(_) => panic!("accepted: {text}"),
    }
}

const LAYERS: &str = "[model]\nlayers = [{ type = \"linear\", out = 10 }]\n";

#[test]
fn parses_a_full_config() {
    let text = include_str!("fixtures/full.toml");
    let c = ExperimentConfig::from_toml_str(text, "t.toml").unwrap();
    assert_eq!(c.data.dataset, DatasetKind::Mnist);
    assert_eq!(c.data.task(), Task::Classification);
    assert_eq!(c.model.layers.len(), 4);
    assert_eq!(
        c.train.optimizer,
        OptimizerConfig::Sgd {
            lr: 0.01,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0
        }
    );
    assert_eq!(c.train.clip_grad_value, Some(0.5));
    assert_eq!(c.train.early_stopping_min_delta, 0.001);
    assert_eq!(c.train.progress, Some(ProgressMode::Plain));
    assert_eq!(
        c.train.out_dir.as_deref(),
        Some(std::path::Path::new("runs/x"))
    );
    // the TOML form round-trips
    let again = ExperimentConfig::from_toml_str(&c.to_toml().unwrap(), "again").unwrap();
    assert_eq!(again, c);
}

#[test]
fn errors_name_the_key() {
    let e = config_err("[train]\nepochs = \"ten\"\n");
    assert!(e.contains("train.epochs") && e.contains("c.toml"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    let e = config_err(&format!("{LAYERS}[train]\nepoch = 3\n"));
    assert!(e.contains("train") && e.contains("epoch"), "{e}");
    let e = config_err(&format!("{LAYERS}[data]\nshuffle_buffer = 3\n"));
    assert!(e.contains("data") && e.contains("shuffle_buffer"), "{e}");
    let e = config_err("[model]\nlayers = [{ type = \"linear\", out = 4, outs = 3 }]\n");
    assert!(e.contains("model.layers") && e.contains("outs"), "{e}");
    let e = config_err("[model]\nlayers = [{ type = \"conv9\" }]\n");
    assert!(e.contains("model.layers") && e.contains("conv9"), "{e}");
    let e = config_err("[train\nepochs = 3\n");
    assert!(e.contains("line 1"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    let e = config_err(&format!(
        "{LAYERS}[train]\noptimizer = {{ name = \"adam\", lr = -1.0 }}\n"
    ));
    assert!(e.contains("train.optimizer.lr"), "{e}");
    let e = config_err(&format!("{LAYERS}[train]\nclip_grad_value = 0\n"));
    assert!(e.contains("train.clip_grad_value"), "{e}");
    let e = config_err(&format!(
        "{LAYERS}[data]\ndataset = \"mnist\"\ntest_split = 0.2\n"
    ));
    assert!(e.contains("data.test_split") && e.contains("mnist"), "{e}");
    let e = config_err(&format!("{LAYERS}[data]\nskip_rows = 1\n"));
    assert!(e.contains("data.skip_rows") && e.contains("csv"), "{e}");
    // from a file: the file's name leads the message
    let t = TempDir::new().unwrap();
    let p = t.path().join("bad.toml");
    std::fs::write(&p, format!("{LAYERS}[train]\nbatchsize = 3\n")).unwrap();
    assert_err(Experiment::from_toml_file(&p), &["bad.toml", "batchsize"]);
    assert_err(
        Experiment::from_toml_file(t.path().join("missing.toml")),
        &["missing.toml", "cannot read"],
    );
}

#[test]
fn label_smoothing_only_with_cross_entropy() {
    for loss in ["nll", "mse"] {
        let e = config_err(&format!(
            "{LAYERS}[train]\nloss = \"{loss}\"\nlabel_smoothing = 0.1\n"
        ));
        assert!(
            e.contains("train.label_smoothing") && e.contains(loss),
            "{e}"
        );
    }
    let ok = format!("{LAYERS}[train]\nlabel_smoothing = 0.1\n");
    let e = Experiment::from_toml_str(&ok, "c.toml").unwrap();
    assert_eq!(e.config.train.label_smoothing, 0.1);
}

#[test]
fn digits_mlp_is_configs_digits_mlp() {
    // its header says `nabla train` without a config trains exactly this file
    let file = ExperimentConfig::from_toml_str(
        include_str!("../../../configs/digits-mlp.toml"),
        "configs/digits-mlp.toml",
    )
    .unwrap();
    assert_eq!(file, ExperimentConfig::digits_mlp());
    // every shipped config parses
    for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs")).unwrap() {
        let p = f.unwrap().path();
        ExperimentConfig::from_toml_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn regression_configs_are_checked() {
    // a regression without a loss trains with mse
    let c = ExperimentConfig::from_toml_str(
        &format!("{LAYERS}[data]\ndataset = \"diabetes\"\n"),
        "r.toml",
    )
    .unwrap();
    assert_eq!(c.train.loss_for(true), nabla_nn::loss::LossKind::Mse);
    let e = config_err(&format!(
        "{LAYERS}[data]\ndataset = \"diabetes\"\n[train]\nloss = \"nll\"\n"
    ));
    assert!(e.contains("train.loss") && e.contains("regression"), "{e}");
    let e = config_err(&format!(
        "{LAYERS}[data]\ndataset = \"diabetes\"\n[train]\nloss = \"mse\"\nmetrics = [\"accuracy\"]\n"
    ));
    assert!(
        e.contains("train.metrics") && e.contains("accuracy") && e.contains("regression"),
        "{e}"
    );
    let e = config_err(&format!("{LAYERS}[train]\nloss = \"l1\"\n"));
    assert!(e.contains("train.loss") && e.contains("regression"), "{e}");
    let e = config_err(&format!("{LAYERS}[train]\nmetrics = [\"r2\"]\n"));
    assert!(e.contains("r2") && e.contains("classification"), "{e}");
    let e = config_err(&format!(
        "{LAYERS}[data]\ndataset = \"diabetes\"\n[train]\nloss = \"mse\"\nhuber_delta = 2.0\n"
    ));
    assert!(e.contains("train.huber_delta"), "{e}");
}

#[test]
fn regression_csv_whose_target_is_not_numeric_fails_naming_the_line() {
    let t = TempDir::new().unwrap();
    let csv = t.path().join("r.csv");
    std::fs::write(&csv, "a,b,y\n1,2,3.5\n2,3,4.5\n3,4,high\n4,5,6.5\n").unwrap();
    let text = format!(
        "[data]\ndataset = \"csv\"\npath = \"{}\"\ntask = \"regression\"\n[model]\nlayers = [{{ type = \"linear\", out = 1 }}]\n[train]\nloss = \"mse\"\nprogress = \"quiet\"\n",
        csv.display()
    );
    let exp = Experiment::from_toml_str(&text, "r.toml")
        .unwrap()
        .with_out_dir(t.path().join("run"));
    let e = exp.fit().unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("r.csv") && m.contains("line 4") && m.contains("high"),
        "{m}"
    );
    // nothing was written
    assert!(!t.path().join("run").join("checkpoints").exists());
}

#[test]
fn models_too_large_are_refused_before_allocating() {
    let cfg = ExperimentConfig::from_toml_str(
        "[model]\nlayers = [{ type = \"linear\", out = 100000 }, { type = \"linear\", out = 100000000 }]\n",
        "big.toml",
    )
    .unwrap();
    let mut rng = Mt19937::new(0);
    assert_err(
        build_model(&cfg, &[64], None, &mut rng),
        &["model.layers[1] (linear)", "bytes", "memory"],
    );
    // an input shape whose element count overflows
    let e = config_err(
        "[model]\ninput_shape = [4294967296, 4294967296, 2]\nlayers = [{ type = \"linear\", out = 1 }]\n",
    );
    assert!(
        e.contains("model.input_shape") && e.contains("overflow"),
        "{e}"
    );
    assert_err(
        build_model(&cfg, &[usize::MAX, 2], None, &mut rng),
        &["model.input_shape", "overflow"],
    );
}

#[test]
fn diabetes_regression_runs_end_to_end() {
    let t = TempDir::new().unwrap();
    let text = include_str!("../../../configs/diabetes-mlp.toml");
    let exp = Experiment::from_toml_str(text, "diabetes-mlp")
        .unwrap()
        .with_epochs(3)
        .with_progress(ProgressMode::Quiet)
        .with_out_dir(t.path().join("run"));
    let run = exp.fit().unwrap();
    let r = run.test.as_ref().unwrap().regression.unwrap();
    assert!(r.mae.is_finite() && r.rmse >= r.mae && r.r2 <= 1.0, "{r:?}");
    assert!(run.test.as_ref().unwrap().accuracy.is_none());
    let line = run.closing_line();
    assert!(
        line.starts_with("test_r2=") && line.contains("test_mae="),
        "{line}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.dir.join("summary.json")).unwrap())
            .unwrap();
    assert!(
        summary["test_r2"].is_f64() && summary["test_mae"].is_f64(),
        "{summary}"
    );
    let metrics = std::fs::read_to_string(run.dir.join("metrics.jsonl")).unwrap();
    assert!(
        metrics.lines().count() == 3 && metrics.contains("\"val_r2\""),
        "{metrics}"
    );
    // the saved config is complete and lists only the keys that apply
    let saved = std::fs::read_to_string(run.dir.join("config.toml")).unwrap();
    assert!(saved.contains("input_shape = [10]"), "{saved}");
    assert!(
        !saved.contains("label_column") && !saved.contains("out_dir"),
        "{saved}"
    );
}

#[test]
fn sklearn_csv_trains_as_it_is() {
    let t = TempDir::new().unwrap();
    let csv = t.path().join("tiny.csv");
    // n_samples,n_features,class names; then rows of features and a class index
    let mut text = String::from("40,2,left,right\n");
    for i in 0..40 {
        let x = i as f64 / 10.0 - 2.0;
        text.push_str(&format!("{x},{},{}\n", -x, usize::from(x > 0.0)));
    }
    std::fs::write(&csv, text).unwrap();
    let toml = format!(
        "[data]\ndataset = \"csv\"\npath = \"{}\"\n[model]\nlayers = [{{ type = \"linear\", out = 2 }}]\n[train]\nepochs = 2\nprogress = \"quiet\"\n",
        csv.display()
    );
    let run = Experiment::from_toml_str(&toml, "tiny")
        .unwrap()
        .with_out_dir(t.path().join("run"))
        .fit()
        .unwrap();
    assert!(run.test.as_ref().unwrap().accuracy.is_some());
}

#[test]
fn run_folders_have_readable_unique_names() {
    let t = TempDir::new().unwrap();
    let a = new_run_dir(t.path(), "mnist-mlp");
    let name = a.file_name().unwrap().to_string_lossy().into_owned();
    // 2026-12-01_20-34-56-mnist-mlp
    assert_eq!(name.len(), "2026-12-01_20-34-56-mnist-mlp".len(), "{name}");
    assert!(
        name.ends_with("-mnist-mlp") && name.as_bytes()[10] == b'_',
        "{name}"
    );
    std::fs::create_dir_all(&a).unwrap();
    let b = new_run_dir(t.path(), "mnist-mlp");
    assert_ne!(a, b);
    let c = new_run_dir(t.path(), "a b/c");
    assert!(c.to_string_lossy().ends_with("-a-b-c"), "{}", c.display());
}

#[test]
fn trainer_takes_plain_parts() {
    // a model, an optimizer over model.parameters() as it is, a plain loss function
    let mut rng = Mt19937::new(0);
    let model = Sequential::new()
        .append(Linear::new(4, 8, &mut rng).unwrap())
        .append(Activation::Tanh)
        .append(Linear::new(8, 2, &mut rng).unwrap());
    let opt = Adam::new(model.parameters(), 0.05);
    let x = Tensor::randn(&[32, 4], DType::F32, &mut rng).unwrap();
    let labels: Vec<i64> = x
        .to_vec::<f32>()
        .unwrap()
        .chunks(4)
        .map(|r| i64::from(r[0] > 0.0))
        .collect();
    let y = Tensor::from_vec(labels, &[32]).unwrap();
    let ds = nabla_data::TensorDataset::new(x, y).unwrap();
    let cfg = TrainConfig::default()
        .with_epochs(20)
        .with_progress(ProgressMode::Quiet);
    let mut trainer = Trainer::new(model, opt, cross_entropy_loss, cfg);
    let mut train = DataLoader::new(ds.clone(), LoaderConfig::new(8).with_shuffle(true)).unwrap();
    trainer.fit(&mut train, None).unwrap();
    // evaluate takes &self
    let t: &Trainer = &trainer;
    let mut test = DataLoader::new(ds, LoaderConfig::new(32)).unwrap();
    let ev = t.evaluate(&mut test).unwrap();
    assert!(ev.accuracy.unwrap() > 0.8, "{ev:?}");
    // a closure works too
    let mut rng = Mt19937::new(1);
    let m2 = Linear::new(4, 2, &mut rng).unwrap();
    let o2 = Adam::new(m2.parameters(), 0.01);
    let _ = Trainer::new(
        m2,
        o2,
        |y: &Tensor, t: &Tensor| cross_entropy_loss(y, t),
        TrainConfig::default(),
    );
}

#[test]
fn layer_spec_builder() {
    assert_eq!(
        LayerConfig::linear(5),
        LayerConfig::Linear(nabla_nn::config::LinearConfig {
            out: 5,
            input: None,
            bias: true,
            init: None,
            tie: None
        })
    );
    assert_eq!(nabla_data::digits().unwrap().len(), 1797);
}

#[test]
fn cnn_configs_build_with_the_shapes_of_pytorch() {
    let cfg = ExperimentConfig::from_toml_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/mnist-cnn.toml"
    ))
    .unwrap();
    let mut rng = Mt19937::new(0);
    let (m, shapes) = build_model(&cfg, &[1, 28, 28], Some(10), &mut rng).unwrap();
    assert_eq!(shapes[0], vec![1, 32, 26, 26]);
    assert_eq!(shapes[4], vec![1, 64, 12, 12]);
    assert_eq!(shapes[6], vec![1, 9216]);
    assert_eq!(nabla_nn::parameter_count(&m), 1_199_882);
    // every layer type and key, written as a user would
    let text = r#"
[model]
input_shape = [3, 16, 16]
layers = [
  { type = "conv2d", out = 8, in = 3, kernel_size = [3, 5], stride = 1, padding = "same", dilation = 1, groups = 1, bias = false },
  { type = "batch_norm2d", eps = 1e-5, momentum = 0.1 },
  { type = "relu" },
  { type = "dropout2d", p = 0.1 },
  { type = "max_pool2d", kernel_size = 2, stride = 2, padding = 0, dilation = 1, ceil_mode = false },
  { type = "conv_transpose2d", out = 4, kernel_size = 3, stride = 2, padding = 1, output_padding = 1 },
  { type = "avg_pool2d", kernel_size = [2, 2], count_include_pad = false },
  { type = "adaptive_avg_pool2d", output_size = [2, 4] },
  { type = "flatten", start_dim = 1, end_dim = -1 },
  { type = "linear", out = 10 },
]
"#;
    let cfg = ExperimentConfig::from_toml_str(text, "all.toml").unwrap();
    let (_, shapes) = build_model(&cfg, &[3, 16, 16], Some(10), &mut rng).unwrap();
    assert_eq!(shapes[0], vec![1, 8, 16, 16]);
    assert_eq!(shapes[5], vec![1, 4, 16, 16]);
    assert_eq!(shapes[7], vec![1, 4, 2, 4]);
    let text1 = r#"
[model]
input_shape = [2, 20]
layers = [
  { type = "conv1d", out = 4, kernel_size = 3, padding = "same" },
  { type = "max_pool1d", kernel_size = 2 },
  { type = "avg_pool1d", kernel_size = 2, stride = 1 },
  { type = "flatten" },
  { type = "linear", out = 3 },
]
"#;
    let cfg = ExperimentConfig::from_toml_str(text1, "c1.toml").unwrap();
    let (_, shapes) = build_model(&cfg, &[2, 20], Some(3), &mut rng).unwrap();
    assert_eq!(shapes[2], vec![1, 4, 9]);
}

#[test]
fn bad_cnn_configs_name_the_layer() {
    let mut rng = Mt19937::new(0);
    let build = |text: &str, input: &[usize]| -> String {
        let cfg = match ExperimentConfig::from_toml_str(text, "c.toml") {
            Ok(c) => c,
            Err(e) => return e.to_string(),
        };
        let mut rng = Mt19937::new(0);
        build_model(&cfg, input, None, &mut rng)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let _ = &mut rng;
    // a kernel larger than its padded input
    let e = build(
        "[model]\nlayers = [{ type = \"conv2d\", out = 4, kernel_size = 7 }]\n",
        &[1, 5, 5],
    );
    assert!(
        e.contains("model.layers[0] (conv2d)") && e.contains("conv2d"),
        "{e}"
    );
    // declared channels that do not match the previous layer
    let e = build("[model]\nlayers = [{ type = \"conv2d\", out = 4, kernel_size = 3 }, { type = \"conv2d\", in = 8, out = 4, kernel_size = 3 }]\n", &[1, 9, 9]);
    assert!(
        e.contains("model.layers[1] (conv2d)") && e.contains("in = 8") && e.contains("gives 4"),
        "{e}"
    );
    // padding "same" with stride 2
    let e = build("[model]\nlayers = [{ type = \"conv2d\", out = 4, kernel_size = 3, stride = 2, padding = \"same\" }]\n", &[1, 9, 9]);
    assert!(
        e.contains("model.layers[0] (conv2d)") && e.contains("same") && e.contains("stride"),
        "{e}"
    );
    // zero stride and kernel
    let e = build(
        "[model]\nlayers = [{ type = \"conv2d\", out = 4, kernel_size = 3, stride = 0 }]\n",
        &[1, 9, 9],
    );
    assert!(e.contains("stride"), "{e}");
    let e = build(
        "[model]\nlayers = [{ type = \"max_pool2d\", kernel_size = 0 }]\n",
        &[1, 9, 9],
    );
    assert!(e.contains("kernel_size"), "{e}");
    // a pooling window larger than its input
    let e = build(
        "[model]\nlayers = [{ type = \"max_pool2d\", kernel_size = 4 }]\n",
        &[1, 3, 3],
    );
    assert!(e.contains("model.layers[0] (max_pool2d)"), "{e}");
    // a rank-1 input shape feeding a conv layer
    let e = build(
        "[model]\nlayers = [{ type = \"conv2d\", out = 4, kernel_size = 3 }]\n",
        &[784],
    );
    assert!(
        e.contains("model.layers[0] (conv2d)") && e.contains("[C, H, W]"),
        "{e}"
    );
    // a padding word that is not one
    let e = build(
        "[model]\nlayers = [{ type = \"conv2d\", out = 4, kernel_size = 3, padding = \"full\" }]\n",
        &[1, 9, 9],
    );
    assert!(e.contains("padding") && e.contains("full"), "{e}");
}
