//! What the hand-written AVX-512 kernels share: the run-time check for the instruction set,
//! the lane mask of a tail, and a 16 x 16 register transpose ([`transpose16`]).

pub(crate) mod transpose16;

/// Whether this CPU has AVX-512F, which the hand-written f32 kernels need (the direct
/// convolutions of [`crate::cpu::conv`], the 2x2 max pooling of [`crate::cpu::pool`], the
/// packed panels and LSTM gates of [`crate::cpu::recurrent`]); without it they fall back to
/// portable code.
pub(crate) fn avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
/// The AVX-512 lane mask of the first `n` of 16 lanes (all 16 for `n >= 16`): the tail
/// mask of the hand-written f32 kernels.
#[inline(always)]
pub(crate) fn lane_mask(n: usize) -> u16 {
    if n >= 16 {
        u16::MAX
    } else {
        (1u16 << n) - 1
    }
}
