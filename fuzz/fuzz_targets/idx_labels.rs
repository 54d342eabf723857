//! IDX labels (magic 2049), raw or gzipped (detected by the magic bytes, as for files).
#![no_main]
use libfuzzer_sys::fuzz_target;

nabla_fuzz::limit_allocations!();

fuzz_target!(|data: &[u8]| {
    // a byte of the file is one label (1032 from a gzip stream), 8 bytes of i64
    nabla_fuzz::allow(data.len(), 8 * nabla_fuzz::expansion(data));
    if let Ok(l) = nabla_data::parse_idx_labels(data, "fuzz.idx") {
        let t = l.to_tensor().expect("labels read are a tensor");
        assert_eq!(t.shape(), &[l.labels.len()]);
    }
});
