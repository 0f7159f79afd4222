//! `exp` and `ln` in plain float arithmetic that the compiler can vectorise.
//!
//! Hand-written on purpose: `f32::exp`/`ln` call libm one value at a time, and the ablation
//! sweep evaluates a softmax per (sample, neuron) pair, 6 million of them for the test set.
//! These are accurate to a few ulp over the ranges the sweep uses (tested against std).

/// `e^x` for x <= 0 (Cephes' expf: x = k ln 2 + r, |r| <= ln 2 / 2, a degree-7 polynomial for
/// e^r), accurate to a few ulp. The integer k is rounded and turned into the exponent bits
/// 2^k with the 1.5 * 2^23 trick (adding it leaves k in the low mantissa bits), because a
/// float-to-int `as` cast does not vectorise. Inputs below -87 are clamped (e^-87 ~ 1.6e-38).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.max(-87.0);
    let t = x.mul_add(LOG2_E, SHIFT);
    let k = t - SHIFT;
    let r = k.mul_add(-0.693_359_4, x);
    let r = k.mul_add(2.121_944_4e-4, r);
    let p = 1.987_569_1e-4f32
        .mul_add(r, 1.398_199_9e-3)
        .mul_add(r, 8.333_452e-3)
        .mul_add(r, 4.166_579_6e-2)
        .mul_add(r, 0.166_666_65)
        .mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r) + 1.0;
    let exponent = t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127) << 23;
    y * f32::from_bits(exponent)
}

/// `ln x` for normal positive x: x = 2^e m with m in [1, 2), ln m = 2 atanh((m - 1) / (m + 1))
/// by its series (|z| < 1/3, terms to z^13: error below 1e-8).
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let series = z2
        .mul_add(1.0 / 13.0, 1.0 / 11.0)
        .mul_add(z2, 1.0 / 9.0)
        .mul_add(z2, 1.0 / 7.0)
        .mul_add(z2, 1.0 / 5.0)
        .mul_add(z2, 1.0 / 3.0)
        .mul_add(z2, 1.0);
    (e as f32).mul_add(std::f32::consts::LN_2, 2.0 * z * series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_ln_match_std() {
        for i in 0..=8700 {
            let x = -(i as f32) / 100.0;
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON * want,
                "exp({x}) = {got}, std says {want}"
            );
        }
        for i in 1..=10_000 {
            let x = i as f32 / 97.0;
            let (got, want) = (ln(x), x.ln());
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON * want.abs().max(1.0),
                "ln({x}) = {got}, std says {want}"
            );
        }
    }
}
