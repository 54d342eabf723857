//! Runnable demonstrations for learners.

pub mod xor;
