//! The precision policy: what makes a run's numbers the same bits on every machine
//! (docs/precision.md holds the sources of machine dependence, what pins each, and the cost).
//!
//! libtorch's CPU numbers depend on the machine through three libraries linked inside it, each of
//! which picks its kernels from the processor the first time it runs: ATen's vectorised kernels
//! (`ATEN_CPU_CAPABILITY`), MKL's BLAS and LAPACK (`MKL_CBWR`, its conditional numerical
//! reproducibility, which also depends on the processor's vendor and on MKL's thread count) and
//! oneDNN's convolutions (`ONEDNN_MAX_CPU_ISA`). On CUDA, cuBLAS and cuDNN multiply float32 on
//! TF32 tensor cores unless `NVIDIA_TF32_OVERRIDE=0`. The libraries read their environment
//! variables once, so the policy sets them before libtorch first runs ([`init`], which the command
//! line, the test harness and the benchmark call first thing), and MKL's thread count on each
//! thread that computes ([`pin_thread`]). Why by hand: no crate sets these, and tch exposes none.
//!
//! * [`Precision::Reproducible`] (the default): AVX2 kernels in ATen and oneDNN on every x86-64
//!   processor with AVX2 (an AVX-512 machine computes exactly what an AVX2 machine does); MKL's
//!   `COMPATIBLE` branch, the one branch MKL runs alike on Intel and other vendors' processors
//!   (its `AVX2` branch exists on Intel processors only: elsewhere MKL silently falls back to its
//!   own choice), on one MKL thread (outside its strict mode MKL's sums follow its thread count);
//!   at least two ATen threads (one thread takes serial code paths that sum in another order);
//!   TF32 off.
//! * [`Precision::Fast`]: the vendors' defaults (the widest instruction set, TF32 on CUDA).
//!
//! Every report records the policy and what libtorch says it computes with ([`PrecisionRecord`]).
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The environment variable that chooses the policy when no `--precision` is given.
pub const ENV: &str = "BLINDSPOT_PRECISION";

/// How a run trades reproducibility for speed (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Precision {
    /// The same bits on every x86-64 machine with AVX2, whatever its vendor and core count;
    /// TF32 off on CUDA.
    Reproducible,
    /// The vendors' defaults: the processor's widest kernels, TF32 on CUDA.
    Fast,
}

impl Precision {
    /// `reproducible` or `fast` (as `--precision` and reports spell them).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Reproducible => "reproducible",
            Precision::Fast => "fast",
        }
    }

    /// Parses `reproducible` or `fast`; `place` says where the text came from.
    pub fn parse(text: &str, place: &str) -> Result<Precision> {
        match text.trim().to_ascii_lowercase().as_str() {
            "reproducible" => Ok(Precision::Reproducible),
            "fast" => Ok(Precision::Fast),
            _ => Err(Error::input(
                format!("unknown precision `{}`", crate::error::shorten(text)),
                place,
                "use reproducible (the same bits on every x86-64 machine, the default) or fast",
            )),
        }
    }

    /// The policy `BLINDSPOT_PRECISION` asks for (reproducible when it is unset or empty).
    pub fn from_env() -> Result<Precision> {
        match std::env::var(ENV) {
            Ok(text) if !text.trim().is_empty() => Precision::parse(&text, ENV),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Precision::Reproducible),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::input(
                format!("{ENV} is not UTF-8"),
                ENV,
                "use reproducible or fast",
            )),
        }
    }
}

