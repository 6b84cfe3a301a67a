//! Makes every binary of this package (the CLI, the tests, the benches) find libtorch at run time
//! with nothing set by hand, and keeps CUDA usable where the libtorch build has it.
//!
//! * rpath: torch-sys exports the directory it linked against as `DEP_TCH_LIBTORCH_LIB`; we embed
//!   it as an rpath so `cargo run`, `cargo test` and `target/release/blindspot` load that libtorch.
//! * CUDA: the default linker flag `--as-needed` drops `libtorch_cuda.so` because no symbol of it
//!   is referenced directly, after which `tch::Cuda::is_available()` is false even on a GPU host.
//!   We link it with `--no-as-needed` whenever the libtorch directory has it.
use std::path::Path;

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
    if Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{lib_dir}");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
