//! Character-level text corpora for language models: a [`Vocab`] of the characters of a text,
//! a [`TextCorpus`] (the text as character ids), and [`CharWindows`], the contiguous
//! next-character windows as a [`Dataset`] for the [`crate::DataLoader`].

use crate::dataset::{check_index, Batch, Dataset};
use crate::error::{Error, Result};
use nabla_core::Tensor;
use std::path::Path;
use std::sync::Arc;

/// The characters of a text, sorted (by code point) and numbered from 0, as the char-RNN and
/// nanoGPT `shakespeare_char` vocabularies: `encode` maps a string to ids, `decode` back.
/// Saved as JSON (`{"kind": "char", "chars": ["\n", " ", "!", ...]}`) so that sampling from a
/// trained model needs no data.
///
/// ```
/// use nabla_data::Vocab;
/// let v = Vocab::from_text("hello");
/// assert_eq!(v.chars(), &['e', 'h', 'l', 'o']);
/// assert_eq!(v.encode("hole").unwrap(), vec![1, 3, 2, 0]);
/// assert_eq!(v.decode(&[1, 0, 2, 2, 3]).unwrap(), "hello");
/// assert!(v.encode("help").unwrap_err().to_string().contains("'p'"));
/// let back = Vocab::from_json(&v.to_json(), "vocab.json").unwrap();
/// assert_eq!(back, v);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    /// The sorted set of the characters of `text`.
    pub fn from_text(text: &str) -> Vocab {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }

    /// A vocabulary of these characters (sorted and deduplicated).
    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> Vocab {
        let mut chars: Vec<char> = chars.into_iter().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }

    /// The characters, id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of characters (the model's number of classes).
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether there is no character.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The id of one character, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<usize> {
        self.chars.binary_search(&c).ok()
    }

    /// The ids of the characters of `s`.
    ///
    /// Fails on a character not in the vocabulary, naming it and its (character) position.
    pub fn encode(&self, s: &str) -> Result<Vec<i64>> {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                self.id(c).map(|k| k as i64).ok_or_else(|| {
                    Error::invalid(
                        "Vocab::encode",
                        format!(
                            "character {c:?} (U+{:04X}) at position {i} is not in the vocabulary of {} characters",
                            c as u32,
                            self.len()
                        ),
                    )
                })
            })
            .collect()
    }

    /// The text of a sequence of ids.
    ///
    /// Fails on an id outside `0..len()`, naming it.
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        ids.iter()
            .map(|&k| {
                usize::try_from(k)
                    .ok()
                    .and_then(|k| self.chars.get(k).copied())
                    .ok_or_else(|| {
                        Error::invalid(
                            "Vocab::decode",
                            format!(
                                "id {k} is outside the vocabulary of {} characters",
                                self.len()
                            ),
                        )
                    })
            })
            .collect()
    }

    /// The vocabulary as JSON: `{"kind": "char", "chars": [...]}`.
    pub fn to_json(&self) -> String {
        let chars: Vec<String> = self.chars.iter().map(|c| c.to_string()).collect();
        serde_json::json!({ "kind": "char", "chars": chars }).to_string()
    }

    /// Reads a vocabulary written by [`Vocab::to_json`]; `name` names the source in errors.
    ///
    /// Fails when the text is not such JSON, an entry is not exactly one character, or the
    /// characters are not sorted and distinct (ids would change).
    pub fn from_json(json: &str, name: &str) -> Result<Vocab> {
        let bad = |msg: String| Error::format(name, msg);
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
        if v.get("kind").and_then(|k| k.as_str()) != Some("char") {
            return Err(bad(
                "not a character vocabulary (\"kind\" is not \"char\")".into()
            ));
        }
        let list = v
            .get("chars")
            .and_then(|c| c.as_array())
            .ok_or_else(|| bad("no \"chars\" list".into()))?;
        let mut chars = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            let s = e.as_str().unwrap_or("");
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => return Err(bad(format!("entry {i} ({e}) is not one character"))),
            }
        }
        if chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("the characters are not sorted and distinct".into()));
        }
        Ok(Vocab { chars })
    }

    /// Writes [`Vocab::to_json`] to a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path.as_ref();
        std::fs::write(p, self.to_json()).map_err(|e| Error::file(p, e))
    }

    /// Reads a file written by [`Vocab::save`].
    ///
    /// Fails when the file cannot be read or is not a vocabulary (see [`Vocab::from_json`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Vocab> {
        let p = path.as_ref();
        let s = std::fs::read_to_string(p).map_err(|e| Error::file(p, e))?;
        Vocab::from_json(&s, &p.display().to_string())
    }
}

