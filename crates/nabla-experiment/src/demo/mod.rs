//! Runnable demonstrations for learners, as library code so the `nabla demo` commands, the
//! examples and the benchmarks run one copy; they return what they found and print nothing.

pub mod vanishing;
pub mod xor;
