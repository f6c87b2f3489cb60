//! k-means with k-means++ seeding, the silhouette score, and the seeded
//! random numbers they use.

/// Maximum Lloyd iterations per run. A run stops earlier when no
/// assignment changes.
const MAX_ITERATIONS: usize = 100;
/// k-means runs per k. The run with the lowest inertia is kept.
const RESTARTS: u64 = 3;

/// SplitMix64, a small seeded generator for sampling and seeding, as given
/// on the Rosetta Code page "Pseudo-random numbers/Splitmix64". It is not
/// cryptographic.
#[derive(Clone, Debug)]
pub(super) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub(super) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// Creates the generator of sub-task `stream` of `seed`, so that
    /// sampling, each k and each restart draw from separate sequences.
    pub(super) fn derive(seed: u64, stream: u64) -> Self {
        let mut parent = SplitMix64::new(seed ^ stream.wrapping_mul(Self::GAMMA));
        SplitMix64::new(parent.next_u64())
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a uniform value in [0, 1) with 53 random bits.
    pub(super) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Returns a uniform index in `0..n` by Lemire's multiply-shift, with a
    /// bias below n / 2^64. `n` must be positive.
    pub(super) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Returns `count` distinct indices of `0..n`, drawn uniformly without
/// replacement (partial Fisher-Yates shuffle), in increasing order.
pub(super) fn sample_indices(n: usize, count: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let count = count.min(n);
    let mut indices: Vec<usize> = (0..n).collect();
    for position in 0..count {
        let pick = position + rng.below(n - position);
        indices.swap(position, pick);
    }
    indices.truncate(count);
    indices.sort_unstable();
    indices
}

/// Returns the squared Euclidean distance. Eight partial sums let the
/// compiler vectorize the loop.
#[inline]
pub(super) fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let a_chunks = a.chunks_exact(8);
    let b_chunks = b.chunks_exact(8);
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            let difference = x[lane] - y[lane];
            lanes[lane] += difference * difference;
        }
    }
    let mut total: f32 = lanes.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        total += (x - y) * (x - y);
    }
    total
}

/// Result of k-means over `n` points of `dim` coordinates.
#[derive(Clone, Debug)]
pub(super) struct Clustering {
    pub(super) k: usize,
    /// Cluster of each point, in `0..k`. Every cluster has a member.
    pub(super) labels: Vec<u32>,
    /// `k * dim` coordinates: the mean of each cluster's members.
    pub(super) centers: Vec<f32>,
    /// Sum of squared distances from each point to its center.
    pub(super) inertia: f64,
}

impl Clustering {
    pub(super) fn center(&self, cluster: usize, dim: usize) -> &[f32] {
        &self.centers[cluster * dim..(cluster + 1) * dim]
    }
}

/// Clusters `data` (`n * dim` values) into `k` clusters: [`RESTARTS`] runs
/// of k-means++ seeding and Lloyd iterations, keeping the run with the
/// lowest inertia (the first on a tie). Requires `1 <= k <= n`.
pub(super) fn kmeans(data: &[f32], dim: usize, k: usize, seed: u64) -> Clustering {
    let mut best: Option<Clustering> = None;
    for restart in 0..RESTARTS {
        let mut rng = SplitMix64::derive(seed, restart);
        let run = lloyd(data, dim, k, &mut rng);
        if best.as_ref().is_none_or(|kept| run.inertia < kept.inertia) {
            best = Some(run);
        }
    }
    best.expect("at least one restart runs")
}

