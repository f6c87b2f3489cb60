//! Next-token cross-entropy as one fused operation with its own backward
//! pass. Built from separate tensor ops, log-softmax over a large
//! vocabulary takes about ten passes over the logits each way. This op
//! computes the softmax once and reuses it for the gradient.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

/// Summed negative log-likelihood of `targets` under row-wise softmax of
/// `[rows, vocab]` logits, counting only rows whose mask is 1.
pub struct MaskedNll {
    targets: Vec<u32>,
    mask: Vec<f32>,
    /// Softmax of the logits, kept by the forward pass for the backward one.
    probabilities: Mutex<Vec<f32>>,
}

impl MaskedNll {
    pub fn new(targets: Vec<u32>, mask: Vec<f32>) -> MaskedNll {
        MaskedNll {
            targets,
            mask,
            probabilities: Mutex::new(Vec::new()),
        }
    }

    /// Applies the op to `[rows, vocab]` logits; the result has one element.
    pub fn apply(self, logits: &Tensor) -> candle_core::Result<Tensor> {
        logits.contiguous()?.apply_op1(self)
    }
}

fn logits_slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("masked cross-entropy needs f32 logits");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => candle_core::bail!("masked cross-entropy needs contiguous logits"),
    }
}

impl CustomOp1 for MaskedNll {
    fn name(&self) -> &'static str {
        "masked-nll"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, vocab) = layout.shape().dims2()?;
        if rows != self.targets.len() || rows != self.mask.len() {
            candle_core::bail!("masked cross-entropy: {rows} rows but {} targets", self.targets.len());
        }
        let logits = logits_slice(storage, layout)?;
        let mut probabilities = vec![0f32; rows * vocab];
        let mut total = 0f64;
        for (row, (values, out)) in logits
            .chunks_exact(vocab)
            .zip(probabilities.chunks_exact_mut(vocab))
            .enumerate()
        {
            if self.mask[row] == 0.0 {
                continue;
            }
            let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (p, &x) in out.iter_mut().zip(values) {
                *p = (x - max).exp();
                sum += *p;
            }
            let inverse = 1.0 / sum;
            out.iter_mut().for_each(|p| *p *= inverse);
            let target = self.targets[row] as usize;
            total += f64::from(self.mask[row] * (max + sum.ln() - values[target]));
        }
        *self.probabilities.lock().map_err(|_| candle_core::Error::Msg("poisoned softmax cache".into()))? =
            probabilities;
        Ok((CpuStorage::F32(vec![total as f32]), Shape::from(1)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (rows, vocab) = arg.dims2()?;
        let scale = grad_res.flatten_all()?.to_vec1::<f32>()?[0];
        let mut grad = std::mem::take(
            &mut *self
                .probabilities
                .lock()
                .map_err(|_| candle_core::Error::Msg("poisoned softmax cache".into()))?,
        );
        if grad.len() != rows * vocab {
            candle_core::bail!("masked cross-entropy: the backward pass ran without a forward pass");
        }
        for (row, out) in grad.chunks_exact_mut(vocab).enumerate() {
            let weight = self.mask[row] * scale;
            if weight == 0.0 {
                out.fill(0.0);
                continue;
            }
            out.iter_mut().for_each(|g| *g *= weight);
            out[self.targets[row] as usize] -= weight;
        }
        Ok(Some(Tensor::from_vec(grad, (rows, vocab), arg.device())?))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use candle_core::{Device, Var, D};

    #[test]
    fn matches_log_softmax_and_its_gradient() {
        let device = Device::Cpu;
        let values: Vec<f32> = (0..15).map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.0).collect();
        let logits = Var::from_vec(values, (3, 5), &device).unwrap();
        let targets = vec![4u32, 0, 2];
        let mask = vec![1f32, 0.0, 1.0];

        let fused = MaskedNll::new(targets.clone(), mask.clone()).apply(logits.as_tensor()).unwrap();
        let fused_grad = fused.backward().unwrap();

        let log_probs = candle_nn::ops::log_softmax(logits.as_tensor(), D::Minus1).unwrap();
        let target_tensor = Tensor::from_vec(targets, (3, 1), &device).unwrap();
        let picked = log_probs.gather(&target_tensor, 1).unwrap().squeeze(1).unwrap();
        let mask_tensor = Tensor::from_vec(mask, 3, &device).unwrap();
        let plain = (picked * mask_tensor).unwrap().sum_all().unwrap().neg().unwrap();
        let plain_grad = plain.backward().unwrap();

        let a = fused.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
        let b = plain.to_scalar::<f32>().unwrap();
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        let ga = fused_grad.get(logits.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let gb = plain_grad.get(logits.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (x, y) in ga.iter().zip(&gb) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
        // The masked row gets no gradient.
        assert!(ga[5..10].iter().all(|&g| g == 0.0));
    }
}
