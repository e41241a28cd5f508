//! What one scenario found, printed as a table for people or as one JSON
//! object for machines.
//!
//! # Format
//!
//! ```text
//! {"scenario":"send","params":{"connections":32,...},
//!  "figures":{"throughput_per_s":41234.5,"latency_p99_ms":1.234,...},
//!  "notes":[...],"problems":[...]}
//! ```
//!
//! A figure that could not be measured is `null` in JSON and `n/a` in the
//! table. `problems` lists what the protocol promises and the run saw broken
//! (error replies, lost or reordered messages, a server that did not exit
//! cleanly); `notes` is everything else worth knowing.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::stats::Summary;

#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: &'static str,
    params: Vec<(String, Value)>,
    figures: Vec<Figure>,
    notes: Vec<String>,
    problems: Vec<String>,
}

#[derive(Debug, Clone)]
struct Figure {
    key: String,
    label: String,
    value: Value,
    shown: String,
}

impl Report {
    pub fn new(scenario: &'static str) -> Report {
        Report {
            scenario,
            params: Vec::new(),
            figures: Vec::new(),
            notes: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// A setting the scenario ran with.
    pub fn param(&mut self, name: &str, value: impl Into<Value>) {
        self.params.push((name.to_string(), value.into()));
    }

    pub fn count(&mut self, label: &str, key: &str, n: u64) {
        self.push(label, key, json!(n), group_digits(n));
    }

    /// A whole quantity with a unit, e.g. KiB.
    pub fn amount(&mut self, label: &str, key: &str, n: u64, unit: &str) {
        self.push(label, key, json!(n), format!("{} {unit}", group_digits(n)));
    }

    /// A per-second rate, e.g. `unit` "msgs/s".
    pub fn rate(&mut self, label: &str, key: &str, per_second: f64, unit: &str) {
        let shown = format!("{} {unit}", group_digits(per_second.round() as u64));
        self.push(label, key, json!(round_to(per_second, 1)), shown);
    }

    /// A quantity with a unit, shown with `decimals` places.
    pub fn number(&mut self, label: &str, key: &str, value: f64, unit: &str, decimals: usize) {
        let shown = format!("{value:.decimals$} {unit}");
        self.push(label, key, json!(round_to(value, decimals)), shown);
    }

    /// A duration, in milliseconds; `key` should end in `_ms`.
    pub fn millis(&mut self, label: &str, key: &str, duration: Duration) {
        let ms = duration.as_secs_f64() * 1e3;
        let shown = if ms >= 10_000.0 {
            format!("{:.3} s", ms / 1e3)
        } else {
            format!("{ms:.3} ms")
        };
        self.push(label, key, json!(round_to(ms, 3)), shown);
    }

    /// p50, p99 and max of `summary` (n/a when there were no samples), as
    /// `{key}_p50_ms` and so on.
    pub fn latency(&mut self, label: &str, key: &str, summary: Option<Summary>) {
        match summary {
            Some(summary) => {
                self.millis(
                    &format!("{label} p50"),
                    &format!("{key}_p50_ms"),
                    summary.p50,
                );
                self.millis(
                    &format!("{label} p99"),
                    &format!("{key}_p99_ms"),
                    summary.p99,
                );
                self.millis(
                    &format!("{label} max"),
                    &format!("{key}_max_ms"),
                    summary.max,
                );
            }
            None => {
                for stat in ["p50", "p99", "max"] {
                    self.na(&format!("{label} {stat}"), &format!("{key}_{stat}_ms"));
                }
            }
        }
    }

    /// A figure this run could not measure.
    pub fn na(&mut self, label: &str, key: &str) {
        self.push(label, key, Value::Null, "n/a".to_string());
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Something the protocol promises that this run saw broken.
    pub fn problem(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    fn push(&mut self, label: &str, key: &str, value: Value, shown: String) {
        self.figures.push(Figure {
            key: key.to_string(),
            label: label.to_string(),
            value,
            shown,
        });
    }

    pub fn to_json(&self) -> Value {
        let params: Map<String, Value> = self.params.iter().cloned().collect();
        let figures: Map<String, Value> = self
            .figures
            .iter()
            .map(|f| (f.key.clone(), f.value.clone()))
            .collect();
        json!({
            "scenario": self.scenario,
            "params": params,
            "figures": figures,
            "notes": self.notes,
            "problems": self.problems,
        })
    }

    /// The report as an aligned text table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(name, value)| match value {
                Value::String(s) => format!("{name}={s}"),
                other => format!("{name}={other}"),
            })
            .collect();
        let _ = writeln!(out, "== {} ==  {}", self.scenario, params.join(" "));
        let width = self
            .figures
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(0);
        for figure in &self.figures {
            let _ = writeln!(out, "  {:<width$}  {}", figure.label, figure.shown);
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        for problem in &self.problems {
            let _ = writeln!(out, "  PROBLEM: {problem}");
        }
        out
    }
}

fn round_to(value: f64, decimals: usize) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    (value * scale).round() / scale
}

/// 1234567 as "1,234,567".
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_thousands() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(1234567), "1,234,567");
    }

    #[test]
    fn json_and_table_carry_the_same_figures() {
        let mut report = Report::new("send");
        report.param("connections", 32);
        report.rate("throughput", "throughput_per_s", 41234.56, "msgs/s");
        report.millis("latency p99", "latency_p99_ms", Duration::from_micros(1234));
        report.na("rss per connection", "rss_per_connection_kib");
        report.problem("3 messages lost");
        let json = report.to_json();
        assert_eq!(json["scenario"], "send");
        assert_eq!(json["params"]["connections"], 32);
        assert_eq!(json["figures"]["throughput_per_s"], 41234.6);
        assert_eq!(json["figures"]["latency_p99_ms"], 1.234);
        assert_eq!(json["figures"]["rss_per_connection_kib"], Value::Null);
        assert_eq!(json["problems"][0], "3 messages lost");
        let table = report.to_table();
        assert!(table.starts_with("== send ==  connections=32\n"), "{table}");
        assert!(
            table.contains("throughput          41,235 msgs/s"),
            "{table}"
        );
        assert!(table.contains("latency p99         1.234 ms"), "{table}");
        assert!(table.contains("rss per connection  n/a"), "{table}");
        assert!(table.contains("PROBLEM: 3 messages lost"), "{table}");
    }
}
