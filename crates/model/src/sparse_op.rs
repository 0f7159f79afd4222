//! The first hidden layer and its ReLU as one Burn operation with its own backward, for
//! training on the flex CPU backend: `relu((x W + b) * keep)`, computed by
//! `kernels::sparse_linear` over the non-zero inputs only, forward and weight gradient alike.
//!
//! Burn's backend-extension API makes it one op on `Flex` and `Autodiff<Flex>`; the model's
//! forward uses it only when training on flex (other backends, and plain forwards, keep
//! Burn's Linear and multiply).
//! Gradients: `dZ = dY * keep` where the ReLU passed the value (one pass, with `db = sum dZ`),
//! `dW = X^T dZ` over the non-zero inputs,
//! `dX = dZ W^T` only when the input is tracked (images never are). A mask that itself needs a
//! gradient (learned gates, `infer circuit`) is left to Burn's Linear and multiply, which give it
//! one; the operation never sees such a mask.

use std::borrow::Cow;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;

/// The masked Linear as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait SparseLinearBackend: Backend {
    /// `relu((x W + b) * keep)` (`keep`: `[1, out]` or `[n, out]`).
    fn sparse_masked_linear_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        keep: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `X^T dZ`, over the non-zero rows of `x` only.
    fn sparse_weight_grad(x: FloatTensor<Self>, dz: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `dZ` and the bias gradient `[1, out]` from the gradient `dy` of the output `out`.
    fn sparse_output_grad(
        dy: FloatTensor<Self>,
        out: FloatTensor<Self>,
        keep: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// The values of a flex tensor, row-major: borrowed when the tensor is one contiguous run,
/// copied otherwise. (`storage` is the whole shared buffer: a view such as a slice or a
/// broadcast starts elsewhere in it, so the layout's offsets are honoured.)
pub fn host(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(
            t.to_contiguous()
                .into_data()
                .try_into_vec::<f32>()
                .unwrap_or_else(|e| panic!("sparse masked linear: a non-f32 tensor ({e:?})")),
        ),
    }
}

fn flex(values: Vec<f32>, shape: [usize; 2]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl SparseLinearBackend for Flex {
    fn sparse_masked_linear_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        keep: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [n, inputs] = dims2(&x);
        let outputs = dims2(&weight)[1];
        let out = kernels::sparse_linear::forward(
            &host(&x),
            &host(&weight),
            &host(&bias),
            &host(&keep),
            [inputs, outputs],
        )
        .unwrap_or_else(|e| panic!("sparse masked linear: {e}"));
        flex(out, [n, outputs])
    }

    fn sparse_weight_grad(x: FloatTensor<Self>, dz: FloatTensor<Self>) -> FloatTensor<Self> {
        let inputs = dims2(&x)[1];
        let outputs = dims2(&dz)[1];
        let dw = kernels::sparse_linear::weight_grad(&host(&x), &host(&dz), [inputs, outputs])
            .unwrap_or_else(|e| panic!("sparse weight gradient: {e}"));
        flex(dw, [inputs, outputs])
    }

    fn sparse_output_grad(
        dy: FloatTensor<Self>,
        out: FloatTensor<Self>,
        keep: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [n, outputs] = dims2(&out);
        let (dz, db) =
            kernels::sparse_linear::output_grad(&host(&dy), &host(&out), &host(&keep), outputs)
                .unwrap_or_else(|e| panic!("sparse layer's output gradient: {e}"));
        (flex(dz, [n, outputs]), flex(db, [1, outputs]))
    }
}

fn dims2(t: &FlexTensor) -> [usize; 2] {
    let shape = t.shape();
    [shape[0], shape[1]]
}

impl<B: Backend + SparseLinearBackend, C: CheckpointStrategy> SparseLinearBackend
    for Autodiff<B, C>
{
    fn sparse_masked_linear_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        keep: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaskedLinearBackward;

        impl<B: Backend + SparseLinearBackend> Backward<B, 3> for MaskedLinearBackward {
            /// The input (and whether it needs a gradient), the weight, the mask and the output.
            type State = (
                FloatTensor<B>,
                bool,
                FloatTensor<B>,
                FloatTensor<B>,
                FloatTensor<B>,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (x, x_tracked, weight, keep, out) = ops.state;
                let [node_x, node_w, node_b] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (dz, db) = B::sparse_output_grad(dy, out, keep);
                if let Some(node) = node_b {
                    let outputs = db.shape()[1];
                    grads.register::<B>(node.id, B::float_reshape(db, Shape::new([outputs])));
                }
                if x_tracked && let Some(node) = node_x {
                    let dx = B::float_matmul(dz.clone(), B::float_transpose(weight));
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_w {
                    grads.register::<B>(node.id, B::sparse_weight_grad(x, dz));
                }
            }
        }

        let x_tracked = x.is_tracked();
        let outputs = bias.primitive().shape()[0];
        let bias_row = B::float_reshape(bias.primitive().clone(), Shape::new([1, outputs]));
        let output = B::sparse_masked_linear_relu(
            x.primitive().clone(),
            weight.primitive().clone(),
            bias_row,
            keep.primitive().clone(),
        );
        match MaskedLinearBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                (
                    x.into_primitive(),
                    x_tracked,
                    weight.into_primitive(),
                    keep.into_primitive(),
                    output.clone(),
                ),
                output,
            ),
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }

    fn sparse_weight_grad(x: FloatTensor<Self>, dz: FloatTensor<Self>) -> FloatTensor<Self> {
        // Only the backward above asks for it, on the inner backend.
        let out = B::sparse_weight_grad(x.into_primitive(), dz.into_primitive());
        Self::from_inner(out)
    }

    fn sparse_output_grad(
        dy: FloatTensor<Self>,
        out: FloatTensor<Self>,
        keep: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Only the backward above asks for it, on the inner backend.
        let (dz, db) = B::sparse_output_grad(
            dy.into_primitive(),
            out.into_primitive(),
            keep.into_primitive(),
        );
        (Self::from_inner(dz), Self::from_inner(db))
    }
}

/// Whether the first layer's operation runs for `x`: training (autodiff) on flex. A plain
/// forward keeps Burn's Linear, so that the model's `forward` and `forward_masked` with an
/// all-ones mask stay equal bit for bit (inference on the CPU has its own zero-skipping engine
/// in `infer`).
pub fn applies(x: &Tensor<2>) -> bool {
    let device = x.device();
    device.is_autodiff() && device == Device::flex()
}

/// `relu((x W + b) * keep)` through the operation above when it [`applies`] to `x`, the layer
/// has a bias and the mask is a constant; `None` elsewhere, for Burn's own Linear, multiply and
/// ReLU (the operation has no gradient for the mask, so a mask being learned takes Burn's path).
pub fn masked_linear_relu(
    x: &Tensor<2>,
    linear: &burn::nn::Linear,
    keep: &Tensor<2>,
) -> Option<Tensor<2>> {
    if !applies(x) || keep.is_tracked() {
        return None;
    }
    let bias = linear.bias.as_ref()?.val();
    let out = <burn::backend::Dispatch as SparseLinearBackend>::sparse_masked_linear_relu(
        x.clone().into_dispatch(),
        linear.weight.val().into_dispatch(),
        bias.into_dispatch(),
        keep.clone().into_dispatch(),
    );
    Some(Tensor::from_dispatch(out))
}
