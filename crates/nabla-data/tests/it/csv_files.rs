//! CSV files on disk (plain and gzipped) and the standardize-on-train workflow.

use crate::common::{gzip, temp_dir, Files};
use nabla_data::{read_csv, CsvOptions, Dataset, Header, LabelColumn, LabelKind, Standardizer};

#[test]
fn reads_plain_and_gzipped_files() {
    let dir = temp_dir();
    let text = "sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n6.3,6.0,virginica\n4.9,1.4,setosa\n";
    let a = dir.write("iris.csv", text.as_bytes());
    let b = dir.write("iris.csv.gz", &gzip(text.as_bytes()));
    let da = read_csv(&a, &CsvOptions::default()).unwrap();
    let db = read_csv(&b, &CsvOptions::default()).unwrap();
    assert_eq!(da.x.to_vec::<f32>().unwrap(), db.x.to_vec::<f32>().unwrap());
    assert_eq!(
        da.classes.as_deref().unwrap(),
        ["setosa", "versicolor", "virginica"]
    );
    let ds = da.into_dataset().unwrap();
    assert_eq!(ds.len(), 4);
    assert_eq!(ds.y().to_vec::<i64>().unwrap(), vec![0, 1, 2, 0]);
    let e = read_csv(dir.path().join("missing.csv"), &CsvOptions::default()).unwrap_err();
    assert!(e.to_string().contains("missing.csv"), "{e}");
    let p = dir.write("bad.csv", b"a,b\n1,\xff\n");
    let e = read_csv(&p, &CsvOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn sklearn_style_file_with_regression_target() {
    let dir = temp_dir();
    let p = dir.write("d.csv", b"3 2 junk\n1 10 100\n2 20 200\n3 30 300\n");
    let o = CsvOptions::default()
        .with_skip_rows(1)
        .with_delimiter(' ')
        .with_header(Header::Absent)
        .with_label(LabelColumn::Last)
        .with_labels(LabelKind::Number);
    let d = read_csv(&p, &o).unwrap();
    assert_eq!(
        d.y.unwrap().to_vec::<f32>().unwrap(),
        vec![100.0, 200.0, 300.0]
    );
}

#[test]
fn standardizer_fitted_on_train_applies_to_both() {
    let ds = nabla_data::digits().unwrap();
    let (train, test) = ds.split([0.8, 0.2], 0).unwrap();
    let s = Standardizer::fit_dataset(&train).unwrap();
    let tr = s.transform_dataset(&train).unwrap();
    let te = s.transform_dataset(&test).unwrap();
    // train features have mean 0 (std 1 or constant 0); test uses the train statistics
    let x = tr.x().to_vec::<f32>().unwrap();
    for f in 0..64 {
        let col: Vec<f64> = x.iter().skip(f).step_by(64).map(|&v| v as f64).collect();
        let m = col.iter().sum::<f64>() / col.len() as f64;
        assert!(m.abs() < 1e-5, "feature {f} mean {m}");
    }
    let raw = test.x().to_vec::<f32>().unwrap();
    let z = te.x().to_vec::<f32>().unwrap();
    for k in [0usize, 100, 1000] {
        let f = k % 64;
        let want = (raw[k] as f64 - s.mean()[f]) / s.std()[f];
        assert!((z[k] as f64 - want).abs() < 1e-5);
    }
}

#[test]
fn sklearn_count_line_is_detected() {
    let dir = temp_dir();
    // wine_data.csv's shape: n_samples,n_features,class names, then rows of f + 1 fields
    let p = dir.write(
        "wine.csv",
        b"3,4,class_0,class_1\n1,2,3,4,0\n5,6,7,8,1\n9,10,11,12,0\n",
    );
    let d = read_csv(&p, &CsvOptions::default()).unwrap();
    assert_eq!(d.x.shape(), &[3, 4]);
    assert_eq!(
        d.y.as_ref().unwrap().to_vec::<i64>().unwrap(),
        vec![0, 1, 0]
    );
    assert_eq!(d.classes.as_deref().unwrap(), ["class_0", "class_1"]);
    // a first line of two numbers that does not count the rows is data
    let p = dir.write("plain.csv", b"7,4\n1,0\n2,1\n");
    let d = read_csv(&p, &CsvOptions::default()).unwrap();
    assert_eq!(d.x.shape(), &[3, 1]);
    // the real files, when the shared data is there
    let sk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/sklearn");
    for (f, rows, feats, classes) in [
        ("iris.csv", 150, 4, 3),
        ("wine_data.csv", 178, 13, 3),
        ("breast_cancer.csv", 569, 30, 2),
    ] {
        let path = sk.join(f);
        if !path.exists() {
            continue;
        }
        let d = read_csv(&path, &CsvOptions::default()).unwrap();
        assert_eq!(d.x.shape(), &[rows, feats], "{f}");
        assert_eq!(d.classes.unwrap().len(), classes, "{f}");
    }
}

/// Class labels -1, 0 and -0 (found by the CSV fuzzer): -0 is the class 0, and every index
/// names a listed class.
#[test]
fn negative_zero_labels_are_the_class_zero() {
    let text = "a b label\n1 2 0\n3 4 -1\n1 2 0\n3 4 -0\n";
    let o = CsvOptions::default()
        .with_delimiter(' ')
        .with_labels(LabelKind::Class);
    let d = nabla_data::parse_csv_bytes(text.as_bytes(), "z.csv", &o).unwrap();
    let classes = d.classes.clone().unwrap();
    assert_eq!(classes, ["-1", "0"]);
    assert_eq!(d.y.unwrap().to_vec::<i64>().unwrap(), [1, 0, 1, 1]);
}

/// A first line whose feature count is the largest integer (found by the CSV fuzzer) is data,
/// not scikit-learn's count line, and reading it does not overflow.
#[test]
fn a_huge_count_in_the_first_line_is_not_a_count_line() {
    let text = "1,18446744073709551615\n5.4,2\n";
    let d = nabla_data::parse_csv_bytes(text.as_bytes(), "c.csv", &CsvOptions::default()).unwrap();
    assert_eq!(d.len(), 2);
}
