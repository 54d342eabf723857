//! Tensor storage and the buffer pool that recycles it.
//!
//! Fresh pages are expensive on these machines (page faults and zeroing), so the buffers that
//! ops take from [`take_buffer`] (power-of-two capacities) go back to a per-thread, size-class
//! pool when their tensor is freed, and the next tensor of a similar size takes them. A training step in steady state then allocates (almost) nothing new.

use crate::dtype::{DType, Element};
use std::cell::RefCell;

/// Buffers below this many elements are not pooled (malloc's small bins are already fast).
const MIN_POOLED: usize = 1024;
/// Nor above this many (16 MiB of f32): their page faults are small beside the work on
/// them, and held in the pool (rounded up to a power of two) they would add to the peak
/// memory of long sequences whatever the size classes the next step asks for.
const MAX_POOLED: usize = 1 << 22;
/// Buffers kept per size class.
const PER_CLASS: usize = 16;
/// Bytes kept by the pool of one thread at most.
const MAX_POOL_BYTES: usize = 1 << 30;

struct Pool<T> {
    classes: Vec<Vec<Vec<T>>>,
    bytes: usize,
}

impl<T> Pool<T> {
    const fn new() -> Self {
        Pool {
            classes: Vec::new(),
            bytes: 0,
        }
    }
}

fn class_of(n: usize) -> usize {
    (usize::BITS - (n - 1).leading_zeros()) as usize
}

/// Types whose buffers are pooled.
pub trait Pooled: Element {
    #[doc(hidden)]
    fn with_pool<R>(f: impl FnOnce(&mut PoolHandle<'_, Self>) -> R) -> Option<R>;
}

#[doc(hidden)]
pub struct PoolHandle<'a, T>(&'a mut Pool<T>);

macro_rules! pooled {
    ($t:ty, $name:ident) => {
        thread_local! {
            static $name: RefCell<Pool<$t>> = const { RefCell::new(Pool::new()) };
        }
        impl Pooled for $t {
            fn with_pool<R>(f: impl FnOnce(&mut PoolHandle<'_, Self>) -> R) -> Option<R> {
                $name
                    .try_with(|p| f(&mut PoolHandle(&mut p.borrow_mut())))
                    .ok()
            }
        }
    };
}
pooled!(f32, POOL_F32);
pooled!(f64, POOL_F64);
pooled!(i64, POOL_I64);

thread_local! {
    static MISSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many poolable buffers (at least 1024 elements) this thread has had to allocate fresh
/// because its pool had none of the size class: in a training loop's steady state it stops
/// growing.
pub fn pool_misses() -> u64 {
    MISSES.with(|m| m.get())
}

/// A buffer of `n` elements whose contents are unspecified but initialized (old values or
/// zeros). Callers overwrite every element.
pub fn take_buffer<T: Pooled>(n: usize) -> Vec<T> {
    if !(MIN_POOLED..=MAX_POOLED).contains(&n) {
        return vec![T::ZERO; n];
    }
    let c = class_of(n);
    let got = T::with_pool(|h| {
        let pool = &mut *h.0;
        let v = pool.classes.get_mut(c).and_then(|cl| cl.pop());
        if let Some(v) = &v {
            pool.bytes -= v.capacity() * std::mem::size_of::<T>();
        }
        v
    })
    .flatten();
    match got {
        Some(mut v) => {
            if v.len() >= n {
                v.truncate(n);
            } else {
                v.resize(n, T::ZERO);
            }
            v
        }
        None => {
            MISSES.with(|m| m.set(m.get() + 1));
            let mut v = Vec::with_capacity(1 << c);
            v.resize(n, T::ZERO);
            v
        }
    }
}

/// Gives a buffer back to this thread's pool (or frees it when the pool is full).
pub fn give_buffer<T: Pooled>(v: Vec<T>) {
    let cap = v.capacity();
    if !(MIN_POOLED..=MAX_POOLED).contains(&cap) || !cap.is_power_of_two() {
        return;
    }
    let c = class_of(cap);
    let bytes = cap * std::mem::size_of::<T>();
    T::with_pool(move |h| {
        let pool = &mut *h.0;
        if pool.bytes + bytes > MAX_POOL_BYTES {
            return;
        }
        if pool.classes.len() <= c {
            pool.classes.resize_with(c + 1, Vec::new);
        }
        if pool.classes[c].len() < PER_CLASS {
            pool.bytes += bytes;
            pool.classes[c].push(v);
        }
    });
}

/// The elements of a tensor. Immutable once shared; dropped buffers return to the pool.
#[derive(Debug)]
pub enum Storage {
    /// f32 elements
    F32(Vec<f32>),
    /// f64 elements
    F64(Vec<f64>),
    /// i64 elements
    I64(Vec<i64>),
}

impl Storage {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            Storage::F32(_) => DType::F32,
            Storage::F64(_) => DType::F64,
            Storage::I64(_) => DType::I64,
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::F64(v) => v.len(),
            Storage::I64(v) => v.len(),
        }
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        match self {
            Storage::F32(v) => give_buffer(std::mem::take(v)),
            Storage::F64(v) => give_buffer(std::mem::take(v)),
            Storage::I64(v) => give_buffer(std::mem::take(v)),
        }
    }
}

/// Access to the typed slice of a [`Storage`].
pub trait StorageElem: Pooled {
    /// The slice, if the storage holds this type.
    fn slice(s: &Storage) -> Option<&[Self]>;
    /// The mutable vector, if the storage holds this type.
    fn vec_mut(s: &mut Storage) -> Option<&mut Vec<Self>>;
    /// Wraps a vector.
    fn into_storage(v: Vec<Self>) -> Storage;
}

macro_rules! storage_elem {
    ($t:ty, $v:ident) => {
        impl StorageElem for $t {
            fn slice(s: &Storage) -> Option<&[Self]> {
                match s {
                    Storage::$v(v) => Some(v),
                    _ => None,
                }
            }
            fn vec_mut(s: &mut Storage) -> Option<&mut Vec<Self>> {
                match s {
                    Storage::$v(v) => Some(v),
                    _ => None,
                }
            }
            fn into_storage(v: Vec<Self>) -> Storage {
                Storage::$v(v)
            }
        }
    };
}
storage_elem!(f32, F32);
storage_elem!(f64, F64);
storage_elem!(i64, I64);

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn pool_recycles_a_freed_buffer() {
        let v: Vec<f32> = take_buffer(5000);
        let ptr = v.as_ptr();
        drop(Storage::F32(v));
        let w: Vec<f32> = take_buffer(4500);
        assert_eq!(w.as_ptr(), ptr, "the freed buffer should be reused");
        assert_eq!(w.len(), 4500);
    }
}
