//! `--device auto|cpu|cuda|cuda:N`: parsing and availability checks, and loading libtorch's CUDA
//! backend when (and only when) a GPU may be present.
//!
//! Why by hand: libtorch splits its CUDA backend (`libtorch_cuda.so` and, through it, cuDNN,
//! cuBLAS, NCCL, ...) from the CPU library, and CUDA is usable only once that library's static
//! initialisers have run. Linking it into every binary made each process load about 400 MB of
//! CUDA libraries, on machines without a GPU too: `blindspot --version` took 0.54–0.61 s and
//! 512 MB of memory on the development machine, 0.28–0.30 s and 118 MB without them. So nothing
//! links it; [`cuda_available`] loads it with `dlopen` the first time a device is chosen, if the
//! NVIDIA driver is there (`/dev/nvidiactl`, `/proc/driver/nvidia` or WSL's `/dev/dxg`; the
//! environment variable `BLINDSPOT_CUDA` overrides the probe), before any CUDA query (libtorch
//! caches its first answer).
mod memory;

pub use memory::{chunk_for_memory, halving};

use crate::error::{Error, Result};
use std::sync::OnceLock;
use tch::{Cuda, Device};

/// Files whose presence says an NVIDIA driver is installed (Linux, WSL).
const DRIVER_FILES: [&str; 3] = ["/dev/nvidiactl", "/proc/driver/nvidia", "/dev/dxg"];

/// What became of libtorch's CUDA backend in this process ([`cuda_status`]).
#[derive(Clone, Debug, PartialEq)]
pub enum CudaStatus {
    /// `BLINDSPOT_CUDA=off`: never loaded.
    Off,
    /// `BLINDSPOT_CUDA` holds something other than auto, on or off: not loaded.
    BadSetting(String),
    /// No NVIDIA driver file was found, so the backend was not loaded.
    NoDriver,
    /// This libtorch was built without CUDA (no `libtorch_cuda.so`).
    NoBackend,
    /// `dlopen` failed, with its message.
    LoadFailed(String),
    /// Loaded; libtorch sees this many GPUs.
    Loaded { devices: usize },
}

/// Loads the CUDA backend on the first call (module doc) and says how that went.
/// `BLINDSPOT_CUDA=off` never loads it (CPU only, the fastest start); `on` loads it even when no
/// driver file is found (a driver installed elsewhere); unset or `auto` loads it when one is.
pub fn cuda_status() -> &'static CudaStatus {
    static STATUS: OnceLock<CudaStatus> = OnceLock::new();
    STATUS.get_or_init(|| {
        let setting = std::env::var("BLINDSPOT_CUDA").unwrap_or_default();
        match setting.trim().to_ascii_lowercase().as_str() {
            "off" | "0" => return CudaStatus::Off,
            "on" | "1" => {}
            "" | "auto"
                if !DRIVER_FILES
                    .iter()
                    .any(|f| std::path::Path::new(f).exists()) =>
            {
                return CudaStatus::NoDriver
            }
            "" | "auto" => {}
            _ => {
                crate::io::note!(
                    "warning: BLINDSPOT_CUDA={setting} is not auto, on or off; CUDA is not \
                     loaded and the CPU is used"
                );
                return CudaStatus::BadSetting(setting);
            }
        }
        match load_cuda_backend() {
            Ok(false) => CudaStatus::NoBackend,
            Ok(true) => CudaStatus::Loaded {
                devices: if Cuda::is_available() {
                    Cuda::device_count() as usize
                } else {
                    0
                },
            },
            Err(why) => {
                crate::io::note!(
                    "warning: libtorch's CUDA backend did not load ({why}); running on the CPU"
                );
                CudaStatus::LoadFailed(why)
            }
        }
    })
}

/// Whether libtorch sees a CUDA GPU (loading the backend first, see [`cuda_status`]).
pub fn cuda_available() -> bool {
    cuda_device_count() > 0
}

