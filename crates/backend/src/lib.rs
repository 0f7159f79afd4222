//! Which Burn backend runs: chosen at run time among those compiled in by cargo features.
//!
//! `train` and `infer` both take `--device auto|wgpu|flex|ndarray|cuda` and call [`select`].
//! `auto` takes a hardware GPU when one is there (CUDA, then wgpu) and otherwise the CPU,
//! saying so in one line; an explicit choice that cannot start is an error that says what to
//! do instead, never a panic.

use std::fmt;

pub mod cpu;

use burn::prelude::*;

/// The `--device` flag's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum DeviceChoice {
    /// A hardware GPU if there is one (CUDA, then wgpu), else the CPU (flex, else ndarray).
    #[default]
    Auto,
    /// GPU through wgpu (Vulkan, Metal, DX12 or GL); on a machine without a GPU it runs on a
    /// software driver such as Mesa's lavapipe, slowly.
    Wgpu,
    /// Burn's pure-Rust CPU backend.
    Flex,
    /// Burn's ndarray CPU backend (deprecated upstream in favour of flex).
    Ndarray,
    /// NVIDIA GPU through CUDA.
    Cuda,
}

impl DeviceChoice {
    pub const ALL: [DeviceChoice; 5] = [
        DeviceChoice::Auto,
        DeviceChoice::Wgpu,
        DeviceChoice::Flex,
        DeviceChoice::Ndarray,
        DeviceChoice::Cuda,
    ];

    /// The choice named `name` (as on the command line; any case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Flex => "flex",
            DeviceChoice::Ndarray => "ndarray",
            DeviceChoice::Cuda => "cuda",
        }
    }

    /// True when this build contains the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            DeviceChoice::Auto => !compiled().is_empty(),
            DeviceChoice::Wgpu => cfg!(feature = "wgpu"),
            DeviceChoice::Flex => cfg!(feature = "flex"),
            DeviceChoice::Ndarray => cfg!(feature = "ndarray"),
            DeviceChoice::Cuda => cfg!(feature = "cuda"),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The concrete backends compiled into this binary.
pub fn compiled() -> Vec<DeviceChoice> {
    [
        DeviceChoice::Wgpu,
        DeviceChoice::Flex,
        DeviceChoice::Ndarray,
        DeviceChoice::Cuda,
    ]
    .into_iter()
    .filter(|c| c.is_compiled())
    .collect()
}

/// Why a backend cannot be used. The message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error(
        "--device {choice}: this binary was built without the `{choice}` feature (it has: {have}); \
         rebuild with `--features {choice}` or pick one of those"
    )]
    NotCompiled { choice: DeviceChoice, have: String },
    #[error("--device {choice} cannot start: {reason}; {hint}")]
    Unavailable {
        choice: DeviceChoice,
        reason: String,
        hint: String,
    },
    #[error(
        "this binary was built without any backend; rebuild with `--features flex` (CPU) or `--features wgpu` (GPU)"
    )]
    NoneCompiled,
}

/// A device ready for tensors, with a human-readable description.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    pub choice: DeviceChoice,
    pub device: Device,
    /// e.g. `flex (CPU)` or `wgpu: NVIDIA H200 (DiscreteGpu, Vulkan)`.
    pub description: String,
    /// One line for the user when `auto` fell back to the CPU.
    pub notice: Option<String>,
}

/// Whether tensors on `device` live in this process's memory (a CPU backend), so host-side
/// kernels can work on the same data without a transfer.
pub fn is_host(device: &Device) -> bool {
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if *device == Device::ndarray() {
        return true;
    }
    *device == Device::flex()
}

/// Pick and start the device for `choice`.
pub fn select(choice: DeviceChoice) -> Result<SelectedDevice, BackendError> {
    if choice == DeviceChoice::Auto {
        return select_auto();
    }
    if !choice.is_compiled() {
        return Err(BackendError::NotCompiled {
            choice,
            have: have(),
        });
    }
    let (device, description) = match choice {
        DeviceChoice::Wgpu => wgpu_device(false)?,
        DeviceChoice::Cuda => cuda_device()?,
        DeviceChoice::Flex => flex_device()?,
        DeviceChoice::Ndarray => ndarray_device()?,
        DeviceChoice::Auto => unreachable!("handled above"),
    };
    probe(choice, &device)?;
    Ok(SelectedDevice {
        choice,
        device,
        description,
        notice: None,
    })
}

