//! Stop training the moment the loss stops being a number.
//!
//! Burn 0.22 has no divergence check, and a NaN loss would otherwise train on for the rest of
//! the epoch and be checkpointed at its end, overwriting nothing useful but leaving a NaN model
//! as the newest checkpoint. The Learner hands every batch's loss to the renderer, so
//! [`DivergenceGuard`] sits between the Learner and the real renderer (terminal UI or plain
//! lines), watches the training loss and stops the run through the Learner's interrupter.
//! The Learner checks it after each batch and skips that epoch's validation and checkpoint,
//! so the newest checkpoint on disk is the last good one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::train::Interrupter;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

/// Where the loss went bad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergence {
    pub epoch: usize,
    /// Training items processed in that epoch before the bad batch was reported.
    pub items: usize,
    pub loss: f64,
}

/// Wraps the renderer on screen; see the module docs.
pub struct DivergenceGuard {
    inner: Box<dyn MetricsRenderer>,
    interrupter: Interrupter,
    found: Arc<Mutex<Option<Divergence>>>,
    names: HashMap<MetricId, String>,
    epoch: usize,
    items: usize,
}

impl std::fmt::Debug for DivergenceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DivergenceGuard")
            .field("epoch", &self.epoch)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

impl DivergenceGuard {
    /// `found` receives the divergence, if one happens.
    pub fn new(
        inner: Box<dyn MetricsRenderer>,
        interrupter: Interrupter,
        found: Arc<Mutex<Option<Divergence>>>,
    ) -> Self {
        Self {
            inner,
            interrupter,
            found,
            names: HashMap::new(),
            epoch: 1,
            items: 0,
        }
    }

    fn check(&mut self, state: &MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        if self.names.get(&entry.metric_id).map(String::as_str) != Some("Loss") {
            return;
        }
        let loss = match value {
            NumericEntry::Value(v) | NumericEntry::Final(v) => *v,
            NumericEntry::Aggregated {
                aggregated_value, ..
            } => *aggregated_value,
        };
        if loss.is_finite() {
            return;
        }
        if let Ok(mut found) = self.found.lock()
            && found.is_none()
        {
            *found = Some(Divergence {
                epoch: self.epoch,
                items: self.items,
                loss,
            });
        }
        self.interrupter
            .stop(Some("the training loss is no longer a finite number"));
    }
}

impl MetricsRendererTraining for DivergenceGuard {
    fn update_train(&mut self, state: MetricState) {
        self.check(&state);
        self.inner.update_train(state);
    }
    fn update_valid(&mut self, state: MetricState) {
        self.inner.update_valid(state);
    }
}

impl MetricsRendererEvaluation for DivergenceGuard {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        self.inner.update_test(name, state);
    }
}

impl MetricsRenderer for DivergenceGuard {
    fn manual_close(&mut self) {
        self.inner.manual_close();
    }
    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
        self.inner.register_metric(definition);
    }
}

impl TrainingProgressLogger for DivergenceGuard {
    fn start(&mut self, total: usize, starting: usize, items: Option<usize>, l: Option<&str>) {
        self.epoch = starting.max(1);
        self.inner.start(total, starting, items, l);
    }
    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
        self.inner.update_epoch(epoch);
    }
    fn start_split(&mut self, split: &str, total_items: usize) {
        self.items = 0;
        self.inner.start_split(split, total_items);
    }
    fn update_split(&mut self, items_processed: usize) {
        self.items = items_processed;
        self.inner.update_split(items_processed);
    }
    fn end_split(&mut self) {
        self.inner.end_split();
    }
    fn end(&mut self) {
        self.inner.end();
    }
    fn log_event_training(&mut self, event: String) {
        self.inner.log_event_training(event);
    }
}

impl EvaluationProgressLogger for DivergenceGuard {
    fn start_global_progress(&mut self, total_tests: usize) {
        self.inner.start_global_progress(total_tests);
    }
    fn start_test(&mut self, name: &str, total_items: usize) {
        self.inner.start_test(name, total_items);
    }
    fn update_test_progress(&mut self, items_processed: usize) {
        self.inner.update_test_progress(items_processed);
    }
    fn end_test(&mut self) {
        self.inner.end_test();
    }
    fn end_global_progress(&mut self) {
        self.inner.end_global_progress();
    }
    fn log_event_evaluation(&mut self, event: String) {
        self.inner.log_event_evaluation(event);
    }
}
