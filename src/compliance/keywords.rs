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
//! Owns the classification only; recording consent and replying belong to the pipeline.

use std::sync::LazyLock;

use regex::Regex;

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
/// Twilio's default opt-in keywords.
const OPT_IN_WORDS: &[&str] = &["start", "unstop", "yes"];
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

/// Lower-cased words without punctuation (apostrophes kept, accents kept).
fn normalize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == '’' {
                if c == '’' {
                    '\''
                } else {
                    c
                }
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
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
            ],
            Keyword::None,
        );
    }

    #[test]
    fn start_unstop_yes_opt_in_and_help_info_ask_for_help() {
        check(&["START", "unstop", "Yes", "yes!"], Keyword::OptIn);
        check(&["HELP", "info", "Help?", "ayuda"], Keyword::Help);
    }

    #[test]
    fn the_explanation_names_the_rule() {
        assert!(classify("please stop texting me").reason.contains("stop messaging"));
        assert!(classify("STOP").reason.contains("\"stop\""));
    }
}
