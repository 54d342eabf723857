//! Experiment configs (TOML) through `ExperimentConfig::from_toml_str`; a config accepted
//! must write back to TOML that is accepted and writes the same again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nabla_experiment::ExperimentConfig;

nabla_fuzz::limit_allocations!();

fuzz_target!(|data: &[u8]| {
    // toml values are bounded by the text
    nabla_fuzz::allow(data.len(), 64);
    // from_toml_file reads the file as UTF-8 text first
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = ExperimentConfig::from_toml_str(text, "fuzz.toml") else {
        return;
    };
    let once = cfg.to_toml().expect("a config read can be written");
    let again = ExperimentConfig::from_toml_str(&once, "rewritten.toml")
        .unwrap_or_else(|e| panic!("a config written reads back: {e}\n{once}"));
    let twice = again.to_toml().expect("a config read can be written");
    assert_eq!(once, twice);
});
