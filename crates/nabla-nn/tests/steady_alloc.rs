//! A training step in steady state takes its tensor buffers from the pool: after warm-up no
//! tensor buffer is allocated fresh (fresh pages cost page faults and zeroing). What does reach
//! the system allocator is counted too: the `gemm` crate allocates its packing workspace on
//! every call (three products a step here, one call per thread each, at most 1.5 MiB in all), which glibc serves from its heap.

use nabla_core::{DType, Mt19937, Tensor};
use nabla_nn::loss::{cross_entropy, CrossEntropyOptions};
use nabla_nn::optim::{Adam, Optimizer, Sgd};
use nabla_nn::{Activation, ForwardCtx, Linear, Module, Sequential};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LARGE: AtomicUsize = AtomicUsize::new(0);
static LARGE_BYTES: AtomicUsize = AtomicUsize::new(0);
const LARGE_MIN: usize = 64 * 1024;

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() >= LARGE_MIN {
            LARGE.fetch_add(1, Ordering::Relaxed);
            LARGE_BYTES.fetch_add(l.size(), Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new >= LARGE_MIN {
            LARGE.fetch_add(1, Ordering::Relaxed);
            LARGE_BYTES.fetch_add(new, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn step(m: &Sequential, opt: &mut dyn Optimizer, x: &Tensor, y: &Tensor, rng: &mut Mt19937) {
    let out = m.forward(x, &mut ForwardCtx::train(rng)).unwrap();
    let loss = cross_entropy(&out, y, CrossEntropyOptions::default()).unwrap();
    let g = loss.backward().unwrap();
    drop((loss, out));
    opt.step(&g).unwrap();
}

#[test]
fn steady_state_steps_take_every_tensor_buffer_from_the_pool() {
    let mut rng = Mt19937::new(0);
    let m = Sequential::new()
        .append(Linear::new(784, 256, &mut rng).unwrap())
        .append(Activation::ReLU)
        .append(Linear::new(256, 128, &mut rng).unwrap())
        .append(Activation::ReLU)
        .append(Linear::new(128, 10, &mut rng).unwrap());
    let params: Vec<_> = m.parameters().into_iter().map(|(_, v)| v).collect();
    let x = Tensor::randn(&[64, 784], DType::F32, &mut rng).unwrap();
    let y = Tensor::from_vec((0..64i64).map(|i| i % 10).collect::<Vec<_>>(), &[64]).unwrap();
    let mut optimizers: Vec<Box<dyn Optimizer>> = vec![
        Box::new(Sgd::new(params.clone(), 0.01).momentum(0.9)),
        Box::new(Adam::new(params, 1e-3)),
    ];
    for opt in optimizers.iter_mut() {
        for _ in 0..5 {
            step(&m, opt.as_mut(), &x, &y, &mut rng);
        }
        let (n0, b0) = (
            LARGE.load(Ordering::Relaxed),
            LARGE_BYTES.load(Ordering::Relaxed),
        );
        let misses = nabla_core::pool_misses();
        for _ in 0..20 {
            step(&m, opt.as_mut(), &x, &y, &mut rng);
        }
        let (n, b) = (
            LARGE.load(Ordering::Relaxed) - n0,
            LARGE_BYTES.load(Ordering::Relaxed) - b0,
        );
        assert_eq!(
            nabla_core::pool_misses() - misses,
            0,
            "{}: fresh tensor buffers in steady state",
            opt.name()
        );
        // only gemm's per-call workspace (3 matmuls a step of that size, each split into one
        // gemm call per thread), nothing per tensor
        let calls = 3 * nabla_core::parallel::threads();
        assert!(
            n <= 20 * calls && b <= 20 * 3 * 512 * 1024,
            "{}: {n} large allocations, {b} bytes",
            opt.name()
        );
    }
}
