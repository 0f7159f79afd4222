//! Mask files that once broke the reader, found by fuzzing (`fuzz/`, target `mask_npy`).

use std::time::{Duration, Instant};

use model::MaskSemantics;

/// An NPY v1 file: magic, version, header length, the header padded to 64 bytes, data.
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut header = header.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// npyz parses the header's Python literal by backtracking, in time exponential in how deep
/// its brackets nest: 14 unclosed `{` took over a minute. Such a header is refused before
/// npyz sees it, at once, naming the problem; a plain header still reads.
#[test]
fn an_npy_header_with_deeply_nested_brackets_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.npy");
    for open in ["{", "(", "["] {
        let header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': (2,{}), }}",
            open.repeat(30)
        );
        std::fs::write(&path, npy(&header, &[0; 32])).expect("write");
        let start = Instant::now();
        let err = data::mask_files::read(&path, &[4], MaskSemantics::Keep, 2)
            .expect_err("a nested header")
            .to_string();
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "took {:?}",
            start.elapsed()
        );
        assert!(
            err.contains("m.npy") && err.contains("nests brackets"),
            "{err}"
        );
    }

    let values: Vec<u8> = [1.0f32, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }";
    std::fs::write(&path, npy(header, &values)).expect("write");
    let table =
        data::mask_files::read(&path, &[4], MaskSemantics::Keep, 2).expect("a plain header");
    assert_eq!(table.rows(), 2);
    assert_eq!(table.row(1), &[0.0, 0.0, 0.0, 1.0]);
}
