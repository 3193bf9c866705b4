//! The dashboard's panels drawn as SVG from Prometheus's `query_range` answers, laid out as
//! the dashboard's JSON lays them out (Grafana's 24-column grid), titled, with each target's
//! `legendFormat` and each panel's unit. The crate's own drawing: Grafana, which would
//! draw them itself, is under the AGPL (see [`crate::dashboard`]).

use std::fmt::Write as _;

use serde_json::Value;

use crate::fixtures::Prometheus;
use crate::Result;

/// The page's width in CSS pixels; one grid column is a 24th of it.
const WIDTH: u32 = 1600;
/// One grid row, in pixels.
const ROW: f64 = 34.0;
/// The page's title block.
const HEADER: f64 = 70.0;
/// Between panels.
const GAP: f64 = 8.0;
/// Grafana's classic palette, in its order.
const PALETTE: [&str; 8] = [
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#b877d9", "#5794f2", "#fade2a",
];
/// `$__rate_interval` in the queries: Grafana makes it four scrape intervals at least; a
/// few minutes of a run read better over 15 s.
const RATE_INTERVAL: &str = "15s";

/// The drawn page.
pub(crate) struct Page {
    pub(crate) html: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) panels: usize,
    pub(crate) panels_with_data: usize,
}

/// One line of a panel.
struct Series {
    label: String,
    /// (unix seconds, value), NaN left out.
    points: Vec<(f64, f64)>,
}

