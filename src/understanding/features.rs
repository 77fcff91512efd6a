//! What the models see of a message: its words normalized (lower case, no accents, letters
//! stretched for emphasis cut to two), then word unigrams and bigrams and character 3- to
//! 5-grams of each word, hashed to 64-bit keys and mapped through a [`Vocabulary`] learned from
//! the examples to a sparse, L2-normalized vector.
//!
//! Owns the feature space. Character n-grams are what let "dec;ined", "declind" and "declined"
//! share most of their features, and "tarjeta"/"tarjetas" theirs; word bigrams keep "not
//! available" apart from "available".

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// A sparse feature vector: (index in the vocabulary, value), indices ascending.
pub type Sparse = Vec<(u32, f32)>;

/// The words of `text` as the models read them: lower case, accents and punctuation gone, each
/// emoji its own word, "sooooo" as "soo".
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut last, mut run) = ('\0', 0);
    for c in text.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c) && !is_silent(*c)) {
        let c = c.to_lowercase().next().unwrap_or(c);
        let mapped = if c.is_alphanumeric() {
            c
        } else if c.is_whitespace() || c.is_ascii() || c.general_category_group() == GeneralCategoryGroup::Punctuation {
            ' '
        } else {
            // An emoji or other symbol: a word of its own.
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            out.push(c);
            ' '
        };
        run = if mapped == last { run + 1 } else { 1 };
        last = mapped;
        if run <= 2 && !(mapped == ' ' && (out.is_empty() || out.ends_with(' '))) {
            out.push(mapped);
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// Apostrophes vanish ("won't" is "wont", as many type it); zero-width joiners and variation
/// selectors glue emoji and are not words.
fn is_silent(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{200d}' | '\u{fe0e}' | '\u{fe0f}')
}

/// 3 to 5: short enough to survive a typo, long enough to tell words apart.
const NGRAMS: std::ops::RangeInclusive<usize> = 3..=5;

/// Calls `f` with the hashed key of every feature of normalized words `norm`.
fn each_feature(norm: &str, mut f: impl FnMut(u64)) {
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    for (i, word) in words.iter().enumerate() {
        f(fnv(b'w', &[word]));
        if let Some(next) = words.get(i + 1) {
            f(fnv(b'b', &[word, next]));
        }
        let padded: Vec<char> = std::iter::once(' ').chain(word.chars()).chain(std::iter::once(' ')).collect();
        for n in NGRAMS {
            for gram in padded.windows(n) {
                f(fnv_chars(gram));
            }
        }
    }
}

/// How much of `phrase` is in `text`: the share of the phrase's features the text has too
/// (1.0: all of "pay in store" is in "can i just pay in store when i get there").
pub fn containment(text: &str, phrase: &str) -> f32 {
    let mut have = Vec::new();
    each_feature(&normalize(text), |k| have.push(k));
    have.sort_unstable();
    let mut want = Vec::new();
    each_feature(&normalize(phrase), |k| want.push(k));
    want.sort_unstable();
    want.dedup();
    if want.is_empty() {
        return 0.0;
    }
    let found = want.iter().filter(|k| have.binary_search(k).is_ok()).count();
    found as f32 / want.len() as f32
}

/// FNV-1a over a kind byte and the parts: stable across runs and machines, so a model trained
/// twice from the same examples is the same model.
fn fnv(kind: u8, parts: &[&str]) -> u64 {
    let bytes = parts.iter().enumerate().flat_map(|(i, part)| (i > 0).then_some(b' ').into_iter().chain(part.bytes()));
    fnv_bytes(kind, bytes)
}

/// FNV-1a of `kind`, then `bytes`.
fn fnv_bytes(kind: u8, bytes: impl IntoIterator<Item = u8>) -> u64 {
    std::iter::once(kind)
        .chain(bytes)
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// [`fnv`] of a character n-gram, from its characters (no string is built per n-gram: a
/// message has a few hundred of them).
fn fnv_chars(gram: &[char]) -> u64 {
    let utf8 = |c: &char| {
        let mut buf = [0u8; 4];
        let len = c.encode_utf8(&mut buf).len();
        buf.into_iter().take(len)
    };
    fnv_bytes(b'c', gram.iter().flat_map(utf8))
}

/// The keys are already hashes: use them as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The features seen in the training examples, each with its column.
#[derive(Debug, Default)]
pub struct Vocabulary {
    index: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
}

impl Vocabulary {
    /// Every feature of `texts`, numbered in order of first appearance (deterministic).
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut index = HashMap::default();
        for text in texts {
            each_feature(&normalize(text), |key| {
                let next = u32::try_from(index.len()).unwrap_or(u32::MAX);
                index.entry(key).or_insert(next);
            });
        }
        Self { index }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// `text` as a unit-length vector of the known features it has (each counted once).
    pub fn vectorize(&self, text: &str) -> Sparse {
        let mut columns = Vec::with_capacity(128);
        each_feature(&normalize(text), |key| {
            if let Some(&col) = self.index.get(&key) {
                columns.push(col);
            }
        });
        columns.sort_unstable();
        columns.dedup();
        let value = if columns.is_empty() { 0.0 } else { 1.0 / (columns.len() as f32).sqrt() };
        columns.into_iter().map(|c| (c, value)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_normalized_as_customers_vary_them() {
        let cases = [
            ("Mi TARJETA no funcionó!!", "mi tarjeta no funciono"),
            ("sooooo   late", "soo late"),
            ("won't go thru", "wont go thru"),
            ("ok thanks!!👍👍", "ok thanks 👍 👍"),
            ("  ¿Dónde está mi pedido?  ", "donde esta mi pedido"),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn a_choice_in_words_contains_the_phrase_it_resembles() {
        assert!(containment("can i just pay in store when i get there", "pay in store") > 0.99);
        assert!(containment("the bank one", "bank") > 0.99);
        assert!(containment("ok fine take one out", "take one out") > 0.99);
        assert!(containment("where is my order", "pay in store") < 0.3);
    }

    #[test]
    fn an_ngram_hashes_the_same_from_its_characters_as_from_its_text() {
        for gram in ["dec", " tarj", "ñan", "👍 "] {
            let chars: Vec<char> = gram.chars().collect();
            assert_eq!(fnv_chars(&chars), fnv(b'c', &[gram]), "{gram:?}");
        }
    }

    #[test]
    fn a_typo_keeps_most_of_a_words_features() {
        let vocab = Vocabulary::build(["my card was declined"]);
        let typo = vocab.vectorize("card declind");
        let unrelated = vocab.vectorize("where is the store");
        assert!(typo.len() > 8, "{typo:?}");
        assert!(unrelated.len() < typo.len() / 2, "{unrelated:?}");
        let norm: f32 = typo.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5, "unit length: {norm}");
    }
}
