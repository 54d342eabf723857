//! Runnable demonstrations for learners.

pub mod vanishing;
pub mod xor;
