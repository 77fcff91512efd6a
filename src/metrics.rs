//! Prometheus metrics in text exposition format, without a metrics framework.
//!
//! Owns the counters (messages by channel and direction, webhook rejections by reason, flow
//! outcomes) and the request latency histogram per route.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds in seconds: fine below 25 ms, where the latency target is.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    // std Mutex, not tokio's: held for a map update, never across .await.
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

/// Names and help texts of the counters.
const HELP: &[(&str, &str)] = &[
    ("leafdesk_messages_total", "Messages handled, by channel and direction."),
    ("leafdesk_webhook_rejections_total", "Webhooks rejected, by reason."),
    ("leafdesk_flow_outcomes_total", "Flow runs ended, by flow and outcome."),
    ("leafdesk_handoffs_total", "Conversations handed to a human, by queue."),
    ("leafdesk_consent_changes_total", "Consent ledger entries from messages, by action and source."),
    ("leafdesk_outbox_total", "Outbox deliveries, by result (sent, retry, held, blocked, failed)."),
    ("leafdesk_commits_total", "Pipeline transactions committed (each holds a batch of turns)."),
    ("leafdesk_committed_turns_total", "Turns committed; divided by commits, the mean batch size."),
];

impl Metrics {
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1);
    }

    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        *self.counters.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += n;
    }

    pub fn observe_latency(&self, route: &str, seconds: f64) {
        let mut map = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = match map.get_mut(route) {
            Some(h) => h,
            None => map.entry(route.to_owned()).or_default(),
        };
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The current value of a counter (tests and the CLI).
    pub fn get(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect::<Labels>());
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied().unwrap_or(0)
    }

    /// The sum of a counter over every label set that has `label = value`.
    pub fn sum(&self, name: &'static str, label: &str, value: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters
            .iter()
            .filter(|((n, labels), _)| *n == name && labels.iter().any(|(k, v)| *k == label && v == value))
            .map(|(_, v)| *v)
            .sum()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((n, labels), value) in counters.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{n}{} {value}", format_labels(labels, None));
            }
        }
        drop(counters);
        let name = "leafdesk_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} HTTP request latency by route.\n# TYPE {name} histogram");
        for (route, h) in self.latency.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let labels = vec![("route", route.clone())];
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ =
                    writeln!(out, "{name}_bucket{} {}", format_labels(&labels, Some(&bound.to_string())), h.counts[i]);
            }
            let _ = writeln!(out, "{name}_bucket{} {}", format_labels(&labels, Some("+Inf")), h.count);
            let _ = writeln!(out, "{name}_sum{} {}", format_labels(&labels, None), h.sum);
            let _ = writeln!(out, "{name}_count{} {}", format_labels(&labels, None), h.count);
        }
        out
    }
}

fn format_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_prometheus_text_format() {
        let m = Metrics::default();
        m.inc("leafdesk_messages_total", &[("channel", "sms"), ("direction", "inbound")]);
        m.inc("leafdesk_messages_total", &[("channel", "sms"), ("direction", "inbound")]);
        m.observe_latency("/webhooks/twilio/sms", 0.003);
        let text = m.render();
        assert!(text.contains("leafdesk_messages_total{channel=\"sms\",direction=\"inbound\"} 2"), "{text}");
        assert!(text
            .contains("leafdesk_http_request_duration_seconds_bucket{route=\"/webhooks/twilio/sms\",le=\"0.005\"} 1"));
        assert!(text
            .contains("leafdesk_http_request_duration_seconds_bucket{route=\"/webhooks/twilio/sms\",le=\"0.001\"} 0"));
        assert!(text.contains("leafdesk_http_request_duration_seconds_count{route=\"/webhooks/twilio/sms\"} 1"));
    }
}
