//! Clustering algorithms over L2-normalised embeddings (cosine similarity = dot product).
//!
//! - [`average_linkage`]: the library's algorithm. Agglomerative clustering that merges the two most
//!   similar clusters while their *average* pairwise similarity reaches the threshold. With unit
//!   vectors the average over all cross pairs is exactly `sum_a · sum_b / (n_a n_b)`, so each cluster
//!   keeps one sum vector and a merge test costs one dot product. Candidate pairs come from a
//!   k-nearest-neighbour graph (a pair of clusters can only average above the threshold if some pair
//!   of their faces is above it). Seeds, anchors and "cannot join" constraints make it incremental and
//!   make user corrections binding.
//! - [`chinese_whispers`]: dlib's algorithm, as face_recognition's clustering example runs it: an
//!   unweighted graph of pairs above the threshold (with self loops), 100 passes of label propagation.
//! - [`dbscan`]: as Immich groups faces: a face with at least `min_points - 1` others above the
//!   threshold is a core face; clusters are core faces linked through such neighbours, with their
//!   border faces; the rest is noise (returned as singletons).

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// One point's neighbours: `(point, similarity)`, most similar first.
pub type NeighbourList = Vec<(u32, f32)>;

/// For each point, the other points at or above a similarity floor, most similar first.
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    /// `lists[p]`: `(q, similarity)`, sorted by similarity, highest first.
    pub lists: Vec<Vec<(u32, f32)>>,
}

impl Neighbours {
    /// The neighbours of `p` at or above `threshold`, at most `cap` of them.
    pub fn above(&self, p: usize, threshold: f32, cap: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.lists[p].iter().copied().take_while(move |&(_, s)| s >= threshold).take(cap)
    }

    /// A symmetric adjacency list of the pairs at or above `threshold` (each point's best `cap`).
    pub fn symmetric(&self, threshold: f32, cap: usize) -> Vec<Vec<u32>> {
        let mut adj = vec![Vec::new(); self.lists.len()];
        for p in 0..self.lists.len() {
            for (q, _) in self.above(p, threshold, cap) {
                adj[p].push(q);
                adj[q as usize].push(p as u32);
            }
        }
        for list in &mut adj {
            list.sort_unstable();
            list.dedup();
        }
        adj
    }
}

/// Neighbour lists of the `queries` rows of `points` against every row, keeping pairs with similarity
/// `>= floor` (at most `cap` per query). Rows of points that are not queries get empty lists. Runs on
/// rayon's threads, in blocks of a matrix product.
pub fn neighbours(points: ArrayView2<f32>, queries: &[usize], floor: f32, cap: usize) -> Neighbours {
    const BLOCK: usize = 256;
    let n = points.nrows();
    let blocks: Vec<Vec<(usize, NeighbourList)>> = queries
        .par_chunks(BLOCK)
        .map(|chunk| {
            let q = points.select(Axis(0), chunk);
            let sims = q.dot(&points.t());
            chunk
                .iter()
                .zip(sims.outer_iter())
                .map(|(&p, row)| {
                    let mut list: Vec<(u32, f32)> = row
                        .iter()
                        .enumerate()
                        .filter(|&(j, &s)| j != p && s >= floor)
                        .map(|(j, &s)| (j as u32, s))
                        .collect();
                    list.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    list.truncate(cap);
                    (p, list)
                })
                .collect()
        })
        .collect();
    let mut lists = vec![Vec::new(); n];
    for (p, list) in blocks.into_iter().flatten() {
        lists[p] = list;
    }
    Neighbours { lists }
}

/// Where clustering starts from, and what it must respect.
#[derive(Debug, Clone, Default)]
pub struct Seeds {
    /// Per point: the group it starts in (points of one group start as one cluster), or `None`.
    pub group: Vec<Option<usize>>,
    /// Per group: the person it stands for. Two clusters that both stand for a person never merge.
    pub anchor: Vec<Option<i64>>,
    /// Per point: the people it must not be grouped with ("not this person").
    pub forbidden: Vec<Vec<i64>>,
}

