//! The geometry of one 2-d convolution, shared by the op that validates it, the `Op` that
//! records it and every kernel, and how the im2col kernels tile it.

/// Bytes of one `col` tile (sized for a 1-2 MiB L2).
pub(super) const L2_BYTES: usize = 1 << 20;

/// Geometry of one 2-d convolution in the forward direction: input `[n, c, h, w]`, weight
/// `[o, c / groups, kh, kw]`, output `[n, o, oh, ow]`. `conv_transpose2d` is the adjoint of
/// such a convolution and is described by the same geometry (its input is the `[n, o, oh, ow]`
/// side). `oh` and `ow` are stored, not derived, so the adjoint of a transposed convolution
/// with a large `output_padding` (which leaves some input rows unused) is described too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }
    /// Output channels per group.
    pub fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of `col` (and columns of the weight matrix) per group.
    pub fn kg(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// The input planes' size with the padding on both sides: `(h + 2 ph, w + 2 pw)`.
    pub fn padded(&self) -> (usize, usize) {
        (self.h + 2 * self.padding.0, self.w + 2 * self.padding.1)
    }
    /// Output positions per image.
    pub fn p(&self) -> usize {
        self.oh * self.ow
    }
    /// Input shape `[n, c, h, w]`.
    pub fn input_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }
    /// Output shape `[n, o, oh, ow]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.o, self.oh, self.ow]
    }
    /// Weight shape `[o, c / groups, kh, kw]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.o, self.cg(), self.kh, self.kw]
    }
    /// A 1x1 kernel with stride 1 and no padding: `col` is the input itself.
    pub(super) fn pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == (1, 1)
            && self.padding == (0, 0)
            && self.oh == self.h
            && self.ow == self.w
    }
    /// Columns per tile: `kg * tile * size` fits in [`L2_BYTES`], at least 16 columns.
    pub(super) fn tile(&self, elem_bytes: usize) -> usize {
        let p = self.p().max(1);
        if self.pointwise() {
            return p;
        }
        let t = (L2_BYTES / (self.kg().max(1) * elem_bytes)).max(16);
        if t >= p {
            p
        } else {
            t / 16 * 16
        }
    }
    pub(super) fn macs(&self) -> usize {
        self.n * self.o * self.p() * self.kg()
    }
}
