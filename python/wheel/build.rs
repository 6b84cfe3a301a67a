//! The extension finds libtorch where pip puts it: `site-packages/blindspot/_blindspot.so` looks
//! in `site-packages/torch/lib`. (`import blindspot` imports torch first, so libtorch is already
//! loaded by its soname when torch lives elsewhere on the path; the rpath is the fallback.)
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-cdylib=-Wl,-rpath,$ORIGIN/../torch/lib");
}
