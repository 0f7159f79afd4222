//! The masked MLP of neuromask: a Burn module whose hidden neurons are switched off per input.
//!
//! A mask enters the model only as a [`NeuronMask`], whose constructors name their convention:
//! *keep* (1 = neuron on) or *off* (1 = neuron switched off). The mask multiplies each hidden
//! Linear's output right after the Linear and before the ReLU.

pub mod batch;
pub mod config;
pub mod mask;
pub mod mask_table;
pub mod mlp;
pub mod neurons;
#[cfg(feature = "flex")]
pub mod sparse_op;

pub use batch::MaskedBatch;
pub use config::{ConfigValueError, ExperimentConfig, TrainingSummary};
pub use mask::{HiddenMasks, MaskError, MaskPolicy, NeuronMask};
pub use mask_table::MaskTable;
pub use mlp::{MaskedMlp, MaskedMlpConfig, ModelConfigError};
pub use neurons::{MaskSemantics, NeuronListError, parse_neuron_list};
