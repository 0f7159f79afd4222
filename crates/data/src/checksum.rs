//! SHA-256 sums: the check that a data file is the one it claims to be, for the MNIST files
//! compiled into the binary and for any folder that carries a `SHA256SUMS` file (the format
//! `sha256sum` writes and `sha256sum -c` reads).

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::idx::IdxError;

/// Name of the sums file looked for beside data files.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// The SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Check `bytes` (read from `path`) against `expected` (hex, either case).
pub fn verify(path: &Path, bytes: &[u8], expected: &str) -> Result<(), IdxError> {
    let found = sha256_hex(bytes);
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(IdxError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            found,
        })
    }
}

/// File name -> expected hex sum, from the text of a `SHA256SUMS` file at `path`. Lines are
/// `HEX  NAME` (text mode) or `HEX *NAME` (binary mode); blank lines and `#` comments are
/// skipped. Anything else is an error naming the line.
pub fn parse_sums(path: &Path, text: &str) -> Result<BTreeMap<String, String>, IdxError> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || IdxError::SumsLine {
            path: path.to_path_buf(),
            line: i + 1,
            found: format!("{:?}", truncate(line, 100)),
        };
        let (hex, rest) = line.split_once(' ').ok_or_else(bad)?;
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(bad)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
            return Err(bad());
        }
        sums.insert(name.to_string(), hex.to_ascii_lowercase());
    }
    Ok(sums)
}

/// The sums listed in `dir/SHA256SUMS`, or an empty map when the folder has no such file.
pub fn sums_in(dir: &Path) -> Result<BTreeMap<String, String>, IdxError> {
    let path = dir.join(SUMS_FILE);
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let bytes = std::fs::read(&path).map_err(|source| IdxError::Io {
        path: path.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| IdxError::SumsLine {
        path: path.clone(),
        line: 0,
        found: "bytes that are not UTF-8".into(),
    })?;
    parse_sums(&path, &text)
}

/// At most `n` characters of `s` (error messages quote lines, not whole files).
fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}
