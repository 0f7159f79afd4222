//! Adam as one pass per parameter tensor on the flex CPU backend: the weights and both moments
//! are updated in place by `kernels::adam::step`, where Burn's `Adam` runs about a dozen
//! elementwise tensor ops, each a pass over the tensor that allocates its result.
//!
//! [`FusedAdam`] is a Burn [`Optimizer`] whose state is Burn's own [`AdamState`], so a
//! checkpoint written by either optimizer resumes with the other (the record is the same), and
//! Burn's `ModuleOptimizer` keeps the per-parameter bookkeeping, gradient clipping included.
//! It runs the fused pass only where it computes exactly Burn's update: f32 parameters on the
//! flex device, without AMSGrad or weight decay; everywhere else (wgpu, cuda, ndarray, or a
//! config with those settings) it hands the step to Burn's `Adam` unchanged.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use burn::tensor::DType;
use kernels::adam::AdamStep;
use model::sparse_op::host;
use serde::Deserialize;

/// The fused step as a backend operation (flex only; the optimizer never calls it elsewhere).
#[backend_extension(Flex)]
pub trait FusedAdamBackend: Backend {
    /// One Adam step: the updated parameter, first moment and second moment.
    fn fused_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether `t` owns its whole buffer, contiguous from its start, so it can be written in place.
fn writable(t: &FlexTensor) -> bool {
    let n = t.shape().num_elements();
    t.is_unique() && t.layout().contiguous_offsets() == Some((0, n)) && t.bytes().len() == n * 4
}

/// `t` itself when it is [`writable`] (the optimizer's own moments always are), else a copy.
fn owned(t: FlexTensor) -> FlexTensor {
    if writable(&t) {
        t
    } else {
        FlexTensor::from_data(t.into_data())
    }
}

impl FusedAdamBackend for Flex {
    fn fused_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (mut m, mut v) = (owned(moment_1), owned(moment_2));
        let grad = host(&grad);
        let (Some(m_values), Some(v_values)) =
            (m.try_storage_mut::<f32>(), v.try_storage_mut::<f32>())
        else {
            unreachable!("owned() gives unique contiguous f32 buffers")
        };
        let param = if writable(&param) {
            let mut param = param;
            let p = param
                .try_storage_mut::<f32>()
                .unwrap_or_else(|| unreachable!("a writable tensor is unique"));
            kernels::adam::step(p, &grad, m_values, v_values, &step)
                .unwrap_or_else(|e| panic!("fused Adam: {e}"));
            param
        } else {
            // Burn's Learner still holds the model's previous parameters during the step, so
            // the new values go to a new buffer in the same pass (no copy first).
            let shape = param.shape();
            let mut updated = vec![0.0; shape.num_elements()];
            kernels::adam::step_into(
                &host(&param),
                &mut updated,
                &grad,
                m_values,
                v_values,
                &step,
            )
            .unwrap_or_else(|e| panic!("fused Adam: {e}"));
            FlexTensor::from_data(TensorData::new(updated, shape))
        };
        (param, m, v)
    }
}

/// The settings the fused pass needs, read from the run's `AdamConfig` (Burn keeps its fields
/// private; its JSON form, which the config file holds, is public).
#[derive(Debug, Clone, Copy, Deserialize)]
struct FusedSettings {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

/// Adam with a one-pass update on flex; Burn's `Adam` elsewhere. Build it with [`init`].
#[derive(Clone)]
pub struct FusedAdam {
    /// `None` when the config asks for AMSGrad or weight decay: every step is Burn's.
    fused: Option<FusedSettings>,
    burn: Adam,
}

impl FusedAdam {
    pub fn new(config: &AdamConfig) -> Self {
        let json = serde_json::to_value(config).unwrap_or_default();
        let plain = json["amsgrad"] == false && json["weight_decay"].is_null();
        Self {
            fused: plain.then(|| serde_json::from_value(json).ok()).flatten(),
            burn: config.build(),
        }
    }

    /// Whether a parameter of `dtype` on `device` takes the fused pass: the settings allow it,
    /// and it is f32 on plain flex (Burn's optimizer hands it parameters without autodiff).
    pub fn runs_fused_on(&self, device: &Device, dtype: DType) -> bool {
        self.fused.is_some()
            && *device == Device::flex()
            && !device.is_autodiff()
            && dtype == DType::F32
    }

    fn fused_for<const D: usize>(&self, tensor: &Tensor<D>) -> Option<FusedSettings> {
        self.fused
            .filter(|_| self.runs_fused_on(&tensor.device(), tensor.dtype()))
    }
}

impl std::fmt::Debug for FusedAdam {
    // Burn's `Adam` has no Debug; its settings are the same as `fused`'s or not used.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedAdam")
            .field("fused", &self.fused)
            .finish()
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let Some(settings) = self.fused_for(&tensor) else {
            return self.burn.step(lr, tensor, grad, state);
        };
        let (time, moment_1, moment_2) = match state {
            Some(AdamState { momentum }) => {
                (momentum.time + 1, momentum.moment_1, momentum.moment_2)
            }
            // Zero moments give Burn's first step exactly (see kernels::adam::step).
            None => (1, tensor.zeros_like(), tensor.zeros_like()),
        };
        let step = AdamStep {
            lr: lr as f32,
            beta_1: settings.beta_1,
            beta_2: settings.beta_2,
            epsilon: settings.epsilon,
            time: i32::try_from(time).unwrap_or(i32::MAX),
        };
        let (param, moment_1, moment_2) = <Dispatch as FusedAdamBackend>::fused_adam_step(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            step,
        );
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_dispatch(moment_1),
            Tensor::from_dispatch(moment_2),
        );
        (Tensor::from_dispatch(param), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// The run's optimizer: [`FusedAdam`] with the config's gradient clipping, as
/// `AdamConfig::init` would set it up for Burn's `Adam`.
pub fn init(config: &AdamConfig) -> ModuleOptimizer {
    let mut optim = ModuleOptimizer::from(FusedAdam::new(config));
    let json = serde_json::to_value(config).unwrap_or_default();
    if let Ok(Some(clipping)) =
        serde_json::from_value::<Option<GradientClippingConfig>>(json["grad_clipping"].clone())
    {
        optim = optim.with_grad_clipping(clipping.init());
    }
    optim
}
