//! Argmax and cross-entropy of logits rows on the host: the arithmetic every host-side score
//! shares (the groups and the pruning curve, the stacked sweep of earlier layers).

/// Whether the first maximum of `row` is `label`, and the cross-entropy `-ln softmax(row)[label]`
/// (in f64, from the row's maximum).
#[inline]
pub fn score_row(row: &[f32], label: usize) -> (bool, f64) {
    let (mut max, mut arg) = (row[0], 0);
    for (c, &l) in row.iter().enumerate().skip(1) {
        if l > max {
            max = l;
            arg = c;
        }
    }
    let sum: f64 = row.iter().map(|&l| ((l - max) as f64).exp()).sum();
    (arg == label, max as f64 + sum.ln() - row[label] as f64)
}

/// Correct predictions and summed cross-entropy of the `classes`-wide rows of `logits`
/// against `labels` (one label per row; every label below `classes`).
pub fn score_rows(logits: &[f32], labels: &[u8], classes: usize) -> (usize, f64) {
    logits
        .chunks(classes)
        .zip(labels)
        .fold((0, 0.0), |(correct, loss), (row, &label)| {
            let (hit, l) = score_row(row, label as usize);
            (correct + usize::from(hit), loss + l)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_maximum_wins_and_loss_is_cross_entropy() {
        let (hit, loss) = score_row(&[1.0, 3.0, 3.0], 1);
        assert!(hit);
        let want = -(3f64.exp() / (1f64.exp() + 2.0 * 3f64.exp())).ln();
        assert!((loss - want).abs() < 1e-12, "{loss} vs {want}");
        assert!(!score_row(&[1.0, 3.0, 3.0], 2).0);
        assert_eq!(score_rows(&[0.0, 1.0, 2.0, 0.0], &[1, 1], 2).0, 1);
    }
}
