#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| neuromask_fuzz::checks::config_json(data));
