//! A checkpoint's `state.json` (`TrainerState::from_json_bytes`, what `read_checkpoint`
//! parses), then what `Trainer::restore` does with it: the dropout stream
//! (`Mt19937::from_state`), the training loader's cursor (`DataLoader::resume`) and the
//! optimizer scalars (`load_state_dict` of an SGD over one parameter), each followed by use.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nabla_core::{Mt19937, Tensor, Var};
use nabla_data::{Cursor, DataLoader, LoaderConfig, TensorDataset};
use nabla_nn::optim::{Optimizer, Sgd};
use nabla_nn::StateDict;
use nabla_train::TrainerState;

nabla_fuzz::limit_allocations!();

fuzz_target!(|data: &[u8]| {
    // serde_json values are bounded by the text
    nabla_fuzz::allow(data.len(), 64);
    let Ok(st) = TrainerState::from_json_bytes(data, "state.json") else {
        return;
    };
    if let Ok(mut rng) = Mt19937::from_state(&st.rng_state()) {
        // past one regeneration of the 624 words
        for _ in 0..700 {
            rng.next_u32();
        }
        assert!(rng.standard_normal().is_finite());
        assert!(rng.below(10) < 10);
    }
    let x = Tensor::from_vec((0..10).map(|v| v as f32).collect::<Vec<_>>(), &[5, 2]).unwrap();
    let y = Tensor::from_vec(vec![0i64, 1, 0, 1, 0], &[5]).unwrap();
    let ds = TensorDataset::new(x, y).unwrap();
    let cfg = LoaderConfig::new(2).with_shuffle(true).with_prefetch(0);
    let mut loader = DataLoader::new(ds, cfg).unwrap();
    if loader.resume(Cursor::from_array(st.cursor)).is_ok() {
        let mut n = 0;
        while let Some(b) = loader.next_batch() {
            b.expect("a batch after a resume");
            n += 1;
            assert!(
                n <= 3,
                "an epoch of 5 samples in batches of 2 has 3 batches"
            );
        }
    }
    let w = Var::from_vec(vec![1.0f32, -2.0], &[2]).unwrap();
    let mut opt = Sgd::new(vec![w.clone()], 0.1);
    let sd = StateDict {
        tensors: Default::default(),
        scalars: st.optim_scalars.clone(),
    };
    if opt.load_state_dict(&sd).is_ok() {
        let loss = w.as_tensor().sqr().unwrap().sum().unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads).expect("a step after loading a state");
    }
});
