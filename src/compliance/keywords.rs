//! Consent keywords: does a customer's message revoke consent, give it back, or ask for help?
//!
//! FCC 24-24 (47 CFR 64.1200(a)(10), in force 2025-04-11; see `../shared/cases/tcpa_rules.md`):
//! consent may be revoked "by any reasonable means"; the words stop, quit, end, revoke, opt out,
//! cancel and unsubscribe sent as a reply are a revocation per se. Twilio's default keyword
//! handling only matches a whole-message keyword (and adds STOPALL, STOP ALL, OPTOUT), so
//! revocation phrased in a sentence ("please stop texting me") reaches us and must be caught
//! here. Ordinary sentences that merely contain a word ("I'll stop by after work", "cancel my
//! order") are not revocations.
//!
//! Revocation in disguise counts too: before classifying, text is folded (NFKC, so full-width
//! `ＳＴＯＰ` and mathematical bold become plain letters; format characters such as zero-width
//! spaces dropped; diacritics dropped, so `QUİT` is `quit`; look-alike letters from other
//! scripts mapped to Latin by Unicode's confusables table, UTS #39; letters spelled out with
//! spaces or dots joined, `S.T.O.P`; long repeats shortened, `stoooop`), in every language, on
//! every channel.
//!
//! Owns the classification only; recording consent and replying belong to the pipeline.

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
    None,
}

impl Keyword {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptOut => "opt_out",
            Self::OptIn => "opt_in",
            Self::Help => "help",
            Self::None => "none",
        }
    }
}

/// The verdict and the rule that gave it (for `leafdesk consent classify --explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub keyword: Keyword,
    pub reason: String,
    /// An opt-in word that is also an everyday answer ("yes"): it re-subscribes a number that
    /// opted out, and is an ordinary answer otherwise.
    pub soft: bool,
}

/// Whole-message revocations: the FCC's per-se words, Twilio's defaults, and Spanish.
const OPT_OUT_WORDS: &[&str] = &[
    "stop",
    "quit",
    "end",
    "revoke",
    "opt out",
    "optout",
    "cancel",
    "unsubscribe",
    "stopall",
    "stop all",
    // Spanish: the words Spanish-speaking customers use to say stop / unsubscribe / cancel.
    "alto",
    "parar",
    "pare",
    "para",
    "baja",
    "darme de baja",
    "cancelar",
    "detener",
];
/// Twilio's default opt-in keywords, and JOIN (the word sign-up calls to action use: "Text JOIN to…").
const OPT_IN_WORDS: &[&str] = &["start", "unstop", "yes", "join"];
/// Twilio's default help keywords, and Spanish.
const HELP_WORDS: &[&str] = &["help", "info", "ayuda"];
/// Words that may surround a keyword without changing it ("STOP please", "ok stop now").
const FILLER: &[&str] = &["please", "pls", "now", "ok", "okay", "just", "por", "favor", "ya", "thanks", "thank", "you"];

/// Revocation phrases inside a longer message.
static OPT_OUT_PHRASES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"\b(stop|quit|cease)\s+(texting|messaging|sending|contacting|calling|spamming)\b", "asks us to stop messaging"),
        (r"\b(stop|no more|don'?t send( me)?)\s+(the\s+|your\s+|these\s+|all\s+)?(texts?|messages|sms|notifications|promos?|marketing)\b", "asks for no more messages"),
        (r"\bdo\s*n[o']?t\s+(text|message|contact|call)\s+me\b", "asks not to be contacted"),
        (r"\b(unsubscribe|opt)\s+me\b|\bopt\s+me\s+out\b|\bopt[- ]?out\b|\bunsubscribe\b", "asks to unsubscribe or opt out"),
        (r"\b(remove|take|delete)\s+(me|my\s+number)\s+(from|off)\b", "asks to be removed from the list"),
        (r"\brevoke\b", "revokes consent"),
        (r"\bleave\s+me\s+alone\b", "asks to be left alone"),
        (r"\bnot\s+(text|message|contact|call|sms)\s+me\b", "asks not to be texted"),
        (r"\bdo\s*n[o']?t\s+want\s+(any\s*more\s+|these\s+|your\s+|the\s+)?(texts?|messages|sms)\b", "does not want the texts"),
        (r"\btake\s+me\s+off\b", "asks to be taken off the list"),
        (r"\bwrong\s+(number|person)\b", "says it is the wrong number"),
        (r"\b(ya\s+)?no\s+quiero\s+(mas\s+|recibir\s+)?(mensajes|textos|sms)\b", "does not want messages (Spanish)"),
        (r"\bnumero\s+equivocado\b", "says it is the wrong number (Spanish)"),
        (r"\bno\s+(me\s+)?(escriban|manden|env[ií]en|contacten)\b", "asks not to be messaged (Spanish)"),
        (r"\bdej(en|e|a)\s+de\s+(escribir|mandar|enviar|contactar)", "asks to stop messaging (Spanish)"),
        (r"\b(darme|dar)\s+de\s+baja\b|\bquiero\s+(la\s+)?baja\b", "asks to unsubscribe (Spanish)"),
    ]
    .into_iter()
    .map(|(p, why)| (Regex::new(&format!("(?i){p}")).expect("opt-out phrase compiles"), why))
    .collect()
});

