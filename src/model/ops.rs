//! CPU kernels that candle builds from several passes. Candle's GELU
//! gradient is built from about ten tensor operations, including two
//! `powf` passes. Here the forward pass and the gradient each take one
//! pass over the data. The inference kernels (bias add, scaled and masked
//! softmax) have no backward pass, so callers use them only when no input
//! tracks gradients. On wasm32 they replace candle's broadcasting binary
//! ops and libm `expf`/`tanhf` calls, whose steps took about a fifth of
//! GPT-2 prefill time there (measured by `profile_block_steps` in `bench.rs`).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::gemm::{self, MatrixRef};

const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
const CUBIC: f32 = 0.044_715;
/// Adding and subtracting 1.5 * 2^23 rounds an f32 below 2^22 in magnitude
/// to the nearest integer without a rounding instruction.
const ROUNDING_SHIFT: f32 = 12_582_912.0;
/// ln 2 split as 355/512 plus a small remainder, so
/// `x - n * LN2_HIGH` is exact for the `n` that [`exp_approx`] uses.
const LN2_HIGH: f32 = 0.693_359_375;
const LN2_LOW: f32 = -2.121_944_4e-4;

/// Computes e^x with a relative error below about 3e-7 and no call to libm,
/// so loops over slices vectorize (wasm32 simd128 has no exp or tanh, and
/// libm's scalar `tanhf` dominates GELU there). Inputs are clamped to
/// [-87, 88], where e^x is a normal f32.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUNDING_SHIFT) - ROUNDING_SHIFT;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    // Taylor series of e^r for |r| <= ln(2) / 2, in Horner form.
    let p = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
    p * scale
}

/// GPT-2's GELU, `0.5 x (1 + tanh(u))`, written as the equal `x / (1 + e^(-2u))`
/// with `u = sqrt(2 / pi) (x + 0.044715 x^3)`.
#[inline(always)]
fn gelu_tanh_value(x: f32) -> f32 {
    let u = SQRT_TWO_OVER_PI * x * (1.0 + CUBIC * x * x);
    x / (1.0 + exp_approx(-2.0 * u))
}

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
        let ys = xs.iter().map(|&x| gelu_tanh_value(x)).collect();
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

/// Adds a bias `[n]` to every row of `[.., n]`.
struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "bias-add"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        bias_storage: &CpuStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(storage, layout, self.name())?;
        let bias = contiguous_f32(bias_storage, bias_layout, self.name())?;
        if bias.is_empty() || xs.len() % bias.len() != 0 {
            candle_core::bail!(
                "bias-add: bias of {} values does not divide {} inputs",
                bias.len(),
                xs.len()
            );
        }
        let mut ys = xs.to_vec();
        for row in ys.chunks_exact_mut(bias.len()) {
            for (y, b) in row.iter_mut().zip(bias) {
                *y += b;
            }
        }
        Ok((CpuStorage::F32(ys), layout.shape().clone()))
    }
}

/// Adds `bias` `[n]` to the last dimension of `xs` `[.., n]` in one pass,
/// without a backward pass.
pub fn add_bias(xs: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    let (last, size) = (xs.dims().last().copied(), bias.dims1()?);
    if last != Some(size) {
        candle_core::bail!("add_bias: bias of {size} values for input shape {:?}", xs.dims());
    }
    xs.contiguous()?.apply_op2_no_bwd(&bias.contiguous()?, &BiasAdd)
}

/// Matrix product of two 2-D f32 tensors by [`gemm::matmul`].
struct PackedMatmul;

/// Returns a view of the 2-D f32 tensor in `storage` with `layout`.
fn matrix_ref<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> candle_core::Result<MatrixRef<'a>> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{op} needs f32 input");
    };
    let (rows, cols) = layout.shape().dims2()?;
    let (row_stride, col_stride) = match layout.stride() {
        &[row_stride, col_stride] => (row_stride, col_stride),
        stride => candle_core::bail!("{op} needs a 2-D layout, got strides {stride:?}"),
    };
    let data = &values[layout.start_offset()..];
    match MatrixRef::new(data, rows, cols, row_stride, col_stride) {
        Some(matrix) => Ok(matrix),
        None => candle_core::bail!("{op}: layout {layout:?} reaches past its storage"),
    }
}

impl CustomOp2 for PackedMatmul {
    fn name(&self) -> &'static str {
        "packed-matmul"
    }

    fn cpu_fwd(
        &self,
        lhs_storage: &CpuStorage,
        lhs_layout: &Layout,
        rhs_storage: &CpuStorage,
        rhs_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let lhs = matrix_ref(lhs_storage, lhs_layout, self.name())?;
        let rhs = matrix_ref(rhs_storage, rhs_layout, self.name())?;
        if lhs.cols() != rhs.rows() {
            candle_core::bail!(
                "packed-matmul: shapes {:?} and {:?} do not multiply",
                lhs_layout.shape().dims(),
                rhs_layout.shape().dims()
            );
        }
        let product = gemm::matmul(lhs, rhs);
        Ok((CpuStorage::F32(product), Shape::from((lhs.rows(), rhs.cols()))))
    }
}

