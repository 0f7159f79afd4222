//! Which instruction set a kernel runs with: the best one the CPU has (the default), or a
//! named lower level, so that the tests run every level this CPU supports and not only the
//! one the dispatcher would pick.
//!
//! The kernels are written once as plain loops; macerator compiles each one per level (with
//! that level's `target_feature`s) and picks among them at run time.

use macerator::{Arch, AutoArch, Simd, Vector, WithSimd, vload_unaligned, vstore_unaligned};

use crate::KernelError;

/// An instruction-set level the kernels are compiled for (on x86-64, its microarchitecture
/// levels; each one includes every level below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// No vector instructions beyond the target's baseline.
    Scalar,
    /// x86-64-v2: SSE4.2 and POPCNT.
    Sse42,
    /// x86-64-v3: AVX2, FMA, BMI.
    Avx2,
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL.
    Avx512,
}

impl SimdLevel {
    /// The level the dispatcher picks on this CPU.
    pub fn best() -> Self {
        Self::from_arch(Arch::detect())
    }

    /// Every level this CPU can run, lowest first. (On CPUs other than x86, only the best.)
    pub fn available() -> Vec<Self> {
        let best = Self::best();
        if cfg!(any(target_arch = "x86", target_arch = "x86_64")) {
            [Self::Scalar, Self::Sse42, Self::Avx2, Self::Avx512]
                .into_iter()
                .filter(|&l| l <= best)
                .collect()
        } else {
            vec![best]
        }
    }

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    fn from_arch(arch: Arch) -> Self {
        match arch {
            Arch::Scalar => Self::Scalar,
            Arch::V2 => Self::Sse42,
            Arch::V3 => Self::Avx2,
            // V4, and V4 with FP16 on nightly builds.
            _ => Self::Avx512,
        }
    }

    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    fn from_arch(_arch: Arch) -> Self {
        // Not x86: the levels above are not this CPU's, and only the best one is offered.
        Self::Scalar
    }

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    fn arch(self) -> Arch {
        match self {
            Self::Scalar => Arch::Scalar,
            Self::Sse42 => Arch::V2,
            Self::Avx2 => Arch::V3,
            Self::Avx512 => Arch::V4,
        }
    }
}

/// Run `op` at `level` (`None`: the best this CPU has).
pub(crate) fn dispatch<Op: WithSimd>(
    level: Option<SimdLevel>,
    op: Op,
) -> Result<Op::Output, KernelError> {
    let Some(level) = level else {
        return Ok(AutoArch::new().dispatch(op));
    };
    if !SimdLevel::available().contains(&level) {
        return Err(KernelError::Unavailable(level));
    }
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let arch = level.arch();
        // The workspace's second audited `unsafe` (the first sets MXCSR in backend::cpu):
        // macerator can only pick the best level safely (`AutoArch`); a named one goes
        // through `Arch::dispatch`, whose contract is that the CPU has the level's features.
        // `available()` admits only levels at or below `Arch::detect()`, and macerator's x86
        // levels are nested feature sets (v4's list contains v3's, v3's contains v2's; see
        // its `impl_simd!` calls), so every feature `arch` needs is present.
        #[allow(unsafe_code)]
        // SAFETY: see above: `level` is at or below the detected level.
        let out = unsafe { arch.dispatch(op) };
        Ok(out)
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        // `available()` is only the best level here.
        Ok(AutoArch::new().dispatch(op))
    }
}

/// One vector of `S`'s width from the start of `v`.
///
/// The kernels' one safe door to macerator's pointer loads (the workspace's third audited
/// `unsafe`): LLVM's auto-vectoriser kept some register tiles scalar or spilled them (5x
/// slower, measured on AVX2), so the hot tiles are written with explicit vectors.
/// Panics if `v` is shorter than one vector; callers slice a whole tile row first, so that
/// the per-vector checks are on constant offsets and compile away.
#[inline(always)]
pub(crate) fn load<S: Simd>(v: &[f32]) -> Vector<S, f32> {
    assert!(
        v.len() >= S::lanes32(),
        "a vector load past the end of a slice"
    );
    #[allow(unsafe_code)]
    // SAFETY: `v` holds at least one vector's lanes (checked above); unaligned loads have no
    // alignment requirement, and the caller runs under `S`'s target features (`with_simd`).
    unsafe {
        vload_unaligned::<S, f32>(v.as_ptr())
    }
}

/// Store one vector of `S`'s width at the start of `v` (see [`load`]).
#[inline(always)]
pub(crate) fn store<S: Simd>(value: Vector<S, f32>, v: &mut [f32]) {
    assert!(
        v.len() >= S::lanes32(),
        "a vector store past the end of a slice"
    );
    #[allow(unsafe_code)]
    // SAFETY: as in `load`: `v` has room for one vector (checked above).
    unsafe {
        vstore_unaligned::<S, f32>(v.as_mut_ptr(), value)
    }
}
