//! Principal component analysis to two dimensions, for the scatter plot.

use super::cluster::SplitMix64;

/// Maximum power iterations per component.
const MAX_POWER_ITERATIONS: usize = 1000;
/// Power iteration stops once the unit vector moves less than this.
const CONVERGED: f64 = 1e-12;

/// The first two principal components of a point set.
#[derive(Clone, Debug)]
pub(super) struct Projection {
    mean: Vec<f64>,
    /// Unit vectors, orthogonal to each other. The coordinate of largest
    /// magnitude in each is positive, so the signs are reproducible.
    components: [Vec<f64>; 2],
    /// Share of the total variance along each component, in [0, 1]. Both
    /// are 0 when all points coincide.
    pub(super) explained: [f64; 2],
}

impl Projection {
    /// Computes the components of `data` (`n * dim` values, `n > 0`) by
    /// power iteration on the covariance matrix, deflated after the first
    /// component. `seed` sets the start vector. With `dim == 1` the second
    /// component is zero and explains nothing.
    pub(super) fn fit(data: &[f32], dim: usize, seed: u64) -> Projection {
        let (mean, covariance) = covariance(data, dim);
        let total_variance: f64 = (0..dim).map(|i| covariance[i * dim + i]).sum();
        let mut rng = SplitMix64::new(seed);
        let mut deflated = covariance;
        let mut components: [Vec<f64>; 2] = [vec![0.0; dim], vec![0.0; dim]];
        let mut explained = [0.0; 2];
        for index in 0..2.min(dim) {
            let start: Vec<f64> = (0..dim).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
            let (vector, eigenvalue) =
                leading_eigenvector(&deflated, dim, start, &components[..index]);
            for row in 0..dim {
                for column in 0..dim {
                    deflated[row * dim + column] -= eigenvalue * vector[row] * vector[column];
                }
            }
            if total_variance > 0.0 {
                explained[index] = (eigenvalue / total_variance).clamp(0.0, 1.0);
            }
            components[index] = vector;
        }
        Projection {
            mean,
            components,
            explained,
        }
    }

    /// Returns the coordinates of `point` along the two components.
    pub(super) fn project(&self, point: &[f32]) -> (f64, f64) {
        let along = |component: &[f64]| {
            point
                .iter()
                .zip(&self.mean)
                .zip(component)
                .map(|((&value, mean), weight)| (f64::from(value) - mean) * weight)
                .sum::<f64>()
        };
        (along(&self.components[0]), along(&self.components[1]))
    }
}

/// Returns the mean and the population covariance matrix (`dim * dim`,
/// divided by n) of the points.
fn covariance(data: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (data.len() / dim).max(1) as f64;
    let mut mean = vec![0f64; dim];
    for point in data.chunks_exact(dim) {
        for (sum, &value) in mean.iter_mut().zip(point) {
            *sum += f64::from(value);
        }
    }
    mean.iter_mut().for_each(|sum| *sum /= n);
    let mut matrix = vec![0f64; dim * dim];
    let mut centered = vec![0f64; dim];
    for point in data.chunks_exact(dim) {
        for ((slot, &value), mean) in centered.iter_mut().zip(point).zip(&mean) {
            *slot = f64::from(value) - mean;
        }
        // Only the upper triangle is summed, and it is mirrored below.
        for row in 0..dim {
            let scale = centered[row];
            let target = &mut matrix[row * dim + row..(row + 1) * dim];
            for (cell, &value) in target.iter_mut().zip(&centered[row..]) {
                *cell += scale * value;
            }
        }
    }
    for row in 0..dim {
        for column in row..dim {
            let value = matrix[row * dim + column] / n;
            matrix[row * dim + column] = value;
            matrix[column * dim + row] = value;
        }
    }
    (mean, matrix)
}

/// Finds the dominant eigenvector of a symmetric positive semi-definite
/// matrix by power iteration, kept orthogonal to `previous`, and returns
/// it with its eigenvalue. A zero matrix returns the start vector made
/// orthogonal, with eigenvalue 0.
fn leading_eigenvector(
    matrix: &[f64],
    dim: usize,
    start: Vec<f64>,
    previous: &[Vec<f64>],
) -> (Vec<f64>, f64) {
    let mut vector = start;
    orthogonalize(&mut vector, previous);
    if !normalize(&mut vector) {
        // The random start lay in the span of `previous`: take the unit
        // axis least covered by it.
        vector = least_covered_axis(dim, previous);
        orthogonalize(&mut vector, previous);
        normalize(&mut vector);
    }
    for _ in 0..MAX_POWER_ITERATIONS {
        let mut next = multiply(matrix, dim, &vector);
        orthogonalize(&mut next, previous);
        if !normalize(&mut next) {
            break;
        }
        let moved = next
            .iter()
            .zip(&vector)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        vector = next;
        if moved < CONVERGED {
            break;
        }
    }
    fix_sign(&mut vector);
    let product = multiply(matrix, dim, &vector);
    let eigenvalue = vector.iter().zip(&product).map(|(a, b)| a * b).sum::<f64>();
    (vector, eigenvalue.max(0.0))
}