/// Computes `xs @ weight` for `xs` `[rows, in]` and `weight` `[in, out]`
/// with [`gemm::matmul`], without a backward pass. Either input may be a
/// strided view, such as the transpose of a `[out, in]` weight.
pub fn matmul_inference(xs: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    xs.apply_op2_no_bwd(weight, &PackedMatmul)
}

/// Differences below this give `exp` under the smallest normal f32, so
/// [`ScaledMaskedSoftmax`] gives them exactly zero weight.
const MIN_EXPONENT: f32 = -87.0;

/// `softmax(scores * scale + bias)` over the last dimension, where scores
/// are `[batch, heads, queries, keys]` and the bias is `[batch, 1, queries, keys]`.
struct ScaledMaskedSoftmax {
    scale: f32,
    heads: usize,
}

impl CustomOp2 for ScaledMaskedSoftmax {
    fn name(&self) -> &'static str {
        "scaled-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        bias_storage: &CpuStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let scores = contiguous_f32(storage, layout, self.name())?;
        let bias = contiguous_f32(bias_storage, bias_layout, self.name())?;
        let keys = layout.shape().dims().last().copied().unwrap_or(0);
        // One bias block of queries x keys serves all heads of a batch row.
        let block = bias_layout.shape().dims()[2..].iter().product::<usize>();
        if keys == 0 || block == 0 || scores.len() != bias.len() * self.heads {
            candle_core::bail!(
                "scaled-masked-softmax: scores {:?} do not match bias {:?} with {} heads",
                layout.shape().dims(),
                bias_layout.shape().dims(),
                self.heads
            );
        }
        let mut ys = vec![0f32; scores.len()];
        for (index, (out, row)) in ys.chunks_exact_mut(keys).zip(scores.chunks_exact(keys)).enumerate() {
            let head_block = index * keys / block;
            let batch_row = head_block / self.heads;
            let bias_start = batch_row * block + (index * keys) % block;
            let bias_row = &bias[bias_start..bias_start + keys];
            let mut max = f32::NEG_INFINITY;
            for ((y, &score), &b) in out.iter_mut().zip(row).zip(bias_row) {
                *y = score * self.scale + b;
                max = max.max(*y);
            }
            let mut sum = 0.0;
            for y in out.iter_mut() {
                let difference = *y - max;
                let e = exp_approx(difference);
                *y = if difference < MIN_EXPONENT { 0.0 } else { e };
                sum += *y;
            }
            let inverse = 1.0 / sum;
            for y in out.iter_mut() {
                *y *= inverse;
            }
        }
        Ok((CpuStorage::F32(ys), layout.shape().clone()))
    }
}

