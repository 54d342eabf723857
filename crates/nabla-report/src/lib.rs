//! # nabla-report
//!
//! What a person looks at after a run, built from the run folder's files or attached to the
//! trainer as observers:
//!
//! - [`html`]: `report.html`, one self-contained page (curves, gradient health, the
//!   confusion matrix, the model and the config);
//! - [`plot`]: loss and accuracy curves as SVG and PNG files;
//! - [`chart`]: the line charts both of them draw, as SVG or PNG;
//! - [`tensorboard`]: TensorBoard event files, and the [`TensorBoard`] observer that writes
//!   one during training;
//! - [`image`]: PNG grids of images (as `torchvision.utils.save_image`) and PNG reading.
//!
//! A program that only trains does not need this crate (nor its plotting and protobuf
//! dependencies).
#![warn(missing_docs)]

pub mod chart;
pub mod html;
pub mod image;
pub mod plot;
pub mod tensorboard;

pub use html::{read_run, render, write_report, ConfigView, RunConfig, RunData, Written};
pub use tensorboard::TensorBoard;