/// Classifies one customer message. `opt_out` wins over everything: when in doubt between a
/// revocation and something else, the law sides with the revocation.
pub fn classify(text: &str) -> Classification {
    let words = normalize(text);
    let core: Vec<&str> = words.iter().map(String::as_str).filter(|w| !FILLER.contains(w)).collect();
    let whole = core.join(" ");
    let verdict = |keyword, reason: String| Classification { keyword, reason, soft: whole == "yes" };
    if OPT_OUT_WORDS.contains(&whole.as_str()) {
        return verdict(Keyword::OptOut, format!("the whole message is the opt-out keyword {whole:?}"));
    }
    let plain = words.join(" ");
    if let Some((_, why)) = OPT_OUT_PHRASES.iter().find(|(re, _)| re.is_match(&plain)) {
        return verdict(Keyword::OptOut, format!("the message {why}"));
    }
    if OPT_IN_WORDS.contains(&whole.as_str()) {
        return verdict(Keyword::OptIn, format!("the whole message is the opt-in keyword {whole:?}"));
    }
    if HELP_WORDS.contains(&whole.as_str()) {
        return verdict(Keyword::Help, format!("the whole message is the help keyword {whole:?}"));
    }
    verdict(Keyword::None, "no consent keyword or revocation phrase".into())
}

/// Lower-cased plain words of `text` as a person reads it (see the module doc): no disguise,
/// no punctuation, no diacritics; apostrophes kept.
fn normalize(text: &str) -> Vec<String> {
    let folded = fold(text).to_lowercase();
    let plain: String = folded
        .chars()
        .map(|c| match c {
            '’' | '\'' => '\'',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    let words: Vec<String> = plain.split_whitespace().map(shorten_repeats).collect();
    join_spelled_out(words)
}

/// NFKC, then each character without its diacritics and format characters, and a look-alike
/// from another script as the Latin letter it imitates.
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkc() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        if c.general_category() == GeneralCategory::Format || ('\u{fe00}'..='\u{fe0f}').contains(&c) {
            continue; // zero-width and bidi characters, soft hyphens, variation selectors
        }
        for base in std::iter::once(c).nfd().filter(|d| !is_combining_mark(*d)) {
            if base.is_ascii() {
                out.push(base); // a Latin letter that had a diacritic
                continue;
            }
            let skeleton: String = unicode_security::confusable_detection::skeleton(&base.to_string()).collect();
            // Only a look-alike that becomes plain Latin is replaced: "С" (Cyrillic) is "C".
            if !skeleton.is_empty() && skeleton.chars().all(|s| s.is_ascii_alphanumeric()) {
                out.push_str(&skeleton);
            } else {
                out.push(base);
            }
        }
    }
    out
}

/// `stooooop` is `stop`: three or more of a letter in a row count as one.
fn shorten_repeats(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| **c == chars[i]).count();
        let keep = if run >= 3 { 1 } else { run };
        out.extend(std::iter::repeat_n(chars[i], keep));
        i += run;
    }
    out
}

