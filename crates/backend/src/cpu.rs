//! CPU floating-point mode for the CPU backends.
//!
//! Late in training most samples are classified with near-certainty, so their gradients
//! (softmax minus one-hot) shrink into the subnormal range, where x86 multiplies take a
//! microcode assist costing ~100 cycles each. Epochs of the seed's model slowed from 2.4 s to
//! 4.1 s that way. Flushing subnormals to zero (FTZ/DAZ), as TensorFlow does by default and
//! PyTorch offers with `torch.set_flush_denormal`, removes the stall; values below ~1e-38 are
//! far beneath anything that moves a weight.

/// Set flush-to-zero and denormals-are-zero on the calling thread and on every thread of
/// rayon's global pool, which the CPU backends' matrix multiplies run on. Call it first thing
/// in `main`, before any tensor work builds the pool. Returns false where the pool already
/// existed (then only the calling thread is set) or the CPU is not x86-64.
pub fn flush_denormals() -> bool {
    if !set_ftz_daz() {
        return false;
    }
    rayon::ThreadPoolBuilder::new()
        .start_handler(|_| {
            set_ftz_daz();
        })
        .build_global()
        .is_ok()
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, deprecated)]
fn set_ftz_daz() -> bool {
    use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
    const FTZ: u32 = 1 << 15;
    const DAZ: u32 = 1 << 6;
    // SAFETY: reading and writing MXCSR only changes this thread's SSE rounding and subnormal
    // handling; every x86-64 CPU has SSE2, and no memory is touched.
    unsafe { _mm_setcsr(_mm_getcsr() | FTZ | DAZ) };
    true
}

#[cfg(not(target_arch = "x86_64"))]
fn set_ftz_daz() -> bool {
    false
}