/// A text as character ids with its [`Vocab`].
///
/// ```
/// use nabla_data::{Dataset, TextCorpus};
/// let corpus = TextCorpus::from_text("abcabcabcab", "tiny").unwrap();
/// let train = corpus.windows(3).unwrap(); // x = text[3i..3i+3], y = text[3i+1..3i+4]
/// assert_eq!(train.len(), 3);
/// let (x, y) = train.get(1).unwrap();
/// assert_eq!(corpus.vocab().decode(&x.to_vec::<i64>().unwrap()).unwrap(), "abc");
/// assert_eq!(corpus.vocab().decode(&y.to_vec::<i64>().unwrap()).unwrap(), "bca");
/// ```
#[derive(Clone, Debug)]
pub struct TextCorpus {
    name: String,
    ids: Arc<[i64]>,
    vocab: Vocab,
}

impl TextCorpus {
    /// Reads a UTF-8 text file; its vocabulary is the sorted set of its characters.
    ///
    /// Fails, naming the file, when it cannot be read, is empty, or is not UTF-8 (naming the
    /// byte offset of the first invalid byte).
    pub fn read(path: impl AsRef<Path>) -> Result<TextCorpus> {
        let p = path.as_ref();
        let bytes = std::fs::read(p).map_err(|e| Error::file(p, e))?;
        TextCorpus::from_bytes(&bytes, &p.display().to_string())
    }

    /// As [`TextCorpus::read`], encoding with a given vocabulary (e.g. the one a model was
    /// trained with).
    ///
    /// Fails as `read`, and on a character that is not in `vocab` (naming it).
    pub fn read_with_vocab(path: impl AsRef<Path>, vocab: Vocab) -> Result<TextCorpus> {
        let p = path.as_ref();
        let bytes = std::fs::read(p).map_err(|e| Error::file(p, e))?;
        let name = p.display().to_string();
        let text = utf8(&bytes, &name)?;
        TextCorpus::build(text, &name, vocab)
    }

    /// From bytes that should be UTF-8 text; `name` names the source in errors.
    ///
    /// Fails when empty or not UTF-8 (naming the byte offset).
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<TextCorpus> {
        let text = utf8(bytes, name)?;
        TextCorpus::from_text(text, name)
    }

    /// From text in memory; `name` names it in errors. Fails when the text is empty.
    pub fn from_text(text: &str, name: &str) -> Result<TextCorpus> {
        TextCorpus::build(text, name, Vocab::from_text(text))
    }

    fn build(text: &str, name: &str, vocab: Vocab) -> Result<TextCorpus> {
        if text.is_empty() {
            return Err(Error::format(name, "the text is empty"));
        }
        let ids = vocab
            .encode(text)
            .map_err(|e| Error::format(name, e.to_string()))?;
        Ok(TextCorpus {
            name: name.to_string(),
            ids: ids.into(),
            vocab,
        })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The text's name (the file) as errors use it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no character (never: an empty text is rejected).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The character ids.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// The whole text as non-overlapping windows of `seq_len` characters (see
    /// [`CharWindows`]).
    ///
    /// Fails when `seq_len` is 0 or the text is shorter than `seq_len + 1` characters.
    pub fn windows(&self, seq_len: usize) -> Result<CharWindows> {
        CharWindows::new(self.ids.clone(), 0..self.ids.len(), seq_len, &self.name)
    }

    /// Splits by position, as nanoGPT: the first `1 - validation_split` of the characters
    /// are the training windows, the rest the validation windows (each cut into windows of
    /// `seq_len` on its own, so no window crosses the boundary).
    ///
    /// Fails when `validation_split` is not in `(0, 1)`, `seq_len` is 0, or either part is
    /// shorter than `seq_len + 1` characters (naming the part and its length).
    pub fn split(
        &self,
        seq_len: usize,
        validation_split: f64,
    ) -> Result<(CharWindows, CharWindows)> {
        if !(validation_split > 0.0 && validation_split < 1.0) {
            return Err(Error::invalid(
                "TextCorpus::split",
                format!("validation_split must be in (0, 1), got {validation_split}"),
            ));
        }
        let n = self.ids.len();
        let cut = ((n as f64) * (1.0 - validation_split)) as usize;
        let train = CharWindows::new(
            self.ids.clone(),
            0..cut,
            seq_len,
            &format!("{} (training part)", self.name),
        )?;
        let val = CharWindows::new(
            self.ids.clone(),
            cut..n,
            seq_len,
            &format!(
                "{} (validation part, last {validation_split} of the text)",
                self.name
            ),
        )?;
        Ok((train, val))
    }
}

fn utf8<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str> {
    if bytes.is_empty() {
        return Err(Error::format(name, "the text is empty"));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        Error::format(
            name,
            format!(
                "not UTF-8 text: invalid byte 0x{:02x} at byte offset {}",
                bytes[e.valid_up_to()],
                e.valid_up_to()
            ),
        )
    })
}