/// Parse `--devices` entries such as `cuda:0`, `wgpu:1` or `flex` and start each device.
/// For wgpu, `wgpu:N` is the N-th discrete GPU; a bare name is index 0.
pub fn select_many(specs: &[String]) -> Result<Vec<SelectedDevice>, BackendError> {
    specs
        .iter()
        .map(|spec| {
            let (name, index) = match spec.split_once(':') {
                Some((n, i)) => (n, i.parse::<usize>().ok()),
                None => (spec.as_str(), Some(0)),
            };
            let choice = DeviceChoice::from_name(name).filter(|c| *c != DeviceChoice::Auto);
            let (Some(choice), Some(index)) = (choice, index) else {
                return Err(BackendError::Unavailable {
                    choice: DeviceChoice::Auto,
                    reason: format!("`{spec}` is not a device"),
                    hint: "write devices as `cuda:0`, `wgpu:1` or `flex`".into(),
                });
            };
            if index == 0 {
                return select(choice);
            }
            indexed_device(choice, index)
        })
        .collect()
}

fn indexed_device(choice: DeviceChoice, index: usize) -> Result<SelectedDevice, BackendError> {
    if !choice.is_compiled() {
        return Err(BackendError::NotCompiled {
            choice,
            have: have(),
        });
    }
    let device: Option<Device> = match choice {
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => Some(Device::cuda(index)),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu => Some(Device::wgpu(DeviceKind::DiscreteGpu(index))),
        _ => None,
    };
    let Some(device) = device else {
        return Err(BackendError::Unavailable {
            choice,
            reason: format!("{choice} has a single device; `{choice}:{index}` does not exist"),
            hint: format!("use `{choice}`"),
        });
    };
    probe(choice, &device)?;
    Ok(SelectedDevice {
        choice,
        device,
        description: format!("{choice}:{index}"),
        notice: None,
    })
}

