//! Customer segments from user embeddings: k-means clusters with k chosen
//! by the silhouette score, a 2-D PCA scatter, and a profile and a name for
//! each segment.
//!
//! Each embedding is L2-normalised (divided by its Euclidean length) before
//! clustering and projection, so users group by the direction of their
//! vectors, not by their length. No other scaling or standardisation is
//! applied.

mod cluster;
mod profile;
mod projection;

pub use profile::{NamedCount, SegmentProfile};

use crate::events::{display_name, EventLog};
use crate::timeline::sentence::Lang;
use crate::timeline::Timelines;
use cluster::{kmeans, sample_indices, silhouette, Clustering, DistanceMatrix, SplitMix64};
use projection::Projection;
use serde::Serialize;

/// Maximum users in the sample on which silhouettes are computed. The
/// pairwise distances of the sample take `SILHOUETTE_SAMPLE^2 * 4` bytes.
pub const SILHOUETTE_SAMPLE: usize = 2000;

/// Random streams derived from [`SegmentOptions::seed`]. k-means for a
/// given k uses stream `KMEANS_STREAM + k`.
const SAMPLE_STREAM: u64 = 1;
const PROJECTION_STREAM: u64 = 2;
const SCATTER_STREAM: u64 = 3;
const KMEANS_STREAM: u64 = 1 << 32;

/// User vectors from a behavior model, one row per user.
#[derive(Clone, Debug, Default)]
pub struct Embeddings {
    /// User ids, indices into the log's user interner.
    pub users: Vec<u32>,
    /// Values per user.
    pub dim: usize,
    /// `users.len() * dim` values, row by row.
    pub data: Vec<f32>,
}

/// Settings for [`segment`].
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    /// Number of segments. `None` picks the k with the highest mean
    /// silhouette in `k_min..=k_max`.
    pub k: Option<usize>,
    /// Smallest k searched, at least 2.
    pub k_min: usize,
    /// Largest k searched.
    pub k_max: usize,
    /// Seed of every random choice, so equal seeds give equal results.
    pub seed: u64,
    /// Maximum users in the scatter, except that each segment shows at
    /// least one. With 0 the scatter is empty.
    pub max_points: usize,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            k: None,
            k_min: 2,
            k_max: 8,
            seed: 0,
            max_points: 2000,
        }
    }
}

/// Source of the number of segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChosenBy {
    Silhouette,
    User,
}

/// Mean silhouette of the clustering with `k` segments, in [-1, 1].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SilhouetteScore {
    pub k: usize,
    pub score: f64,
}

/// One user in the scatter plot, at its first two principal components.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScatterPoint {
    pub user: String,
    pub x: f64,
    pub y: f64,
    pub segment: usize,
}

/// Segments report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segments {
    pub available: bool,
    /// Reason segments are missing, or facts about partial results such as
    /// users without embeddings or a narrowed k search. Null otherwise.
    pub note: Option<String>,
    /// Number of segments, or 0 when unavailable.
    pub k: usize,
    pub chosen_by: ChosenBy,
    /// Mean silhouette of every k tried, in increasing k, computed on the
    /// same seeded sample of at most [`SILHOUETTE_SAMPLE`] users.
    pub silhouette: Vec<SilhouetteScore>,
    /// Users with embeddings.
    pub users: usize,
    pub dim: usize,
    /// Share of the variance of the normalised embeddings along the two
    /// scatter axes.
    pub explained_variance: Vec<f64>,
    pub points: Vec<ScatterPoint>,
    /// Segments, largest first. `id` is the position in this list.
    pub segments: Vec<SegmentProfile>,
    /// Segment of each embedding row, parallel to [`Embeddings::users`].
    /// Not serialized.
    #[serde(skip)]
    pub segment_of: Vec<usize>,
}