fn multiply(matrix: &[f64], dim: usize, vector: &[f64]) -> Vec<f64> {
    matrix
        .chunks_exact(dim)
        .map(|row| row.iter().zip(vector).map(|(a, b)| a * b).sum())
        .collect()
}

/// Removes from `vector` its parts along each (unit) vector of `basis`.
fn orthogonalize(vector: &mut [f64], basis: &[Vec<f64>]) {
    for axis in basis {
        let dot: f64 = vector.iter().zip(axis).map(|(a, b)| a * b).sum();
        for (value, &along) in vector.iter_mut().zip(axis) {
            *value -= dot * along;
        }
    }
}

/// Scales `vector` to unit length. Returns false, leaving it unchanged,
/// when its length is zero or not finite.
fn normalize(vector: &mut [f64]) -> bool {
    let length = vector.iter().map(|value| value * value).sum::<f64>().sqrt();
    if !(length > 1e-300 && length.is_finite()) {
        return false;
    }
    vector.iter_mut().for_each(|value| *value /= length);
    true
}

fn least_covered_axis(dim: usize, basis: &[Vec<f64>]) -> Vec<f64> {
    let coverage = |axis: usize| basis.iter().map(|v| v[axis] * v[axis]).sum::<f64>();
    let axis = (0..dim)
        .min_by(|&a, &b| coverage(a).total_cmp(&coverage(b)))
        .unwrap_or(0);
    let mut vector = vec![0.0; dim];
    vector[axis] = 1.0;
    vector
}

/// Flips `vector` so that its coordinate of largest magnitude (the first
/// on a tie) is positive.
fn fix_sign(vector: &mut [f64]) {
    let largest = vector
        .iter()
        .enumerate()
        .fold(None::<(usize, f64)>, |best, (index, &value)| match best {
            Some((_, kept)) if kept.abs() >= value.abs() => best,
            _ => Some((index, value)),
        });
    if let Some((_, value)) = largest {
        if value < 0.0 {
            vector.iter_mut().for_each(|v| *v = -*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn pca_points_on_a_line() {
        // Points t * (-2, 3, -6) / 7 for t = -3..=3: all variance lies along
        // that unit direction. Its largest coordinate, -6/7, is made
        // positive, so the component is (2, -3, 6) / 7.
        let mut data = Vec::new();
        for t in -3..=3 {
            let t = t as f32;
            data.extend([-2.0 * t / 7.0, 3.0 * t / 7.0, -6.0 * t / 7.0]);
        }
        let projection = Projection::fit(&data, 3, 9);
        assert!((projection.explained[0] - 1.0).abs() < 1e-9);
        assert!(projection.explained[1] < 1e-9);
        let expected = [2.0 / 7.0, -3.0 / 7.0, 6.0 / 7.0];
        for (value, want) in projection.components[0].iter().zip(expected) {
            assert!(
                (value - want).abs() < 1e-6,
                "{:?}",
                projection.components[0]
            );
        }
        // The point for t = 3 projects to -3 along the flipped component.
        let (x, y) = projection.project(&data[18..21]);
        assert!((x + 3.0).abs() < 1e-5, "{x}");
        assert!(y.abs() < 1e-5, "{y}");
    }

    #[test]
    fn pca_two_axes_split_variance() {
        // Variance 4 along x (values -2 and 2) and 1 along y (-1 and 1):
        // the components are the axes and explain 0.8 and 0.2.
        let data = [-2.0f32, -1.0, -2.0, 1.0, 2.0, -1.0, 2.0, 1.0];
        let projection = Projection::fit(&data, 2, 1);
        assert!((projection.explained[0] - 0.8).abs() < 1e-9);
        assert!((projection.explained[1] - 0.2).abs() < 1e-9);
        assert!((projection.components[0][0] - 1.0).abs() < 1e-9);
        assert!((projection.components[1][1] - 1.0).abs() < 1e-9);
        let (x, y) = projection.project(&[2.0, -1.0]);
        assert!((x - 2.0).abs() < 1e-6);
        assert!((y + 1.0).abs() < 1e-6);
    }

    #[test]
    fn pca_identical_points_explain_nothing() {
        let data = [0.5f32, 0.5, 0.5, 0.5];
        let projection = Projection::fit(&data, 2, 4);
        assert_eq!(projection.explained, [0.0, 0.0]);
        assert_eq!(projection.project(&[0.5, 0.5]), (0.0, 0.0));
    }
}