/// What a run computed with, as every report states it (report.json's `precision`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrecisionRecord {
    /// The policy in force.
    pub mode: Precision,
    /// ATen's CPU kernels as libtorch reports them (`AVX2`, `AVX512`, `DEFAULT`), or `unknown`
    /// where this libtorch does not say.
    pub cpu_kernels: String,
    /// MKL's reproducibility branch (`MKL_CBWR`), or `auto` (MKL's own choice per processor).
    pub mkl: String,
    /// MKL's thread count on every thread that computes, where the policy pins it (1 under the
    /// reproducible policy); None: libtorch's own (its intra-op thread count), or a libtorch
    /// without MKL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mkl_threads: Option<u32>,
    /// oneDNN's instruction-set cap (`ONEDNN_MAX_CPU_ISA`), or `auto`.
    pub onednn: String,
    /// Whether CUDA may multiply float32 on TF32 tensor cores.
    pub cuda_tf32: bool,
}

impl PrecisionRecord {
    /// One line for report headers: `reproducible (CPU kernels AVX2, MKL COMPATIBLE on 1
    /// thread, …)`.
    pub fn summary(&self) -> String {
        let threads = match self.mkl_threads {
            Some(1) => " on 1 thread".to_string(),
            Some(n) => format!(" on {n} threads"),
            None => String::new(),
        };
        format!(
            "{} (CPU kernels {}, MKL {}{threads}, oneDNN {}, TF32 {})",
            self.mode.as_str(),
            self.cpu_kernels,
            self.mkl,
            self.onednn,
            if self.cuda_tf32 { "on" } else { "off" }
        )
    }
}

/// The values the reproducible policy sets on x86-64 processors with AVX2: (variable, value).
const PINS: [(&str, &str); 2] = [
    ("ATEN_CPU_CAPABILITY", "avx2"),
    ("ONEDNN_MAX_CPU_ISA", "AVX2"),
];

/// MKL's branch under the reproducible policy, on every x86-64 processor: SSE2 code without the
/// approximate reciprocals (`rcpps`, `rsqrtps`) whose results differ between vendors. MKL's
/// documentation names it as the branch that gives the same results on Intel and Intel-compatible
/// processors; its AVX2 branch is Intel-only (elsewhere MKL silently runs its automatic choice,
/// docs/precision.md).
const MKL_BRANCH: &str = "COMPATIBLE";

static RECORD: OnceLock<PrecisionRecord> = OnceLock::new();

/// Applies `mode` (module doc) and returns what the process computes with. Call it before
/// anything runs libtorch: the libraries read their settings once. The first call decides; a
/// later call with another mode is an error. Errors: a machine-dependence variable set to a
/// value the processor lacks (which would crash libtorch), or one that contradicts the
/// reproducible policy.
pub fn init(mode: Precision) -> Result<&'static PrecisionRecord> {
    if let Some(record) = RECORD.get() {
        if record.mode != mode {
            return Err(Error::input(
                format!("the precision is already {}", record.mode.as_str()),
                "--precision",
                "choose the precision once per process, before anything runs libtorch",
            ));
        }
        return Ok(record);
    }
    crate::limits::keep_freed_blocks();
    validate_environment()?;
    match mode {
        Precision::Reproducible => {
            reject_conflicts()?;
            if cpu_has_avx2() {
                for (name, value) in PINS {
                    std::env::set_var(name, value);
                }
            } else {
                crate::io::note!(
                    "warning: this processor lacks AVX2 or FMA: --precision reproducible cannot \
                     use the AVX2 kernels every other machine uses, so numbers may differ from \
                     theirs in the last bits (docs/precision.md)"
                );
            }
            #[cfg(target_arch = "x86_64")]
            std::env::set_var("MKL_CBWR", MKL_BRANCH);
            std::env::set_var("NVIDIA_TF32_OVERRIDE", "0");
            // One thread takes libtorch's serial code paths, whose sums differ from the
            // parallel ones in the last bits; any two or more threads agree (docs/precision.md).
            if tch::get_num_threads() < 2 {
                tch::set_num_threads(2);
            }
        }
        Precision::Fast => {}
    }
    let mut record = observe(mode);
    if mode == Precision::Reproducible && mkl_thread_setter().is_some() {
        record.mkl_threads = Some(MKL_THREADS);
    }
    let known = record.cpu_kernels != "unknown";
    if mode == Precision::Reproducible && cpu_has_avx2() && known && record.cpu_kernels != "AVX2" {
        crate::io::note!(
            "warning: libtorch ran before blindspot's precision policy and computes with its {} \
             kernels, not AVX2: numbers may differ from other machines' (call \
             blindspot::precision::init first)",
            record.cpu_kernels
        );
    }
    let record = RECORD.get_or_init(|| record);
    pin_thread();
    Ok(record)
}