/// Next-character windows over (a part of) a text: sample `i` is `x = ids[s..s+T]`,
/// `y = ids[s+1..s+T+1]` with `s = start + i*stride` (by default stride `T`: non-overlapping
/// windows, `len() = (part_len - 1) / T`), both i64 `[T]`, so a batch is `[B, T]` inputs and
/// `[B, T]` targets for a cross-entropy over every position.
#[derive(Clone, Debug)]
pub struct CharWindows {
    ids: Arc<[i64]>,
    start: usize,
    /// Characters in the part.
    part: usize,
    count: usize,
    seq_len: usize,
    stride: usize,
}

impl CharWindows {
    fn new(
        ids: Arc<[i64]>,
        range: std::ops::Range<usize>,
        seq_len: usize,
        name: &str,
    ) -> Result<Self> {
        if seq_len == 0 {
            return Err(Error::invalid("CharWindows", "seq_len must be at least 1"));
        }
        let len = range.len();
        if len < seq_len + 1 {
            return Err(Error::format(
                name,
                format!(
                    "{len} characters are fewer than seq_len + 1 = {} (one window and its next character)",
                    seq_len + 1
                ),
            ));
        }
        Ok(CharWindows {
            ids,
            start: range.start,
            part: len,
            count: (len - 1) / seq_len,
            seq_len,
            stride: seq_len,
        })
    }

    /// The same part cut into windows starting every `stride` characters (1: a window at
    /// every character, as nanoGPT draws its random offsets from), the last ending with
    /// the part's last character: `len() = (part_len - 1 - T) / stride + 1`.
    ///
    /// Fails when `stride` is 0.
    pub fn with_stride(mut self, stride: usize) -> Result<Self> {
        if stride == 0 {
            return Err(Error::invalid("CharWindows", "stride must be at least 1"));
        }
        self.stride = stride;
        self.count = (self.part - 1 - self.seq_len) / stride + 1;
        Ok(self)
    }

    /// The window length `T`.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    fn window(&self, i: usize) -> (&[i64], &[i64]) {
        let s = self.start + i * self.stride;
        (
            &self.ids[s..s + self.seq_len],
            &self.ids[s + 1..s + self.seq_len + 1],
        )
    }
}

impl Dataset for CharWindows {
    fn len(&self) -> usize {
        self.count
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        check_index("CharWindows::get", index, self.count)?;
        let (x, y) = self.window(index);
        Ok((
            Tensor::from_slice(x, &[self.seq_len])?,
            Tensor::from_slice(y, &[self.seq_len])?,
        ))
    }

