//! The .npy reader and writer against files NumPy wrote.
use crate::common::{ensure, ensure_close, fixture};
use blindspot::io::npy;
use libtest_mimic::Trial;
use tch::{Kind, Tensor};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("npy::reads_numpy_files", || {
            let x = npy::read(&fixture("plain/inputs.npy"))?;
            ensure(
                x.dtype == npy::DType::F32 && x.shape == [4, 3, 32, 32],
                || format!("{:?} {:?}", x.dtype, x.shape),
            )?;
            let t = npy::read(&fixture("plain/targets.npy"))?;
            ensure(t.dtype == npy::DType::I64 && t.shape == [4], || {
                format!("{:?} {:?}", t.dtype, t.shape)
            })
        }),
        Trial::test("npy::round_trip", || {
            let dir = crate::common::scratch_root().join(format!("npy-{}", std::process::id()));
            let x = Tensor::arange(24, (Kind::Float, tch::Device::Cpu)).view([2, 3, 4]) / 7.0;
            npy::write(&dir.join("x.npy"), &x)?;
            let back = npy::read(&dir.join("x.npy"))?.to_tensor();
            ensure_close("round trip", &back, &x, 0.0)?;
            let i = Tensor::from_slice(&[3i64, -1, 7]);
            npy::write(&dir.join("i.npy"), &i)?;
            let back = npy::read(&dir.join("i.npy"))?.to_tensor();
            ensure(back.equal(&i), || "int64 round trip".into())?;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }),
        Trial::test("npy::refuses_truncated_data", || {
            let dir =
                crate::common::scratch_root().join(format!("npy-trunc-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let bytes = std::fs::read(fixture("plain/inputs.npy")).unwrap();
            std::fs::write(dir.join("t.npy"), &bytes[..bytes.len() - 5]).unwrap();
            let err = npy::read(&dir.join("t.npy"))
                .expect_err("truncated file must be refused")
                .to_string();
            let _ = std::fs::remove_dir_all(&dir);
            ensure(err.contains("data bytes"), || err)
        }),
    ]
}
