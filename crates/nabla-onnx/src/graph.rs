//! Building an ONNX graph: nodes with fresh value names, attributes, and weights as
//! initializers (raw little-endian data).

use crate::proto::{data_type, AttributeProto, AttributeType, NodeProto, TensorProto};
use nabla_core::{DType, Result, Tensor};

/// The nodes and initializers of a graph under construction.
#[derive(Default)]
pub(crate) struct Graph {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    count: usize,
}

/// An attribute.
pub(crate) enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Str(&'static str),
    Strs(Vec<&'static str>),
}

fn attribute(name: &str, a: Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: name.to_string(),
        ..AttributeProto::default()
    };
    match a {
        Attr::Int(i) => {
            p.r#type = AttributeType::Int as i32;
            p.i = i;
        }
        Attr::Float(f) => {
            p.r#type = AttributeType::Float as i32;
            p.f = f;
        }
        Attr::Ints(v) => {
            p.r#type = AttributeType::Ints as i32;
            p.ints = v;
        }
        Attr::Str(s) => {
            p.r#type = AttributeType::String as i32;
            p.s = s.as_bytes().to_vec();
        }
        Attr::Strs(v) => {
            p.r#type = AttributeType::Strings as i32;
            p.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
        }
    }
    p
}

impl Graph {
    /// A value name not used before, from `hint` (`3.weight`, `4.relu`).
    pub fn fresh(&mut self, hint: &str) -> String {
        self.count += 1;
        format!("{hint}_{}", self.count)
    }

    /// Appends `op_type(inputs)` with `attrs`; returns its one output's name.
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        hint: &str,
    ) -> String {
        let out = self.fresh(hint);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: format!("{op_type}_{}", self.nodes.len()),
            op_type: op_type.to_string(),
            domain: String::new(),
            attribute: attrs.into_iter().map(|(n, a)| attribute(n, a)).collect(),
        });
        out
    }

    /// A float weight as an initializer (f32 in the file, whatever the tensor's float
    /// dtype); returns its name.
    pub fn weight(&mut self, name: &str, t: &Tensor) -> Result<String> {
        let v = t.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let dims = t.shape().iter().map(|&d| d as i64).collect();
        Ok(self.push(name, data_type::FLOAT, dims, raw))
    }

    /// A float constant of `dims` from `values`.
    pub fn floats(&mut self, name: &str, values: &[f32], dims: &[i64]) -> String {
        let raw = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(name, data_type::FLOAT, dims.to_vec(), raw)
    }

    /// An i64 constant of `dims` from `values` (shapes, axes, indices).
    pub fn ints(&mut self, name: &str, values: &[i64], dims: &[i64]) -> String {
        let raw = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(name, data_type::INT64, dims.to_vec(), raw)
    }

    fn push(&mut self, name: &str, data_type: i32, dims: Vec<i64>, raw: Vec<u8>) -> String {
        let name = self.fresh(name);
        self.initializers.push(TensorProto {
            dims,
            data_type,
            name: name.clone(),
            raw_data: raw,
            ..TensorProto::default()
        });
        name
    }
}
