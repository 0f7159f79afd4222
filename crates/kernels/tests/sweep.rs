//! The fused ablation sweep against switching each neuron off one at a time and scoring the
//! changed logits directly, at the seed's width (600) and awkward ones, in zero and mean
//! mode, at every instruction-set level this CPU has.

mod common;

use common::values;
use kernels::score::score_row;
use kernels::{SimdLevel, SweepInput, sweep_at};

struct Case {
    hidden: usize,
    classes: usize,
    h: Vec<f32>,
    w: Vec<f32>,
    base: Vec<f32>,
    labels: Vec<u8>,
}

impl Case {
    fn new(hidden: usize, n: usize) -> Self {
        let classes = 10;
        // ReLU activations: about half exactly zero, as after the mask and the ReLU.
        let h = values(1, n * hidden)
            .iter()
            .map(|v| v.max(0.0) * 4.0)
            .collect();
        let w = values(2, hidden * classes);
        let base = values(3, n * classes).iter().map(|v| v * 6.0).collect();
        let labels = values(4, n)
            .iter()
            .map(|v| ((v + 0.5) * classes as f32) as u8 % classes as u8)
            .collect();
        Self {
            hidden,
            classes,
            h,
            w,
            base,
            labels,
        }
    }

    fn input(&self) -> SweepInput<'_> {
        SweepInput {
            hidden: self.hidden,
            classes: self.classes,
            activations: &self.h,
            output_weight: &self.w,
            logits: &self.base,
        }
    }

    /// Neuron j held at `target`, every sample scored directly: (correct, summed loss).
    fn one_neuron(&self, j: usize, target: f32) -> (usize, f64) {
        let (hidden, classes) = (self.hidden, self.classes);
        let mut correct = 0;
        let mut loss = 0.0;
        for (n, &label) in self.labels.iter().enumerate() {
            let d = target - self.h[n * hidden + j];
            let row: Vec<f32> = (0..classes)
                .map(|c| d.mul_add(self.w[j * classes + c], self.base[n * classes + c]))
                .collect();
            let (hit, l) = score_row(&row, label as usize);
            correct += usize::from(hit);
            loss += l;
        }
        (correct, loss)
    }
}

fn check(hidden: usize, n: usize) {
    let case = Case::new(hidden, n);
    let means: Vec<f32> = values(5, hidden).iter().map(|v| v + 0.5).collect();
    for targets in [None, Some(means.as_slice())] {
        let reference: Vec<(usize, f64)> = (0..hidden)
            .map(|j| case.one_neuron(j, targets.map_or(0.0, |t| t[j])))
            .collect();
        for level in SimdLevel::available() {
            let what = format!("hidden {hidden}, means {}, {level:?}", targets.is_some());
            let got = sweep_at(Some(level), &case.input(), &case.labels, targets).expect("sweep");
            for (j, &(correct, loss)) in reference.iter().enumerate() {
                assert_eq!(got.correct[j], correct, "{what}: neuron {j} correct");
                assert!(
                    (got.loss[j] - loss).abs() <= 1e-5 * loss.abs().max(1.0),
                    "{what}: neuron {j} loss {} vs {loss}",
                    got.loss[j]
                );
                let changed: i64 = (0..case.classes)
                    .map(|c| got.class_change[j * case.classes + c])
                    .sum();
                assert_eq!(
                    changed,
                    correct as i64 - got.base_correct as i64,
                    "{what}: neuron {j} per-class changes add up"
                );
            }
        }
    }
}

#[test]
fn the_seed_width_600() {
    check(600, 200);
}

#[test]
fn awkward_widths() {
    for hidden in [1, 63, 65, 601] {
        check(hidden, 41);
    }
}

#[test]
fn labels_outside_the_classes_are_an_error() {
    let case = Case::new(3, 2);
    let err = sweep_at(None, &case.input(), &[1, 10], None).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "label 10 is not one of the network's 10 classes"
    );
    let err = sweep_at(None, &case.input(), &[1], None).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the sweep's activations has 6 values; expected 3"
    );
}
