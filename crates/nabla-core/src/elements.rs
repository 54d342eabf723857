//! Where a tensor's elements live: its own storage, a shared one, or a base tensor's.

use crate::storage::Storage;
use crate::tensor::Tensor;
use std::sync::Arc;

/// Where a tensor's elements live.
///
/// A result that no graph records holds its storage itself, in its header: a tiny op then
/// costs two allocations (the header and the element buffer), not three (a separate `Arc`
/// around the storage). Its views reach that storage through
/// the tensor ([`Elements::Base`]), which is safe to keep alive because it holds no graph. A
/// recorded result puts its storage behind its own `Arc`, so that views (and `detach`) share
/// the elements without keeping the graph alive.
pub(crate) enum Elements {
    /// This tensor's own storage (only ever with no graph node).
    Own(Storage),
    /// Storage shared with other tensors.
    Shared(Arc<Storage>),
    /// The storage of a tensor whose elements are [`Elements::Own`].
    Base(Tensor),
}

impl Elements {
    /// The storage.
    pub(crate) fn get(&self) -> &Storage {
        match self {
            Elements::Own(s) => s,
            Elements::Shared(s) => s,
            Elements::Base(t) => t.storage(),
        }
    }
}