fn have() -> String {
    let names: Vec<_> = compiled().iter().map(|c| c.name()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn select_auto() -> Result<SelectedDevice, BackendError> {
    let mut tried = Vec::new();
    for (choice, start) in [
        (DeviceChoice::Cuda, cuda_device as fn() -> _),
        (DeviceChoice::Wgpu, || wgpu_device(true)),
    ] {
        if !choice.is_compiled() {
            continue;
        }
        match start().and_then(|(d, desc)| probe(choice, &d).map(|_| (d, desc))) {
            Ok((device, description)) => {
                return Ok(SelectedDevice {
                    choice,
                    device,
                    description,
                    notice: None,
                });
            }
            Err(e) => tried.push(format!("{choice}: {}", short_reason(&e))),
        }
    }
    for (choice, start) in [
        (DeviceChoice::Flex, flex_device as fn() -> _),
        (DeviceChoice::Ndarray, ndarray_device),
    ] {
        if !choice.is_compiled() {
            continue;
        }
        let (device, description) = start()?;
        probe(choice, &device)?;
        let notice = if tried.is_empty() {
            None
        } else {
            Some(format!(
                "no GPU found ({}); running on the CPU with {choice} (pass --device {choice} to skip this check)",
                tried.join("; ")
            ))
        };
        return Ok(SelectedDevice {
            choice,
            device,
            description,
            notice,
        });
    }
    Err(BackendError::NoneCompiled)
}

fn short_reason(e: &BackendError) -> String {
    match e {
        BackendError::Unavailable { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Run one tiny computation, so a backend that cannot start fails here, as an error, rather
/// than with a panic deep inside training.
fn probe(choice: DeviceChoice, device: &Device) -> Result<(), BackendError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let t = Tensor::<1>::from_floats([1.0, 2.0], device);
        t.sum().into_scalar::<f32>()
    });
    std::panic::set_hook(previous);
    match result {
        Ok(3.0) => Ok(()),
        Ok(sum) => Err(BackendError::Unavailable {
            choice,
            reason: format!("a test sum gave {sum} instead of 3"),
            hint: "try another --device".into(),
        }),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the backend panicked while starting".into());
            let reason = reason.lines().next().unwrap_or_default().to_string();
            Err(BackendError::Unavailable {
                choice,
                reason,
                hint: cpu_hint(),
            })
        }
    }
}

fn cpu_hint() -> String {
    match [DeviceChoice::Flex, DeviceChoice::Ndarray]
        .into_iter()
        .find(|c| c.is_compiled())
    {
        Some(cpu) => format!("use --device {cpu} to run on the CPU"),
        None => "rebuild with `--features flex` to run on the CPU".into(),
    }
}

type Started = Result<(Device, String), BackendError>;

#[cfg(feature = "flex")]
fn flex_device() -> Started {
    Ok((Device::flex(), "flex (CPU)".into()))
}

#[cfg(not(feature = "flex"))]
fn flex_device() -> Started {
    Err(BackendError::NotCompiled {
        choice: DeviceChoice::Flex,
        have: have(),
    })
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // ndarray is deprecated upstream; we still offer it as asked.
fn ndarray_device() -> Started {
    Ok((Device::ndarray(), "ndarray (CPU)".into()))
}

#[cfg(not(feature = "ndarray"))]
fn ndarray_device() -> Started {
    Err(BackendError::NotCompiled {
        choice: DeviceChoice::Ndarray,
        have: have(),
    })
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Started {
    Ok((Device::cuda(0), "cuda:0".into()))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Started {
    Err(BackendError::NotCompiled {
        choice: DeviceChoice::Cuda,
        have: have(),
    })
}

/// With `hardware_only`, a software adapter (e.g. lavapipe, type Cpu) does not count: `auto`
/// then prefers a native CPU backend, which is ten times faster than a GPU emulated on the CPU.
#[cfg(feature = "wgpu")]
fn wgpu_device(hardware_only: bool) -> Started {
    use wgpu::DeviceType;
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters =
        futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
    let hardware = |t: DeviceType| {
        matches!(
            t,
            DeviceType::DiscreteGpu | DeviceType::IntegratedGpu | DeviceType::VirtualGpu
        )
    };
    let best = infos
        .iter()
        .find(|i| i.device_type == DeviceType::DiscreteGpu)
        .or_else(|| infos.iter().find(|i| hardware(i.device_type)))
        .or_else(|| infos.iter().find(|_| !hardware_only));
    let Some(info) = best else {
        let reason = if infos.is_empty() {
            "wgpu found no adapter (no Vulkan, Metal, DX12 or GL driver)".to_string()
        } else {
            let mut names: Vec<_> = infos
                .iter()
                .map(|i| format!("{} ({:?})", i.name, i.device_type))
                .collect();
            names.dedup();
            format!("wgpu found only software adapters: {}", names.join(", "))
        };
        return Err(BackendError::Unavailable {
            choice: DeviceChoice::Wgpu,
            reason,
            hint: format!(
                "install a GPU driver (on Debian without a GPU: apt-get install mesa-vulkan-drivers libvulkan1), or {}",
                cpu_hint()
            ),
        });
    };
    let kind = match info.device_type {
        DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu(0),
        DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu(0),
        DeviceType::VirtualGpu => DeviceKind::VirtualGpu(0),
        DeviceType::Cpu => DeviceKind::Cpu,
        DeviceType::Other => DeviceKind::DefaultDevice,
    };
    let description = format!(
        "wgpu: {} ({:?}, {:?})",
        info.name, info.device_type, info.backend
    );
    Ok((Device::wgpu(kind), description))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(_hardware_only: bool) -> Started {
    Err(BackendError::NotCompiled {
        choice: DeviceChoice::Wgpu,
        have: have(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_always_finds_a_device_when_a_cpu_backend_is_compiled() {
        if !(DeviceChoice::Flex.is_compiled() || DeviceChoice::Ndarray.is_compiled()) {
            return;
        }
        let selected = select(DeviceChoice::Auto).expect("auto must fall back to the CPU");
        assert_ne!(selected.choice, DeviceChoice::Auto);
    }

    #[test]
    fn a_backend_not_compiled_in_is_a_clear_error() {
        let missing = [
            DeviceChoice::Cuda,
            DeviceChoice::Ndarray,
            DeviceChoice::Wgpu,
        ]
        .into_iter()
        .find(|c| !c.is_compiled());
        if let Some(choice) = missing {
            let err = select(choice).expect_err("must refuse");
            let msg = err.to_string();
            assert!(msg.contains(&format!("--features {choice}")), "{msg}");
        }
    }
}
