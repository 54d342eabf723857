//! IDX images (magic 2051), raw or gzipped (detected by the magic bytes, as for files).
#![no_main]
use libfuzzer_sys::fuzz_target;

nabla_fuzz::limit_allocations!();

fuzz_target!(|data: &[u8]| {
    // a byte of the file is one pixel (1032 from a gzip stream), 4 bytes of f32
    nabla_fuzz::allow(data.len(), 4 * nabla_fuzz::expansion(data));
    if let Ok(img) = nabla_data::parse_idx_images(data, "fuzz.idx") {
        assert_eq!(img.pixels.len(), img.count * img.rows * img.cols);
        for i in [0, img.count / 2, img.count.saturating_sub(1), img.count] {
            assert_eq!(img.image(i).is_some(), i < img.count);
        }
        let t = img.to_tensor().expect("an image set read is a tensor");
        assert_eq!(t.shape(), &[img.count, img.rows, img.cols]);
    }
});