/// Runs one k-means: k-means++ seeding, then Lloyd iterations until no
/// assignment changes or [`MAX_ITERATIONS`] assignment passes have run.
///
/// The assignment passes use the bounds of G. Hamerly (2010) to skip
/// points whose nearest center cannot have changed: an upper bound on the
/// distance to the own center and a lower bound on the distance to every
/// other center. The labels match plain Lloyd iterations, except where
/// float rounding in the bounds or in the running cluster sums decides a
/// near tie.
fn lloyd(data: &[f32], dim: usize, k: usize, rng: &mut SplitMix64) -> Clustering {
    let n = data.len() / dim;
    let mut state = LloydState {
        data,
        dim,
        k,
        centers: seed_centers(data, dim, k, rng),
        labels: vec![0; n],
        upper: vec![0.0; n],
        lower: vec![0.0; n],
        sums: vec![0.0; k * dim],
        sizes: vec![0; k],
    };
    state.assign_all();
    state.fill_empty_clusters();
    let mut changed = true;
    let mut passes = 1;
    while changed && passes < MAX_ITERATIONS {
        let movement = state.update_centers();
        state.widen_bounds(&movement);
        changed = state.assign_bounded();
        changed |= state.fill_empty_clusters();
        passes += 1;
    }
    if changed {
        // The pass limit ended the loop: move the centers to the means of
        // the final labels.
        state.update_centers();
    }
    let inertia = state
        .labels
        .iter()
        .enumerate()
        .map(|(point, &label)| f64::from(state.squared_distance_to(point, label as usize)))
        .sum();
    Clustering {
        k,
        labels: state.labels,
        centers: state.centers,
        inertia,
    }
}

/// Centers, labels and Hamerly's bounds of one k-means run. Bounds are
/// Euclidean distances (not squared). The sum and size of each cluster are
/// updated as points move, so moving the centers costs `k * dim` steps per
/// pass instead of a pass over all points.
struct LloydState<'a> {
    data: &'a [f32],
    dim: usize,
    k: usize,
    centers: Vec<f32>,
    labels: Vec<u32>,
    /// Upper bound on each point's distance to its own center.
    upper: Vec<f32>,
    /// Lower bound on each point's distance to every other center.
    lower: Vec<f32>,
    /// Coordinate sums of each cluster's members, `k * dim`.
    sums: Vec<f64>,
    sizes: Vec<usize>,
}