impl Seeds {
    /// Every point on its own, no constraints.
    pub fn free(n: usize) -> Seeds {
        Seeds { group: vec![None; n], anchor: Vec::new(), forbidden: vec![Vec::new(); n] }
    }
}

/// A cluster during [`average_linkage`].
struct Cluster {
    sum: Vec<f32>,
    members: Vec<u32>,
    anchor: Option<i64>,
    forbidden: Vec<i64>,
    version: u32,
}

impl Cluster {
    fn linkage(&self, other: &Cluster) -> f32 {
        let dot: f32 = self.sum.iter().zip(&other.sum).map(|(a, b)| a * b).sum();
        dot / (self.members.len() as f32 * other.members.len() as f32)
    }

    fn may_join(&self, other: &Cluster) -> bool {
        let blocked = |a: &Cluster, b: &Cluster| a.anchor.is_some_and(|p| b.forbidden.contains(&p));
        let both_anchored = self.anchor.is_some() && other.anchor.is_some();
        !(both_anchored || blocked(self, other) || blocked(other, self))
    }
}

/// A candidate merge in the priority queue.
#[derive(PartialEq)]
struct Candidate {
    linkage: f32,
    a: u32,
    b: u32,
    versions: (u32, u32),
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.linkage.total_cmp(&other.linkage).then_with(|| (other.a, other.b).cmp(&(self.a, self.b)))
    }
}

/// The library's algorithm (see the module doc). `adjacency` is a symmetric graph of candidate pairs
/// (from [`Neighbours::symmetric`]); returns a cluster label per point (labels are arbitrary).
pub fn average_linkage(points: ArrayView2<f32>, adjacency: &[Vec<u32>], threshold: f32, seeds: &Seeds) -> Vec<usize> {
    let (mut clusters, mut owner) = initial_clusters(points, seeds);
    let mut heap = BinaryHeap::new();
    let mut seen = HashSet::new();
    for (p, list) in adjacency.iter().enumerate() {
        for &q in list {
            let (a, b) = (owner[p], owner[q as usize]);
            if a != b && seen.insert((a.min(b), a.max(b))) {
                push_candidate(&clusters, &mut heap, a, b, threshold);
            }
        }
    }
    while let Some(c) = heap.pop() {
        let (a, b) = (&clusters[c.a as usize], &clusters[c.b as usize]);
        if a.members.is_empty() || b.members.is_empty() || (a.version, b.version) != c.versions {
            continue;
        }
        let into = merge(&mut clusters, &mut owner, c.a, c.b);
        let mut near = HashSet::new();
        for &p in &clusters[into as usize].members {
            near.extend(adjacency[p as usize].iter().map(|&q| owner[q as usize]).filter(|&o| o != into));
        }
        for other in near {
            push_candidate(&clusters, &mut heap, into, other, threshold);
        }
    }
    owner.into_iter().map(|o| o as usize).collect()
}

fn initial_clusters(points: ArrayView2<f32>, seeds: &Seeds) -> (Vec<Cluster>, Vec<u32>) {
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut group_cluster: HashMap<usize, u32> = HashMap::new();
    let mut owner = Vec::with_capacity(points.nrows());
    for (p, row) in points.outer_iter().enumerate() {
        let slot = match seeds.group.get(p).copied().flatten() {
            Some(g) => *group_cluster.entry(g).or_insert_with(|| {
                let anchor = seeds.anchor.get(g).copied().flatten();
                clusters.push(Cluster {
                    sum: vec![0.0; row.len()],
                    members: Vec::new(),
                    anchor,
                    forbidden: Vec::new(),
                    version: 0,
                });
                (clusters.len() - 1) as u32
            }),
            None => {
                clusters.push(Cluster {
                    sum: vec![0.0; row.len()],
                    members: Vec::new(),
                    anchor: None,
                    forbidden: Vec::new(),
                    version: 0,
                });
                (clusters.len() - 1) as u32
            }
        };
        let c = &mut clusters[slot as usize];
        c.sum.iter_mut().zip(row.iter()).for_each(|(s, v)| *s += v);
        c.members.push(p as u32);
        if let Some(f) = seeds.forbidden.get(p) {
            c.forbidden.extend(f);
        }
        owner.push(slot);
    }
    (clusters, owner)
}

