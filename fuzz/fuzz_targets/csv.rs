//! CSV files (raw or gzipped, detected by the magic bytes) through `parse_csv_bytes`, with the
//! reading options taken from the first byte of the input and the file from the rest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nabla_data::{parse_csv_bytes, CsvOptions, Header, LabelColumn, Standardizer, LabelKind};

nabla_fuzz::limit_allocations!();

/// Options from one byte: header (2 bits), label column (2 bits), task, delimiter (2 bits),
/// skip_rows.
fn options(b: u8) -> CsvOptions {
    let header = match b & 3 {
        1 => Header::Present,
        2 => Header::Absent,
        _ => Header::Auto,
    };
    let label = match (b >> 2) & 3 {
        0 => LabelColumn::Last,
        1 => LabelColumn::Index(1),
        2 => LabelColumn::Name("target".into()),
        _ => LabelColumn::None,
    };
    let task = if (b >> 4) & 1 == 0 {
        LabelKind::Class
    } else {
        LabelKind::Number
    };
    let delimiter = [',', ';', ' ', '\t'][((b >> 5) & 3) as usize];
    CsvOptions::default()
        .with_header(header)
        .with_label(label)
        .with_labels(task)
        .with_delimiter(delimiter)
        .with_skip_rows(usize::from(b >> 7))
}

fuzz_target!(|data: &[u8]| {
    // a byte of text (1032 from a gzip stream) is at most half a field: 12 bytes of String,
    // 24 while the Vec grows
    nabla_fuzz::allow(
        data.len(),
        32 * nabla_fuzz::expansion(data.get(1..).unwrap_or_default()),
    );
    let Some((&b, file)) = data.split_first() else {
        return;
    };
    let o = options(b);
    let Ok(d) = parse_csv_bytes(file, "fuzz.csv", &o) else {
        return;
    };
    let (n, f) = (d.len(), d.num_features());
    assert!(n > 0, "a CSV read has rows");
    assert_eq!(d.feature_names.len(), f);
    match &d.y {
        None => assert_eq!(o.label, LabelColumn::None),
        Some(y) => {
            assert_eq!(y.shape()[0], n);
            if let (LabelKind::Class, Some(classes)) = (o.labels, &d.classes) {
                let idx = y.to_vec::<i64>().expect("class indices are i64");
                assert!(idx.iter().all(|&i| i >= 0 && (i as usize) < classes.len()));
            }
        }
    }
    // what training does next: standardize on the rows read
    let s = Standardizer::fit(&d.x).expect("features read can be standardized");
    let z = s.transform(&d.x).expect("the fit's own features fit it");
    assert_eq!(z.shape(), d.x.shape());
    if d.y.is_some() {
        d.into_dataset()
            .expect("features and labels read make a dataset");
    }
});