impl LloydState<'_> {
    fn point(&self, point: usize) -> &[f32] {
        &self.data[point * self.dim..(point + 1) * self.dim]
    }

    fn center(&self, cluster: usize) -> &[f32] {
        &self.centers[cluster * self.dim..(cluster + 1) * self.dim]
    }

    fn squared_distance_to(&self, point: usize, cluster: usize) -> f32 {
        squared_distance(self.point(point), self.center(cluster))
    }

    /// Returns the nearest center of a point (the lowest index on a tie),
    /// the distance to it and the distance to the second nearest.
    fn nearest_two(&self, point: usize) -> (u32, f32, f32) {
        let mut nearest = (0usize, f32::INFINITY);
        let mut second = f32::INFINITY;
        for cluster in 0..self.k {
            let distance = self.squared_distance_to(point, cluster);
            if distance < nearest.1 {
                second = nearest.1;
                nearest = (cluster, distance);
            } else if distance < second {
                second = distance;
            }
        }
        (nearest.0 as u32, nearest.1.sqrt(), second.sqrt())
    }

    /// Assigns every point exactly and sums the clusters.
    fn assign_all(&mut self) {
        for point in 0..self.labels.len() {
            let (label, nearest, second) = self.nearest_two(point);
            self.labels[point] = label;
            self.upper[point] = nearest;
            self.lower[point] = second;
        }
        let dim = self.dim;
        for (point, &label) in self.data.chunks_exact(dim).zip(&self.labels) {
            let cluster = label as usize;
            self.sizes[cluster] += 1;
            let sums = &mut self.sums[cluster * dim..(cluster + 1) * dim];
            for (sum, &value) in sums.iter_mut().zip(point) {
                *sum += f64::from(value);
            }
        }
    }

    /// Moves a point to another cluster, updating both clusters' sums.
    fn move_point(&mut self, point: usize, to: u32) {
        let dim = self.dim;
        let from = self.labels[point] as usize;
        let values = &self.data[point * dim..(point + 1) * dim];
        for (offset, &value) in values.iter().enumerate() {
            self.sums[from * dim + offset] -= f64::from(value);
            self.sums[to as usize * dim + offset] += f64::from(value);
        }
        self.sizes[from] -= 1;
        self.sizes[to as usize] += 1;
        self.labels[point] = to;
    }

    /// Reassigns the points whose bounds allow a nearer center and
    /// returns whether any label changed.
    fn assign_bounded(&mut self) -> bool {
        // Half the distance from each center to its nearest other center:
        // a point closer than that to its own center keeps it.
        let half_gap: Vec<f32> = (0..self.k)
            .map(|cluster| {
                (0..self.k)
                    .filter(|&other| other != cluster)
                    .map(|other| squared_distance(self.center(cluster), self.center(other)))
                    .fold(f32::INFINITY, f32::min)
                    .sqrt()
                    / 2.0
            })
            .collect();
        let mut changed = false;
        for point in 0..self.labels.len() {
            let own = self.labels[point];
            let bound = half_gap[own as usize].max(self.lower[point]);
            if self.upper[point] <= bound {
                continue;
            }
            self.upper[point] = self.squared_distance_to(point, own as usize).sqrt();
            if self.upper[point] <= bound {
                continue;
            }
            let (label, nearest, second) = self.nearest_two(point);
            self.upper[point] = nearest;
            self.lower[point] = second;
            if label != own {
                self.move_point(point, label);
                changed = true;
            }
        }
        changed
    }

    /// Moves each non-empty cluster's center to the mean of its members and
    /// returns how far each center moved.
    fn update_centers(&mut self) -> Vec<f32> {
        let dim = self.dim;
        let mut movement = vec![0f32; self.k];
        let mut mean = vec![0f32; dim];
        for (cluster, moved) in movement.iter_mut().enumerate() {
            if self.sizes[cluster] == 0 {
                continue;
            }
            let size = self.sizes[cluster] as f64;
            for (value, sum) in mean.iter_mut().zip(&self.sums[cluster * dim..]) {
                *value = (sum / size) as f32;
            }
            *moved = squared_distance(self.center(cluster), &mean).sqrt();
            self.centers[cluster * dim..(cluster + 1) * dim].copy_from_slice(&mean);
        }
        movement
    }

    /// Keeps the bounds valid after centers moved: a point's own center
    /// came at most its movement closer or farther, and any other center
    /// at most the largest movement among the others.
    fn widen_bounds(&mut self, movement: &[f32]) {
        let mut largest = (usize::MAX, 0f32);
        let mut second = 0f32;
        for (cluster, &moved) in movement.iter().enumerate() {
            if moved > largest.1 {
                second = largest.1;
                largest = (cluster, moved);
            } else if moved > second {
                second = moved;
            }
        }
        for (point, &label) in self.labels.iter().enumerate() {
            let own = label as usize;
            self.upper[point] += movement[own];
            let others = if own == largest.0 { second } else { largest.1 };
            self.lower[point] -= others;
        }
    }

    /// Gives each empty cluster the point farthest from its center among
    /// clusters with two or more members, so every cluster keeps a member.
    /// Returns whether any point moved. A move resets every lower bound,
    /// because a center jumped to a new place.
    fn fill_empty_clusters(&mut self) -> bool {
        if self.sizes.iter().all(|&size| size > 0) {
            return false;
        }
        let mut distances: Vec<f32> = (0..self.labels.len())
            .map(|point| self.squared_distance_to(point, self.labels[point] as usize))
            .collect();
        let mut moved = false;
        for empty in 0..self.k {
            if self.sizes[empty] > 0 {
                continue;
            }
            let farthest = (0..self.labels.len())
                .filter(|&point| self.sizes[self.labels[point] as usize] > 1)
                .max_by(|&a, &b| distances[a].total_cmp(&distances[b]).then(b.cmp(&a)));
            let Some(point) = farthest else { break };
            self.move_point(point, empty as u32);
            distances[point] = 0.0;
            self.upper[point] = 0.0;
            let dim = self.dim;
            let values = self.point(point).to_vec();
            self.centers[empty * dim..(empty + 1) * dim].copy_from_slice(&values);
            moved = true;
        }
        if moved {
            self.lower.iter_mut().for_each(|bound| *bound = 0.0);
        }
        moved
    }
}

