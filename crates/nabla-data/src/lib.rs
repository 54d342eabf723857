//! # nabla-data
