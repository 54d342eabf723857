//! [`GradAverager`]: the gradients of every rank summed in buckets, each rank's weighed by
//! its share of the batch.

use super::Communicator;
use crate::trainer::Result;
use crate::Error;
use nabla_core::{DType, GradStore, StorageElem, Tensor, Var};
use std::time::Instant;

/// Default bucket size: 4 MiB (a million f32 values).
pub const DEFAULT_BUCKET_BYTES: usize = 4 << 20;

/// Averages gradients over the ranks of a [`Communicator`] before the optimizer step, as
/// DDP does: the parameters' gradients are packed in order into buckets of about
/// `bucket_bytes` (a parameter larger than that is a bucket of its own; f32 and f64
/// parameters in separate buckets), each bucket is summed over the ranks with one
/// all-reduce, and the sums are unpacked into the [`GradStore`].
///
/// Each rank's gradients are multiplied by its `weight` before the sum; with
/// `weight = n_r / B` (its samples over the whole batch's) and gradients of a loss that is
/// the mean over the rank's samples, the result is the mean gradient over the whole batch,
/// what one process computes, up to float summation order.
///
/// A parameter that has no gradient on a rank (it did not take part in the loss, or the rank
/// had no sample) counts as zero there; one that has none on any rank stays without one, so
/// the optimizer skips it as it would in one process. (One flag per parameter travels in the
/// first bucket.)
///
/// The buckets are all-reduced one after the other once the backward pass is done; see
/// `docs/distributed.md` for why overlapping them with the backward pass does not pay on the
/// machines measured.
#[derive(Debug)]
pub struct GradAverager {
    bucket_bytes: usize,
    f32_buf: Vec<f32>,
    f64_buf: Vec<f64>,
    seconds: f64,
    calls: u64,
    bytes: u64,
}

impl Default for GradAverager {
    fn default() -> Self {
        Self::new()
    }
}

/// The element types gradients travel in.
trait Wire: StorageElem + Copy + Default + PartialEq {
    const WIRE_DTYPE: DType;
    fn of_f64(v: f64) -> Self;
    fn times(self, w: Self) -> Self;
    fn allreduce(c: &dyn Communicator, buf: &mut [Self]) -> Result<()>;
    fn buffer(a: &mut GradAverager) -> &mut Vec<Self>;
}

impl Wire for f32 {
    const WIRE_DTYPE: DType = DType::F32;
    fn of_f64(v: f64) -> Self {
        v as f32
    }
    fn times(self, w: Self) -> Self {
        self * w
    }
    fn allreduce(c: &dyn Communicator, buf: &mut [Self]) -> Result<()> {
        c.allreduce_sum_f32(buf)
    }
    fn buffer(a: &mut GradAverager) -> &mut Vec<Self> {
        &mut a.f32_buf
    }
}

impl Wire for f64 {
    const WIRE_DTYPE: DType = DType::F64;
    fn of_f64(v: f64) -> Self {
        v
    }
    fn times(self, w: Self) -> Self {
        self * w
    }
    fn allreduce(c: &dyn Communicator, buf: &mut [Self]) -> Result<()> {
        c.allreduce_sum_f64(buf)
    }
    fn buffer(a: &mut GradAverager) -> &mut Vec<Self> {
        &mut a.f64_buf
    }
}

impl GradAverager {
    /// An averager with buckets of [`DEFAULT_BUCKET_BYTES`].
    pub fn new() -> Self {
        Self::with_bucket_bytes(DEFAULT_BUCKET_BYTES)
    }

    /// An averager with buckets of about `bytes` (at least one value).
    pub fn with_bucket_bytes(bytes: usize) -> Self {
        GradAverager {
            bucket_bytes: bytes.max(8),
            f32_buf: Vec::new(),
            f64_buf: Vec::new(),
            seconds: 0.0,
            calls: 0,
            bytes: 0,
        }
    }

