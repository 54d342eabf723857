//! Safetensors files (model.safetensors, optim.safetensors of a checkpoint) through
//! `from_safetensors_bytes`; what is read must write back and read back the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nabla_core::io::{from_safetensors_bytes, to_safetensors_bytes};

nabla_fuzz::limit_allocations!();

fuzz_target!(|data: &[u8]| {
    // the tensors hold the data the input holds, as f64 (twice the f32 bytes), rewritten once
    nabla_fuzz::allow(data.len(), 8);
    let Ok(tensors) = from_safetensors_bytes(data, "fuzz.safetensors") else {
        return;
    };
    for t in tensors.values() {
        let n: usize = t.shape().iter().product();
        assert_eq!(t.numel(), n);
        let _ = t.to_vec_f64();
    }
    let bytes = to_safetensors_bytes(&tensors, None).expect("tensors read can be written");
    let back = from_safetensors_bytes(&bytes, "rewritten").expect("what was written reads back");
    assert_eq!(back.len(), tensors.len());
    for (k, t) in &tensors {
        let b = &back[k];
        assert_eq!((b.dtype(), b.shape()), (t.dtype(), t.shape()), "{k}");
        let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        assert_eq!(bits(b.to_vec_f64()), bits(t.to_vec_f64()), "{k}");
    }
});
