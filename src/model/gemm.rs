//! Packed, register-blocked f32 matrix product `C = A B` for inference.
//!
//! The loops follow the usual blocked GEMM layout and take `DEPTH_BLOCK`
//! columns of A and rows of B at a time. A's rows of that block are packed
//! into tiles of `TILE_ROWS` rows. B's columns are packed into panels of
//! `TILE_COLS` columns, each of which stays in L1 while every tile of A
//! passes over it. The micro-kernel keeps a `TILE_ROWS` x `TILE_COLS` block
//! of C in registers.
//!
//! On wasm32 with simd128 it uses f32x4 multiply and add (fused
//! multiply-add needs relaxed SIMD, which Node 20 does not enable). A 2 x 16
//! tile needs 8 accumulators, 4 vectors of B, a broadcast of A and a
//! product: 14 vector registers, under the 15 that V8 allocates on x86-64.
//! Under Node 20 on an x86-64 Xeon it ran GPT-2's four matmul shapes
//! (1024 rows, 768 or 3072 deep) at 37 to 41 GFLOP/s. The `gemm` crate 0.19
//! that candle uses ran them at 31 to 34, and was slower from 8 rows on.
//! Taller tiles (5 x 8, 4 x 12, 6 x 8) and unrolling the depth loop were
//! slower there, most likely because V8 then runs out of vector registers.
//!
//! Other targets run the same blocking with plain arrays, which compilers
//! vectorize; the model uses it only on wasm32 (see `ops::matmul_inference`).

/// Rows of A and C in one register tile.
pub const TILE_ROWS: usize = 2;
/// f32x4 vectors across one row of a register tile.
const TILE_VECTORS: usize = 4;
/// Columns of B and C in one register tile.
pub const TILE_COLS: usize = 4 * TILE_VECTORS;
/// Depth (columns of A, rows of B) packed at a time. A B panel of
/// `DEPTH_BLOCK` x `TILE_COLS` floats takes 16 KiB, a third of a 48 KiB L1.
const DEPTH_BLOCK: usize = 256;
/// Rows of A packed at a time, a multiple of `TILE_ROWS`: 512 x 256 floats
/// take 512 KiB, which stays in a 1 MiB or larger L2 while every panel of B
/// passes over it.
const ROW_BLOCK: usize = 512 / TILE_ROWS * TILE_ROWS;

/// Read-only view of an f32 matrix with arbitrary element strides, so a
/// transposed candle layout is read without a copy.
#[derive(Debug, Clone, Copy)]
pub struct MatrixRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatrixRef<'a> {
    /// Creates a view where element `(r, c)` is `data[r * row_stride + c * col_stride]`.
    /// Returns `None` if the last element lies outside `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<Self> {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(row_stride)?
                .checked_add((cols - 1).checked_mul(col_stride)?)?;
            if last >= data.len() {
                return None;
            }
        }
        Some(Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// Creates a view of a contiguous row-major matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Option<Self> {
        if rows.checked_mul(cols)? != data.len() {
            return None;
        }
        Self::new(data, rows, cols, cols, 1)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    fn at(&self, row: usize, col: usize) -> f32 {
        self.data[row * self.row_stride + col * self.col_stride]
    }
}

/// Computes `a @ b` into a new row-major `[a.rows(), b.cols()]` vector.
///
/// # Panics
///
/// Panics if `a.cols() != b.rows()`.
pub fn matmul(a: MatrixRef, b: MatrixRef) -> Vec<f32> {
    assert_eq!(
        a.cols, b.rows,
        "matmul: A has {} columns but B has {} rows",
        a.cols, b.rows
    );
    let (rows, depth, cols) = (a.rows, a.cols, b.cols);
    let mut c = vec![0f32; rows * cols];
    if rows == 0 || cols == 0 || depth == 0 {
        return c;
    }
    let row_block = ROW_BLOCK.min(rows.div_ceil(TILE_ROWS) * TILE_ROWS);
    let mut packed_a = vec![0f32; row_block * DEPTH_BLOCK];
    let mut packed_b = [0f32; DEPTH_BLOCK * TILE_COLS];
    for depth_start in (0..depth).step_by(DEPTH_BLOCK) {
        let block_depth = DEPTH_BLOCK.min(depth - depth_start);
        let accumulate = depth_start > 0;
        for row_start in (0..rows).step_by(row_block) {
            let block_rows = row_block.min(rows - row_start);
            pack_a(&a, row_start, block_rows, depth_start, block_depth, &mut packed_a);
            for col_start in (0..cols).step_by(TILE_COLS) {
                let tile_cols = TILE_COLS.min(cols - col_start);
                pack_b(&b, depth_start, block_depth, col_start, tile_cols, &mut packed_b);
                for tile_start in (0..block_rows).step_by(TILE_ROWS) {
                    let tile_rows = TILE_ROWS.min(block_rows - tile_start);
                    let tile_a = &packed_a[tile_start * block_depth..(tile_start + TILE_ROWS) * block_depth];
                    let tile = tile_product(block_depth, tile_a, &packed_b[..block_depth * TILE_COLS]);
                    let c_start = (row_start + tile_start) * cols + col_start;
                    store_tile(&tile, &mut c[c_start..], cols, tile_rows, tile_cols, accumulate);
                }
            }
        }
    }
    c
}

