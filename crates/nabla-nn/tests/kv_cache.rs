//! The state API of sequence layers: a causal transformer fed a sequence in pieces, with its
//! key/value caches and the positional embedding's position count carried over, gives what
//! the whole sequence gives at once; a layer that cannot be fed in pieces says so.

use nabla_core::{DType, Mt19937, Tensor};
use nabla_nn::{
    cast_module, Activation, Embedding, EncoderLayerOptions, ForwardCtx, KvCache, LayerState,
    Linear, Module, MultiheadAttention, PositionalEmbedding, Sequential, TransformerEncoder,
};

/// A small character GPT: embedding, learned positions, `layers` causal layers, a head.
fn gpt(norm_first: bool, bias: bool, sinusoidal: bool, seed: u32) -> Sequential {
    let mut rng = Mt19937::new(seed);
    let (v, e, h, max_len) = (11, 8, 2, 12);
    let opts = EncoderLayerOptions {
        dim_feedforward: 16,
        dropout: 0.0,
        activation: Activation::GELU,
        norm_first,
        bias,
        causal: true,
        ..EncoderLayerOptions::default()
    };
    let pos = if sinusoidal {
        PositionalEmbedding::sinusoidal(max_len, e).unwrap()
    } else {
        PositionalEmbedding::learned(max_len, e, &mut rng).unwrap()
    };
    Sequential::new()
        .append(Embedding::new(v, e, &mut rng).unwrap())
        .append(pos)
        .append(TransformerEncoder::new(e, h, 3, opts, norm_first, &mut rng).unwrap())
        .append(Linear::new(e, v, &mut rng).unwrap())
}

fn tokens(ids: &[i64]) -> Tensor {
    Tensor::from_vec(ids.to_vec(), &[1, ids.len()]).unwrap()
}

/// The logits of `ids` fed in pieces of the given sizes, concatenated along the sequence.
fn in_pieces(model: &Sequential, ids: &[i64], pieces: &[usize]) -> Tensor {
    let mut states = Vec::new();
    let mut ctx = ForwardCtx::eval();
    let mut outs = Vec::new();
    let mut at = 0;
    for &p in pieces {
        outs.push(
            model
                .forward_with_states(&tokens(&ids[at..at + p]), &mut states, &mut ctx)
                .unwrap(),
        );
        at += p;
    }
    assert_eq!(at, ids.len());
    Tensor::cat(&outs.iter().collect::<Vec<_>>(), 1).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_vec_f64()
        .iter()
        .zip(b.to_vec_f64())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn pieces_with_caches_give_the_whole_sequences_logits() {
    let ids = [3i64, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
    for (norm_first, bias, sinusoidal) in [
        (true, false, false),
        (false, true, false),
        (true, true, true),
    ] {
        let model = gpt(norm_first, bias, sinusoidal, 7);
        let whole = model
            .forward(&tokens(&ids), &mut ForwardCtx::eval())
            .unwrap();
        for pieces in [&[12][..], &[1; 12], &[3, 1, 1, 4, 2, 1], &[5, 7]] {
            let got = in_pieces(&model, &ids, pieces);
            let d = max_diff(&got, &whole);
            assert!(d < 1e-5, "f32 {pieces:?} (norm_first {norm_first}): {d}");
        }
        // in f64 the two orders of arithmetic agree to rounding
        cast_module(&model, DType::F64).unwrap();
        let whole = model
            .forward(&tokens(&ids), &mut ForwardCtx::eval())
            .unwrap();
        let got = in_pieces(&model, &ids, &[4, 1, 1, 1, 5]);
        let d = max_diff(&got, &whole);
        assert!(d < 1e-12, "f64: {d}");
    }
}

#[test]
fn a_state_carries_the_cache_and_the_position() {
    let model = gpt(true, false, false, 3);
    let mut states = Vec::new();
    let mut ctx = ForwardCtx::eval();
    model
        .forward_with_states(&tokens(&[1, 2, 3]), &mut states, &mut ctx)
        .unwrap();
    model
        .forward_with_states(&tokens(&[4]), &mut states, &mut ctx)
        .unwrap();
    assert!(states[0].is_none(), "the embedding has no state");
    assert!(matches!(states[1], Some(LayerState::Position(4))));
    match &states[2] {
        Some(LayerState::Attention(c)) => {
            assert_eq!(c.len(), 3, "one cache per layer");
            assert_eq!(c[0].keys.shape(), [1, 2, 4, 4]);
            assert_eq!(c[0].values.shape(), [1, 2, 4, 4]);
            assert_eq!(c[2].len(), 4);
        }
        other => panic!("{other:?}"),
    }
    // past max_len the positional embedding refuses, naming it
    let err = model
        .forward_with_states(&tokens(&[1; 9]), &mut states, &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_len"), "{err}");
}

#[test]
fn a_multihead_attention_alone_is_fed_in_pieces() {
    let mut rng = Mt19937::new(5);
    let m = MultiheadAttention::new(6, 3, &mut rng)
        .unwrap()
        .causal(true);
    let x = Tensor::normal(&[2, 5, 6], 0.0, 1.0, DType::F32, &mut rng).unwrap();
    let whole = m.forward(&x, &mut ForwardCtx::eval()).unwrap();
    let mut ctx = ForwardCtx::eval();
    let (a, c) = m
        .forward_cached(&x.narrow(1, 0, 2).unwrap(), None, &mut ctx)
        .unwrap();
    let (b, c) = m
        .forward_cached(&x.narrow(1, 2, 3).unwrap(), Some(&c), &mut ctx)
        .unwrap();
    assert_eq!(c.len(), 5);
    let got = Tensor::cat(&[&a, &b], 1).unwrap();
    assert!(max_diff(&got, &whole) < 1e-5);
}

#[test]
fn what_cannot_be_fed_in_pieces_is_refused() {
    let mut rng = Mt19937::new(5);
    let x = Tensor::normal(&[1, 2, 6], 0.0, 1.0, DType::F32, &mut rng).unwrap();
    let mut ctx = ForwardCtx::eval();
    // not causal: later positions would change earlier outputs
    let m = MultiheadAttention::new(6, 3, &mut rng).unwrap();
    let err = m
        .forward_cached(&x, None, &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("causal"), "{err}");
    // a cache of another shape
    let m = m.causal(true);
    let bad = KvCache {
        keys: Tensor::zeros(&[1, 2, 3, 3], DType::F32),
        values: Tensor::zeros(&[1, 2, 3, 3], DType::F32),
    };
    let err = m
        .forward_cached(&x, Some(&bad), &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cached keys"), "{err}");
    // a state of another kind
    let err = m
        .forward_stateful(&x, Some(&LayerState::Position(3)), &mut ctx)
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("key/value cache"), "{err}");
}
