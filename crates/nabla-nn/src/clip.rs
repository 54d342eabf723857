//! Gradient clipping.
