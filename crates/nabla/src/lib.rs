//! # nabla
//!
//! A deep-learning library built on error backpropagation: tensors with reverse-mode
//! autograd, layers with PyTorch's names and defaults, optimizers and schedules, data
//! loading, and a trainer with checkpoints that resume bitwise. This crate gathers the parts
//! ([`core`], [`nn`], [`data`], [`train`], and with the default features `report` and
//! `experiment`: `report`, `experiment`), the one [`Error`] they all return, and a
//! [`prelude`] for whole training programs.
//!
//! ## Tensors and autograd
//!
//! Tensors are f32, f64 or i64, with NumPy broadcasting and strided views. Every op records
//! how it was computed, and [`Tensor::backward`](core::Tensor::backward) applies the chain
//! rule from a scalar back to every [`Var`](core::Var):
//!
//! ```
//! use nabla::prelude::*;
//! let w = Var::from_vec(vec![0.5f64, -0.25], &[2, 1])?;
//! let x = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2])?;
//! let loss = x.matmul(&w.as_tensor())?.sigmoid()?.sum()?;
//! let grads = loss.backward()?;
//! // d sigmoid(x·w)/dw = sigmoid'(0) · x = 0.25 · x
//! assert_eq!(w.grad(&grads).unwrap().to_vec::<f64>()?, vec![0.25, 0.5]);
//! # Ok::<(), nabla::Error>(())
//! ```
//!
//! Check any differentiable function numerically with [`gradcheck`](core::gradcheck).
//!
//! ## Layers, losses and optimizers
//!
//! ```
//! use nabla::prelude::*;
//! let mut rng = Mt19937::new(0);
//! let model = Sequential::new()
//!     .append(Linear::new(4, 16, &mut rng)?)
//!     .append(Activation::ReLU)
//!     .append(Linear::new(16, 3, &mut rng)?);
//! let mut opt = Adam::new(model.parameters(), 1e-2);
//! let x = Tensor::randn(&[8, 4], DType::F32, &mut rng)?;
//! let y = Tensor::from_vec(vec![0i64, 1, 2, 0, 1, 2, 0, 1], &[8])?;
//! let mut first = None;
//! for _ in 0..50 {
//!     let out = model.forward(&x, &mut ForwardCtx::train(&mut rng))?;
//!     let loss = cross_entropy_loss(&out, &y)?;
//!     first.get_or_insert(loss.to_scalar()?);
//!     let grads = loss.backward()?;
//!     opt.step(&grads)?;
//! }
//! let out = model.forward(&x, &mut ForwardCtx::eval())?;
//! assert!(cross_entropy_loss(&out, &y)?.to_scalar()? < first.unwrap());
//! # Ok::<(), nabla::Error>(())
//! ```
//!
//! ## Data
//!
//! ```
//! use nabla::prelude::*;
//! let digits = nabla::data::digits()?;              // bundled: 1797 8×8 images
//! let (train, test) = digits.split([0.8, 0.2], 0)?;
//! let mut loader = DataLoader::new(train, LoaderConfig::new(64).with_shuffle(true))?;
//! let mut seen = 0;
//! for batch in &mut loader {
//!     seen += batch?.len();
//! }
//! assert_eq!(seen + test.len(), 1797);
//! # Ok::<(), nabla::Error>(())
//! ```
//!
//! ## Training
//!
//! ```
//! use nabla::prelude::*;
//! let (train, test) = nabla::data::digits()?.split([0.8, 0.2], 0)?;
//! let mut rng = Mt19937::new(0);
//! let model = Sequential::new()
//!     .append(Linear::new(64, 32, &mut rng)?)
//!     .append(Activation::ReLU)
//!     .append(Linear::new(32, 10, &mut rng)?);
//! let opt = Adam::new(model.parameters(), 1e-2);
//! let config = TrainConfig::default().with_epochs(5).with_progress(ProgressMode::Quiet);
//! let mut trainer = Trainer::new(model, opt, cross_entropy_loss, config);
//! let mut train = DataLoader::new(train, LoaderConfig::new(32).with_shuffle(true))?;
//! trainer.fit(&mut train, None)?;
//! let ev = trainer.evaluate(&mut DataLoader::new(test, LoaderConfig::new(256))?)?;
//! assert!(ev.accuracy.unwrap() > 0.8);
//! # Ok::<(), nabla::Error>(())
//! ```
//!
//! ## Experiments from TOML (feature `experiment`)
//!
//! The `nabla` command line trains TOML configs; the same configs run from Rust:
//!
//! ```
//! use nabla::prelude::*;
//! let toml = r#"
//! [data]
//! dataset = "digits"
//! [model]
//! layers = [{ type = "linear", out = 32 }, { type = "relu" }, { type = "linear", out = 10 }]
//! [train]
//! epochs = 2
//! progress = "quiet"
//! "#;
//! let dir = std::env::temp_dir().join(format!("nabla-doc-{}", std::process::id()));
//! let run = Experiment::from_toml_str(toml, "doc")?.with_out_dir(&dir).fit()?;
//! assert!(run.test.as_ref().and_then(|t| t.accuracy).unwrap() > 0.5);
//! assert!(run.closing_line().starts_with("test_accuracy="));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), nabla::Error>(())
//! ```
//!
//! ## Saving and loading
//!
//! ```
//! use nabla::prelude::*;
//! let mut rng = Mt19937::new(0);
//! let a = Linear::new(3, 2, &mut rng)?;
//! let b = Linear::new(3, 2, &mut rng)?;
//! let path = std::env::temp_dir().join(format!("nabla-doc-{}.safetensors", std::process::id()));
//! save_model(&a, &path)?;           // PyTorch's state_dict names: weight, bias
//! load_model(&b, &path)?;
//! assert_eq!(a.weight.as_tensor().to_vec_f64(), b.weight.as_tensor().to_vec_f64());
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), nabla::Error>(())
//! ```
//!
//! `docs/backpropagation.md` in the repository explains the algorithm, and how
//! `nabla demo xor --explain` shows each of its quantities.
#![warn(missing_docs)]

