//! SMS content check: template text that US carriers filter (explicit cannabis terms, public
//! URL shorteners, long ALL-CAPS runs), from `rules/sms_content.json`. Reported as warnings by
//! `leafdesk flows check`; a template can carry a reviewed exception in a handlebars comment:
//! `{{!-- sms-reviewed: word, word — reason --}}`.
//!
//! Only templates that can be sent by SMS are checked: base templates and `.sms` variants.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::flows::load::Diagnostic;

#[derive(serde::Deserialize)]
struct Rules {
    words: Vec<String>,
    shorteners: Vec<String>,
    max_caps_words: usize,
}

static RULES: LazyLock<(Rules, Regex)> = LazyLock::new(|| {
    let rules: Rules =
        serde_json::from_str(include_str!("../../rules/sms_content.json")).expect("rules/sms_content.json is valid");
    let alternatives: Vec<String> = rules.words.iter().map(|w| regex::escape(w)).collect();
    let words = Regex::new(&format!(r"(?i)\b({})\b", alternatives.join("|"))).expect("word list compiles");
    (rules, words)
});

static REVIEWED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{!--\s*sms-reviewed:\s*([^—\-]*)").expect("pattern compiles"));
static CAPS_WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z][A-Z'!?.,]*$").expect("pattern compiles"));
static HANDLEBARS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{\{[^}]*\}\}").expect("pattern compiles"));

/// Warnings for every SMS-capable template under `messages_dir`.
pub fn check_dir(messages_dir: &Path) -> Vec<Diagnostic> {
    let mut files = Vec::new();
    collect(messages_dir, &mut files);
    files.sort();
    files
        .iter()
        .flat_map(|path| std::fs::read_to_string(path).map(|text| check_text(path, &text)).unwrap_or_default())
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for path in entries.flatten().map(|e| e.path()) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            collect(&path, out);
        } else if name.ends_with(".hbs") && !name.ends_with(".voice.hbs") && !name.ends_with(".web.hbs") {
            // A template with its own SMS variant is not sent by SMS itself.
            let sms_variant = path.with_file_name(name.replace(".hbs", ".sms.hbs"));
            if name.ends_with(".sms.hbs") || !sms_variant.exists() {
                out.push(path);
            }
        }
    }
}

/// Warnings for one template's text.
pub fn check_text(path: &Path, text: &str) -> Vec<Diagnostic> {
    let (rules, words) = &*RULES;
    let reviewed: Vec<String> = REVIEWED
        .captures_iter(text)
        .flat_map(|c| c[1].split(',').map(|w| w.trim().to_lowercase()).collect::<Vec<_>>())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    let warn = |line: usize, column: usize, message: String| Diagnostic {
        file: path.to_owned(),
        line: line as u64,
        column: column as u64,
        message: format!("warning: {message}"),
    };
    for (i, raw) in text.lines().enumerate() {
        if raw.trim_start().starts_with("{{!--") {
            continue;
        }
        let line = HANDLEBARS.replace_all(raw, |m: &regex::Captures| " ".repeat(m[0].len())).into_owned();
        for m in words.find_iter(&line) {
            if !reviewed.contains(&m.as_str().to_lowercase()) {
                out.push(warn(
                    i + 1,
                    m.start() + 1,
                    format!("{:?} is filtered by US carriers in SMS; reword it, or mark it reviewed", m.as_str()),
                ));
            }
        }
        for shortener in &rules.shorteners {
            if let Some(col) = line.to_lowercase().find(&format!("{shortener}/")) {
                out.push(warn(
                    i + 1,
                    col + 1,
                    format!("public URL shortener {shortener} is filtered by carriers; use your own domain"),
                ));
            }
        }
        let mut run = 0;
        for word in line.split_whitespace() {
            let col = word.as_ptr() as usize - line.as_ptr() as usize;
            let letters = word.chars().filter(|c| c.is_alphabetic()).count();
            run = if letters >= 2 && CAPS_WORD.is_match(word) { run + 1 } else { 0 };
            if run == rules.max_caps_words + 1 {
                out.push(warn(
                    i + 1,
                    col + 1,
                    format!("more than {} ALL-CAPS words in a row look like spam to carriers", rules.max_caps_words),
                ));
            }
        }
    }
    out
}