/// MKL's thread count under the reproducible policy.
const MKL_THREADS: u32 = 1;

/// Pins MKL's thread count on the calling thread to what the policy in force says (one thread
/// under the reproducible policy; nothing under the fast one, or before [`init`]). Cheap and
/// idempotent: every entry into blindspot's computation calls it ([`init`], each check's context,
/// the explain pipeline, training), so a library user's threads, the test harness's and the
/// Python module's get the same MKL as the command line's main thread.
///
/// Why per thread: outside its strict mode (which exists for the Intel-only branches) MKL's sums
/// follow its thread count, and libtorch sets MKL's count on each thread to its own intra-op
/// count (the number of cores) the first time that thread runs a parallel operation
/// (`at::init_num_threads`, through MKL's thread-local setting, which outranks MKL's global one
/// and its environment variables). So the pin first lets libtorch do that, then overrides it.
pub fn pin_thread() {
    let Some(threads) = RECORD.get().and_then(|r| r.mkl_threads) else {
        return;
    };
    let Some(set) = mkl_thread_setter() else {
        return;
    };
    // Any parallel-aware call makes ATen initialise this thread's thread counts now.
    let _ = tch::get_num_threads();
    // SAFETY: `MKL_Set_Num_Threads_Local` is MKL's C interface, `int (int)`: it sets the
    // calling thread's count and returns the previous one.
    unsafe { set(threads as libc::c_int) };
}

type SetThreads = unsafe extern "C" fn(libc::c_int) -> libc::c_int;

/// MKL's `MKL_Set_Num_Threads_Local` (its C interface, by value; the lower-case names are the
/// Fortran interface, by reference), where libtorch was built with MKL and exports it.
fn mkl_thread_setter() -> Option<SetThreads> {
    static SETTER: OnceLock<Option<usize>> = OnceLock::new();
    let address = *SETTER.get_or_init(|| {
        crate::device::symbol("MKL_Set_Num_Threads_Local").map(|address| address as usize)
    });
    // SAFETY: the exported symbol is the function of the C signature above.
    address.map(|address| unsafe { std::mem::transmute::<usize, SetThreads>(address) })
}

/// [`init`] with the policy `BLINDSPOT_PRECISION` asks for.
pub fn init_from_env() -> Result<&'static PrecisionRecord> {
    init(Precision::from_env()?)
}

/// What this process computes with: the record of [`init`], which runs now (from the
/// environment) if nothing called it; a bad environment then warns and leaves libtorch alone.
pub fn record() -> &'static PrecisionRecord {
    if let Some(record) = RECORD.get() {
        return record;
    }
    init_from_env().unwrap_or_else(|err| {
        crate::io::note!("warning: {err}\n  (blindspot's precision policy was not applied)");
        RECORD.get_or_init(|| observe(Precision::Fast))
    })
}

/// What libtorch computes with under `mode`, as set now.
fn observe(mode: Precision) -> PrecisionRecord {
    PrecisionRecord {
        mode,
        cpu_kernels: aten_capability().unwrap_or_else(|| "unknown".into()),
        mkl: setting("MKL_CBWR"),
        mkl_threads: None,
        onednn: setting("ONEDNN_MAX_CPU_ISA"),
        cuda_tf32: std::env::var("NVIDIA_TF32_OVERRIDE").map_or(true, |v| v.trim() != "0"),
    }
}

fn setting(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "auto".into())
}