/// Clusters users by their embeddings and describes each cluster.
///
/// Invalid embeddings or options, and fewer than `2 * k_min` users (or
/// `2 * k` when k is set), give `available: false` with a note that explains
/// why. The search tries k up to `users / 2` at most.
///
/// NOTE: each k costs three k-means runs over all users. On embeddings
/// without clear clusters most runs reach the 100-pass limit, which makes
/// this the slowest analysis for large logs.
pub fn segment(
    log: &EventLog,
    timelines: &Timelines,
    embeddings: &Embeddings,
    options: &SegmentOptions,
    lang: Lang,
) -> Segments {
    let chosen_by = if options.k.is_some() {
        ChosenBy::User
    } else {
        ChosenBy::Silhouette
    };
    let users = embeddings.users.len();
    let mut result = Segments {
        available: false,
        note: None,
        k: 0,
        chosen_by,
        silhouette: Vec::new(),
        users,
        dim: embeddings.dim,
        explained_variance: Vec::new(),
        points: Vec::new(),
        segments: Vec::new(),
        segment_of: Vec::new(),
    };
    if let Err(message) = validate(log, embeddings, options) {
        result.note = Some(message);
        return result;
    }
    let dim = embeddings.dim;
    let data = normalize_rows(&embeddings.data, dim);
    let mut notes = Vec::new();
    let candidates: Vec<usize> = match options.k {
        Some(k) => vec![k],
        None => {
            let largest = options.k_max.min(users / 2);
            if largest < options.k_max {
                notes.push(format!(
                    "k was searched up to {largest}, not {}, because {users} users allow at \
                     most {largest} segments of two users on average.",
                    options.k_max
                ));
            }
            (options.k_min..=largest).collect()
        }
    };
    let (scores, clustering) = cluster_and_score(&data, dim, &candidates, options.seed);
    result.silhouette = scores;
    let clustering = order_by_size(clustering, dim);
    result.segment_of = clustering
        .labels
        .iter()
        .map(|&label| label as usize)
        .collect();

    let projection_seed = SplitMix64::derive(options.seed, PROJECTION_STREAM).next_u64();
    let projection = Projection::fit(&data, dim, projection_seed);
    result.explained_variance = projection.explained.to_vec();
    let mut rng = SplitMix64::derive(options.seed, SCATTER_STREAM);
    let rows = scatter_rows(
        &result.segment_of,
        clustering.k,
        options.max_points,
        &mut rng,
    );
    result.points = rows
        .into_iter()
        .map(|row| {
            let (x, y) = projection.project(&data[row * dim..(row + 1) * dim]);
            ScatterPoint {
                user: display_name(log.users.name(embeddings.users[row])),
                x,
                y,
                segment: result.segment_of[row],
            }
        })
        .collect();

    let typical = typical_rows(&data, &clustering, dim);
    result.segments = profile::describe(
        log,
        timelines,
        &embeddings.users,
        &result.segment_of,
        &typical,
        lang,
    );
    let missing = log.users.len() - users;
    if missing > 0 {
        notes.push(format!(
            "{missing} of the log's {} users have no embedding and are in no segment.",
            log.users.len()
        ));
    }
    result.available = true;
    result.k = clustering.k;
    result.note = (!notes.is_empty()).then(|| notes.join(" "));
    result
}

/// Runs k-means for each candidate k and scores it by the mean silhouette
/// on one seeded sample of at most [`SILHOUETTE_SAMPLE`] rows. Returns
/// every score and the clustering with the highest one (the smallest k on a
/// tie). `candidates` must not be empty.
fn cluster_and_score(
    data: &[f32],
    dim: usize,
    candidates: &[usize],
    seed: u64,
) -> (Vec<SilhouetteScore>, Clustering) {
    let rows = data.len() / dim;
    let mut rng = SplitMix64::derive(seed, SAMPLE_STREAM);
    let sample = sample_indices(rows, SILHOUETTE_SAMPLE, &mut rng);
    let distances = DistanceMatrix::new(data, dim, &sample);
    let mut scores = Vec::with_capacity(candidates.len());
    let mut best: Option<(f64, Clustering)> = None;
    for &k in candidates {
        let kmeans_seed = SplitMix64::derive(seed, KMEANS_STREAM + k as u64).next_u64();
        let clustering = kmeans(data, dim, k, kmeans_seed);
        let labels: Vec<u32> = sample.iter().map(|&row| clustering.labels[row]).collect();
        let score = silhouette(&distances, &labels, k);
        scores.push(SilhouetteScore { k, score });
        if best.as_ref().is_none_or(|(kept, _)| score > *kept) {
            best = Some((score, clustering));
        }
    }
    let (_, clustering) = best.expect("at least one candidate k");
    (scores, clustering)
}

