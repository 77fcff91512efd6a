//! Charts drawn on the server as SVG: grouped bars or lines over labelled points, with a value
//! axis and a legend. No script, no build step; the page embeds the SVG as it is.

use std::fmt::Write as _;

/// One named series of values, one per label.
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bars,
    Lines,
}

/// How values read on the axis.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Count,
    Percent,
    Minutes,
}

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 48.0;
const TOP: f64 = 28.0;
const COLORS: &[&str] = &["#2f6f4e", "#c77d1a", "#3b5ba5", "#a33b5b", "#6b6b6b"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn format(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => format!("{value:.0}"),
        Unit::Percent => format!("{value:.0}%"),
        Unit::Minutes if value >= 120.0 => format!("{:.1} h", value / 60.0),
        Unit::Minutes => format!("{value:.0} min"),
    }
}

/// A "nice" top for the axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|t| *t >= max).unwrap_or(10.0 * power)
}

/// The chart as an SVG element, titled for screen readers.
pub fn render(title: &str, kind: Kind, labels: &[String], series: &[Series], unit: Unit) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = escape(title)
    );
    // NaN marks a point without data: no bar, a gap in the line.
    let max = series.iter().flat_map(|s| s.values.iter().copied()).filter(|v| !v.is_nan()).fold(0.0, f64::max);
    let top = match unit {
        Unit::Percent => 100.0,
        _ => nice_top(max),
    };
    let plot_w = W - LEFT - 12.0;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - (v / top * plot_h).clamp(0.0, plot_h);
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y0:.1}" y2="{y0:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#444">{label}</text>"##,
            x2 = W - 12.0,
            y0 = y(v),
            tx = LEFT - 6.0,
            ty = y(v) + 4.0,
            label = format(v, unit)
        );
    }
    if labels.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{y:.1}" font-size="14" text-anchor="middle" fill="#666">No data in this range.</text></svg>"##,
            x = LEFT + plot_w / 2.0,
            y = TOP + plot_h / 2.0
        );
        return svg;
    }
    let n = labels.len() as f64;
    let slot = plot_w / n;
    // Label every k-th point so the labels never overlap.
    let every = ((n * 70.0 / plot_w).ceil() as usize).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{ty}" font-size="11" text-anchor="middle" fill="#444">{l}</text>"##,
                x = LEFT + slot * (i as f64 + 0.5),
                ty = H - BOTTOM + 16.0,
                l = escape(label)
            );
        }
    }
    for (s_i, s) in series.iter().enumerate() {
        let color = COLORS[s_i % COLORS.len()];
        match kind {
            Kind::Bars => {
                let bar = (slot * 0.8) / series.len() as f64;
                for (i, v) in s.values.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
                    let x = LEFT + slot * i as f64 + slot * 0.1 + bar * s_i as f64;
                    let _ = write!(
                        svg,
                        r#"<rect x="{x:.1}" y="{y0:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"><title>{l}: {v}</title></rect>"#,
                        y0 = y(*v),
                        w = (bar - 1.0).max(1.0),
                        h = TOP + plot_h - y(*v),
                        l = escape(&format!("{} {}", labels.get(i).map_or("", String::as_str), s.name)),
                        v = format(*v, unit)
                    );
                }
            }
            Kind::Lines => {
                // One polyline per run of points with data.
                let mut runs: Vec<Vec<String>> = vec![Vec::new()];
                for (i, v) in s.values.iter().enumerate() {
                    if v.is_nan() {
                        runs.push(Vec::new());
                    } else if let Some(run) = runs.last_mut() {
                        run.push(format!("{:.1},{:.1}", LEFT + slot * (i as f64 + 0.5), y(*v)));
                    }
                }
                for run in runs.iter().filter(|r| !r.is_empty()) {
                    let _ = write!(
                        svg,
                        r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                        run.join(" ")
                    );
                }
                for (i, v) in s.values.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
                    let _ = write!(
                        svg,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}: {}</title></circle>"#,
                        LEFT + slot * (i as f64 + 0.5),
                        y(*v),
                        escape(labels.get(i).map_or("", String::as_str)),
                        format(*v, unit)
                    );
                }
            }
        }
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="6" width="10" height="10" fill="{color}"/><text x="{tx}" y="15" font-size="12" fill="#222">{name}</text>"##,
            x = LEFT + s_i as f64 * 170.0,
            tx = LEFT + s_i as f64 * 170.0 + 14.0,
            name = escape(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_a_nice_top_and_escape_labels() {
        let svg = render(
            "Tickets <per> day",
            Kind::Bars,
            &["Dec 1".into(), "Dec 2".into()],
            &[Series { name: "tickets".into(), values: vec![3.0, 7.0] }],
            Unit::Count,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Tickets &lt;per&gt; day"));
        assert!(svg.contains(">10</text>"), "7 rounds up to an axis of 10: {svg}");
        assert_eq!(svg.matches("<rect x=").count(), 3, "two bars and a legend swatch");
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(render("x", Kind::Lines, &[], &[], Unit::Percent).contains("No data in this range."));
    }
}
