//! `--device auto|cpu|cuda|cuda:N`: parsing and availability checks.
use crate::error::{Error, Result};
use tch::{Cuda, Device};

/// Parses a device name. `auto` is CUDA device 0 when libtorch sees a GPU, the CPU otherwise.
/// Asking for CUDA where there is none is an error, never a silent fallback.
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    let cuda = |index: usize| -> Result<Device> {
        if !Cuda::is_available() {
            return Err(Error::Device {
                what: format!(
                    "device `{name}` requested, but libtorch sees no CUDA GPU on this machine"
                ),
                fix: "use --device cpu (or --device auto, which picks CUDA only when present)"
                    .into(),
            });
        }
        let count = Cuda::device_count() as usize;
        if index >= count {
            return Err(Error::Device {
                what: format!("device `{name}` requested, but only {count} CUDA device(s) exist"),
                fix: format!("use cuda:0..cuda:{}", count - 1),
            });
        }
        Ok(Device::Cuda(index))
    };
    match name.as_str() {
        "auto" => Ok(Device::cuda_if_available()),
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

/// Whether the fast mode was asked for: `BLINDSPOT_TF32=1`, or TF32 forced on through
/// `NVIDIA_TF32_OVERRIDE` by the user.
fn tf32_requested() -> bool {
    let on = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
    on("BLINDSPOT_TF32") || on("NVIDIA_TF32_OVERRIDE")
}

/// The precision policy (docs/precision.md): checks compute in full FP32. On CUDA, cuBLAS and
/// cuDNN use TF32 tensor cores for float32 by default (products with a 10-bit mantissa), which
/// moved maps by up to 1.2e-3 and Opti-CAM's by 0.11 against the CPU on an H200; setting
/// `NVIDIA_TF32_OVERRIDE=0` before CUDA starts turns TF32 off in both libraries (measured there:
/// GradCAM's difference 9.0e-5 → 5.4e-7). Called first thing by the command line and the
/// harness; `BLINDSPOT_TF32=1` keeps TF32 (the fast mode). A no-op on a CPU.
pub fn init_precision() {
    if !tf32_requested() && std::env::var_os("NVIDIA_TF32_OVERRIDE").is_none() {
        std::env::set_var("NVIDIA_TF32_OVERRIDE", "0");
    }
}

/// `fp32` or `tf32`, as reports state it.
pub fn precision() -> &'static str {
    if tf32_requested() {
        "tf32"
    } else {
        "fp32"
    }
}
