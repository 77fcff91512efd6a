//! TwiML replies for messaging, built with twilio-async's TwiML types.
//!
//! Owns Twilio's body limit: a long reply is split into several `<Message>` elements.

use twilio_async::twiml::{Msg, Response, Twiml};

/// Twilio rejects longer message bodies, so longer replies are split.
pub use crate::domain::MAX_MESSAGE_CHARS as MAX_BODY_CHARS;

/// `<Response>` with one `<Message>` per part of `texts`, joined and split to fit the limit.
pub fn messaging_response(texts: &[String]) -> String {
    let parts = split_for_sms(&texts.join("\n\n"));
    let response = parts.iter().fold(Response::new(), |r, part| r.msg(Msg::new(part)));
    response.build().expect("TwiML of plain text always serializes")
}

/// An empty `<Response>`: acknowledge, say nothing.
pub fn empty_response() -> String {
    Response::new().build().expect("empty TwiML serializes")
}

/// Splits `text` into parts of at most [`MAX_BODY_CHARS`] characters, at whitespace where
/// possible. Empty text gives no parts.
pub fn split_for_sms(text: &str) -> Vec<String> {
    let text = text.trim();
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.chars().count() <= MAX_BODY_CHARS {
            parts.push(rest.to_owned());
            break;
        }
        let hard = rest.char_indices().nth(MAX_BODY_CHARS).map_or(rest.len(), |(i, _)| i);
        let cut = rest[..hard].rfind(char::is_whitespace).filter(|i| *i > 0).unwrap_or(hard);
        parts.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_escaped_xml_messages() {
        let xml = messaging_response(&["Fish & chips <3".to_owned()]);
        assert_eq!(xml, "<Response><Message><Body>Fish &amp; chips &lt;3</Body></Message></Response>");
    }

    #[test]
    fn an_empty_reply_is_an_empty_response() {
        assert!(matches!(empty_response().as_str(), "<Response/>" | "<Response></Response>" | "<Response />"));
        assert_eq!(messaging_response(&[]), empty_response());
    }

    #[test]
    fn long_replies_are_split_within_twilios_limit() {
        let long = "word ".repeat(1000);
        let parts = split_for_sms(&long);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_BODY_CHARS && !p.is_empty()));
        assert_eq!(parts.join(" ").split_whitespace().count(), 1000);
        let unbroken = "x".repeat(3300);
        assert_eq!(split_for_sms(&unbroken).iter().map(String::len).collect::<Vec<_>>(), vec![1600, 1600, 100]);
    }
}
