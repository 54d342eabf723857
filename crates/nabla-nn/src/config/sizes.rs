//! The closed sets and small value types of layer configs: a size given as one integer or
//! a `[h, w]` pair, a convolution's padding, GELU's form, an RNN's nonlinearity, and a
//! weight initializer by name.

use crate::init::Init;
use nabla_core::RnnNonlinearity;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Defaults of config keys (serde's `default = "..."` names a function).
pub(crate) fn yes() -> bool {
    true
}
pub(super) fn one() -> usize {
    1
}
pub(super) fn one2() -> Size2 {
    Size2::One(1)
}
pub(super) fn zero2() -> Size2 {
    Size2::One(0)
}

/// A size given as one integer (both dims) or a `[h, w]` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a whole number >= 1 or a pair [h, w]")]
pub enum Size2 {
    /// The same for height and width.
    One(usize),
    /// `[height, width]`.
    Two([usize; 2]),
}

impl Size2 {
    /// (height, width).
    pub fn pair(self) -> (usize, usize) {
        match self {
            Size2::One(v) => (v, v),
            Size2::Two([h, w]) => (h, w),
        }
    }
    /// Fails unless both dims are at least 1, naming `key`.
    pub(crate) fn positive(self, key: &str) -> Result<(), String> {
        let (h, w) = self.pair();
        if h == 0 || w == 0 {
            return Err(format!("{key} must be at least 1, got {self:?}"));
        }
        Ok(())
    }
}

impl From<usize> for Size2 {
    fn from(v: usize) -> Self {
        Size2::One(v)
    }
}

/// A convolution's padding: explicit sizes, `"same"` (the output keeps the input's size;
/// stride 1, as PyTorch) or `"valid"` (no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Explicit sizes.
    Size(Size2),
    /// `"same"`.
    Same,
    /// `"valid"` (= 0).
    Valid,
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Size(Size2::One(0))
    }
}

impl Padding {
    /// The explicit sizes (0 for `"valid"`, `None` for `"same"`).
    pub fn sizes(self) -> Option<(usize, usize)> {
        match self {
            Padding::Size(s) => Some(s.pair()),
            Padding::Valid => Some((0, 0)),
            Padding::Same => None,
        }
    }
}

impl Serialize for Padding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Padding::Size(z) => z.serialize(s),
            Padding::Same => s.serialize_str("same"),
            Padding::Valid => s.serialize_str("valid"),
        }
    }
}

impl<'de> Deserialize<'de> for Padding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Size(Size2),
            Word(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            de::Error::custom("expected a size (a whole number or [h, w]), \"same\" or \"valid\"")
        })? {
            Raw::Size(s) => Ok(Padding::Size(s)),
            Raw::Word(w) if w == "same" => Ok(Padding::Same),
            Raw::Word(w) if w == "valid" => Ok(Padding::Valid),
            Raw::Word(w) => Err(de::Error::custom(format!(
                "padding must be a size, \"same\" or \"valid\", got \"{w}\""
            ))),
        }
    }
}

/// The form of GELU: exact (`"none"`, with erf) or the tanh approximation (`"tanh"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeluApproximate {
    /// The exact form.
    #[default]
    None,
    /// The tanh approximation.
    Tanh,
}

/// An Elman RNN's nonlinearity, as its config names it (`"tanh"` or `"relu"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nonlinearity {
    /// tanh (PyTorch's default).
    #[default]
    Tanh,
    /// ReLU.
    Relu,
}

impl From<Nonlinearity> for RnnNonlinearity {
    fn from(n: Nonlinearity) -> Self {
        match n {
            Nonlinearity::Tanh => RnnNonlinearity::Tanh,
            Nonlinearity::Relu => RnnNonlinearity::Relu,
        }
    }
}

/// The initializer names a config may give.
pub const INIT_NAMES: &str = "default, xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, lecun_uniform, lecun_normal, zeros, ones (glorot_* and he_* too)";

impl Serialize for Init {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Init::Constant(v) => s.serialize_f64(*v),
            other => s.serialize_str(other.name()),
        }
    }
}

impl<'de> Deserialize<'de> for Init {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Init;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an initializer name ({INIT_NAMES}) or a constant")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Init, E> {
                Init::parse(v)
                    .ok_or_else(|| E::custom(format!("unknown init '{v}' ({INIT_NAMES})")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Init, E> {
                Ok(Init::Constant(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Init, E> {
                Ok(Init::Constant(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Init, E> {
                Ok(Init::Constant(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}