/// Computes `softmax(scores * scale + bias)` over the last dimension in one
/// pass, without a backward pass. `scores` is `[batch, heads, queries, keys]`
/// and `bias` is `[batch, 1, queries, keys]`.
pub fn scaled_masked_softmax(scores: &Tensor, bias: &Tensor, scale: f32) -> candle_core::Result<Tensor> {
    let (batch, heads, queries, keys) = scores.dims4()?;
    if bias.dims() != [batch, 1, queries, keys] {
        candle_core::bail!(
            "scaled_masked_softmax: bias {:?} does not fit scores {:?}",
            bias.dims(),
            scores.dims()
        );
    }
    let op = ScaledMaskedSoftmax { scale, heads };
    scores.contiguous()?.apply_op2_no_bwd(&bias.contiguous()?, &op)
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

    #[test]
    fn add_bias_matches_broadcast_add() {
        let xs = Tensor::arange(0f32, 24.0, &Device::Cpu).unwrap().reshape((2, 3, 4)).unwrap();
        let bias = Tensor::new(&[0.5f32, -1.0, 2.0, 10.0], &Device::Cpu).unwrap();

        let fused = add_bias(&xs, &bias).unwrap();

        let expected = xs.broadcast_add(&bias).unwrap();
        assert_eq!(fused.dims(), [2, 3, 4]);
        assert_eq!(
            fused.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            expected.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn add_bias_rejects_wrong_size() {
        let xs = Tensor::zeros((2, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let bias = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(add_bias(&xs, &bias).is_err());
    }

    #[test]
    fn scaled_masked_softmax_matches_candle() {
        let device = Device::Cpu;
        let scores = Tensor::randn(0f32, 3.0, (2, 3, 4, 5), &device).unwrap();
        // Batch row 0 masks the last two keys of every query, and row 1 masks none.
        let mut bias = vec![0f32; 2 * 4 * 5];
        for query in 0..4 {
            bias[query * 5 + 3] = -1.0e30;
            bias[query * 5 + 4] = -1.0e30;
        }
        let bias = Tensor::from_vec(bias, (2, 1, 4, 5), &device).unwrap();

        let fused = scaled_masked_softmax(&scores, &bias, 0.25).unwrap();

        let plain = candle_nn::ops::softmax_last_dim(&(scores * 0.25).unwrap().broadcast_add(&bias).unwrap()).unwrap();
        let fused = fused.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let plain = plain.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (index, (a, b)) in fused.iter().zip(&plain).enumerate() {
            assert!((a - b).abs() < 1e-6, "probability {index}: {a} vs {b}");
        }
        // Masked keys of batch row 0, all 3 heads, get exactly zero weight.
        for head in 0..3 {
            for query in 0..4 {
                let start = (head * 4 + query) * 5;
                assert_eq!(fused[start + 3], 0.0);
                assert_eq!(fused[start + 4], 0.0);
            }
        }
    }

    fn assert_matmul_close(actual: &Tensor, expected: &Tensor, depth: usize) {
        assert_eq!(actual.dims(), expected.dims());
        let actual = actual.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let expected = expected.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // Standard normal inputs give sums of about sqrt(depth) in magnitude,
        // and the two summation orders differ by a few f32 roundings of that.
        let tolerance = 1e-5 * depth as f32;
        for (index, (a, b)) in actual.iter().zip(&expected).enumerate() {
            assert!((a - b).abs() <= tolerance, "element {index}: {a} vs {b}");
        }
    }

    #[test]
    fn matmul_inference_matches_candle() {
        let device = Device::Cpu;
        // Rows, depth and columns that are not multiples of the tile and block sizes.
        for (rows, depth, cols) in [(1, 1, 1), (3, 17, 5), (37, 300, 45), (130, 513, 70)] {
            let xs = Tensor::randn(0f32, 1.0, (rows, depth), &device).unwrap();
            let weight = Tensor::randn(0f32, 1.0, (depth, cols), &device).unwrap();

            let packed = matmul_inference(&xs, &weight).unwrap();

            assert_matmul_close(&packed, &xs.matmul(&weight).unwrap(), depth);
        }
    }

    #[test]
    fn matmul_inference_reads_transposed_weight() {
        let device = Device::Cpu;
        let xs = Tensor::randn(0f32, 1.0, (41, 260), &device).unwrap();
        let weight_out_in = Tensor::randn(0f32, 1.0, (35, 260), &device).unwrap();
        let weight = weight_out_in.t().unwrap();

        let packed = matmul_inference(&xs, &weight).unwrap();

        assert_matmul_close(&packed, &xs.matmul(&weight).unwrap(), 260);
    }

    #[test]
    fn matmul_inference_reads_narrowed_input() {
        let device = Device::Cpu;
        let wide = Tensor::randn(0f32, 1.0, (9, 40), &device).unwrap();
        // Columns 7..32 start at an offset and keep the row stride of 40.
        let xs = wide.narrow(1, 7, 25).unwrap();
        let weight = Tensor::randn(0f32, 1.0, (25, 18), &device).unwrap();

        let packed = matmul_inference(&xs, &weight).unwrap();

        assert_matmul_close(&packed, &xs.contiguous().unwrap().matmul(&weight).unwrap(), 25);
    }

    #[test]
    fn matmul_inference_rejects_mismatched_shapes() {
        let device = Device::Cpu;
        let xs = Tensor::zeros((4, 6), candle_core::DType::F32, &device).unwrap();
        let weight = Tensor::zeros((5, 3), candle_core::DType::F32, &device).unwrap();
        assert!(matmul_inference(&xs, &weight).is_err());
    }

    #[test]
    fn matmul_inference_rejects_f64() {
        let device = Device::Cpu;
        let xs = Tensor::zeros((4, 6), candle_core::DType::F64, &device).unwrap();
        let weight = Tensor::zeros((6, 3), candle_core::DType::F64, &device).unwrap();
        assert!(matmul_inference(&xs, &weight).is_err());
    }

    #[test]
    fn exp_approx_matches_exp() {
        let mut x = -87.0f32;
        while x <= 88.0 {
            let exact = (x as f64).exp();
            let relative = ((exp_approx(x) as f64 - exact) / exact).abs();
            assert!(relative < 5e-7, "e^{x}: relative error {relative}");
            x += 0.01;
        }
    }

    #[test]
    fn exp_approx_clamps_out_of_range() {
        assert_eq!(exp_approx(-1000.0), exp_approx(-87.0));
        assert_eq!(exp_approx(1000.0), exp_approx(88.0));
        assert!(exp_approx(88.0).is_finite());
    }

    #[test]
    fn gelu_value_matches_tanh_form() {
        let mut x = -12.0f32;
        while x <= 12.0 {
            let exact = {
                let x = x as f64;
                let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
                0.5 * x * (1.0 + u.tanh())
            };
            let error = (gelu_tanh_value(x) as f64 - exact).abs();
            assert!(error < 1e-6 * (1.0 + exact.abs()), "gelu({x}): error {error}");
            x += 0.001;
        }
    }
}
