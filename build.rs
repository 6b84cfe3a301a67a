//! Makes every binary of this package (the CLI, the tests, the benches) and of the crates that
//! depend on it find libtorch at run time with nothing set by hand, and keeps CUDA usable where
//! the libtorch build has it.
//!
//! * rpath: torch-sys exports the directory it linked against as `DEP_TCH_LIBTORCH_LIB`; we embed
//!   it as an rpath so `cargo run`, `cargo test` and `target/release/blindspot` load that libtorch.
//! * Dependents: a build script's `rustc-link-arg` does not reach the crates that depend on it,
//!   but cargo puts every `rustc-link-search` folder that lies inside the target directory on the
//!   dynamic-library path of `cargo test` and `cargo run`. So a link to the libtorch folder in
//!   OUT_DIR, given as a search path, lets a fresh crate that depends on blindspot (normal or
//!   dev-dependency) run its tests with no build script of its own.
//! * CUDA is not linked: `src/device.rs` loads `libtorch_cuda.so` at run time when a GPU may be
//!   present (linking it made every process load ~400 MB of CUDA libraries, GPU or not).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    // Documentation without libtorch (docs.rs, the `doc-only` feature): nothing is linked.
    if std::env::var_os("CARGO_FEATURE_DOC_ONLY").is_some() {
        return;
    }
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=torch-sys did not report its libtorch directory; \
             set LD_LIBRARY_PATH yourself"
        );
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    if let Some(out) = std::env::var_os("OUT_DIR") {
        let link = std::path::Path::new(&out).join("libtorch");
        let _ = std::fs::remove_file(&link);
        match std::os::unix::fs::symlink(&lib_dir, &link) {
            Ok(()) => println!("cargo:rustc-link-search=native={}", link.display()),
            Err(e) => println!("cargo:warning=could not link {lib_dir} into OUT_DIR: {e}"),
        }
    }
    // Crates that depend on blindspot also read this as DEP_BLINDSPOT_LIBTORCH_LIB.
    println!("cargo:libtorch_lib={lib_dir}");
    println!("cargo:rustc-env=BLINDSPOT_LIBTORCH_LIB={lib_dir}");
}
