//! Embeds the hydrate bundle (`cargo xtask bundle` output in `$UI_BUNDLE_DIR`) into the
//! binary, so one `clauster` file serves everything. A missing bundle is not an error: the
//! server then renders pages that never hydrate and says so at startup.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-env-changed=UI_BUNDLE_DIR");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::from("&[\n");
    let mut hasher = Fnv::default();
    // The hand-written assets are versioned together with the bundle.
    for asset in [
        "assets/boot.js",
        "assets/style.css",
        "assets/theme.js",
        "assets/transcript.css",
        "assets/transcript.js",
        "assets/notify.js",
        "assets/settings.js",
        "assets/settings.css",
        "assets/claude_config.js",
        "assets/claude_config.css",
        "assets/maintenance.js",
        "assets/claude_md.js",
        "assets/page.js",
    ] {
        println!("cargo::rerun-if-changed={asset}");
        hasher.write(&std::fs::read(asset).expect("read a hand-written asset"));
    }
    if let Some(dir) = std::env::var_os("UI_BUNDLE_DIR").map(PathBuf::from) {
        // A directory that does not exist would make cargo rerun this script on every build.
        std::fs::create_dir_all(&dir).expect("create the bundle directory");
        println!("cargo::rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        collect(&dir, &dir, &mut files);
        files.sort();
        for rel in files {
            let bytes = std::fs::read(dir.join(&rel)).expect("read a bundle file");
            hasher.write(rel.as_bytes());
            hasher.write(&bytes);
            let gz_path = out.join(format!("{}.gz", rel.replace('/', "__")));
            std::fs::write(&gz_path, gzip(&bytes)).expect("write gzip");
            writeln!(
                code,
                "    BundleFile {{ path: {rel:?}, raw: include_bytes!({raw:?}), gzip: include_bytes!({gz:?}) }},",
                raw = dir.join(&rel).to_string_lossy(),
                gz = gz_path.to_string_lossy(),
            )
            .expect("write to a String");
        }
    }
    code.push(']');
    std::fs::write(out.join("bundle_files.rs"), code).expect("write bundle_files.rs");
    std::fs::write(out.join("bundle_hash.txt"), format!("{:016x}", hasher.0)).expect("write hash");
}

/// Files up to this size are compressed with zopfli (a release bundle, ≈ 4 s); bigger ones
/// (the 9 MB debug bundle of the tests) with flate2's best level, which takes a fraction.
const ZOPFLI_MAX_BYTES: usize = 3 << 20;

/// `bytes` in gzip format as small as is affordable here: zopfli makes the release bundle
/// ≈ 5 % smaller than flate2's best level, in the same format every browser decodes (issue
/// 19: the bundle's ≤ 400 KB gzip budget is about what is sent).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() <= ZOPFLI_MAX_BYTES {
        let mut out = Vec::new();
        zopfli::compress(
            zopfli::Options::default(),
            zopfli::Format::Gzip,
            bytes,
            &mut out,
        )
        .expect("zopfli in memory");
        return out;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// FNV-1a: enough to give the bundle a cache-busting version; not a security hash.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