    /// Seconds spent in the gradients' all-reduces so far (including the time waiting for
    /// slower ranks to arrive).
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// All-reduce calls so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Gradient bytes this rank sent into all-reduces so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Replaces the gradient of each of `params` in `grads` by the sum over the ranks of
    /// `weight · gradient` (see the type's docs). With one rank it only multiplies by
    /// `weight` (nothing when it is 1).
    ///
    /// Fails when a gradient is not f32 or f64 or not shaped like its parameter, or when the
    /// communication fails (every rank must call it with the same parameters).
    pub fn average(
        &mut self,
        comm: &dyn Communicator,
        grads: &mut GradStore,
        params: &[Var],
        weight: f64,
    ) -> Result<()> {
        if comm.size() <= 1 && weight == 1.0 {
            return Ok(());
        }
        for v in params {
            let dt = v.dtype();
            if dt != DType::F32 && dt != DType::F64 {
                return Err(Error::Config(format!(
                    "data-parallel training averages f32 and f64 gradients; a parameter is {dt}"
                )));
            }
            if let Some(g) = v.grad(grads) {
                if g.shape() != v.shape().as_slice() || g.dtype() != dt {
                    return Err(Error::Config(format!(
                        "a gradient is {} {:?} but its parameter is {dt} {:?}",
                        g.dtype(),
                        g.shape(),
                        v.shape()
                    )));
                }
            }
        }
        // flags: which parameters have a gradient on some rank, in the first bucket
        let flags: Vec<f64> = params
            .iter()
            .map(|v| if v.grad(grads).is_some() { 1.0 } else { 0.0 })
            .collect();
        let any_f32 = params.iter().any(|v| v.dtype() == DType::F32);
        let mut present = None;
        self.sync::<f32>(
            comm,
            grads,
            params,
            weight,
            any_f32.then_some(&flags),
            &mut present,
        )?;
        self.sync::<f64>(
            comm,
            grads,
            params,
            weight,
            (!any_f32).then_some(&flags),
            &mut present,
        )?;
        Ok(())
    }

