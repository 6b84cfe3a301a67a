//! Device memory: how much is free, how many items a chunk may hold, and the one place where a
//! chunk that ran the device out of memory is halved and tried again ([`halving`]). Results never
//! depend on the chunking: callers number their items (draws, masked inputs), not their chunks.
use super::{cuda_available, symbol};
use crate::error::{Error, Result};
use tch::Device;

/// Free memory of a CUDA device in bytes, as the CUDA runtime reports it (memory that libtorch's
/// caching allocator holds counts as used); None on the CPU or where the runtime's
/// `cudaMemGetInfo` cannot be found. Looked up with `dlsym` in the runtime the CUDA backend
/// loaded, so nothing links against CUDA.
pub fn free_memory(device: Device) -> Option<u64> {
    let Device::Cuda(index) = device else {
        return None;
    };
    if !cuda_available() {
        return None;
    }
    type GetDevice = unsafe extern "C" fn(*mut libc::c_int) -> libc::c_int;
    type SetDevice = unsafe extern "C" fn(libc::c_int) -> libc::c_int;
    type MemGetInfo = unsafe extern "C" fn(*mut libc::size_t, *mut libc::size_t) -> libc::c_int;
    let (get, set, info) = (
        symbol("cudaGetDevice")?,
        symbol("cudaSetDevice")?,
        symbol("cudaMemGetInfo")?,
    );
    // SAFETY: the CUDA runtime's documented signatures; the current device is restored.
    unsafe {
        let (get, set, info): (GetDevice, SetDevice, MemGetInfo) = (
            std::mem::transmute::<*mut libc::c_void, GetDevice>(get),
            std::mem::transmute::<*mut libc::c_void, SetDevice>(set),
            std::mem::transmute::<*mut libc::c_void, MemGetInfo>(info),
        );
        let mut previous: libc::c_int = 0;
        if get(&mut previous) != 0 || set(index as libc::c_int) != 0 {
            return None;
        }
        let (mut free, mut total): (libc::size_t, libc::size_t) = (0, 0);
        let status = info(&mut free, &mut total);
        set(previous);
        (status == 0).then_some(free as u64)
    }
}

/// Whether a libtorch failure (as blindspot reports it) was the device running out of memory;
/// the callers that size their chunks from [`free_memory`] halve the chunk and try again.
pub fn is_out_of_memory(error: &Error) -> bool {
    let text = error.to_string();
    text.contains("out of memory") || text.contains("OutOfMemory")
}

/// Runs `f`, turning a panic into an error (`context` says of what): tch's tensor operations
/// without the `f_` prefix panic with libtorch's message, so a built-in model that runs out of
/// device memory panics where a TorchScript model returns an error; both become an error that
/// [`is_out_of_memory`] recognises.
///
/// The thread's autograd mode is restored after a panic: `tch::no_grad` restores it only when its
/// closure returns, and a thread left in no-grad mode crashes at its next backward pass.
pub fn catching<T>(context: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    // SAFETY: sets the thread-local grad mode and returns the previous one; set back at once.
    let grad = unsafe { torch_sys::at_grad_set_enabled(1) };
    unsafe { torch_sys::at_grad_set_enabled(grad) };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        // SAFETY: as above.
        unsafe { torch_sys::at_grad_set_enabled(grad) };
        Err(Error::Torch {
            context: context.into(),
            message: crate::error::first_line(&crate::error::panic_message(panic.as_ref())),
        })
    })
}

/// Items per chunk when each item needs about `bytes_per_item` of device memory at once: on a
/// GPU, as many as fit in half its free memory, between `least` and `most`; `otherwise` on the
/// CPU (whose callers pass a size measured for its caches, not its memory) and on a GPU whose
/// free memory is unknown.
pub fn chunk_for_memory(
    device: Device,
    bytes_per_item: u64,
    otherwise: i64,
    (least, most): (i64, i64),
) -> i64 {
    match free_memory(device) {
        Some(free) => ((free / 2 / bytes_per_item.max(1)) as i64).clamp(least, most),
        None => otherwise,
    }
}

/// Runs `work(count)` on `count = wanted.min(*chunk)` items (at least one); where the device runs
/// out of memory, halves `*chunk` and tries again, down to one item, whose failure is the error.
/// Returns `work`'s result and the count it ran on; `*chunk` keeps the size that fit, for the next
/// call. `context` names the work in an error (a panic in `work` becomes one, [`catching`]).
pub fn halving<T>(
    chunk: &mut i64,
    wanted: i64,
    context: &str,
    mut work: impl FnMut(i64) -> Result<T>,
) -> Result<(T, i64)> {
    loop {
        crate::progress::poll(|| context.to_string())?;
        let count = (*chunk).min(wanted).max(1);
        match catching(context, || work(count)) {
            Err(e) if count > 1 && is_out_of_memory(&e) => *chunk = count / 2,
            other => return other.map(|t| (t, count)),
        }
    }
}
