//! What the fuzz targets share: an allocator that aborts on an allocation larger than the
//! input justifies.
//!
//! libFuzzer's own `-malloc_limit_mb` needs a sanitizer's allocator hooks, which a build with
//! `--sanitizer none` (the one that works on the stable toolchain) does not have, and its
//! `-rss_limit_mb` misses a huge allocation that is never touched (`Vec::with_capacity`,
//! `vec![0; n]` from calloc). So each target installs [`Limited`] as its global allocator and
//! calls [`allow`] with the input's length first: an allocation over
//! `BASE + factor * input length` bytes prints its size and aborts, and libFuzzer saves the
//! input as a crash.
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allowed whatever the input: the readers' fixed buffers (gzip's window, a 64 KiB read
/// buffer, libFuzzer's own bookkeeping) and small tensors.
pub const BASE: usize = 16 << 20;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Allows allocations of at most `BASE + factor * len` bytes until the next call. `factor` is
/// what the format justifies per input byte (1032 for a deflate stream, times what the
/// reader makes of a decompressed byte).
pub fn allow(len: usize, factor: usize) {
    LIMIT.store(
        BASE.saturating_add(len.saturating_mul(factor)),
        Ordering::Relaxed,
    );
}

/// The most bytes one byte of a deflate stream can make (a 258-byte match in two bits).
pub const DEFLATE_RATIO: usize = 1032;

/// How many bytes a reader that detects gzip by its magic bytes (`1f 8b`) can get from one
/// byte of `bytes`: [`DEFLATE_RATIO`] for a gzip stream, else 1.
pub fn expansion(bytes: &[u8]) -> usize {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        DEFLATE_RATIO
    } else {
        1
    }
}

/// The system allocator, refusing (by aborting, so libFuzzer records the input) any single
/// allocation over the limit [`allow`] set.
pub struct Limited;

#[cold]
fn too_big(size: usize) -> ! {
    // no allocation here: format into a stack buffer
    let mut buf = [0u8; 160];
    let mut w = &mut buf[..];
    let _ = write!(
        w,
        "\n==nabla-fuzz== allocation of {size} bytes, over the limit of {} bytes for this input\n",
        LIMIT.load(Ordering::Relaxed)
    );
    let left = w.len();
    let n = buf.len() - left;
    let _ = std::io::stderr().write_all(&buf[..n]);
    std::process::abort();
}

unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT.load(Ordering::Relaxed) {
            too_big(layout.size());
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT.load(Ordering::Relaxed) {
            too_big(layout.size());
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT.load(Ordering::Relaxed) {
            too_big(new_size);
        }
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// Installs [`Limited`] as the target's global allocator.
#[macro_export]
macro_rules! limit_allocations {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::Limited = $crate::Limited;
    };
}