/// Packs rows `row_start..row_start + block_rows` and columns
/// `depth_start..depth_start + block_depth` of A into tiles of `TILE_ROWS`
/// rows, each stored depth-major: element `(i, p)` of tile `t` lands at
/// `t * TILE_ROWS * block_depth + p * TILE_ROWS + i`. Rows past the end of A
/// are zero.
fn pack_a(a: &MatrixRef, row_start: usize, block_rows: usize, depth_start: usize, block_depth: usize, packed: &mut [f32]) {
    for tile_start in (0..block_rows).step_by(TILE_ROWS) {
        let tile = &mut packed[tile_start * block_depth..(tile_start + TILE_ROWS) * block_depth];
        for i in 0..TILE_ROWS {
            let row = tile_start + i;
            if row >= block_rows {
                for p in 0..block_depth {
                    tile[p * TILE_ROWS + i] = 0.0;
                }
                continue;
            }
            let row = row_start + row;
            if a.col_stride == 1 {
                let start = row * a.row_stride + depth_start;
                for (p, &value) in a.data[start..start + block_depth].iter().enumerate() {
                    tile[p * TILE_ROWS + i] = value;
                }
            } else {
                for p in 0..block_depth {
                    tile[p * TILE_ROWS + i] = a.at(row, depth_start + p);
                }
            }
        }
    }
}

/// Packs rows `depth_start..depth_start + block_depth` and columns
/// `col_start..col_start + tile_cols` of B depth-major, `TILE_COLS` floats
/// per depth step. Columns past the end of B are zero.
fn pack_b(b: &MatrixRef, depth_start: usize, block_depth: usize, col_start: usize, tile_cols: usize, packed: &mut [f32]) {
    let packed = &mut packed[..block_depth * TILE_COLS];
    if b.col_stride == 1 && tile_cols == TILE_COLS {
        for (p, out) in packed.chunks_exact_mut(TILE_COLS).enumerate() {
            let start = (depth_start + p) * b.row_stride + col_start;
            out.copy_from_slice(&b.data[start..start + TILE_COLS]);
        }
        return;
    }
    packed.fill(0.0);
    if b.row_stride == 1 {
        // Transposed storage: each column of B is contiguous.
        for j in 0..tile_cols {
            let start = (col_start + j) * b.col_stride + depth_start;
            for (p, &value) in b.data[start..start + block_depth].iter().enumerate() {
                packed[p * TILE_COLS + j] = value;
            }
        }
    } else {
        for p in 0..block_depth {
            for j in 0..tile_cols {
                packed[p * TILE_COLS + j] = b.at(depth_start + p, col_start + j);
            }
        }
    }
}

/// Writes the first `tile_rows` x `tile_cols` values of `tile` into C,
/// whose rows are `stride` apart, adding them to C's values if `accumulate`.
fn store_tile(tile: &[[f32; TILE_COLS]; TILE_ROWS], c: &mut [f32], stride: usize, tile_rows: usize, tile_cols: usize, accumulate: bool) {
    for (i, values) in tile.iter().enumerate().take(tile_rows) {
        let out = &mut c[i * stride..i * stride + tile_cols];
        if accumulate {
            for (y, &value) in out.iter_mut().zip(values) {
                *y += value;
            }
        } else {
            out.copy_from_slice(&values[..tile_cols]);
        }
    }
}

/// Multiplies one packed tile of A (`depth` x `TILE_ROWS`) by one packed
/// panel of B (`depth` x `TILE_COLS`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn tile_product(depth: usize, a: &[f32], b: &[f32]) -> [[f32; TILE_COLS]; TILE_ROWS] {
    use std::arch::wasm32::*;

    assert!(a.len() >= depth * TILE_ROWS);
    assert!(b.len() >= depth * TILE_COLS);
    let mut sums = [[f32x4_splat(0.0); TILE_VECTORS]; TILE_ROWS];
    let (a, b) = (a.as_ptr(), b.as_ptr());
    for p in 0..depth {
        // SAFETY: the asserts above keep `p * TILE_ROWS + i` and
        // `p * TILE_COLS + 4 * v + 3` inside `a` and `b`, and wasm loads
        // need no alignment.
        unsafe {
            let b_row = b.add(p * TILE_COLS);
            let mut b_vectors = [f32x4_splat(0.0); TILE_VECTORS];
            for (v, vector) in b_vectors.iter_mut().enumerate() {
                *vector = v128_load(b_row.add(4 * v) as *const v128);
            }
            let a_column = a.add(p * TILE_ROWS);
            for (i, row) in sums.iter_mut().enumerate() {
                let a_value = v128_load32_splat(a_column.add(i) as *const u32);
                for (sum, &b_vector) in row.iter_mut().zip(&b_vectors) {
                    *sum = f32x4_add(*sum, f32x4_mul(a_value, b_vector));
                }
            }
        }
    }
    let mut tile = [[0f32; TILE_COLS]; TILE_ROWS];
    for (out, row) in tile.iter_mut().zip(&sums) {
        for (v, &sum) in row.iter().enumerate() {
            // SAFETY: `out` has `TILE_COLS = 4 * TILE_VECTORS` floats.
            unsafe { v128_store(out.as_mut_ptr().add(4 * v) as *mut v128, sum) };
        }
    }
    tile
}

