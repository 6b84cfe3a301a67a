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
