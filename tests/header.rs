//! The committed header must be exactly what cbindgen generates from the sources.
//! Regenerate with `python3 build.py header` (which sets SHEAF_BLESS_HEADER=1).

use std::path::PathBuf;

fn generate() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn committed_header_is_current() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("include").join("sheaf.h");
    let generated = generate();
    if std::env::var_os("SHEAF_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/sheaf.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/sheaf.h is stale: run `python3 build.py header` and commit the result"
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