/// The GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1): a message of only these characters
/// is sent 7-bit.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: each of these takes two characters (an escape, then the character).
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How many SMS segments a text takes and in which encoding: 7-bit GSM, 160 characters alone
/// or 153 per part (extension characters count twice); otherwise UCS-2, 70 UTF-16 units alone or
/// 67 per part (3GPP TS 23.038; Twilio, "What the Heck is a Segment?").
pub fn sms_segments(text: &str) -> (usize, &'static str) {
    let gsm: Option<usize> = text.chars().try_fold(0, |n, c| {
        if GSM_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM_EXTENDED.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    });
    let (units, single, part, encoding) = match gsm {
        Some(n) => (n, 160, 153, "GSM-7"),
        None => (text.encode_utf16().count(), 70, 67, "UCS-2"),
    };
    let segments = if units <= single { 1 } else { units.div_ceil(part) };
    (segments, encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_the_encoding() {
        assert_eq!(sms_segments(&"a".repeat(160)), (1, "GSM-7"));
        assert_eq!(sms_segments(&"a".repeat(161)), (2, "GSM-7"));
        assert_eq!(sms_segments(&"a".repeat(306)), (2, "GSM-7"));
        assert_eq!(sms_segments(&"a".repeat(307)), (3, "GSM-7"));
        assert_eq!(sms_segments(&"€".repeat(80)), (1, "GSM-7"), "extension characters count twice");
        assert_eq!(sms_segments(&"€".repeat(81)), (2, "GSM-7"));
        assert_eq!(sms_segments("Hola, ¿qué tal?"), (1, "GSM-7"), "é and ¿ are in the GSM alphabet");
        assert_eq!(sms_segments("¿Cómo está?"), (1, "UCS-2"), "ó and á are not");
        assert_eq!(sms_segments(&"🌿".repeat(35)), (1, "UCS-2"), "an emoji is two UTF-16 units");
        assert_eq!(sms_segments(&"🌿".repeat(36)), (2, "UCS-2"));
    }

    fn warnings(text: &str) -> Vec<String> {
        check_text(Path::new("t.hbs"), text)
            .into_iter()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
            .collect()
    }

    #[test]
    fn filtered_terms_shorteners_and_shouting_are_flagged_with_their_place() {
        let w =
            warnings("Hi {{contact.first_name}}!\nNew edibles at the Dispensary: bit.ly/x\nBIG SALE TODAY ONLY NOW");
        assert!(w.iter().any(|m| m.starts_with("2:5 ") && m.contains("\"edibles\"")), "{w:?}");
        assert!(w.iter().any(|m| m.contains("\"Dispensary\"")), "{w:?}");
        assert!(w.iter().any(|m| m.starts_with("2:32 ") && m.contains("bit.ly")), "{w:?}");
        assert!(w.iter().any(|m| m.starts_with("3:") && m.contains("ALL-CAPS")), "{w:?}");
    }

    #[test]
    fn plain_templates_and_handlebars_names_pass() {
        assert!(warnings("Your order {{slots.order_number}} is ready. Reply STOP to unsubscribe, HELP for help.")
            .is_empty());
        assert!(warnings("Order {{slots.strain_name}} is ready.").is_empty(), "names inside handlebars are not text");
    }

    #[test]
    fn a_reviewed_exception_silences_only_its_words() {
        let text = "{{!-- sms-reviewed: flower — it is the product category name in the order --}}\nYour flower order is ready. Bring your weed card.";
        let w = warnings(text);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("\"weed\""));
    }
}