/// Multiplies one packed tile of A (`depth` x `TILE_ROWS`) by one packed
/// panel of B (`depth` x `TILE_COLS`).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn tile_product(depth: usize, a: &[f32], b: &[f32]) -> [[f32; TILE_COLS]; TILE_ROWS] {
    let mut tile = [[0f32; TILE_COLS]; TILE_ROWS];
    for (a_column, b_row) in a.chunks_exact(TILE_ROWS).zip(b.chunks_exact(TILE_COLS)).take(depth) {
        for (row, &a_value) in tile.iter_mut().zip(a_column) {
            for (sum, &b_value) in row.iter_mut().zip(b_row) {
                *sum += a_value * b_value;
            }
        }
    }
    tile
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Returns `a @ b` summed in f64, for matrices given row-major.
    fn reference(a: &[f32], b: &[f32], rows: usize, depth: usize, cols: usize) -> Vec<f64> {
        let mut c = vec![0f64; rows * cols];
        for r in 0..rows {
            for p in 0..depth {
                let a_value = a[r * depth + p] as f64;
                for j in 0..cols {
                    c[r * cols + j] += a_value * b[p * cols + j] as f64;
                }
            }
        }
        c
    }

    /// Returns deterministic values in [-1, 1) from a linear congruential sequence.
    fn values(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn assert_close(actual: &[f32], expected: &[f64], depth: usize) {
        assert_eq!(actual.len(), expected.len());
        // Each product is below 1 in magnitude, so f32 rounding of a sum
        // of `depth` of them stays well below 1e-6 * depth.
        let tolerance = 1e-6 * depth as f64;
        for (index, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            assert!((a as f64 - e).abs() <= tolerance, "element {index}: {a} vs {e}");
        }
    }

    #[test]
    fn matmul_matches_reference_on_odd_shapes() {
        // Shapes below, at and past the tile and block sizes, none of them multiples.
        let shapes = [
            (1, 1, 1),
            (4, 3, 7),
            (TILE_ROWS, 9, TILE_COLS),
            (TILE_ROWS + 1, DEPTH_BLOCK + 3, TILE_COLS + 1),
            (ROW_BLOCK + 7, 5, 2 * TILE_COLS + 3),
            (13, 2 * DEPTH_BLOCK + 1, 19),
        ];
        for (seed, &(rows, depth, cols)) in shapes.iter().enumerate() {
            let a = values(rows * depth, seed as u32);
            let b = values(depth * cols, 100 + seed as u32);
            let c = matmul(
                MatrixRef::row_major(&a, rows, depth).unwrap(),
                MatrixRef::row_major(&b, depth, cols).unwrap(),
            );
            assert_close(&c, &reference(&a, &b, rows, depth, cols), depth);
        }
    }

    #[test]
    fn matmul_reads_transposed_views() {
        let (rows, depth, cols) = (11, 300, 21);
        let a = values(rows * depth, 7);
        let b = values(depth * cols, 8);
        let mut a_transposed = vec![0f32; rows * depth];
        let mut b_transposed = vec![0f32; depth * cols];
        for r in 0..rows {
            for p in 0..depth {
                a_transposed[p * rows + r] = a[r * depth + p];
            }
        }
        for p in 0..depth {
            for j in 0..cols {
                b_transposed[j * depth + p] = b[p * cols + j];
            }
        }
        let c = matmul(
            MatrixRef::new(&a_transposed, rows, depth, 1, rows).unwrap(),
            MatrixRef::new(&b_transposed, depth, cols, 1, depth).unwrap(),
        );
        assert_close(&c, &reference(&a, &b, rows, depth, cols), depth);
    }

    #[test]
    fn matmul_of_empty_depth_is_zero() {
        let c = matmul(
            MatrixRef::row_major(&[], 3, 0).unwrap(),
            MatrixRef::row_major(&[], 0, 2).unwrap(),
        );
        assert_eq!(c, vec![0.0; 6]);
    }

    #[test]
    fn matrix_view_rejects_short_data() {
        assert!(MatrixRef::row_major(&[0.0; 5], 2, 3).is_none());
        assert!(MatrixRef::new(&[0.0; 5], 2, 3, 1, 2).is_none());
        assert!(MatrixRef::new(&[0.0; 6], 2, 3, 1, 2).is_some());
    }
}
