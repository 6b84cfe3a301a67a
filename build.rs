//! Makes every binary of this package (the CLI, the tests, the benches) find libtorch at run time
//! with nothing set by hand, and keeps CUDA usable where the libtorch build has it.
//!
//! * rpath: torch-sys exports the directory it linked against as `DEP_TCH_LIBTORCH_LIB`; we embed
//!   it as an rpath so `cargo run`, `cargo test` and `target/release/blindspot` load that libtorch.
//! * CUDA is not linked: `src/device.rs` loads `libtorch_cuda.so` at run time when a GPU may be
//!   present (linking it made every process load ~400 MB of CUDA libraries, GPU or not).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=torch-sys did not report its libtorch directory; \
             set LD_LIBRARY_PATH yourself"
        );
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    // Crates that depend on blindspot read this as DEP_BLINDSPOT_LIBTORCH_LIB (see
    // examples/abs-gradcam/build.rs) to embed the same rpath.
    println!("cargo:libtorch_lib={lib_dir}");
    println!("cargo:rustc-env=BLINDSPOT_LIBTORCH_LIB={lib_dir}");
}