    /// Gathers the windows straight into `[B, T]` tensors.
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        if indices.is_empty() {
            return Err(Error::invalid(
                "CharWindows::get_batch",
                "empty list of indices",
            ));
        }
        let mut xs = Vec::with_capacity(indices.len() * self.seq_len);
        let mut ys = Vec::with_capacity(indices.len() * self.seq_len);
        for &i in indices {
            check_index("CharWindows::get_batch", i, self.count)?;
            let (x, y) = self.window(i);
            xs.extend_from_slice(x);
            ys.extend_from_slice(y);
        }
        let shape = [indices.len(), self.seq_len];
        Ok(Batch {
            x: Tensor::from_vec(xs, &shape)?,
            y: Tensor::from_vec(ys, &shape)?,
            indices: indices.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataLoader, LoaderConfig};

    fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("nabla-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn windows_are_contiguous_non_overlapping_next_character_pairs() {
        let text = "0123456789abcdef"; // 16 characters, ids 0..16 in order
        let c = TextCorpus::from_text(text, "t").unwrap();
        assert_eq!(c.ids(), (0..16).collect::<Vec<i64>>().as_slice());
        let w = c.windows(4).unwrap();
        assert_eq!(w.len(), 3); // (16 - 1) / 4
        for i in 0..3 {
            let (x, y) = w.get(i).unwrap();
            let s = 4 * i as i64;
            assert_eq!(x.to_vec::<i64>().unwrap(), (s..s + 4).collect::<Vec<_>>());
            assert_eq!(
                y.to_vec::<i64>().unwrap(),
                (s + 1..s + 5).collect::<Vec<_>>()
            );
        }
        assert!(w.get(3).is_err());
        // exactly seq_len + 1 characters: one window
        assert_eq!(c.windows(15).unwrap().len(), 1);
        let b = w.get_batch(&[2, 0]).unwrap();
        assert_eq!(b.x.shape(), &[2, 4]);
        assert_eq!(
            b.y.to_vec::<i64>().unwrap(),
            vec![9, 10, 11, 12, 1, 2, 3, 4]
        );
    }

    #[test]
    fn windows_at_every_character_reach_the_last_one() {
        let c = TextCorpus::from_text("0123456789abcdef", "t").unwrap();
        let w = c.windows(4).unwrap().with_stride(1).unwrap();
        assert_eq!(w.len(), 12); // starts 0..=11: the last window's target ends at 15
        let (x, y) = w.get(11).unwrap();
        assert_eq!(x.to_vec::<i64>().unwrap(), vec![11, 12, 13, 14]);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![12, 13, 14, 15]);
        assert!(w.get(12).is_err());
        assert_eq!(c.windows(4).unwrap().with_stride(3).unwrap().len(), 4);
        assert_eq!(c.windows(15).unwrap().with_stride(1).unwrap().len(), 1);
        assert!(c.windows(4).unwrap().with_stride(0).is_err());
        // a loader drawing 3 of the 12 each epoch: fresh distinct offsets every epoch
        let l = DataLoader::new(
            w,
            LoaderConfig::new(2)
                .with_shuffle(true)
                .with_seed(1)
                .with_num_samples(3),
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        let (o0, o1) = (l.epoch_order(0), l.epoch_order(1));
        assert_eq!((o0.len(), o1.len()), (3, 3));
        assert_ne!(o0, o1);
        assert!(o0.iter().all(|&i| i < 12));
    }

    #[test]
    fn split_by_position_and_loader() {
        let text: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let c = TextCorpus::from_text(&text, "abc").unwrap();
        let (train, val) = c.split(8, 0.1).unwrap();
        // the first 90 characters: (90 - 1) / 8 = 11 windows; the last 10: 1 window
        assert_eq!((train.len(), val.len()), (11, 1));
        let (vx, _) = val.get(0).unwrap();
        assert_eq!(vx.to_vec::<i64>().unwrap(), c.ids()[90..98].to_vec());
        let e = c.split(8, 0.05).unwrap_err().to_string();
        assert!(
            e.contains("validation part") && e.contains("5 characters"),
            "{e}"
        );
        assert!(c.split(8, 0.0).is_err() && c.split(8, 1.0).is_err());
        // seeded shuffling and a resumable cursor through the DataLoader
        let cfg = LoaderConfig::new(4)
            .with_shuffle(true)
            .with_seed(3)
            .with_prefetch(0);
        let mut l = DataLoader::new(train.clone(), cfg.clone()).unwrap();
        let all: Vec<Vec<usize>> = l.epoch_iter().map(|b| b.unwrap().indices).collect();
        let mut l2 = DataLoader::new(train, cfg).unwrap();
        let mut it = l2.epoch_iter();
        let first = it.next().unwrap().unwrap();
        assert_eq!(first.x.shape(), &[4, 8]);
        assert_eq!(first.indices, all[0]);
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let e = TextCorpus::read(tmp("empty.txt", b""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty.txt") && e.contains("empty"), "{e}");
        let e = TextCorpus::read(tmp("bad.txt", b"ab\xffc"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.txt") && e.contains("byte offset 2") && e.contains("0xff"),
            "{e}"
        );
        let missing = tmp("present.txt", b"x").with_file_name("really-missing.txt");
        let e = TextCorpus::read(missing).unwrap_err().to_string();
        assert!(e.contains("really-missing.txt"), "{e}");
        let c = TextCorpus::read(tmp("short.txt", "héllo".as_bytes())).unwrap();
        assert_eq!(c.len(), 5);
        let e = c.windows(5).unwrap_err().to_string();
        assert!(
            e.contains("short.txt") && e.contains("seq_len + 1 = 6"),
            "{e}"
        );
        let e = c.windows(0).unwrap_err().to_string();
        assert!(e.contains("seq_len must be at least 1"), "{e}");
        // a text with a character the given vocabulary lacks
        let v = Vocab::from_text("helo");
        let e = TextCorpus::read_with_vocab(tmp("v.txt", "hé".as_bytes()), v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("v.txt") && e.contains("'é'"), "{e}");
    }

    #[test]
    fn vocab_round_trips_through_json_files() {
        let v = Vocab::from_text("To be, or not to be:\n\"that\" is ü");
        let p = tmp("vocab.json", b"");
        v.save(&p).unwrap();
        assert_eq!(Vocab::load(&p).unwrap(), v);
        let ids = v.encode("be\n").unwrap();
        assert_eq!(v.decode(&ids).unwrap(), "be\n");
        assert!(v
            .decode(&[v.len() as i64])
            .unwrap_err()
            .to_string()
            .contains("outside"));
        assert!(v.decode(&[-1]).is_err());
        for bad in [
            "[1, 2]",
            "{\"kind\": \"word\", \"chars\": []}",
            "{\"kind\": \"char\", \"chars\": [\"ab\"]}",
            "{\"kind\": \"char\", \"chars\": [\"b\", \"a\"]}",
            "not json",
        ] {
            let e = Vocab::from_json(bad, "v.json").unwrap_err().to_string();
            assert!(e.starts_with("v.json: "), "{e}");
        }
    }
}
