#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| neuromask_fuzz::checks::mask_npy(data));