/// Picks `k` starting centers by k-means++ (Arthur and Vassilvitskii,
/// 2007): the first uniformly, each next one with probability proportional
/// to its squared distance from the nearest center chosen so far. When every
/// point already coincides with a center, the next one is drawn uniformly.
fn seed_centers(data: &[f32], dim: usize, k: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let n = data.len() / dim;
    let point = |index: usize| &data[index * dim..(index + 1) * dim];
    let mut centers = Vec::with_capacity(k * dim);
    centers.extend_from_slice(point(rng.below(n)));
    let mut nearest: Vec<f64> = (0..n)
        .map(|index| f64::from(squared_distance(point(index), &centers[..dim])))
        .collect();
    for _ in 1..k {
        let total: f64 = nearest.iter().sum();
        let chosen = if total > 0.0 {
            let target = rng.next_f64() * total;
            let mut cumulative = 0.0;
            let mut chosen = n - 1;
            for (index, &weight) in nearest.iter().enumerate() {
                cumulative += weight;
                if cumulative > target && weight > 0.0 {
                    chosen = index;
                    break;
                }
            }
            chosen
        } else {
            rng.below(n)
        };
        let start = centers.len();
        centers.extend_from_slice(point(chosen));
        for (index, value) in nearest.iter_mut().enumerate() {
            let distance = f64::from(squared_distance(point(index), &centers[start..]));
            if distance < *value {
                *value = distance;
            }
        }
    }
    centers
}

/// Euclidean distances between every pair of sample points, computed once
/// and shared by the silhouette of every k.
pub(super) struct DistanceMatrix {
    size: usize,
    values: Vec<f32>,
}

impl DistanceMatrix {
    /// Computes the distances between the given points of `data`.
    pub(super) fn new(data: &[f32], dim: usize, sample: &[usize]) -> DistanceMatrix {
        let size = sample.len();
        let mut values = vec![0f32; size * size];
        for (row, &a) in sample.iter().enumerate() {
            let point_a = &data[a * dim..(a + 1) * dim];
            for (column, &b) in sample.iter().enumerate().skip(row + 1) {
                let distance = squared_distance(point_a, &data[b * dim..(b + 1) * dim]).sqrt();
                values[row * size + column] = distance;
                values[column * size + row] = distance;
            }
        }
        DistanceMatrix { size, values }
    }

    fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.size..(index + 1) * self.size]
    }
}

