//! Experiment configs (TOML) past parsing: validation, every layer's shapes and counts, the
//! memory estimate of one step and, when its parameters are small, the summary built from
//! them (`nabla summary` with `model.input_shape`, reading no data). Nothing may panic or
//! allocate beyond what the estimate allows, and the built summary must count the
//! parameters the estimate counted.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nabla_experiment::{estimate_memory, ExperimentConfig, LayerConfig};

nabla_fuzz::limit_allocations!();

/// Parameters built at most (bytes): the fuzzer's allocation limit stays far above.
const BUILD_LIMIT: u128 = 4 << 20;

fuzz_target!(|data: &[u8]| {
    nabla_fuzz::allow(data.len(), 64);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = ExperimentConfig::from_toml_str(text, "fuzz.toml") else {
        return;
    };
    let Some(shape) = cfg.model.input_shape.clone() else {
        return;
    };
    // a text model's vocabulary comes from its data unless every embedding names it
    let open_vocab = cfg
        .model
        .layers
        .iter()
        .any(|l| matches!(l, LayerConfig::Embedding(e) if e.num.is_none()));
    if open_vocab {
        return;
    }
    let Ok(est) = estimate_memory(&cfg, &shape, None, 0, nabla_experiment::memory::EVAL_BATCH) else {
        return;
    };
    assert!(est.total() >= est.parameters);
    if est.parameters > BUILD_LIMIT {
        return;
    }
    // the estimate's shapes and counts are the built model's
    if let Ok(s) = nabla_experiment::model_summary(&cfg, &shape) {
        let counted: u128 = s.layers.iter().map(|l| l.count as u128).sum();
        assert!(
            counted * 4 <= est.parameters,
            "summary counts {counted} parameters, the estimate {} bytes",
            est.parameters
        );
    }
});