/// Three or more single letters in a row are one spelled-out word: `s t o p`, `S.T.O.P`.
fn join_spelled_out(words: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut letters = String::new();
    let flush = |letters: &mut String, out: &mut Vec<String>| {
        if letters.chars().count() >= 3 {
            out.push(std::mem::take(letters));
        } else {
            out.extend(letters.chars().map(String::from));
            letters.clear();
        }
    };
    for word in words {
        if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
            letters.push_str(&word);
        } else {
            flush(&mut letters, &mut out);
            out.push(word);
        }
    }
    flush(&mut letters, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[&str], want: Keyword) {
        for text in cases {
            let got = classify(text);
            assert_eq!(got.keyword, want, "{text:?} should be {}, got {got:?}", want.as_str());
        }
    }

    #[test]
    fn the_fcc_per_se_words_and_twilio_defaults_opt_out_in_any_case_or_punctuation() {
        check(
            &[
                "STOP",
                "stop",
                "Stop.",
                "STOP!!",
                " quit ",
                "END",
                "revoke",
                "opt out",
                "OPTOUT",
                "cancel",
                "Unsubscribe",
                "STOPALL",
                "stop all",
                "stop please",
                "please STOP",
                "STOP NOW",
                "ok stop",
            ],
            Keyword::OptOut,
        );
    }

    #[test]
    fn revocation_in_a_sentence_is_caught() {
        check(
            &[
                "please stop texting me",
                "Stop sending me messages",
                "unsubscribe me",
                "opt me out please",
                "Remove me from your list",
                "take my number off",
                "don't text me anymore",
                "dont contact me",
                "no more texts",
                "I want to opt-out",
                "leave me alone",
                "I revoke my consent",
            ],
            Keyword::OptOut,
        );
    }

    #[test]
    fn spanish_revocations_are_caught() {
        check(
            &[
                "ALTO",
                "Parar",
                "baja",
                "CANCELAR",
                "no me escriban más",
                "dejen de enviar mensajes",
                "quiero darme de baja",
            ],
            Keyword::OptOut,
        );
    }

    #[test]
    fn stop_in_disguise_is_still_stop() {
        check(
            &[
                "S\u{200B}TOP",                 // zero-width space inside the word
                "st\u{00AD}op",                 // soft hyphen
                "\u{FEFF}STOP\u{200D}",         // byte-order mark and zero-width joiner
                "ＳＴＯＰ",                     // full-width
                "𝐒𝐓𝐎𝐏",                         // mathematical bold
                "𝓈𝓉ℴ𝓅",                         // mathematical script
                "\u{405}\u{422}\u{41E}\u{420}", // Cyrillic ЅТОР, every letter a look-alike
                "\u{405}TO\u{420}",             // Cyrillic and Latin mixed
                "S T O P",
                "S.T.O.P",
                "s-t-o-p please",
                "QUİT", // Turkish dotted capital I
                "stoooop",
                "STOPPPP",
                "Ｕｎｓｕｂｓｃｒｉｂｅ",
            ],
            Keyword::OptOut,
        );
    }

    #[test]
    fn revocation_in_other_words_is_caught() {
        check(
            &[
                "can you guys not text me anymore",
                "I don't want these texts",
                "wrong number",
                "Wrong number, who is this?",
                "take me off",
                "ya no quiero mensajes",
                "No quiero más mensajes",
                "número equivocado",
            ],
            Keyword::OptOut,
        );
    }

    #[test]
    fn ordinary_sentences_are_not_revocations() {
        check(
            &[
                "I'll stop by after work",
                "cancel my order",
                "Can I cancel my order?",
                "what time do you stop serving",
                "the end of the week works",
                "where is my order",
                "stopped by yesterday",
                "hi",
                "",
                "I want a refund",
                "is the store open at 5 p.m.",
                "¿Dónde está mi pedido?",
                "a b",
            ],
            Keyword::None,
        );
    }

    #[test]
    fn start_unstop_yes_opt_in_and_help_info_ask_for_help() {
        check(&["START", "unstop", "Yes", "yes!", "JOIN", "join please"], Keyword::OptIn);
        check(&["HELP", "info", "Help?", "ayuda"], Keyword::Help);
    }

    #[test]
    fn the_explanation_names_the_rule() {
        assert!(classify("please stop texting me").reason.contains("stop messaging"));
        assert!(classify("STOP").reason.contains("\"stop\""));
    }
}
