//! The pooling kernels: plain loops over `[h, w]` planes ([`max`]) and the AVX-512 2x2
//! max pooling of CNNs ([`max_2x2_avx512`]).

pub(crate) mod max;
mod max_2x2_avx512;