/// Whether the processor runs AVX2 code with FMA (what ATen's and MKL's AVX2 kernels need).
fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the processor has what ATen's and MKL's AVX-512 kernels need.
fn cpu_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cpu_has_avx2()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The instruction-set variables a user may set (in either mode), checked before libtorch reads
/// them: a value the processor lacks makes libtorch execute instructions it does not have
/// (SIGILL), and a misspelt one is ignored silently by ATen (it wants lower case).
fn validate_environment() -> Result<()> {
    if std::env::var_os("BLINDSPOT_TF32").is_some() {
        return Err(Error::input(
            "BLINDSPOT_TF32 is no longer read",
            "the environment",
            "unset it; BLINDSPOT_PRECISION=fast (or --precision fast) keeps TF32 on CUDA",
        ));
    }
    let fix_unset = |name: &str| format!("unset {name}, or set one of the values listed");
    if let Ok(value) = std::env::var("ATEN_CPU_CAPABILITY") {
        let supported = match value.as_str() {
            "default" => true,
            "avx2" => cpu_has_avx2(),
            "avx512" => cpu_has_avx512(),
            _ => {
                return Err(Error::input(
                    format!(
                        "ATEN_CPU_CAPABILITY={} is not default, avx2 or avx512 (lower case)",
                        crate::error::shorten(&value)
                    ),
                    "the environment",
                    fix_unset("ATEN_CPU_CAPABILITY"),
                ))
            }
        };
        if !supported {
            return Err(lacks("ATEN_CPU_CAPABILITY", &value));
        }
    }
    for (name, known) in [
        ("MKL_CBWR", MKL_BRANCHES.as_slice()),
        ("MKL_ENABLE_INSTRUCTIONS", MKL_BRANCHES.as_slice()),
        ("ONEDNN_MAX_CPU_ISA", ONEDNN_ISAS.as_slice()),
    ] {
        let Ok(value) = std::env::var(name) else {
            continue;
        };
        let upper = value.trim().to_ascii_uppercase();
        let branch = match name {
            "MKL_CBWR" => upper.strip_suffix(",STRICT").unwrap_or(&upper),
            _ => upper.as_str(),
        };
        if !known.contains(&branch) {
            return Err(Error::input(
                format!(
                    "{name}={} is not one of {}",
                    crate::error::shorten(&value),
                    known.join(", ")
                ),
                "the environment",
                fix_unset(name),
            ));
        }
        // oneDNN's variable is a cap (a value above the processor's is harmless); MKL's branch
        // must exist on the processor.
        let needs_avx512 = branch.starts_with("AVX512");
        let needs_avx2 = at_least_avx2(branch);
        if name != "ONEDNN_MAX_CPU_ISA"
            && ((needs_avx512 && !cpu_has_avx512()) || (needs_avx2 && !cpu_has_avx2()))
        {
            return Err(lacks(name, &value));
        }
    }
    Ok(())
}

/// Whether an MKL branch (upper case) is AVX2 or wider.
fn at_least_avx2(branch: &str) -> bool {
    branch == "AVX2" || branch.starts_with("AVX512")
}

fn lacks(name: &str, value: &str) -> Error {
    Error::input(
        format!("{name}={value} asks for instructions this processor does not have"),
        "the environment",
        format!(
            "unset {name} (blindspot's reproducible policy picks AVX2 where the processor has \
             it), or name an instruction set this processor has"
        ),
    )
}

/// MKL's code branches (`MKL_CBWR`, `MKL_ENABLE_INSTRUCTIONS`), as MKL spells them.
const MKL_BRANCHES: [&str; 13] = [
    "AUTO",
    "COMPATIBLE",
    "SSE2",
    "SSE3",
    "SSSE3",
    "SSE4_1",
    "SSE4_2",
    "AVX",
    "AVX2",
    "AVX512",
    "AVX512_E1",
    "AVX512_MIC",
    "AVX512_MIC_E1",
];