mod error;

pub use error::{Error, Result};
pub use nabla_core as core;
pub use nabla_data as data;
#[cfg(feature = "experiment")]
pub use nabla_experiment as experiment;
pub use nabla_nn as nn;
pub use nabla_onnx as onnx;
#[cfg(feature = "report")]
pub use nabla_report as report;
pub use nabla_train as train;

/// Everything a training program usually needs: `use nabla::prelude::*;`.
pub mod prelude {
    pub use crate::{Error, Result};
    pub use nabla_core::{
        gradcheck, no_grad, AvgPool2dOptions, Conv2dOptions, ConvTranspose2dOptions, DType,
        GradStore, GradcheckOptions, MaxPool2dOptions, Mt19937, Rng, Tensor, Var,
    };
    pub use nabla_data::{
        diabetes, digits, load_mnist, read_csv, Batch, CsvOptions, DataLoader, Dataset,
        LoaderConfig, Standardizer, TensorDataset,
    };
    #[cfg(feature = "experiment")]
    pub use nabla_experiment::{Experiment, ExperimentConfig, RunResult};
    pub use nabla_nn::clip::{clip_grad_norm, clip_grad_value};
    pub use nabla_nn::loss::{
        binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, cross_entropy_loss,
        huber_loss, l1_loss, mse_loss, nll_loss, CrossEntropyOptions, Reduction,
    };
    pub use nabla_nn::optim::{Adagrad, Adam, AdamW, Optimizer, RMSprop, Sgd};
    pub use nabla_nn::schedule::{
        CosineAnnealingLR, ExponentialLR, LinearWarmup, LrScheduler, MultiStepLR, OneCycleLR,
        ReduceLROnPlateau, StepLR, WarmupCosine,
    };
    pub use nabla_nn::{
        Activation, AdaptiveAvgPool2d, AttendOptions, AvgPool1d, AvgPool2d, BatchNorm1d,
        BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d, Dropout, Dropout2d, Embedding,
        EncoderLayerOptions, Flatten, Fork, ForwardCtx, Init, LayerNorm, LayerState, Linear,
        MaxPool1d, MaxPool2d, Module, MultiheadAttention, Param, PositionalEmbedding, Sequential,
        Summary, TransformerEncoder, TransformerEncoderLayer,
    };
    pub use nabla_train::checkpoint::{load_model, save_model};
    pub use nabla_train::metrics::{accuracy, ConfusionMatrix};
    pub use nabla_train::{
        Callback, Evaluation, KeepCheckpoints, ProgressMode, RegressionMetrics, StepOutput,
        StepParts, Task, TrainConfig, TrainStep, Trainer,
    };
}
