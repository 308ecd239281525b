//! [`Outcome`]: a scenario's figures, as a table for people and one JSON line
//! for scripts.
//!
//! Without `--json` the table goes to stdout. With `--json` stdout carries the
//! JSON line and nothing else, so `chat bench ... --json | jq` works, and the
//! table still goes to stderr for whoever watches. The JSON object always has
//! `scenario`, `ok` and `problem` (a sentence, or null), then the scenario's
//! figures; times are in seconds (`_s`) or milliseconds (`_ms`), as named.

use std::fmt::Write as _;
use std::io::{self, Write as _};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Map, Value};

/// The result of a scenario.
#[derive(Debug)]
pub struct Outcome {
    table: Table,
    figures: Map<String, Value>,
    problem: Option<String>,
}

impl Outcome {
    /// An outcome of `scenario`; `problem` says what went wrong, if anything.
    pub fn new(scenario: &str, table: Table, problem: Option<String>) -> Outcome {
        let mut figures = Map::new();
        figures.insert("scenario".into(), scenario.into());
        figures.insert("ok".into(), problem.is_none().into());
        figures.insert("problem".into(), problem.clone().into());
        Outcome { table, figures, problem }
    }

    /// Adds the fields of `figures` (a struct or a map) to the JSON line.
    pub fn with(mut self, figures: impl Serialize) -> Outcome {
        if let Ok(Value::Object(fields)) = serde_json::to_value(figures) {
            self.figures.extend(fields);
        }
        self
    }

    /// What went wrong, if anything.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Prints the table (to stderr with `json`), and the JSON line to stdout
    /// if `json`.
    ///
    /// # Errors
    /// When stdout cannot be written (a closed pipe).
    pub fn print(&self, json: bool) -> io::Result<()> {
        let table = self.table.render();
        if !json {
            return io::stdout().lock().write_all(table.as_bytes());
        }
        eprint!("{table}");
        let line = Value::Object(self.figures.clone()).to_string();
        writeln!(io::stdout().lock(), "{line}")
    }
}

/// A title and rows of cells, printed in aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    title: String,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table under `title`.
    pub fn new(title: String) -> Table {
        Table { title, rows: Vec::new() }
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as text, each column as wide as its widest cell; a row's
    /// last cell may run on without widening its column.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for row in &self.rows {
            for (column, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                if widths.len() <= column {
                    widths.push(0);
                }
                widths[column] = widths[column].max(cell.chars().count());
            }
        }
        let mut text = format!("{}\n", self.title);
        for row in &self.rows {
            let mut line = String::from(" ");
            for (column, cell) in row.iter().enumerate() {
                let width = widths.get(column).copied().unwrap_or(0);
                let _ = write!(line, " {cell:<width$} ");
            }
            text += line.trim_end();
            text.push('\n');
        }
        text
    }
}

/// End-to-end latency figures, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The 99.9th percentile.
    pub p999: f64,
    /// The slowest delivery.
    pub max: f64,
}

impl Percentiles {
    /// The percentiles of a histogram in nanoseconds; `None` if it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Percentiles> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        let at = |quantile: f64| ms(histogram.value_at_quantile(quantile));
        Some(Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: ms(histogram.max()),
        })
    }

    /// One line for a table.
    pub fn describe(percentiles: Option<&Percentiles>) -> String {
        match percentiles {
            None => "none (nothing arrived)".to_owned(),
            Some(p) => format!(
                "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                millis(p.p50),
                millis(p.p90),
                millis(p.p99),
                millis(p.p999),
                millis(p.max)
            ),
        }
    }
}

/// Milliseconds with precision that suits their size.
pub fn millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.1}")
    }
}

/// `n` with thousands separated by commas: `4,000,000`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(4_000_000), "4,000,000");
        assert_eq!(grouped(12_345_678), "12,345,678");
    }

    #[test]
    fn tables_align_their_columns() {
        let mut table = Table::new("title".into());
        table.row(["a", "1", "x"]);
        table.row(["long name", "22"]);
        table.row(["b", "a long last cell"]);
        assert_eq!(
            table.render(),
            "title\n  a          1  x\n  long name  22\n  b          a long last cell\n"
        );
    }

    #[test]
    fn percentiles_come_in_order() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        assert_eq!(Percentiles::of(&histogram), None);
        for ns in 1..=10_000u64 {
            histogram.record(ns * 1_000).unwrap();
        }
        let p = Percentiles::of(&histogram).unwrap();
        assert!(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max, "{p:?}");
        assert!((p.p50 - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.max - 10.0).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn the_json_line_carries_the_verdict() {
        let outcome = Outcome::new("fanout", Table::default(), Some("lost 3".into()))
            .with(serde_json::json!({"received": 7}));
        let fields = &outcome.figures;
        assert_eq!(fields["scenario"], "fanout");
        assert_eq!(fields["ok"], false);
        assert_eq!(fields["problem"], "lost 3");
        assert_eq!(fields["received"], 7);
        assert_eq!(outcome.problem(), Some("lost 3"));
    }
}
