//! The seed corpus: every script of the conformance suite (`tests/conformance/*.toml`) and
//! every saved regression input (`crates/fuzz/regressions/*.bt`).

use std::path::{Path, PathBuf};

/// The repository root (the fuzzer runs from the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Scripts of the conformance suite, with its `{uniq}`/`{tmp}`/`{bin}` placeholders filled.
pub fn conformance_scripts() -> Vec<String> {
    let dir = repo_root().join("tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "toml"));
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let Ok(value) = text.parse::<toml::Table>() else {
            continue;
        };
        let Some(cases) = value.get("case").and_then(|c| c.as_array()) else {
            continue;
        };
        for case in cases {
            if let Some(script) = case.get("script").and_then(|s| s.as_str()) {
                out.push(
                    script
                        .replace("{uniq}", "kfuzz")
                        .replace("{tmp}", "/tmp/kfuzz")
                        .replace("{bin}", "/tmp/kfuzz/kfuzz"),
                );
            }
        }
    }
    out
}

/// The saved regression inputs, as (file name, bytes).
pub fn regressions() -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("crates/fuzz/regressions");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    std::fs::read(e.path()).ok().map(|b| (name, b))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every seed script: the conformance suite plus the regressions.
pub fn all() -> Vec<String> {
    let mut out = conformance_scripts();
    out.extend(
        regressions()
            .into_iter()
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned()),
    );
    out
}
