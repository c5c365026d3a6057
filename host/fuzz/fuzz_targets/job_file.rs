//! `JobSpec::from_toml_str` on untrusted text: it never panics (an error
//! naming the problem is fine), and whatever it accepts is a valid job.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weir_host::JobSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = JobSpec::from_toml_str(text, Path::new("/jobs")) {
        assert!(spec.validate().is_ok(), "from_toml_str accepted an invalid job: {spec:?}");
        let _ = spec.restart_strategy();
    }
});
