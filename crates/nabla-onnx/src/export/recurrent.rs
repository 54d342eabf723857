//! LSTM, GRU and RNN stacks as ONNX's recurrent nodes, their gates reordered.

use super::{get, Attr, Graph};
use nabla_core::{Error, Result, Tensor};

/// The recurrent cells, with ONNX's gate order.
#[derive(Clone, Copy)]
pub(super) enum Cell {
    Lstm,
    Gru,
    /// A plain RNN; `true`: ReLU instead of tanh.
    Rnn(bool),
}

impl Cell {
    fn op(self) -> &'static str {
        match self {
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
            Cell::Rnn(_) => "RNN",
        }
    }
    /// PyTorch's gate blocks in ONNX's order: LSTM i,f,g,o to i,o,f,c; GRU r,z,n to z,r,h.
    fn order(self) -> &'static [usize] {
        match self {
            Cell::Lstm => &[0, 3, 1, 2],
            Cell::Gru => &[1, 0, 2],
            Cell::Rnn(_) => &[0],
        }
    }
}

/// The gate blocks of `t` (`[gates·H, ..]` or `[gates·H]`) reordered as ONNX takes them.
fn reorder(t: &Tensor, cell: Cell, h: usize) -> Result<Tensor> {
    let blocks: Vec<Tensor> = cell
        .order()
        .iter()
        .map(|&k| t.narrow(0, k * h, h))
        .collect::<Result<_>>()?;
    Tensor::cat(&blocks.iter().collect::<Vec<_>>(), 0)
}

/// A batch-first recurrent stack `[N, T, F]` to `[N, T, D·H]`: one ONNX node per layer
/// over `[T, N, F]` (ONNX Runtime refuses `layout = 1`), the directions' outputs joined.
pub(super) fn recurrent(
    g: &mut Graph,
    x: &str,
    ts: &[(String, Tensor)],
    cell: Cell,
    (hidden, layers, bidirectional): (usize, usize, bool),
    hint: &str,
) -> Result<String> {
    let missing = |n: &str| Error::Config(format!("{hint}: the layer has no {n}"));
    let dirs: &[&str] = if bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    };
    let mut h = g.node(
        "Transpose",
        &[x],
        vec![("perm", Attr::Ints(vec![1, 0, 2]))],
        hint,
    );
    for l in 0..layers {
        let (mut ws, mut rs, mut bs) = (Vec::new(), Vec::new(), Vec::new());
        for d in dirs {
            let get_ = |n: &str| get(ts, &format!("{n}_l{l}{d}")).ok_or_else(|| missing(n));
            ws.push(reorder(get_("weight_ih")?, cell, hidden)?.unsqueeze(0)?);
            rs.push(reorder(get_("weight_hh")?, cell, hidden)?.unsqueeze(0)?);
            if let (Some(bi), Some(bh)) = (
                get(ts, &format!("bias_ih_l{l}{d}")),
                get(ts, &format!("bias_hh_l{l}{d}")),
            ) {
                let b = Tensor::cat(
                    &[&reorder(bi, cell, hidden)?, &reorder(bh, cell, hidden)?],
                    0,
                )?;
                bs.push(b.unsqueeze(0)?);
            }
        }
        let cat = |v: &[Tensor]| Tensor::cat(&v.iter().collect::<Vec<_>>(), 0);
        let wn = g.weight(&format!("{hint}.W_l{l}"), &cat(&ws)?)?;
        let rn = g.weight(&format!("{hint}.R_l{l}"), &cat(&rs)?)?;
        let mut ins = vec![h.clone(), wn, rn];
        if !bs.is_empty() {
            ins.push(g.weight(&format!("{hint}.B_l{l}"), &cat(&bs)?)?);
        }
        let ins: Vec<&str> = ins.iter().map(|s| &**s).collect();
        let mut attrs = vec![
            ("hidden_size", Attr::Int(hidden as i64)),
            (
                "direction",
                Attr::Str(if bidirectional {
                    "bidirectional"
                } else {
                    "forward"
                }),
            ),
        ];
        match cell {
            Cell::Gru => attrs.push(("linear_before_reset", Attr::Int(1))),
            Cell::Rnn(true) => attrs.push(("activations", Attr::Strs(vec!["Relu"; dirs.len()]))),
            _ => {}
        }
        // Y: [T, D, N, H] to [T, N, D·H]
        let y = g.node(cell.op(), &ins, attrs, hint);
        let y = g.node(
            "Transpose",
            &[&y],
            vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))],
            hint,
        );
        let shape = g.ints("shape", &[0, 0, -1], &[3]);
        h = g.node("Reshape", &[&y, &shape], vec![], hint);
    }
    Ok(g.node(
        "Transpose",
        &[&h],
        vec![("perm", Attr::Ints(vec![1, 0, 2]))],
        hint,
    ))
}