fn push_candidate(clusters: &[Cluster], heap: &mut BinaryHeap<Candidate>, a: u32, b: u32, threshold: f32) {
    let (ca, cb) = (&clusters[a as usize], &clusters[b as usize]);
    if !ca.may_join(cb) {
        return;
    }
    let linkage = ca.linkage(cb);
    if linkage >= threshold {
        heap.push(Candidate { linkage, a, b, versions: (ca.version, cb.version) });
    }
}

/// Merges clusters `a` and `b`; the survivor is the anchored one, else the larger. Returns it.
fn merge(clusters: &mut [Cluster], owner: &mut [u32], a: u32, b: u32) -> u32 {
    let keep_a = clusters[a as usize].anchor.is_some()
        || (clusters[b as usize].anchor.is_none()
            && clusters[a as usize].members.len() >= clusters[b as usize].members.len());
    let (into, from) = if keep_a { (a, b) } else { (b, a) };
    let gone = std::mem::replace(
        &mut clusters[from as usize],
        Cluster { sum: Vec::new(), members: Vec::new(), anchor: None, forbidden: Vec::new(), version: u32::MAX },
    );
    let target = &mut clusters[into as usize];
    target.sum.iter_mut().zip(&gone.sum).for_each(|(s, v)| *s += v);
    for &p in &gone.members {
        owner[p as usize] = into;
    }
    target.members.extend(gone.members);
    target.forbidden.extend(gone.forbidden);
    target.forbidden.sort_unstable();
    target.forbidden.dedup();
    target.anchor = target.anchor.or(gone.anchor);
    target.version += 1;
    into
}

/// Chinese whispers (dlib) on the pairs at or above `threshold`, `passes` passes in an order shuffled
/// by `seed`.
pub fn chinese_whispers(neighbours: &Neighbours, threshold: f32, passes: usize, seed: u64) -> Vec<usize> {
    let n = neighbours.lists.len();
    let adjacency = neighbours.symmetric(threshold, usize::MAX);
    let mut labels: Vec<usize> = (0..n).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix(seed);
    let mut votes: HashMap<usize, usize> = HashMap::new();
    for _ in 0..passes {
        shuffle(&mut order, &mut rng);
        for &p in &order {
            votes.clear();
            // The self loop dlib's example adds (its pair loop starts at j = i).
            *votes.entry(labels[p]).or_default() += 1;
            for &q in &adjacency[p] {
                *votes.entry(labels[q as usize]).or_default() += 1;
            }
            let best = votes.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(&l, _)| l);
            labels[p] = best.unwrap_or(labels[p]);
        }
    }
    labels
}

/// DBSCAN with "neighbour" meaning similarity `>= threshold`; noise points get labels of their own.
pub fn dbscan(neighbours: &Neighbours, threshold: f32, min_points: usize) -> Vec<usize> {
    let n = neighbours.lists.len();
    let adjacency = neighbours.symmetric(threshold, usize::MAX);
    let core: Vec<bool> = adjacency.iter().map(|a| a.len() + 1 >= min_points).collect();
    let mut labels = vec![usize::MAX; n];
    let mut next = 0;
    for start in 0..n {
        if !core[start] || labels[start] != usize::MAX {
            continue;
        }
        labels[start] = next;
        let mut stack = vec![start];
        while let Some(p) = stack.pop() {
            for &q in &adjacency[p] {
                let q = q as usize;
                if labels[q] == usize::MAX {
                    labels[q] = next;
                    if core[q] {
                        stack.push(q);
                    }
                }
            }
        }
        next += 1;
    }
    for label in labels.iter_mut().filter(|l| **l == usize::MAX) {
        *label = next;
        next += 1;
    }
    labels
}