/// Checks options and embeddings, returning a message that names the first
/// problem found.
fn validate(
    log: &EventLog,
    embeddings: &Embeddings,
    options: &SegmentOptions,
) -> Result<(), String> {
    if options.k_min < 2 {
        return Err(format!("k_min is {}; it must be at least 2", options.k_min));
    }
    if options.k_max < options.k_min {
        return Err(format!(
            "k_max ({}) is below k_min ({}); set k_max to k_min or more",
            options.k_max, options.k_min
        ));
    }
    if let Some(k) = options.k.filter(|&k| k < 2) {
        return Err(format!("k is {k}; it must be at least 2"));
    }

    let (users, dim) = (embeddings.users.len(), embeddings.dim);
    if dim == 0 {
        return Err("embeddings have dimension 0; expected at least one value per user".into());
    }
    if Some(embeddings.data.len()) != users.checked_mul(dim) {
        return Err(format!(
            "embeddings contain {} values, but {users} users of dimension {dim} need {}",
            embeddings.data.len(),
            users.saturating_mul(dim)
        ));
    }

    let smallest = options.k.unwrap_or(options.k_min);
    if users < smallest.saturating_mul(2) {
        return Err(format!(
            "{smallest} segments need at least {} users with embeddings (two per segment), \
             but the log has {users}",
            smallest.saturating_mul(2)
        ));
    }

    let mut row_of_user = vec![usize::MAX; log.users.len()];
    for (row, (&user, values)) in embeddings
        .users
        .iter()
        .zip(embeddings.data.chunks_exact(dim))
        .enumerate()
    {
        let Some(seen) = row_of_user.get_mut(user as usize) else {
            return Err(format!(
                "embedding row {row} names user id {user}, but the log has only {} users",
                log.users.len()
            ));
        };
        let name = display_name(log.users.name(user));
        if *seen != usize::MAX {
            return Err(format!(
                "user {name} has two embeddings (rows {} and {row}); expected one per user",
                *seen
            ));
        }
        *seen = row;
        if let Some(value) = values.iter().find(|value| !value.is_finite()) {
            return Err(format!(
                "the embedding of user {name} (row {row}) contains {value}; expected finite numbers"
            ));
        }
        if values.iter().all(|&value| value == 0.0) {
            return Err(format!(
                "the embedding of user {name} (row {row}) is all zeros, so it has no direction \
                 to normalise"
            ));
        }
    }
    Ok(())
}

/// Returns the rows divided by their Euclidean lengths (in f64, so very
/// large or small values do not overflow). Rows must not be all zeros.
fn normalize_rows(data: &[f32], dim: usize) -> Vec<f32> {
    let mut normalized = Vec::with_capacity(data.len());
    for row in data.chunks_exact(dim) {
        let length = row
            .iter()
            .map(|&value| f64::from(value) * f64::from(value))
            .sum::<f64>()
            .sqrt();
        normalized.extend(row.iter().map(|&value| (f64::from(value) / length) as f32));
    }
    normalized
}

/// Renumbers clusters by size, largest first. Equal sizes keep the order
/// of their first member.
fn order_by_size(clustering: Clustering, dim: usize) -> Clustering {
    let k = clustering.k;
    let mut sizes = vec![0usize; k];
    let mut first_row = vec![usize::MAX; k];
    for (row, &label) in clustering.labels.iter().enumerate() {
        let cluster = label as usize;
        sizes[cluster] += 1;
        first_row[cluster] = first_row[cluster].min(row);
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&cluster| (std::cmp::Reverse(sizes[cluster]), first_row[cluster]));
    let mut new_label = vec![0u32; k];
    for (position, &cluster) in order.iter().enumerate() {
        new_label[cluster] = position as u32;
    }
    let mut centers = Vec::with_capacity(clustering.centers.len());
    for &cluster in &order {
        centers.extend_from_slice(clustering.center(cluster, dim));
    }
    Clustering {
        k,
        labels: clustering
            .labels
            .iter()
            .map(|&label| new_label[label as usize])
            .collect(),
        centers,
        inertia: clustering.inertia,
    }
}

