//! The committed header must be exactly what cbindgen generates from the sources.
//! Regenerate with `python3 build.py header` (which sets SHEAF_BLESS_HEADER=1).

use std::path::PathBuf;

/// The sheaf crate's directory (this package lives at `tools/header` inside it).
fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn generate() -> String {
    with_sections(&generate_with("cbindgen.toml"))
}

/// The files of `src/ffi` whose functions form the header's sections, in order of use. The
/// functions of `mod.rs` (errors, bytes) belong to the runtime section.
const SECTIONS: &[(&str, &[&str])] = &[
    ("The runtime", &["runtime.rs", "mod.rs"]),
    ("Stores and libraries", &["store.rs"]),
    ("Tables", &["table.rs"]),
    ("Snapshots", &["snapshot.rs"]),
    ("Batch calls", &["batch.rs"]),
    ("Staged writes", &["staging.rs"]),
    ("Key spaces", &["kv.rs"]),
    ("Document collections", &["collection.rs"]),
    ("SQL", &["sql.rs"]),
];

/// The `sheaf_*` functions a source file exports, and its opening `//!` documentation.
fn exports_and_intro(file: &str) -> (Vec<String>, Vec<String>) {
    let root = crate_root().join("src/ffi");
    let text = std::fs::read_to_string(root.join(file)).expect("an ffi source file");
    let intro = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim_start().to_string())
        .collect();
    let exports = text
        .lines()
        .filter_map(|l| l.strip_prefix("pub extern \"C\" fn "))
        .filter_map(|rest| rest.split('(').next())
        .map(str::to_string)
        .collect();
    (exports, intro)
}

/// The line of the header that declares `function`.
fn declaration_line(lines: &[&str], function: &str) -> Option<usize> {
    let call = format!("{function}(");
    lines
        .iter()
        .position(|l| !l.trim_start().starts_with("//") && l.contains(&call))
}

/// Inserts a banner with each section's title and introduction (the opening documentation of
/// its source file) before the first function of the section, so the header reads as a manual
/// in order of use. Also checks that the sections come in the order listed.
fn with_sections(generated: &str) -> String {
    let lines: Vec<&str> = generated.lines().collect();
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let mut previous = 0;
    for (number, (title, files)) in SECTIONS.iter().enumerate() {
        let mut first: Option<usize> = None;
        let mut intro: Vec<String> = Vec::new();
        for file in *files {
            let (exports, file_intro) = exports_and_intro(file);
            if intro.is_empty() {
                intro = file_intro;
            }
            for f in exports {
                if let Some(line) = declaration_line(&lines, &f) {
                    first = Some(first.map_or(line, |l: usize| l.min(line)));
                }
            }
        }
        let mut at =
            first.unwrap_or_else(|| panic!("no function of section {title} in the header"));
        assert!(
            at >= previous,
            "section {title} is out of order in the header"
        );
        previous = at;
        // Back up over the function's own documentation and any #if line.
        while at > 0 {
            let above = lines[at - 1].trim_start();
            if above.starts_with("//") || above.starts_with("#if") {
                at -= 1;
            } else {
                break;
            }
        }
        let rule = "// ".to_string() + &"=".repeat(94);
        let mut banner = vec![
            rule.clone(),
            format!("// {}. {title}", number + 1),
            "//".to_string(),
        ];
        banner.extend(intro.iter().map(|l| {
            if l.is_empty() {
                "//".to_string()
            } else {
                format!("// {l}")
            }
        }));
        banner.push(rule);
        banner.push(String::new());
        inserts.push((at, banner.join("\n")));
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        for (_, banner) in inserts.iter().filter(|(at, _)| *at == i) {
            out.push_str(banner);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn generate_with(config_file: &str) -> String {
    let root = crate_root();
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
    let path = crate_root().join(relative);
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
    let manifest = std::fs::read_to_string(crate_root().join("Cargo.toml")).expect("Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the crate's version line");
    let mut parts = version.split('.');
    for name in ["MAJOR", "MINOR", "PATCH"] {
        let expected = format!("#define SHEAF_VERSION_{name} {}", parts.next().unwrap());
        assert!(text.contains(&expected), "header lacks `{expected}`");
    }
}

/// Every function that returns a status says which statuses it returns on an `Errors:` line.
#[test]
fn every_fallible_function_lists_its_errors() {
    let text = generate();
    let lines: Vec<&str> = text.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("SheafStatus ") else {
            continue;
        };
        if !rest.contains("SheafError **err") {
            continue; // not fallible: e.g. sheaf_error_code returns a status it reads
        }
        let name = rest.split('(').next().unwrap_or_default();
        let mut doc = String::new();
        let mut j = i;
        while j > 0 && lines[j - 1].trim_start().starts_with("//") {
            j -= 1;
            doc.insert_str(0, lines[j]);
        }
        if !doc.contains("Errors:") {
            missing.push(name.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "functions without an Errors: line: {missing:?}"
    );
}