/// A small deterministic generator (SplitMix64) for the shuffles.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn shuffle(items: &mut [usize], rng: &mut SplitMix) {
    for i in (1..items.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Three well separated people (4, 3 and 1 faces) in 3-d, slightly spread.
    fn people() -> (Array2<f32>, Vec<usize>) {
        let raw = [
            [1.0, 0.05, 0.0],
            [1.0, -0.05, 0.0],
            [1.0, 0.0, 0.05],
            [1.0, 0.0, -0.05],
            [0.0, 1.0, 0.05],
            [0.05, 1.0, 0.0],
            [0.0, 1.0, -0.05],
            [0.0, 0.0, 1.0],
        ];
        let truth = vec![0, 0, 0, 0, 1, 1, 1, 2];
        let mut m: Array2<f32> = Array2::from_shape_fn((raw.len(), 3), |(i, j)| raw[i][j]);
        for mut row in m.outer_iter_mut() {
            let norm: f32 = row.dot(&row).sqrt();
            row /= norm;
        }
        (m, truth)
    }

    fn same_partition(a: &[usize], b: &[usize]) -> bool {
        (0..a.len()).all(|i| (0..a.len()).all(|j| (a[i] == a[j]) == (b[i] == b[j])))
    }

    fn all_neighbours(m: &Array2<f32>) -> Neighbours {
        let q: Vec<usize> = (0..m.nrows()).collect();
        neighbours(m.view(), &q, -1.0, usize::MAX)
    }

    #[test]
    fn neighbours_are_sorted_and_exclude_self() {
        let (m, _) = people();
        let nb = all_neighbours(&m);
        assert_eq!(nb.lists[0].len(), 7);
        assert!(nb.lists[0].windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(nb.lists[0].iter().all(|&(q, _)| q != 0));
        assert_eq!(nb.above(0, 0.9, 10).count(), 3);
    }

    #[test]
    fn the_three_algorithms_find_the_people() {
        let (m, truth) = people();
        let nb = all_neighbours(&m);
        let adj = nb.symmetric(0.5, 30);
        assert!(same_partition(&average_linkage(m.view(), &adj, 0.5, &Seeds::free(8)), &truth));
        assert!(same_partition(&chinese_whispers(&nb, 0.5, 100, 1), &truth));
        assert!(same_partition(&dbscan(&nb, 0.5, 3), &truth));
    }

    #[test]
    fn anchored_clusters_never_merge_and_forbidden_faces_stay_out() {
        let (m, _) = people();
        let nb = all_neighbours(&m);
        let adj = nb.symmetric(0.5, 30);
        // Faces 0-1 and 2-3 are two people the user keeps apart; face 4 must not join person 11.
        let mut seeds = Seeds::free(8);
        seeds.group = vec![Some(0), Some(0), Some(1), Some(1), None, None, None, None];
        seeds.anchor = vec![Some(10), Some(11)];
        seeds.forbidden[5] = vec![11];
        let labels = average_linkage(m.view(), &adj, 0.5, &seeds);
        assert_ne!(labels[0], labels[2]);
        assert_eq!(labels[0], labels[1]);
        assert_eq!(labels[4], labels[6]);
        assert_eq!(labels[4], labels[5]);
    }

    #[test]
    fn a_forbidden_person_blocks_a_whole_cluster() {
        let (m, _) = people();
        let nb = all_neighbours(&m);
        let adj = nb.symmetric(0.5, 30);
        let mut seeds = Seeds::free(8);
        seeds.group = vec![Some(0), Some(0), None, None, None, None, None, None];
        seeds.anchor = vec![Some(10)];
        seeds.forbidden[3] = vec![10];
        let labels = average_linkage(m.view(), &adj, 0.5, &seeds);
        assert_ne!(labels[0], labels[3], "a face the user said is not person 10 joined it");
        assert_eq!(labels[0], labels[1]);
    }

    #[test]
    fn dbscan_leaves_small_groups_as_noise() {
        let (m, _) = people();
        let nb = all_neighbours(&m);
        let labels = dbscan(&nb, 0.5, 5);
        let distinct: HashSet<usize> = labels.iter().copied().collect();
        assert_eq!(distinct.len(), 8, "no group has 5 faces, so every face is noise");
    }
}
