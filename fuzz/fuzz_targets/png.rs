//! PNG images as `nabla predict` reads them (`nabla_report::image::decode_png_gray`).
#![no_main]
use libfuzzer_sys::fuzz_target;

nabla_fuzz::limit_allocations!();

fuzz_target!(|data: &[u8]| {
    // a deflate byte makes at most 1032 bytes of 1-bit pixels, 8 pixels a byte, 4 bytes of
    // f32 a pixel (or 32 bytes of RGBA a byte for a palette image before the conversion)
    nabla_fuzz::allow(data.len(), 32 * nabla_fuzz::DEFLATE_RATIO);
    if let Ok((px, w, h)) = nabla_report::image::decode_png_gray(data, "fuzz.png") {
        assert_eq!(px.len(), w * h);
        assert!(
            px.iter().all(|v| (0.0..=1.0).contains(v)),
            "gray values in [0, 1]"
        );
    }
});