/// Returns the mean silhouette (Rousseeuw, 1987) of the sample points with
/// the given labels (`labels[i]` is the cluster of sample point `i`).
///
/// For a point with mean distance `a` to the other members of its cluster
/// and mean distance `b` to the members of the nearest other cluster, the
/// silhouette is `(b - a) / max(a, b)`. It is 0 for a point that is alone
/// in its cluster, and 0 when the sample holds only one cluster.
pub(super) fn silhouette(distances: &DistanceMatrix, labels: &[u32], k: usize) -> f64 {
    let size = distances.size;
    if size == 0 {
        return 0.0;
    }
    let mut members = vec![0usize; k];
    for &label in labels {
        members[label as usize] += 1;
    }
    let mut sums = vec![0f64; k];
    let mut total = 0.0;
    for (point, &own) in labels.iter().enumerate() {
        let own = own as usize;
        if members[own] < 2 {
            continue;
        }
        sums.iter_mut().for_each(|sum| *sum = 0.0);
        for (&distance, &label) in distances.row(point).iter().zip(labels) {
            sums[label as usize] += f64::from(distance);
        }
        let within = sums[own] / (members[own] - 1) as f64;
        let nearest_other = (0..k)
            .filter(|&cluster| cluster != own && members[cluster] > 0)
            .map(|cluster| sums[cluster] / members[cluster] as f64)
            .min_by(f64::total_cmp);
        let Some(between) = nearest_other else {
            continue;
        };
        let scale = within.max(between);
        if scale > 0.0 {
            total += (between - within) / scale;
        }
    }
    total / size as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Three tight blobs of five 2-D points around (0, 0), (10, 0) and
    /// (0, 10).
    fn blobs() -> Vec<f32> {
        let offsets = [
            (0.0, 0.0),
            (0.3, 0.1),
            (-0.2, 0.2),
            (0.1, -0.3),
            (-0.1, -0.1),
        ];
        let mut data = Vec::new();
        for (x, y) in [(0.0f32, 0.0f32), (10.0, 0.0), (0.0, 10.0)] {
            for (dx, dy) in offsets {
                data.extend([x + dx, y + dy]);
            }
        }
        data
    }

    #[test]
    fn kmeans_separates_clear_blobs() {
        let data = blobs();
        for seed in [0, 1, 42] {
            let clustering = kmeans(&data, 2, 3, seed);
            let labels = &clustering.labels;
            for blob in 0..3 {
                let first = labels[blob * 5];
                assert!(
                    labels[blob * 5..blob * 5 + 5].iter().all(|&l| l == first),
                    "seed {seed}, blob {blob}: {labels:?}"
                );
            }
            assert_ne!(labels[0], labels[5], "seed {seed}");
            assert_ne!(labels[0], labels[10], "seed {seed}");
            assert_ne!(labels[5], labels[10], "seed {seed}");
            // Each center is its blob's mean: (0, 0) shifted by the mean
            // offset (0.02, -0.02).
            let center = clustering.center(labels[5] as usize, 2);
            assert!((center[0] - 10.02).abs() < 1e-5, "{center:?}");
            assert!((center[1] + 0.02).abs() < 1e-5, "{center:?}");
        }
    }

    /// Plain Lloyd iterations from the same k-means++ seeding, with every
    /// distance computed and the means summed anew each pass.
    fn plain_lloyd(data: &[f32], dim: usize, k: usize, rng: &mut SplitMix64) -> Vec<u32> {
        let mut centers = seed_centers(data, dim, k, rng);
        let mut labels = vec![u32::MAX; data.len() / dim];
        for _ in 0..MAX_ITERATIONS {
            let mut changed = false;
            for (label, point) in labels.iter_mut().zip(data.chunks_exact(dim)) {
                let mut nearest = (0u32, f32::INFINITY);
                for (cluster, center) in centers.chunks_exact(dim).enumerate() {
                    let distance = squared_distance(point, center);
                    if distance < nearest.1 {
                        nearest = (cluster as u32, distance);
                    }
                }
                changed |= *label != nearest.0;
                *label = nearest.0;
            }
            if !changed {
                break;
            }
            let mut sums = vec![0f64; k * dim];
            let mut sizes = vec![0usize; k];
            for (&label, point) in labels.iter().zip(data.chunks_exact(dim)) {
                sizes[label as usize] += 1;
                for (j, &value) in point.iter().enumerate() {
                    sums[label as usize * dim + j] += f64::from(value);
                }
            }
            for (j, center) in centers.iter_mut().enumerate() {
                *center = (sums[j] / sizes[j / dim] as f64) as f32;
            }
        }
        labels
    }

    #[test]
    fn kmeans_bounds_match_plain_lloyd() {
        // 600 points in 8 dimensions from four overlapping clouds, so that
        // points change clusters for several passes.
        let mut rng = SplitMix64::new(11);
        let dim = 8;
        let mut data = Vec::new();
        for point in 0..600 {
            let cloud = (point % 4) as f64;
            for j in 0..dim {
                let noise = rng.next_f64() + rng.next_f64() - 1.0;
                data.push((cloud * (j % 3) as f64 * 0.4 + noise) as f32);
            }
        }
        for k in [2, 3, 5, 8] {
            let expected = plain_lloyd(&data, dim, k, &mut SplitMix64::new(k as u64));
            let fast = lloyd(&data, dim, k, &mut SplitMix64::new(k as u64));
            assert_eq!(fast.labels, expected, "k {k}");
        }
    }

    #[test]
    fn kmeans_is_deterministic_for_a_seed() {
        let data = blobs();
        let first = kmeans(&data, 2, 4, 7);
        let second = kmeans(&data, 2, 4, 7);
        assert_eq!(first.labels, second.labels);
        assert_eq!(first.centers, second.centers);
        assert_eq!(first.inertia, second.inertia);
    }

    #[test]
    fn kmeans_keeps_every_cluster_on_repeated_points() {
        // Two distinct values and three clusters: one cluster must take a
        // copy of a value that another cluster also holds.
        let data = [0.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
        let clustering = kmeans(&data, 1, 3, 3);
        let mut sizes = [0usize; 3];
        for &label in &clustering.labels {
            sizes[label as usize] += 1;
        }
        assert!(sizes.iter().all(|&size| size > 0), "{sizes:?}");
        assert_eq!(clustering.inertia, 0.0);
    }

    #[test]
    fn silhouette_four_points_by_hand() {
        // Points 0, 1, 4 and 5 on a line in clusters {0, 1} and {4, 5}.
        // Point 0: a = 1, b = (4 + 5) / 2 = 4.5, s = 3.5 / 4.5 = 7/9.
        // Point 1: a = 1, b = (3 + 4) / 2 = 3.5, s = 2.5 / 3.5 = 5/7.
        // Points 4 and 5 mirror 1 and 0, so the mean is (7/9 + 5/7) / 2.
        let data = [0.0f32, 1.0, 4.0, 5.0];
        let matrix = DistanceMatrix::new(&data, 1, &[0, 1, 2, 3]);
        let score = silhouette(&matrix, &[0, 0, 1, 1], 2);
        assert!((score - 47.0 / 63.0).abs() < 1e-6, "{score}");

        // Clusters {0, 4} and {1, 5} fit badly. Point 0: a = 4,
        // b = (1 + 5) / 2 = 3, s = -1/4. Point 4: a = 4, b = 2, s = -1/2.
        // Point 1: a = 4, b = (1 + 3) / 2 = 2, s = -1/2. Point 5: a = 4,
        // b = 3, s = -1/4. Mean -3/8.
        let score = silhouette(&matrix, &[0, 1, 0, 1], 2);
        assert!((score + 0.375).abs() < 1e-6, "{score}");
    }

    #[test]
    fn silhouette_singletons_score_zero() {
        // Point 9 is alone: 0. Points 0 and 1: a = 1, b = 9 and 8, so
        // s = 8/9 and 7/8. Mean (8/9 + 7/8 + 0) / 3.
        let data = [0.0f32, 1.0, 9.0];
        let matrix = DistanceMatrix::new(&data, 1, &[0, 1, 2]);
        let score = silhouette(&matrix, &[0, 0, 1], 2);
        let expected = (8.0 / 9.0 + 7.0 / 8.0) / 3.0;
        assert!((score - expected).abs() < 1e-6, "{score}");
    }

    #[test]
    fn sample_indices_are_distinct_and_seeded() {
        let mut rng = SplitMix64::new(5);
        let sample = sample_indices(100, 10, &mut rng);
        assert_eq!(sample.len(), 10);
        assert!(sample.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(sample.iter().all(|&index| index < 100));
        let again = sample_indices(100, 10, &mut SplitMix64::new(5));
        assert_eq!(sample, again);
        assert_eq!(sample_indices(3, 10, &mut rng), [0, 1, 2]);
    }

    #[test]
    fn splitmix_matches_reference_values() {
        // The first outputs for seed 1234567, as listed on the Rosetta Code
        // task "Pseudo-random numbers/Splitmix64".
        let mut rng = SplitMix64::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
    }
}
