//! A standardized CSV run opened again with `Run` predicts from raw rows what the trained
//! model predicts from standardized ones, and names the classes.

use nabla_core::Tensor;
use nabla_experiment::{load_data, open_run, Experiment, Output, Run};
use nabla_train::progress::ProgressMode;

/// A row of class `k`: x1 carries the class on a scale of 0.01, x2 is noise around 1000.
fn row(i: usize, k: usize) -> (f64, f64) {
    let noise = |m: usize| ((i * m + 7) % 17) as f64 / 17.0 - 0.5;
    let x1 = if k == 0 { -0.01 } else { 0.01 } + 0.004 * noise(5);
    let x2 = 1000.0 + 100.0 * noise(11);
    (x1, x2)
}

#[test]
fn a_standardized_csv_run_predicts_raw_rows_as_training_prepared_them() {
    let tmp = tempfile::tempdir().unwrap();
    // the label column in the middle, named classes
    let names = ["low", "high"];
    let mut csv = String::from("x1,label,x2\n");
    for i in 0..200 {
        let (x1, x2) = row(i, i % 2);
        csv.push_str(&format!("{x1},{},{x2}\n", names[i % 2]));
    }
    let data = tmp.path().join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let toml = r#"
[data]
dataset = "csv"
label_column = "label"
[model]
layers = [{ type = "linear", out = 8 }, { type = "tanh" }, { type = "linear", out = 2 }]
[train]
epochs = 20
batch_size = 16
optimizer = { name = "adam", lr = 0.05 }
"#;
    let dir = tmp.path().join("run");
    let fitted = Experiment::from_toml_str(toml, "t")
        .unwrap()
        .with_data_dir(&data)
        .with_out_dir(&dir)
        .with_progress(ProgressMode::Quiet)
        .fit()
        .unwrap();
    assert!(
        fitted.test.as_ref().unwrap().accuracy.unwrap() > 0.95,
        "{:?}",
        fitted.test
    );

    // raw rows, features only, in the file's column order
    let (mut text, mut raw, mut truth) = (String::new(), Vec::new(), Vec::new());
    for i in 0..20 {
        let k = (i / 3) % 2;
        let (x1, x2) = row(1000 + i, k);
        text.push_str(&format!("{x1},{x2}\n"));
        raw.extend([x1 as f32, x2 as f32]);
        truth.push(k);
    }
    let rows = tmp.path().join("rows.csv");
    std::fs::write(&rows, text).unwrap();
    let run = Run::open(&dir).unwrap();
    assert!(run.standardizer().is_some());
    assert_eq!(run.columns().and_then(|c| c.label_index), Some(1));
    let classes = run.class_names().unwrap().to_vec();
    let preds = run.predict_files(&[&rows]).unwrap();
    assert_eq!(preds.len(), 20);
    assert_eq!(preds[0].input, format!("{}:1", rows.display()));

    // the trained model on the rows standardized as training standardized them
    let (cfg, model, _) = open_run(&dir).unwrap();
    let fit = load_data(&cfg, Some(&data)).unwrap().standardizer.unwrap();
    let x = Tensor::from_vec(raw, &[20, 2]).unwrap();
    let classes_of = |out: &Tensor| -> Vec<usize> {
        out.to_vec2_f64()
            .unwrap()
            .iter()
            .map(|r| usize::from(r[1] > r[0]))
            .collect()
    };
    let reference = nabla_train::predict(&model, &fit.transform(&x).unwrap()).unwrap();
    let reference_logits = reference.to_vec2_f64().unwrap();
    let mut got = Vec::new();
    for (p, want) in preds.iter().zip(&reference_logits) {
        for (a, b) in p.logits.iter().zip(want) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let Output::Class { index, name, .. } = &p.output else {
            panic!("a classifier predicts classes: {p:?}");
        };
        assert_eq!(name.as_deref(), Some(classes[*index].as_str()));
        got.push(name.clone().unwrap());
    }
    assert_eq!(
        preds
            .iter()
            .map(|p| match p.output {
                Output::Class { index, .. } => index,
                _ => usize::MAX,
            })
            .collect::<Vec<_>>(),
        classes_of(&reference)
    );
    let want: Vec<String> = truth.iter().map(|&k| names[k].to_string()).collect();
    assert_eq!(got, want);
    // the same model on the raw rows (what open_run alone gives) predicts other classes
    let unstandardized = nabla_train::predict(&model, &x).unwrap();
    assert_ne!(classes_of(&unstandardized), classes_of(&reference));

    // the training file's own format: header, text labels in the middle column
    let again = run.predict_files(&[&data]).unwrap();
    assert_eq!(again.len(), 200);
    for (i, p) in again.iter().enumerate() {
        match &p.output {
            Output::Class { name, .. } => assert_eq!(name.as_deref(), Some(names[i % 2])),
            o => panic!("{o:?}"),
        }
    }
}

#[test]
fn a_standardized_run_without_its_standardizer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let toml = "[data]\ndataset = \"diabetes\"\n[model]\nlayers = [{ type = \"linear\", out = 1 }]\n[train]\nepochs = 1\nloss = \"mse\"\n";
    Experiment::from_toml_str(toml, "d")
        .unwrap()
        .with_out_dir(&run_dir)
        .with_progress(ProgressMode::Quiet)
        .fit()
        .unwrap();
    let run = Run::open(&run_dir).unwrap();
    let x = Tensor::from_vec(vec![0.0f32; 20], &[2, 10]).unwrap();
    let p = run.predict(&nabla_experiment::Inputs {
        names: vec!["a".into(), "b".into()],
        x,
    });
    assert!(matches!(p.unwrap()[0].output, Output::Values(ref v) if v.len() == 1));
    std::fs::remove_file(run_dir.join("standardizer.json")).unwrap();
    let e = Run::open(&run_dir).unwrap_err().to_string();
    assert!(e.contains("standardizer.json"), "{e}");
}