    /// The buckets of the parameters of type `T`; `flags` (when given) travel at the head of
    /// the first bucket and fill `present`.
    fn sync<T: Wire>(
        &mut self,
        comm: &dyn Communicator,
        grads: &mut GradStore,
        params: &[Var],
        weight: f64,
        mut flags: Option<&Vec<f64>>,
        present: &mut Option<Vec<bool>>,
    ) -> Result<()> {
        let idx: Vec<usize> = (0..params.len())
            .filter(|&i| params[i].dtype() == T::WIRE_DTYPE)
            .collect();
        let per = (self.bucket_bytes / std::mem::size_of::<T>()).max(1);
        let w = T::of_f64(weight);
        let mut start = 0;
        while start < idx.len() {
            // the bucket: params idx[start..end]
            let mut end = start;
            let mut len = 0;
            while end < idx.len() && (end == start || len + params[idx[end]].numel() <= per) {
                len += params[idx[end]].numel();
                end += 1;
            }
            let head = flags.map_or(0, |f| f.len());
            let mut buf = std::mem::take(T::buffer(self));
            buf.clear();
            if let Some(f) = flags {
                buf.extend(f.iter().map(|&v| T::of_f64(v)));
            }
            for &i in &idx[start..end] {
                let v = &params[i];
                match v.grad(grads) {
                    Some(g) => {
                        let d = g.data::<T>()?;
                        if weight == 1.0 {
                            buf.extend_from_slice(&d);
                        } else {
                            buf.extend(d.iter().map(|&x| x.times(w)));
                        }
                    }
                    None => buf.resize(buf.len() + v.numel(), T::default()),
                }
            }
            let t0 = Instant::now();
            T::allreduce(comm, &mut buf)?;
            self.seconds += t0.elapsed().as_secs_f64();
            self.calls += 1;
            self.bytes += (buf.len() * std::mem::size_of::<T>()) as u64;
            if flags.take().is_some() {
                *present = Some(buf[..head].iter().map(|&v| v != T::default()).collect());
            }
            let mut at = head;
            for &i in &idx[start..end] {
                let v = &params[i];
                let n = v.numel();
                let keep = present.as_ref().is_none_or(|p| p[i]);
                if keep {
                    let t = Tensor::from_vec(buf[at..at + n].to_vec(), &v.shape())?;
                    grads.insert(&v.as_tensor(), t);
                } else {
                    grads.remove(&v.as_tensor());
                }
                at += n;
            }
            *T::buffer(self) = buf;
            start = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::{SingleProcess, ThreadGroup};

    #[test]
    fn weighted_sums_in_small_buckets_with_missing_gradients() {
        // three ranks, params: a f32 [3], b f32 [2, 2], c f64 [2], d f32 [1] (no gradient
        // anywhere); buckets of 16 bytes (4 f32 values): a alone, b alone, d; rank 2 has no
        // gradient for a
        let comms = ThreadGroup::new(3);
        let hs: Vec<_> = comms
            .into_iter()
            .map(|c| {
                std::thread::spawn(move || {
                    let r = c.rank() as f32;
                    let a = Var::from_vec(vec![0f32; 3], &[3]).unwrap();
                    let b = Var::from_vec(vec![0f32; 4], &[2, 2]).unwrap();
                    let cc = Var::from_vec(vec![0f64; 2], &[2]).unwrap();
                    let d = Var::from_vec(vec![0f32; 1], &[1]).unwrap();
                    let mut g = GradStore::default();
                    if c.rank() != 2 {
                        g.insert(
                            &a.as_tensor(),
                            Tensor::from_vec(vec![r + 1.0; 3], &[3]).unwrap(),
                        );
                    }
                    g.insert(
                        &b.as_tensor(),
                        Tensor::from_vec(vec![1.0, 2.0, 3.0, r], &[2, 2]).unwrap(),
                    );
                    g.insert(
                        &cc.as_tensor(),
                        Tensor::from_vec(vec![0.5f64, r as f64], &[2]).unwrap(),
                    );
                    let params = vec![a.clone(), b.clone(), cc.clone(), d.clone()];
                    let mut avg = GradAverager::with_bucket_bytes(16);
                    avg.average(&c, &mut g, &params, 0.5).unwrap();
                    assert_eq!(avg.calls(), 4);
                    (
                        a.grad(&g).unwrap().to_vec::<f32>().unwrap(),
                        b.grad(&g).unwrap().to_vec::<f32>().unwrap(),
                        cc.grad(&g).unwrap().to_vec::<f64>().unwrap(),
                        d.grad(&g).is_none(),
                    )
                })
            })
            .collect();
        let out: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        for o in &out {
            assert_eq!(*o, out[0]);
        }
        let (a, b, c, d_none) = &out[0];
        assert_eq!(a, &vec![1.5; 3]); // (1 + 2 + 0) / 2
        assert_eq!(b, &vec![1.5, 3.0, 4.5, 1.5]);
        assert_eq!(c, &vec![0.75, 1.5]);
        assert!(d_none);
        // one process: only the weight
        let a = Var::from_vec(vec![0f32; 2], &[2]).unwrap();
        let mut g = GradStore::default();
        g.insert(
            &a.as_tensor(),
            Tensor::from_vec(vec![2.0f32, 4.0], &[2]).unwrap(),
        );
        let mut avg = GradAverager::new();
        avg.average(&SingleProcess, &mut g, std::slice::from_ref(&a), 1.0)
            .unwrap();
        assert_eq!(a.grad(&g).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
        avg.average(&SingleProcess, &mut g, std::slice::from_ref(&a), 0.25)
            .unwrap();
        assert_eq!(a.grad(&g).unwrap().to_vec::<f32>().unwrap(), vec![0.5, 1.0]);
        // a gradient of the wrong shape is refused
        g.insert(
            &a.as_tensor(),
            Tensor::from_vec(vec![1.0f32; 3], &[3]).unwrap(),
        );
        assert!(avg.average(&SingleProcess, &mut g, &[a], 0.5).is_err());
    }
}