/// Every panel of `dashboard`, from `start` to `end` (unix seconds).
pub(crate) async fn render(
    dashboard: &Value,
    prometheus: &Prometheus,
    start: f64,
    end: f64,
) -> Result<Page> {
    let step = ((end - start) / 300.0).round().max(1.0);
    let Some(panels) = dashboard["panels"].as_array() else {
        bail!("the dashboard has no panels");
    };
    let mut body = String::new();
    let mut bottom = 0.0_f64;
    let mut with_data = 0;
    for panel in panels {
        let grid = &panel["gridPos"];
        let cell = |key: &str| grid[key].as_f64().unwrap_or(0.0);
        let column = f64::from(WIDTH) / 24.0;
        let (x, y) = (cell("x") * column, HEADER + cell("y") * ROW);
        let (w, h) = (cell("w") * column - GAP, cell("h") * ROW - GAP);
        bottom = bottom.max(y + h + GAP);
        let mut series = Vec::new();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            let expr = expr
                .replace("$provider", ".*")
                .replace("$__rate_interval", RATE_INTERVAL);
            let answer = prometheus
                .api(
                    "query_range",
                    &[
                        ("query", expr.as_str()),
                        ("start", &format!("{start:.3}")),
                        ("end", &format!("{end:.3}")),
                        ("step", &format!("{step}")),
                    ],
                )
                .await?;
            if answer["status"] != "success" {
                bail!("Prometheus refused {expr}: {answer}");
            }
            let legend = target["legendFormat"].as_str().unwrap_or("");
            for result in answer["data"]["result"].as_array().into_iter().flatten() {
                let points: Vec<(f64, f64)> = result["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|pair| {
                        let t = pair[0].as_f64()?;
                        let v = pair[1].as_str()?.parse::<f64>().ok()?;
                        v.is_finite().then_some((t, v))
                    })
                    .collect();
                if !points.is_empty() {
                    series.push(Series {
                        label: legend_of(legend, &result["metric"]),
                        points,
                    });
                }
            }
        }
        if !series.is_empty() {
            with_data += 1;
        }
        series.sort_by(|a, b| a.label.cmp(&b.label));
        let title = panel["title"].as_str().unwrap_or("");
        let unit = panel["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .unwrap_or("");
        let chart = Chart {
            title,
            unit,
            w,
            h,
            start,
            end,
            step,
        };
        let _ = write!(
            body,
            "<div class=\"panel\" style=\"left:{x:.0}px;top:{y:.0}px;width:{w:.0}px;\
             height:{h:.0}px\">{}</div>",
            chart.svg(&series)
        );
    }
    let title = escape(dashboard["title"].as_str().unwrap_or("dashboard"));
    let height = bottom.ceil() as u32;
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{margin:0;background:#111217;color:#ccccdc;font:13px -apple-system,'Segoe UI',\
         Roboto,'DejaVu Sans',sans-serif;width:{WIDTH}px;height:{height}px;position:relative}}\
         .head{{position:absolute;left:8px;top:8px;right:8px}}\
         .head h1{{font-size:20px;font-weight:500;margin:0 0 6px;color:#fff}}\
         .head p{{margin:0;color:#9fa7b3;font-size:12px}}\
         .var{{display:inline-block;border:1px solid #2c3235;border-radius:2px;padding:1px 8px;\
         margin-right:12px;color:#ccccdc}}\
         .panel{{position:absolute;background:#181b1f;border:1px solid #24292e;\
         border-radius:2px;box-sizing:border-box}}\
         svg text{{font-family:inherit}}</style></head><body>\
         <div class=\"head\"><h1>{title}</h1><p><span class=\"var\">provider: All</span>\
         {} to {} UTC · a real run of examples/quickstart.rs against the test provider, \
         scraped by Prometheus every second · drawn from docs/grafana/rocket_oidc_auth.json \
         by the benchmark's dashboard run (scripts/bench.sh --dashboard)</p></div>\
         {body}</body></html>",
        clock(start),
        clock(end),
    );
    Ok(Page {
        html,
        width: WIDTH,
        height,
        panels: panels.len(),
        panels_with_data: with_data,
    })
}

/// `legend` (`{{label}}` placeholders) filled from a series' labels; without one, the
/// labels themselves.
fn legend_of(legend: &str, metric: &Value) -> String {
    let labels = metric.as_object();
    if legend.is_empty() {
        let text: Vec<String> = labels
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        return format!("{{{}}}", text.join(", "));
    }
    let mut text = legend.to_string();
    for (key, value) in labels.into_iter().flatten() {
        text = text.replace(&format!("{{{{{key}}}}}"), value.as_str().unwrap_or(""));
    }
    text
}

/// One panel's picture.
struct Chart<'a> {
    title: &'a str,
    unit: &'a str,
    w: f64,
    h: f64,
    start: f64,
    end: f64,
    step: f64,
}

impl Chart<'_> {
    fn svg(&self, series: &[Series]) -> String {
        let (w, h) = (self.w, self.h);
        // Legend columns as wide as the longest label (about 7 px a character).
        let longest = series.iter().map(|s| s.label.len()).max().unwrap_or(0);
        let column_w = (longest as f64 * 7.0 + 34.0).max(110.0);
        let per_row = ((w - 60.0) / column_w).floor().max(1.0) as usize;
        let legend_rows = series.len().div_ceil(per_row);
        let (left, right, top) = (58.0, 14.0, 34.0);
        let bottom = 26.0 + 18.0 * legend_rows as f64;
        let (plot_w, plot_h) = (w - left - right, h - top - bottom);
        let max = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0_f64, f64::max);
        // Four steps of a round size: labels of at most two digits.
        let top_value = 4.0 * nice_ceiling(max * 1.05 / 4.0);
        let px = |t: f64| left + (t - self.start) / (self.end - self.start) * plot_w;
        let py = |v: f64| top + plot_h - v / top_value * plot_h;

        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\">\
             <text x=\"10\" y=\"21\" fill=\"#d8d9da\" font-size=\"14\" \
             font-weight=\"500\">{}</text>",
            escape(self.title)
        );
        // The value axis: five lines, labelled in the panel's unit.
        for k in 0..=4 {
            let v = top_value * f64::from(k) / 4.0;
            let y = py(v);
            let _ = write!(
                svg,
                "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" \
                 stroke=\"#2c3235\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#9fa7b3\" \
                 font-size=\"11\" text-anchor=\"end\">{}</text>",
                left + plot_w,
                left - 6.0,
                y + 4.0,
                format_value(v, self.unit)
            );
        }
        // The time axis: a label every 30 s or minute, as the run's length allows.
        let span = self.end - self.start;
        let every = [15.0, 30.0, 60.0, 120.0, 300.0]
            .into_iter()
            .find(|e| span / e <= 8.0)
            .unwrap_or(600.0);
        let mut t = (self.start / every).ceil() * every;
        while t <= self.end {
            let x = px(t);
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{:.1}\" \
                 stroke=\"#22252b\"/><text x=\"{x:.1}\" y=\"{:.1}\" fill=\"#9fa7b3\" \
                 font-size=\"11\" text-anchor=\"middle\">{}</text>",
                top + plot_h,
                top + plot_h + 15.0,
                clock(t)
            );
            t += every;
        }
        if series.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#9fa7b3\" font-size=\"14\" \
                 text-anchor=\"middle\">No data</text>",
                left + plot_w / 2.0,
                top + plot_h / 2.0
            );
        }
        for (n, line) in series.iter().enumerate() {
            let color = PALETTE[n % PALETTE.len()];
            // One path per stretch without a gap (a series that is absent for a while
            // is not drawn across the gap).
            let mut path = String::new();
            let mut previous: Option<f64> = None;
            for &(t, v) in &line.points {
                let command = match previous {
                    Some(p) if t - p <= self.step * 2.5 => 'L',
                    _ => 'M',
                };
                let _ = write!(path, "{command}{:.1},{:.1} ", px(t), py(v));
                previous = Some(t);
            }
            let _ = write!(
                svg,
                "<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" \
                 stroke-linejoin=\"round\"/>"
            );
            let (row, column) = (n / per_row, n % per_row);
            let lx = left + column as f64 * column_w;
            let ly = top + plot_h + 32.0 + row as f64 * 18.0;
            let _ = write!(
                svg,
                "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"3\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{ly:.1}\" fill=\"#ccccdc\" font-size=\"12\">{}</text>",
                ly - 5.0,
                lx + 20.0,
                escape(&line.label)
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

/// The smallest 1, 2, 2.5 or 5 times a power of ten at or above `v` (0.25 for nothing).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 0.25;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * power)
}

/// `v` as Grafana writes it in `unit` (`s`, `ops`, `reqps`, or none).
fn format_value(v: f64, unit: &str) -> String {
    let number = |v: f64| {
        if v == 0.0 {
            "0".to_string()
        } else if v >= 10.0 {
            format!("{v:.0}")
        } else if v >= 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        }
    };
    match unit {
        "s" if v > 0.0 && v < 1.0 => format!("{} ms", number(v * 1000.0)),
        "s" => format!("{} s", number(v)),
        "ops" => format!("{} ops/s", number(v)),
        "reqps" => format!("{} req/s", number(v)),
        _ => number(v),
    }
}

/// `HH:MM:SS` (UTC) of unix seconds `t`.
fn clock(t: f64) -> String {
    let s = t.round() as u64 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `text` safe inside HTML and SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), 0.25);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(1.2), 2.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
        assert_eq!(nice_ceiling(37.0), 50.0);
    }

    #[test]
    fn legends_take_the_series_labels() {
        let metric = serde_json::json!({"endpoint": "token", "status": "error"});
        assert_eq!(legend_of("{{endpoint}} {{status}}", &metric), "token error");
        assert_eq!(legend_of("", &metric), "{endpoint=token, status=error}");
    }

    #[test]
    fn values_are_written_in_the_panel_unit() {
        assert_eq!(format_value(0.012, "s"), "12 ms");
        assert_eq!(format_value(1.5, "ops"), "1.5 ops/s");
        assert_eq!(format_value(0.0, "reqps"), "0 req/s");
        assert_eq!(clock(3_661.0), "01:01:01");
    }
}
