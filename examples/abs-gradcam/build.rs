//! Embeds the libtorch directory as an rpath so the test binary finds libtorch with nothing set
//! by hand (blindspot exports it as DEP_BLINDSPOT_LIBTORCH_LIB through its `links` key).
fn main() {
    if let Ok(dir) = std::env::var("DEP_BLINDSPOT_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
