//! TwiML for voice calls: a small writer of our own. twilio-async's voice builders cannot say
//! what a speech bot needs (its `<Gather>` has no `action`, no `input="speech"`, no `hints`), so
//! the verbs a call uses are here, each with only the attributes leafdesk sets.
//!
//! Owns the voice document's shape and escaping. Attributes are written in alphabetical order
//! and empty verbs as `<Hangup/>`, which is what Twilio's Python library emits (Twilio accepts
//! any order); tests compare parsed XML against Twilio's own examples.

use std::fmt::Write as _;

/// One verb of a voice response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Speak `text`; `language` as Twilio names it (`en-US`, `es-MX`).
    Say {
        text: String,
        language: Option<String>,
    },
    /// Listen for speech, then POST it to `action`; says `prompt` while listening.
    Gather(Gather),
    /// Put the caller in queue `name` (≤ 64 characters) until a person takes the call.
    Enqueue {
        name: String,
        action: Option<String>,
        wait_url: Option<String>,
    },
    /// `<Start><Transcription>`: transcribe the rest of the call in real time (both sides),
    /// posting final segments to `callback` (Twilio's Real-Time Transcription).
    StartTranscription {
        callback: String,
        language: Option<String>,
    },
    /// Ask for the next document at `url` (POST).
    Redirect {
        url: String,
    },
    Hangup,
}

/// `<Gather input="speech" …>` as a bot turn uses it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gather {
    /// Where the caller's words go (absolute, so it works from any document).
    pub action: String,
    pub language: Option<String>,
    /// Words to listen for: product names, the intents' key words.
    pub hints: Vec<String>,
    /// Seconds of silence before giving up (Twilio's default: 5).
    pub timeout: Option<u32>,
    /// Also POST to `action` when nothing was said, so silence is the bot's to handle.
    pub action_on_empty_result: bool,
    /// What is said while listening.
    pub prompt: Vec<Verb>,
}

/// A whole voice response, verbs in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VoiceResponse {
    verbs: Vec<Verb>,
}

impl VoiceResponse {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verbs.push(verb);
        self
    }

    #[must_use]
    pub fn say(self, text: &str, language: Option<&str>) -> Self {
        self.verb(Verb::Say { text: text.to_owned(), language: language.map(str::to_owned) })
    }

    /// The document: an XML declaration, then `<Response>`.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
        for verb in &self.verbs {
            write_verb(&mut out, verb);
        }
        out.push_str("</Response>");
        out
    }
}

fn write_verb(out: &mut String, verb: &Verb) {
    match verb {
        Verb::Say { text, language } => element(out, "Say", &[("language", language.as_deref())], Some(text)),
        Verb::Gather(g) => {
            let hints = (!g.hints.is_empty()).then(|| g.hints.join(", "));
            let timeout = g.timeout.map(|t| t.to_string());
            let attrs = [
                ("action", Some(g.action.as_str())),
                ("actionOnEmptyResult", g.action_on_empty_result.then_some("true")),
                ("hints", hints.as_deref()),
                ("input", Some("speech")),
                ("language", g.language.as_deref()),
                ("method", Some("POST")),
                ("speechTimeout", Some("auto")),
                ("timeout", timeout.as_deref()),
            ];
            open(out, "Gather", &attrs);
            for v in &g.prompt {
                write_verb(out, v);
            }
            out.push_str("</Gather>");
        }
        Verb::Enqueue { name, action, wait_url } => {
            let method = action.as_ref().map(|_| "POST");
            let wait_method = wait_url.as_ref().map(|_| "POST");
            let attrs = [
                ("action", action.as_deref()),
                ("method", method),
                ("waitUrl", wait_url.as_deref()),
                ("waitUrlMethod", wait_method),
            ];
            element(out, "Enqueue", &attrs, Some(name));
        }
        Verb::StartTranscription { callback, language } => {
            out.push_str("<Start>");
            let attrs = [
                ("languageCode", language.as_deref()),
                ("statusCallbackMethod", Some("POST")),
                ("statusCallbackUrl", Some(callback.as_str())),
                ("track", Some("both_tracks")),
            ];
            element(out, "Transcription", &attrs, None);
            out.push_str("</Start>");
        }
        Verb::Redirect { url } => element(out, "Redirect", &[("method", Some("POST"))], Some(url)),
        Verb::Hangup => element(out, "Hangup", &[], None),
    }
}

