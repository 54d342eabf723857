//! Reading JSON-lines files a run appends to (`health.jsonl`, `metrics.jsonl`): every
//! complete line is used, and each damaged one (cut short by a crash mid-write, or not a
//! record) is reported with the file and the line number.

use serde::de::DeserializeOwned;
use std::path::Path;

/// The records of a JSON-lines file: every line that parses as a `T`, and a note on each
/// damaged one, `"{path}: line {n} is cut short ({error}); it is ignored"` for an unfinished
/// last line, `"... is not a {what} ..."` otherwise. Blank lines are skipped.
///
/// Fails when the file cannot be read (missing, unreadable, not UTF-8).
pub fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
    what: &str,
) -> std::io::Result<(Vec<T>, Vec<String>)> {
    // bytes, line by line: a line of damaged bytes (not UTF-8) is one damaged line
    let bytes = std::fs::read(path)?;
    let mut records = Vec::new();
    let mut damage = Vec::new();
    let complete = bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes
        .strip_suffix(b"\n")
        .unwrap_or(&bytes)
        .split(|&b| b == b'\n')
        .collect();
    for (i, line) in lines.iter().enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<T>(line) {
            Ok(r) => records.push(r),
            Err(e) => {
                let cut = i + 1 == lines.len() && !complete;
                damage.push(format!(
                    "{}: line {} {} ({e}); it is ignored",
                    path.display(),
                    i + 1,
                    if cut {
                        "is cut short".to_string()
                    } else {
                        format!("is not a {what}")
                    }
                ));
            }
        }
    }
    Ok((records, damage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_lines_are_named_and_the_rest_used() {
        let p = std::env::temp_dir().join(format!("nabla-jsonl-{}.jsonl", std::process::id()));
        std::fs::write(&p, "{\"a\":1}\n\nnot json\n{\"a\":2}\n{\"a\":").unwrap();
        #[derive(serde::Deserialize)]
        struct R {
            a: u32,
        }
        let (r, d): (Vec<R>, _) = read_jsonl(&p, "row").unwrap();
        assert_eq!(r.iter().map(|r| r.a).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("line 3 is not a row"), "{d:?}");
        assert!(d[1].contains("line 5 is cut short"), "{d:?}");
        std::fs::remove_file(&p).unwrap();
        assert!(read_jsonl::<R>(&p, "row").is_err());
    }
}
