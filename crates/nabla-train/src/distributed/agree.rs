//! Agreement between ranks: errors that only some ranks meet, configs and training states
//! that must be the same everywhere, and tensors that rank 0 hands to the others.

use super::Communicator;
use crate::trainer::Result;
use crate::Error;
use nabla_core::Tensor;
use std::collections::BTreeMap;

/// Agrees on the outcome of a step every rank ran on its own (reading a config, a
/// checkpoint, the data): when it succeeded on every rank, each rank gets its own value
/// back; when it failed on some, every rank returns [`Error::AllRanks`] with the error
/// of the lowest failing rank (so a rank that could read a file does not wait forever for
/// one that could not). With one rank the outcome is returned as it is.
///
/// Two collectives: an all-reduce of the failure flags and, after a failure, a broadcast of
/// the message.
///
/// Fails when the communication fails.
pub fn agree<T>(comm: &dyn Communicator, local: Result<T>) -> Result<T> {
    let k = comm.size();
    if k <= 1 {
        return local;
    }
    let mut flags = vec![0.0f64; k];
    if local.is_err() {
        flags[comm.rank()] = 1.0;
    }
    comm.allreduce_sum_f64(&mut flags)?;
    let Some(first) = flags.iter().position(|&f| f > 0.0) else {
        return local;
    };
    let mut msg = match (&local, comm.rank() == first) {
        (Err(Error::AllRanks { msg, .. }), true) => msg.clone().into_bytes(),
        (Err(e), true) => e.to_string().into_bytes(),
        _ => Vec::new(),
    };
    comm.broadcast_bytes(first, &mut msg)?;
    let rank = match &local {
        Err(Error::AllRanks { rank, .. }) if comm.rank() == first => *rank,
        _ => first,
    };
    Err(Error::AllRanks {
        rank,
        msg: String::from_utf8_lossy(&msg).into_owned(),
    })
}

/// Checks that every rank holds rank 0's `text` (a canonical config): rank 0 broadcasts its
/// text, and a rank whose text differs fails with `describe(own, rank 0's)`, which should
/// name the difference; then every rank agrees ([`agree`]) on the outcome.
///
/// Fails on every rank ([`Error::AllRanks`]) when some rank's text differs.
pub fn check_same_text(
    comm: &dyn Communicator,
    text: &str,
    describe: impl Fn(&str, &str) -> String,
) -> Result<()> {
    if comm.size() <= 1 {
        return Ok(());
    }
    let mut root = text.as_bytes().to_vec();
    comm.broadcast_bytes(0, &mut root)?;
    let root = String::from_utf8_lossy(&root);
    let local = if root != text {
        Err(Error::Config(describe(text, &root)))
    } else {
        Ok(())
    };
    agree(comm, local)
}

