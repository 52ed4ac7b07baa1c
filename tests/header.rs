//! The committed header must be exactly what cbindgen generates from the sources.
//! Regenerate with `python3 build.py header` (which sets SHEAF_BLESS_HEADER=1).

use std::path::PathBuf;

fn generate() -> String {
    generate_with("cbindgen.toml")
}

fn generate_with(config_file: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(root.join(config_file)).expect("the cbindgen config parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

fn check_or_bless(relative: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    if std::env::var_os("SHEAF_BLESS_HEADER").is_some() {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("write {relative}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} is stale: run `python3 build.py header` and commit the result"
    );
}

#[test]
fn committed_header_is_current() {
    check_or_bless("include/sheaf.h", &generate());
}

/// The cffi cdef of the Python package comes from the same sources, minus what cdef refuses.
#[test]
fn committed_cffi_cdef_is_current() {
    let text = generate_with("cbindgen-cffi.toml");
    // Keep integer #defines only, without C suffixes (`18446744073709551615ull`).
    let kept: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            if !t.starts_with('#') {
                return Some(l.to_string());
            }
            let parts: Vec<&str> = t.split_whitespace().collect();
            let number = parts.get(2)?.trim_end_matches(['u', 'U', 'l', 'L']);
            (parts.len() == 3 && parts[0] == "#define" && number.parse::<i128>().is_ok())
                .then(|| format!("#define {} {number}", parts[1]))
        })
        .collect();
    check_or_bless(
        "python/sheaf/_cdef.h",
        &(kept.join("\n").trim().to_string() + "\n"),
    );
}

#[test]
fn header_version_macros_match_the_crate() {
    let text = generate();
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    for name in ["MAJOR", "MINOR", "PATCH"] {
        let expected = format!("#define SHEAF_VERSION_{name} {}", parts.next().unwrap());
        assert!(text.contains(&expected), "header lacks `{expected}`");
    }
}