/// oneDNN's instruction-set caps (`ONEDNN_MAX_CPU_ISA`), as oneDNN spells them.
const ONEDNN_ISAS: [&str; 15] = [
    "ALL",
    "DEFAULT",
    "SSE41",
    "AVX",
    "AVX2",
    "AVX2_VNNI",
    "AVX2_VNNI_2",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
    "AVX512_CORE_BF16",
    "AVX10_1_512",
    "AVX512_CORE_FP16",
    "AVX10_1_512_AMX",
    "AVX512_CORE_AMX",
    "AVX10_1_512_AMX_FP16",
];

/// Under the reproducible policy, a variable the user set to something other than its pin
/// would silently change the numbers: an error that says so. `MKL_ENABLE_INSTRUCTIONS` is
/// harmless (MKL's COMPATIBLE branch computes the same under every cap, docs/precision.md).
fn reject_conflicts() -> Result<()> {
    let conflict = |name: &str, value: &str, pin: &str| {
        Error::input(
            format!(
                "{name}={} contradicts --precision reproducible, which computes with {pin} on \
                 every machine",
                crate::error::shorten(value)
            ),
            "the environment",
            format!("unset {name}, or pass --precision fast (BLINDSPOT_PRECISION=fast) to use it"),
        )
    };
    if let Ok(value) = std::env::var("MKL_CBWR") {
        if cfg!(target_arch = "x86_64") && !value.trim().eq_ignore_ascii_case(MKL_BRANCH) {
            return Err(conflict("MKL_CBWR", &value, "MKL's COMPATIBLE branch"));
        }
    }
    if !cpu_has_avx2() {
        return Ok(());
    }
    for (name, pin) in PINS {
        if let Ok(value) = std::env::var(name) {
            if !value.trim().eq_ignore_ascii_case(pin) {
                return Err(conflict(name, &value, pin));
            }
        }
    }
    if let Ok(value) = std::env::var("NVIDIA_TF32_OVERRIDE") {
        if value.trim() != "0" {
            return Err(conflict("NVIDIA_TF32_OVERRIDE", &value, "TF32 off"));
        }
    }
    Ok(())
}

/// ATen's CPU kernel set, from `at::get_cpu_capability()` (which fixes it on its first call, as
/// any CPU operation does). The function returns a `std::string` (libstdc++'s ABI: a 32-byte
/// {data, size, capacity or 16-byte inline buffer}) through the hidden result pointer that the
/// x86-64 System V ABI passes in the first argument register; found with `dlsym`, so a libtorch
/// that does not export it gives None.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn aten_capability() -> Option<String> {
    #[repr(C)]
    struct StdString {
        data: *const u8,
        size: usize,
        inline: [u8; 16],
    }
    type Get = unsafe extern "C" fn(*mut StdString) -> *mut StdString;
    type Delete = unsafe extern "C" fn(*mut libc::c_void);
    use crate::device::symbol;
    let get = symbol("_ZN2at18get_cpu_capabilityB5cxx11Ev")?;
    let mut out = std::mem::MaybeUninit::<StdString>::uninit();
    // SAFETY: the function's C++ signature is `std::string ()`; it constructs the string in
    // `out`, which stays in place while we read it.
    let text = unsafe {
        let get = std::mem::transmute::<*mut libc::c_void, Get>(get);
        get(out.as_mut_ptr());
        let s = &*out.as_ptr();
        let text = String::from_utf8_lossy(std::slice::from_raw_parts(s.data, s.size)).into_owned();
        if s.data != s.inline.as_ptr() {
            // A heap buffer (longer than 15 bytes): libstdc++ frees it with operator delete.
            if let Some(delete) = symbol("_ZdlPv") {
                std::mem::transmute::<*mut libc::c_void, Delete>(delete)(s.data as *mut _);
            }
        }
        text
    };
    (!text.is_empty() && text.len() < 32).then_some(text)
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn aten_capability() -> Option<String> {
    None
}