/// Checks that every rank is at rank 0's `step` with the same state `fingerprint` (see
/// [`fingerprint`]): the ranks of a run, fresh or resumed, must start from the same
/// optimizer state, counters, random streams and data cursor.
///
/// Fails on every rank ([`Error::AllRanks`]) when some rank's state differs.
pub fn check_same_state(comm: &dyn Communicator, step: u64, fingerprint: u64) -> Result<()> {
    if comm.size() <= 1 {
        return Ok(());
    }
    let mut root: Vec<u8> = [step, fingerprint]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    comm.broadcast_bytes(0, &mut root)?;
    let word = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(root.get(8 * i..8 * i + 8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(b)
    };
    let (root_step, root_fp) = (word(0), word(1));
    let local = if (root_step, root_fp) != (step, fingerprint) {
        Err(Error::Config(format!(
            "this rank's training state (step {step}) is not rank 0's (step {root_step}{}): \
             every rank must start from the same checkpoint (is the run folder the same on \
             every host?)",
            if root_step == step {
                ", with another optimizer state, random stream or data cursor"
            } else {
                ""
            }
        )))
    } else {
        Ok(())
    };
    agree(comm, local)
}

/// FNV-1a 64 of `parts`, in order: a fingerprint of a training state that is the same on
/// every machine (unlike `std`'s hasher, which may change between Rust releases).
pub fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.iter() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // a separator, so ["ab", "c"] and ["a", "bc"] differ
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Rank `root`'s tensors on every rank (as safetensors bytes, so any dtype travels
/// exactly): the root returns its own, the others the root's.
///
/// Fails when the tensors cannot be encoded or the communication fails.
pub fn broadcast_tensors(
    comm: &dyn Communicator,
    root: usize,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<BTreeMap<String, Tensor>> {
    if comm.size() <= 1 {
        return Ok(tensors.clone());
    }
    let mut bytes = if comm.rank() == root {
        nabla_core::io::to_safetensors_bytes(tensors, None)?
    } else {
        Vec::new()
    };
    comm.broadcast_bytes(root, &mut bytes)?;
    if comm.rank() == root {
        return Ok(tensors.clone());
    }
    nabla_core::io::from_safetensors_bytes(&bytes, &format!("tensors broadcast by rank {root}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::SingleProcess;

    use crate::distributed::threads::run_ranks as run;

    #[test]
    fn a_failure_on_one_rank_stops_every_rank_with_its_message() {
        let out = run(3, |c| {
            let local: Result<usize> = if c.rank() >= 1 {
                Err(Error::Config(format!("cannot read x on rank {}", c.rank())))
            } else {
                Ok(7)
            };
            agree(&c, local).map_err(|e| e.to_string())
        });
        for o in &out {
            assert_eq!(o.as_ref().unwrap_err(), "rank 1: cannot read x on rank 1");
        }
        let out = run(2, |c| agree(&c, Ok(c.rank())).unwrap());
        assert_eq!(out, [0, 1]);
        // one process: the error as it is
        let e = agree::<()>(&SingleProcess, Err(Error::Config("x".into()))).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }

    #[test]
    fn texts_and_states_are_checked_against_rank_0() {
        let out = run(3, |c| {
            let text = if c.rank() == 2 {
                "seed = 1"
            } else {
                "seed = 0"
            };
            check_same_text(&c, text, |own, root| format!("'{own}' is not '{root}'"))
                .map_err(|e| e.to_string())
        });
        for o in &out {
            assert_eq!(
                o.as_ref().unwrap_err(),
                "rank 2: 'seed = 1' is not 'seed = 0'"
            );
        }
        let out = run(2, |c| {
            check_same_text(&c, "same", |_, _| String::new()).is_ok()
        });
        assert_eq!(out, [true, true]);
        let out = run(2, |c| {
            let fp = fingerprint(&[b"optim", if c.rank() == 0 { b"a" } else { b"b" }]);
            check_same_state(&c, 5, fp).map_err(|e| e.to_string())
        });
        assert!(
            out[0].as_ref().unwrap_err().contains(
                "rank 1: this rank's training state (step 5) is not rank 0's (step 5, with another"
            ),
            "{out:?}"
        );
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
    }

    #[test]
    fn tensors_travel_exactly() {
        let out = run(2, |c| {
            let mut m = BTreeMap::new();
            let v = if c.rank() == 0 { 0.1f64 } else { 9.0 };
            m.insert(
                "w".to_string(),
                Tensor::from_vec(vec![v, v / 3.0], &[2]).unwrap(),
            );
            m.insert(
                "n".to_string(),
                Tensor::from_vec(vec![c.rank() as i64 + 4], &[1]).unwrap(),
            );
            let got = broadcast_tensors(&c, 0, &m).unwrap();
            (
                got["w"].to_vec::<f64>().unwrap(),
                got["n"].to_vec::<i64>().unwrap(),
            )
        });
        assert_eq!(out[0], out[1]);
        assert_eq!(out[1].0, vec![0.1, 0.1 / 3.0]);
        assert_eq!(out[1].1, vec![4]);
    }
}
