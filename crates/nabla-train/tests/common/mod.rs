//! A small data-parallel training run shared by the thread and MPI tests.
#![allow(dead_code)]

use nabla_core::{DType, Mt19937, Tensor};
use nabla_data::{DataLoader, LoaderConfig, Shard, TensorDataset};
use nabla_nn::loss::cross_entropy_loss;
use nabla_nn::optim::Adam;
use nabla_nn::{Activation, BatchNorm1d, Dropout, Linear, Module, Sequential};
use nabla_train::{Communicator, Evaluation, ProgressMode, TrainConfig, Trainer};
use std::path::PathBuf;
use std::sync::Arc;

/// 203 samples of 6 features in 3 classes; batch 20 leaves a last batch of 3 (so with 4
/// ranks one rank has no sample in it).
pub fn data() -> (TensorDataset, TensorDataset) {
    let mut rng = Mt19937::new(11);
    let make = |n: usize, rng: &mut Mt19937| {
        let x = Tensor::randn(&[n, 6], DType::F32, rng).unwrap();
        let v = x.to_vec::<f32>().unwrap();
        let y: Vec<i64> = v
            .chunks(6)
            .map(|r| ((r[0] + r[1] - r[2]).clamp(-1.4, 1.4) + 1.5) as i64)
            .collect();
        TensorDataset::new(x, Tensor::from_vec(y, &[n]).unwrap()).unwrap()
    };
    (make(203, &mut rng), make(57, &mut rng))
}

pub fn model(batch_norm: bool) -> Sequential {
    let mut rng = Mt19937::new(3);
    let mut m = Sequential::new().append(Linear::new(6, 16, &mut rng).unwrap());
    if batch_norm {
        m = m.append(BatchNorm1d::new(16));
    }
    m.append(Activation::ReLU)
        .append(Dropout::new(0.3).unwrap())
        .append(Linear::new(16, 3, &mut rng).unwrap())
}

/// What a run ends with: the weights (by name, as f64), the test evaluation, the loss of
/// each epoch.
pub struct Outcome {
    pub weights: Vec<(String, Vec<f64>)>,
    pub test: Evaluation,
    pub train_loss: Vec<f64>,
    pub steps: u64,
}

/// Trains the model for 3 epochs with `comm` (one process when `None`), writing into `out`.
pub fn train(
    comm: Option<Arc<dyn Communicator>>,
    batch_norm: bool,
    out: Option<PathBuf>,
) -> Outcome {
    let (train, test) = data();
    let (rank, k) = comm.as_ref().map_or((0, 1), |c| (c.rank(), c.size()));
    let shard = Shard::new(rank, k).unwrap();
    let cfg = LoaderConfig::new(20)
        .with_shuffle(true)
        .with_seed(4)
        .with_shard(shard);
    let mut loader = DataLoader::new(train, cfg).unwrap();
    let mut test_loader = DataLoader::new(test, LoaderConfig::new(16).with_shard(shard)).unwrap();
    let m = model(batch_norm);
    let opt = Adam::new(m.parameters(), 0.01);
    let mut tc = TrainConfig::default()
        .with_epochs(3)
        .with_seed(9)
        .with_clip_grad_norm(2.0)
        .with_progress(ProgressMode::Quiet);
    tc.health_every = 5;
    if let Some(o) = out {
        tc = tc.with_out_dir(o);
    }
    let mut t = Trainer::new(m, opt, cross_entropy_loss, tc);
    if let Some(c) = comm {
        t = t.with_communicator(c).with_bucket_bytes(256);
    }
    let report = t.fit(&mut loader, None).unwrap();
    let test = t.evaluate(&mut test_loader).unwrap();
    Outcome {
        weights: t
            .model
            .parameters()
            .into_iter()
            .chain(t.model.buffers())
            .map(|(k, v)| (k, v.as_tensor().to_vec_f64()))
            .collect(),
        test,
        train_loss: report.history.iter().map(|h| h.train_loss).collect(),
        steps: report.steps,
    }
}
