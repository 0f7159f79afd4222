//! Training progress: plain lines for logs and CI, and per-split wall-clock timing.
//!
//! Off a terminal Burn's own CLI renderer prints a debug struct per iteration and no metric
//! values; [`LineRenderer`] prints a handful of readable lines per split instead. [`SplitClock`]
//! times every split for `metrics.csv` and `summary.json`, whichever renderer is on screen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

/// How long each split of each epoch took, filled in by [`SplitClock`].
#[derive(Debug, Default, Clone)]
pub struct SplitTimes {
    /// `(epoch, split, seconds, items)` in the order the splits ended.
    pub entries: Vec<(usize, String, f64, usize)>,
}

impl SplitTimes {
    pub fn seconds(&self, epoch: usize, split: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(e, s, _, _)| *e == epoch && s == split)
            .map(|(_, _, secs, _)| *secs)
    }
}

/// Tracks the epoch and split the Learner is in. Burn numbers epochs from 1 and reports
/// `update_epoch(e)` when epoch `e` ends.
#[derive(Debug)]
struct Position {
    epoch: usize,
    total_epochs: usize,
    split: String,
    split_items: usize,
    started: Instant,
    processed: usize,
}

impl Position {
    fn new() -> Self {
        Self {
            epoch: 1,
            total_epochs: 0,
            split: String::new(),
            split_items: 0,
            started: Instant::now(),
            processed: 0,
        }
    }

    fn start(&mut self, total_epochs: usize, starting_epoch: usize) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
    }

    fn start_split(&mut self, split: &str, items: usize) {
        self.split = split.to_string();
        self.split_items = items;
        self.started = Instant::now();
        self.processed = 0;
    }
}

/// A progress logger that only measures time per split.
#[derive(Debug)]
pub struct SplitClock {
    position: Position,
    times: Arc<Mutex<SplitTimes>>,
}

impl SplitClock {
    pub fn new(times: Arc<Mutex<SplitTimes>>) -> Self {
        Self {
            position: Position::new(),
            times,
        }
    }
}

impl TrainingProgressLogger for SplitClock {
    fn start(&mut self, total: usize, starting: usize, _items: Option<usize>, _l: Option<&str>) {
        self.position.start(total, starting);
    }
    fn update_epoch(&mut self, epoch: usize) {
        self.position.epoch = epoch + 1;
    }
    fn start_split(&mut self, split: &str, total_items: usize) {
        self.position.start_split(split, total_items);
    }
    fn update_split(&mut self, items_processed: usize) {
        self.position.processed = items_processed;
    }
    fn end_split(&mut self) {
        let p = &self.position;
        if let Ok(mut times) = self.times.lock() {
            times.entries.push((
                p.epoch,
                p.split.clone(),
                p.started.elapsed().as_secs_f64(),
                p.processed.max(p.split_items),
            ));
        }
    }
    fn end(&mut self) {}
    fn log_event_training(&mut self, _event: String) {}
}

/// Running mean of one metric over the current split, weighted by batch size.
#[derive(Debug, Default, Clone, Copy)]
struct Running {
    sum: f64,
    weight: f64,
}

impl Running {
    fn add(&mut self, entry: &NumericEntry) {
        match entry {
            NumericEntry::Value(v) => {
                self.sum += v;
                self.weight += 1.0;
            }
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => {
                self.sum += aggregated_value * *count as f64;
                self.weight += *count as f64;
            }
            NumericEntry::Final(v) => {
                self.sum = *v;
                self.weight = 1.0;
            }
        }
    }

    fn mean(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| self.sum / self.weight)
    }
}

/// Plain progress lines: a few per split, then one line with the split's figures.
pub struct LineRenderer {
    position: Position,
    names: HashMap<MetricId, String>,
    running: HashMap<String, Running>,
    last_print: Instant,
    every: Duration,
}

impl std::fmt::Debug for LineRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineRenderer").finish_non_exhaustive()
    }
}

impl LineRenderer {
    /// `every`: the least time between two progress lines within a split.
    pub fn new(every: Duration) -> Self {
        Self {
            position: Position::new(),
            names: HashMap::new(),
            running: HashMap::new(),
            last_print: Instant::now(),
            every,
        }
    }

    fn record(&mut self, state: MetricState) {
        if let MetricState::Numeric(entry, Some(value)) = state {
            let name = self
                .names
                .get(&entry.metric_id)
                .cloned()
                .unwrap_or_else(|| "metric".into());
            self.running.entry(name).or_default().add(&value);
        }
    }

    fn figures(&self) -> String {
        let mut out = String::new();
        if let Some(loss) = self.running.get("Loss").and_then(Running::mean) {
            out.push_str(&format!("  loss {loss:.4}"));
        }
        if let Some(acc) = self.running.get("Accuracy").and_then(Running::mean) {
            out.push_str(&format!("  accuracy {acc:.2}%"));
        }
        let secs = self.position.started.elapsed().as_secs_f64();
        if secs > 0.0 && self.position.processed > 0 {
            out.push_str(&format!(
                "  {:.0} samples/s",
                self.position.processed as f64 / secs
            ));
        }
        out
    }

    fn line(&self, what: &str) {
        let p = &self.position;
        println!(
            "epoch {}/{} {:<5} {what}{}",
            p.epoch,
            p.total_epochs,
            p.split,
            self.figures()
        );
    }
}

impl MetricsRendererTraining for LineRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }
    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }
}

impl MetricsRendererEvaluation for LineRenderer {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.record(state);
    }
}

impl MetricsRenderer for LineRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}

impl TrainingProgressLogger for LineRenderer {
    fn start(&mut self, total: usize, starting: usize, _items: Option<usize>, _l: Option<&str>) {
        self.position.start(total, starting);
        if starting > 1 {
            println!("resuming at epoch {starting} of {total}");
        }
    }
    fn update_epoch(&mut self, epoch: usize) {
        self.position.epoch = epoch + 1;
    }
    fn start_split(&mut self, split: &str, total_items: usize) {
        self.position.start_split(split, total_items);
        self.running.clear();
        self.last_print = Instant::now();
    }
    fn update_split(&mut self, items_processed: usize) {
        self.position.processed = items_processed;
        if self.last_print.elapsed() >= self.every && items_processed < self.position.split_items {
            self.last_print = Instant::now();
            let p = &self.position;
            self.line(&format!("iter {}/{}", items_processed, p.split_items));
        }
    }
    fn end_split(&mut self) {
        let secs = self.position.started.elapsed().as_secs_f64();
        self.line(&format!("done in {secs:.2}s"));
    }
    fn end(&mut self) {}
    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for LineRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, name: &str, total_items: usize) {
        self.position.start_split(name, total_items);
        self.running.clear();
    }
    fn update_test_progress(&mut self, items_processed: usize) {
        self.position.processed = items_processed;
    }
    fn end_test(&mut self) {
        self.line("done");
    }
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}