/// The number of CUDA devices libtorch sees (0 without a GPU).
pub fn cuda_device_count() -> usize {
    match cuda_status() {
        CudaStatus::Loaded { devices } => *devices,
        _ => 0,
    }
}

/// CUDA device 0 when there is a GPU, the CPU otherwise.
pub fn cuda_if_available() -> Device {
    if cuda_available() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    }
}

/// The address of a C symbol in any library the process has loaded (`dlsym` with
/// `RTLD_DEFAULT`), or None.
pub(crate) fn symbol(name: &str) -> Option<*mut libc::c_void> {
    let c_name = std::ffi::CString::new(name).expect("no NUL in a symbol name");
    // SAFETY: a valid C string; RTLD_DEFAULT searches every loaded library.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c_name.as_ptr()) };
    (!address.is_null()).then_some(address)
}

/// `dlopen`s `libtorch_cuda.so` globally: by name first (the binary's rpath, `LD_LIBRARY_PATH`),
/// then from the libtorch directory the build linked against. Ok(false): that libtorch has no
/// CUDA backend.
fn load_cuda_backend() -> std::result::Result<bool, String> {
    let built = option_env!("BLINDSPOT_LIBTORCH_LIB").map(|dir| format!("{dir}/libtorch_cuda.so"));
    let mut errors = Vec::new();
    for name in std::iter::once("libtorch_cuda.so".to_string()).chain(built.clone()) {
        let c_name = std::ffi::CString::new(name).expect("no NUL in a library path");
        // SAFETY: a valid C string; RTLD_GLOBAL makes the backend's symbols and static
        // registrations visible to libtorch_cpu, as linking it would.
        let handle = unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if !handle.is_null() {
            return Ok(true);
        }
        // SAFETY: dlerror returns NULL or a C string valid until the next dl* call.
        let error = unsafe { libc::dlerror() };
        if !error.is_null() {
            let text = unsafe { std::ffi::CStr::from_ptr(error) };
            errors.push(text.to_string_lossy().into_owned());
        }
    }
    match built {
        Some(path) if !std::path::Path::new(&path).exists() => Ok(false),
        _ => Err(errors.join("; ")),
    }
}

/// Parses a device name. `auto` is CUDA device 0 when libtorch sees a GPU, the CPU otherwise.
/// Asking for CUDA where there is none is an error, never a silent fallback.
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    let cuda = |index: usize| -> Result<Device> {
        let why = match cuda_status() {
            CudaStatus::Loaded { devices } if index < *devices => return Ok(Device::Cuda(index)),
            CudaStatus::Loaded { devices: 0 } => {
                "libtorch's CUDA backend loaded and sees no CUDA GPU".to_string()
            }
            CudaStatus::Loaded { devices } => {
                return Err(Error::Device {
                    what: format!(
                        "device `{name}` requested, but only {devices} CUDA device(s) exist"
                    ),
                    fix: format!("use cuda:0..cuda:{}", devices - 1),
                })
            }
            CudaStatus::Off => "BLINDSPOT_CUDA=off is set".into(),
            CudaStatus::BadSetting(value) => {
                format!("BLINDSPOT_CUDA={value} is not one of auto, on, off")
            }
            CudaStatus::NoDriver => format!(
                "no NVIDIA driver was found ({}; BLINDSPOT_CUDA=on loads libtorch's CUDA \
                 backend anyway)",
                DRIVER_FILES.join(", ")
            ),
            CudaStatus::NoBackend => "this libtorch was built without CUDA".into(),
            CudaStatus::LoadFailed(why) => format!("libtorch's CUDA backend did not load: {why}"),
        };
        Err(Error::Device {
            what: format!("device `{name}` requested, but {why}"),
            fix: "use --device cpu (or --device auto, which picks CUDA only when present)".into(),
        })
    };
    match name.as_str() {
        "auto" => Ok(cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i),
            _ => Err(Error::Device {
                what: format!("unknown device `{other}`"),
                fix: "use auto, cpu, cuda or cuda:N".into(),
            }),
        },
    }
}

/// A short human name for reports: `cpu`, `cuda:0`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