/// Returns, per cluster, the row nearest its center (the lowest row on a
/// tie). Distances within a relative 1e-4 count as ties, because users with
/// the same timeline get embeddings that differ only by rounding, which
/// differs between the native and wasm builds.
fn typical_rows(data: &[f32], clustering: &Clustering, dim: usize) -> Vec<usize> {
    let mut best = vec![(usize::MAX, f32::INFINITY); clustering.k];
    for (row, &label) in clustering.labels.iter().enumerate() {
        let cluster = label as usize;
        let point = &data[row * dim..(row + 1) * dim];
        let distance = cluster::squared_distance(point, clustering.center(cluster, dim));
        let (best_row, best_distance) = best[cluster];
        if best_row == usize::MAX || distance < best_distance - 1e-4 * best_distance - 1e-9 {
            best[cluster] = (row, distance);
        }
    }
    best.into_iter().map(|(row, _)| row).collect()
}

/// Picks the rows shown in the scatter: all rows when they fit in
/// `max_points`, otherwise a seeded sample stratified by segment. Each
/// segment gets its share of `max_points` by the largest-remainder method
/// and at least one row, taken from the largest quotas, so a scatter of
/// fewer than `k` points still contains `k`. Returns rows in increasing order.
fn scatter_rows(
    segment_of: &[usize],
    k: usize,
    max_points: usize,
    rng: &mut SplitMix64,
) -> Vec<usize> {
    let rows = segment_of.len();
    if max_points == 0 {
        return Vec::new();
    }
    if rows <= max_points {
        return (0..rows).collect();
    }

    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (row, &segment) in segment_of.iter().enumerate() {
        members[segment].push(row);
    }
    let scaled = |segment: usize| members[segment].len() as u128 * max_points as u128;
    let mut quotas: Vec<usize> = (0..k)
        .map(|segment| (scaled(segment) / rows as u128) as usize)
        .collect();
    let mut by_remainder: Vec<usize> = (0..k).collect();
    by_remainder.sort_by_key(|&segment| std::cmp::Reverse(scaled(segment) % rows as u128));
    let left = max_points - quotas.iter().sum::<usize>();
    for &segment in by_remainder.iter().take(left) {
        quotas[segment] += 1;
    }

    for segment in 0..k {
        if quotas[segment] > 0 {
            continue;
        }
        quotas[segment] = 1;
        let largest = (0..k).filter(|&s| quotas[s] > 1).max_by_key(|&s| quotas[s]);
        if let Some(donor) = largest {
            quotas[donor] -= 1;
        }
    }

    let mut chosen = Vec::with_capacity(max_points.max(k));
    for (segment, list) in members.iter().enumerate() {
        let picks = sample_indices(list.len(), quotas[segment], rng);
        chosen.extend(picks.into_iter().map(|index| list[index]));
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn scatter_keeps_small_segments() {
        // 1000 rows: segment 0 has 990, segments 1 and 2 have 5 each. Ten
        // points give quotas 9.9, 0.05 and 0.05: floors 9, 0, 0, then the
        // largest remainder adds one to segment 0, and the empty segments
        // take one each from it.
        let mut segment_of = vec![0usize; 990];
        segment_of.extend([1; 5]);
        segment_of.extend([2; 5]);
        let rows = scatter_rows(&segment_of, 3, 10, &mut SplitMix64::new(1));
        assert_eq!(rows.len(), 10);
        let count = |segment: usize| rows.iter().filter(|&&r| segment_of[r] == segment).count();
        assert_eq!(count(0), 8);
        assert_eq!(count(1), 1);
        assert_eq!(count(2), 1);
        assert!(rows.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn scatter_takes_all_rows_that_fit() {
        let segment_of = [0, 1, 0, 1];
        let rows = scatter_rows(&segment_of, 2, 10, &mut SplitMix64::new(1));
        assert_eq!(rows, [0, 1, 2, 3]);
        assert!(scatter_rows(&segment_of, 2, 0, &mut SplitMix64::new(1)).is_empty());
        // Fewer points than segments still shows each segment once.
        let rows = scatter_rows(&segment_of, 2, 1, &mut SplitMix64::new(1));
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn rows_are_normalized_to_unit_length() {
        let normalized = normalize_rows(&[3.0, 4.0, 0.0, -2.0], 2);
        assert_eq!(normalized, [0.6, 0.8, 0.0, -1.0]);
    }
}
