//! Training kernels with a backward pass of their own. Candle's GELU
//! gradient is built from about ten tensor operations, including two
//! `powf` passes. Here the forward pass and the gradient each take one
//! pass over the data.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
const CUBIC: f32 = 0.044_715;

/// GELU with the tanh approximation, as GPT-2 defines it.
pub struct GeluTanh;

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{op} needs f32 input");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => candle_core::bail!("{op} needs contiguous input"),
    }
}

impl CustomOp1 for GeluTanh {
    fn name(&self) -> &'static str {
        "gelu-tanh"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(storage, layout, self.name())?;
        let ys = xs
            .iter()
            .map(|&x| 0.5 * x * (1.0 + (SQRT_TWO_OVER_PI * x * (1.0 + CUBIC * x * x)).tanh()))
            .collect();
        Ok((CpuStorage::F32(ys), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let xs = arg.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let upstream = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let grads: Vec<f32> = xs
            .iter()
            .zip(&upstream)
            .map(|(&x, &g)| {
                let inner = SQRT_TWO_OVER_PI * x * (1.0 + CUBIC * x * x);
                let t = inner.tanh();
                let d_inner = SQRT_TWO_OVER_PI * (1.0 + 3.0 * CUBIC * x * x);
                g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner)
            })
            .collect();
        Ok(Some(Tensor::from_vec(grads, arg.shape(), arg.device())?))
    }
}

/// Applies [`GeluTanh`] with its fused gradient.
pub fn gelu_tanh(xs: &Tensor) -> candle_core::Result<Tensor> {
    xs.contiguous()?.apply_op1(GeluTanh)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn gelu_matches_candle_with_its_gradient() {
        let values: Vec<f32> = (0..40).map(|i| i as f32 * 0.25 - 5.0).collect();
        let xs = Var::from_vec(values, (4, 10), &Device::Cpu).unwrap();
        let weights = Tensor::arange(0f32, 40.0, &Device::Cpu).unwrap().reshape((4, 10)).unwrap();

        let fused = gelu_tanh(xs.as_tensor()).unwrap();
        let plain = xs.as_tensor().gelu().unwrap();
        let fused_grads = (&fused * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        let plain_grads = (&plain * &weights).unwrap().sum_all().unwrap().backward().unwrap();

        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in flat(&fused).iter().zip(flat(&plain)) {
            assert!((a - b).abs() < 1e-5, "value {a} vs {b}");
        }
        let a = flat(fused_grads.get(xs.as_tensor()).unwrap());
        let b = flat(plain_grads.get(xs.as_tensor()).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-3 * (1.0 + y.abs()), "gradient {x} vs {y}");
        }
    }
}