/// `<name attrs>text</name>`, or `<name attrs/>` without text.
fn element(out: &mut String, name: &str, attrs: &[(&str, Option<&str>)], text: Option<&str>) {
    match text {
        Some(text) => {
            open(out, name, attrs);
            out.push_str(&escape(text, false));
            let _ = write!(out, "</{name}>");
        }
        None => {
            open(out, name, attrs);
            out.pop();
            out.push_str("/>");
        }
    }
}

fn open(out: &mut String, name: &str, attrs: &[(&str, Option<&str>)]) {
    let _ = write!(out, "<{name}");
    for (key, value) in attrs {
        if let Some(value) = value {
            let _ = write!(out, r#" {key}="{}""#, escape(value, true));
        }
    }
    out.push('>');
}

/// `&`, `<` and `>` always; `"` too inside an attribute. Other characters (ñ, é) as they are:
/// the document is UTF-8.
fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed element: name, attributes sorted, text, children. Enough XML for TwiML.
    #[derive(Debug, PartialEq)]
    struct Node {
        name: String,
        attrs: Vec<(String, String)>,
        text: String,
        children: Vec<Node>,
    }

    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
    }

    /// Parses the document's root element (after an optional XML declaration), ignoring
    /// whitespace between elements.
    fn parse(xml: &str) -> Node {
        let xml = xml.trim();
        let xml = match xml.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").expect("a closed declaration").1,
            None => xml,
        };
        let (node, rest) = element(xml.trim_start());
        assert!(rest.trim().is_empty(), "trailing content: {rest:?}");
        node
    }

    fn element(s: &str) -> (Node, &str) {
        let s = s.strip_prefix('<').expect("an element");
        let end = s.find('>').expect("a closed tag");
        let (tag, rest) = (&s[..end], &s[end + 1..]);
        let empty = tag.ends_with('/');
        let tag = tag.trim_end_matches('/').trim();
        let (name, mut attr_text) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let mut attrs = Vec::new();
        while let Some((key, after)) = attr_text.split_once("=\"") {
            let (value, after) = after.split_once('"').expect("a closed attribute");
            attrs.push((key.trim().to_owned(), unescape(value)));
            attr_text = after;
        }
        attrs.sort();
        let mut node = Node { name: name.to_owned(), attrs, text: String::new(), children: Vec::new() };
        if empty {
            return (node, rest);
        }
        let mut rest = rest;
        loop {
            let close = format!("</{name}>");
            let next = rest.find('<').expect("the element closes");
            let text = &rest[..next];
            if !text.trim().is_empty() {
                node.text.push_str(&unescape(text));
            }
            rest = &rest[next..];
            if let Some(after) = rest.strip_prefix(&close) {
                return (node, after);
            }
            let (child, after) = element(rest);
            node.children.push(child);
            rest = after;
        }
    }

    fn gather(action: &str) -> Gather {
        Gather { action: action.into(), ..Gather::default() }
    }

    #[test]
    fn documents_match_twilios_own_examples_as_parsed_xml() {
        // Golden documents from ../shared/cases/twiml_examples.md (sources there: twilio-python
        // unit tests and the output of PyPI twilio 9.13.0), compared element by element.
        let bot_menu = Gather {
            action: "https://bot.example.com/twilio/voice/gather?step=menu".into(),
            language: Some("en-US".into()),
            hints: vec!["order status".into(), "store hours".into(), "talk to a person".into()],
            action_on_empty_result: true,
            prompt: vec![Verb::Say {
                text: "Welcome. How can I help you today?".into(),
                language: Some("en-US".into()),
            }],
            ..Gather::default()
        };
        let cases = [
            (
                VoiceResponse::new().verb(Verb::Hangup),
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>"#,
            ),
            (
                VoiceResponse::new().say("Goodbye.", None).verb(Verb::Hangup),
                r#"<Response><Say>Goodbye.</Say><Hangup /></Response>"#,
            ),
            (VoiceResponse::new().say("Hello, world!", None), r#"<Response><Say>Hello, world!</Say></Response>"#),
            (
                VoiceResponse::new()
                    .say("Please hold while we connect you to the next available specialist.", None)
                    .verb(Verb::Enqueue {
                        name: "csr-queue".into(),
                        action: Some("https://bot.example.com/twilio/voice/dequeued".into()),
                        wait_url: Some("https://bot.example.com/twilio/voice/hold".into()),
                    }),
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Please hold while we connect you to the next available specialist.</Say><Enqueue action="https://bot.example.com/twilio/voice/dequeued" method="POST" waitUrl="https://bot.example.com/twilio/voice/hold" waitUrlMethod="POST">csr-queue</Enqueue></Response>"#,
            ),
        ];
        for (response, golden) in cases {
            assert_eq!(parse(&response.to_xml()), parse(golden), "{golden}");
        }
        // The bot-shaped speech menu, without `method` (our default written out) and with the
        // fallback verbs after the gather.
        let ours = VoiceResponse::new()
            .verb(Verb::Gather(bot_menu))
            .say("Sorry, I didn't catch that.", None)
            .verb(Verb::Redirect { url: "https://bot.example.com/twilio/voice".into() })
            .to_xml();
        let golden = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://bot.example.com/twilio/voice/gather?step=menu" actionOnEmptyResult="true" hints="order status, store hours, talk to a person" input="speech" language="en-US" method="POST" speechTimeout="auto"><Say language="en-US" voice="Polly.Joanna">Welcome. How can I help you today?</Say></Gather><Say>Sorry, I didn't catch that.</Say><Redirect method="POST">https://bot.example.com/twilio/voice</Redirect></Response>"#;
        let (mut ours, golden) = (parse(&ours), parse(golden));
        // The golden prompt names a Polly voice; leafdesk leaves the voice to the account.
        ours.children[0].children[0].attrs.push(("voice".into(), "Polly.Joanna".into()));
        ours.children[0].children[0].attrs.sort();
        assert_eq!(ours, golden);
    }

    #[test]
    fn text_and_urls_are_escaped_and_non_ascii_is_kept() {
        let xml = VoiceResponse::new()
            .say(r#"Edibles & concentrates < 10mg "THC" 'ok', señor"#, Some("es-MX"))
            .verb(Verb::Gather(gather("https://x.test/voice/gather?call=CA1&turn=2")))
            .to_xml();
        assert!(
            xml.contains(r#"<Say language="es-MX">Edibles &amp; concentrates &lt; 10mg "THC" 'ok', señor</Say>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"action="https://x.test/voice/gather?call=CA1&amp;turn=2""#), "{xml}");
        let parsed = parse(&xml);
        assert_eq!(parsed.children[0].text, r#"Edibles & concentrates < 10mg "THC" 'ok', señor"#);
        assert_eq!(
            parsed.children[1].attrs[0],
            ("action".into(), "https://x.test/voice/gather?call=CA1&turn=2".into())
        );
    }

    #[test]
    fn a_gather_listens_for_speech_and_posts_silence_too_when_asked() {
        let g =
            Gather { timeout: Some(4), hints: vec!["blue dream".into()], action_on_empty_result: true, ..gather("/g") };
        let node = parse(&VoiceResponse::new().verb(Verb::Gather(g)).to_xml());
        let attrs: Vec<(&str, &str)> = node.children[0].attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            attrs,
            [
                ("action", "/g"),
                ("actionOnEmptyResult", "true"),
                ("hints", "blue dream"),
                ("input", "speech"),
                ("method", "POST"),
                ("speechTimeout", "auto"),
                ("timeout", "4"),
            ]
        );
    }

    #[test]
    fn a_transcription_starts_on_both_tracks_posting_to_its_callback() {
        // Twilio's example: <Start><Transcription statusCallbackUrl="https://example.com/your-callback-url"/></Start>
        let start =
            Verb::StartTranscription { callback: "https://example.com/your-callback-url".into(), language: None };
        let xml = VoiceResponse::new()
            .verb(start)
            .verb(Verb::Enqueue { name: "leafdesk-general".into(), action: None, wait_url: None })
            .to_xml();
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Start><Transcription statusCallbackMethod="POST" statusCallbackUrl="https://example.com/your-callback-url" track="both_tracks"/></Start><Enqueue>leafdesk-general</Enqueue></Response>"#
        );
    }
}
