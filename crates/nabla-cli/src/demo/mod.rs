//! Runnable demonstrations for learners (`nabla demo xor` runs
//! `nabla::experiment::demo::xor`).

pub mod vanishing;
