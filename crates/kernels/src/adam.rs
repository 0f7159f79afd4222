//! One Adam step for one parameter tensor in a single pass over memory: the two moments and
//! the weights are updated in place, with no temporaries.
//!
//! Why: Burn's `Adam` builds the same update from about a dozen separate elementwise tensor
//! ops (scale, square, add, sqrt, divide, ...), each a full pass that allocates its result. On
//! the seed's 784 x 600 first layer that is ~470k values read and written a dozen times per
//! step; here each value is touched once.
//!
//! The arithmetic is Burn's (`burn-optim` 0.22 `AdaptiveMomentum::transform`, then
//! `param - update * lr`), operation for operation and in the same order, so that the results
//! match Burn's optimizer to the last bit or nearly (no fused multiply-add is introduced:
//! Rust never contracts `a * b + c` on its own).

use rayon::prelude::*;

use crate::KernelError;

/// Values per parallel task: large enough that a task's cost dwarfs rayon's scheduling, small
/// enough that both cores share a 784 x 600 layer.
const CHUNK: usize = 1 << 15;

/// The scalars of one Adam step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// The learning rate.
    pub lr: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// This step's number, counting from 1 (bias corrections use it).
    pub time: i32,
}

/// `param -= lr * m_hat / (sqrt(v_hat) + eps)` after `m = b1 m + (1 - b1) g` and
/// `v = b2 v + (1 - b2) g^2`, in place. The first step starts from zero moments (Burn's first
/// step, `m = (1 - b1) g`, is the same value exactly: `0 * b1 + x == x`).
pub fn step(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    s: &AdamStep,
) -> Result<(), KernelError> {
    let k = Constants::new(s, param.len(), grad, moment_1, moment_2)?;
    in_chunks(
        param.par_chunks_mut(CHUNK),
        grad,
        moment_1,
        moment_2,
        |p, g, m, v| {
            // Plain zipped loops: the compiler vectorises them (sqrt and divide included).
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                *p = k.updated(*p, g, m, v);
            }
        },
    );
    Ok(())
}

/// [`step`] for a parameter whose buffer is shared (so it cannot be written in place): the
/// updated values go to `updated`, in the same single pass, instead of copying first.
pub fn step_into(
    param: &[f32],
    updated: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    s: &AdamStep,
) -> Result<(), KernelError> {
    let k = Constants::new(s, param.len(), grad, moment_1, moment_2)?;
    if updated.len() != param.len() {
        return Err(KernelError::Shape(format!(
            "Adam step: {} updated values for a parameter of {}",
            updated.len(),
            param.len()
        )));
    }
    in_chunks(
        updated.par_chunks_mut(CHUNK).zip(param.par_chunks(CHUNK)),
        grad,
        moment_1,
        moment_2,
        |(out, p), g, m, v| {
            for ((((out, &p), &g), m), v) in out.iter_mut().zip(p).zip(g).zip(m).zip(v) {
                *out = k.updated(p, g, m, v);
            }
        },
    );
    Ok(())
}

/// `update` on matching `CHUNK`-sized pieces of the parameter side, the gradient and the two
/// moments, in parallel.
fn in_chunks<P: Send>(
    params: impl IndexedParallelIterator<Item = P>,
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    update: impl Fn(P, &[f32], &mut [f32], &mut [f32]) + Sync + Send,
) {
    params
        .zip(grad.par_chunks(CHUNK))
        .zip(moment_1.par_chunks_mut(CHUNK))
        .zip(moment_2.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| update(p, g, m, v));
}

/// One step's scalars, computed as Burn computes them (f32 `powi`).
struct Constants {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    combined_factor: f32,
    epsilon: f32,
    lr: f32,
}

impl Constants {
    fn new(
        s: &AdamStep,
        n: usize,
        grad: &[f32],
        moment_1: &[f32],
        moment_2: &[f32],
    ) -> Result<Self, KernelError> {
        if grad.len() != n || moment_1.len() != n || moment_2.len() != n {
            return Err(KernelError::Shape(format!(
                "Adam step: parameter {n}, gradient {}, first moment {}, second moment {} \
                 values; expected the same number",
                grad.len(),
                moment_1.len(),
                moment_2.len()
            )));
        }
        if s.time < 1 {
            return Err(KernelError::Shape(format!(
                "Adam step number {}; expected 1 or more",
                s.time
            )));
        }
        let bias_correction2_sqrt = (1.0 - s.beta_2.powi(s.time)).sqrt();
        Ok(Self {
            beta_1: s.beta_1,
            beta_2: s.beta_2,
            factor_1: 1.0 - s.beta_1,
            factor_2: 1.0 - s.beta_2,
            combined_factor: bias_correction2_sqrt / (1.0 - s.beta_1.powi(s.time)),
            epsilon: s.epsilon * bias_correction2_sqrt,
            lr: s.lr,
        })
    }

    /// One value's update, in Burn's order of operations; the moments are updated in place.
    #[inline(always)]
    fn updated(&self, p: f32, g: f32, m: &mut f32, v: &mut f32) -> f32 {
        *m = *m * self.beta_1 + g * self.factor_1;
        *v = *v * self.beta_2 + (g * g) * self.factor_2;
        let update = (*m * self.combined_factor) / (v.sqrt() + self.epsilon);
        p - update * self.lr
    }
}
