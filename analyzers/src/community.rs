//! Louvain community detection on an undirected weighted graph, deterministic:
//! nodes are visited in index order, ties go to the lowest community, no
//! randomness at all (the "fixed seed" is the fixed order).

/// Communities of `n` nodes joined by `(a, b, weight)` edges; returns one
/// community index per node, numbered from 0 in order of first node.
pub fn louvain(n: usize, edges: &[(usize, usize, f64)]) -> Vec<usize> {
    let mut membership: Vec<usize> = (0..n).collect();
    let mut graph = Graph::new(n, edges);
    loop {
        let local = graph.one_level();
        let communities = renumber(&local);
        let moved = communities.iter().max().map_or(0, |m| m + 1) < graph.n;
        for m in &mut membership {
            *m = communities[*m];
        }
        if !moved {
            break;
        }
        graph = graph.aggregate(&communities);
    }
    renumber(&membership)
}

/// Newman modularity of a partition.
pub fn modularity(n: usize, edges: &[(usize, usize, f64)], membership: &[usize]) -> f64 {
    let graph = Graph::new(n, edges);
    let m2: f64 = graph.degree.iter().sum();
    if m2 == 0.0 {
        return 0.0;
    }
    let k = membership.iter().max().map_or(0, |m| m + 1);
    let mut inside = vec![0.0; k];
    let mut total = vec![0.0; k];
    for node in 0..n {
        total[membership[node]] += graph.degree[node];
        for &(other, w) in &graph.adj[node] {
            if membership[other] == membership[node] {
                inside[membership[node]] += w;
            }
        }
    }
    (0..k)
        .map(|c| inside[c] / m2 - (total[c] / m2).powi(2))
        .sum()
}

fn renumber(labels: &[usize]) -> Vec<usize> {
    let mut map = std::collections::HashMap::new();
    labels
        .iter()
        .map(|l| {
            let next = map.len();
            *map.entry(*l).or_insert(next)
        })
        .collect()
}

struct Graph {
    n: usize,
    /// Neighbours with weights; a self loop appears once with its full weight ×2.
    adj: Vec<Vec<(usize, f64)>>,
    degree: Vec<f64>,
}

impl Graph {
    fn new(n: usize, edges: &[(usize, usize, f64)]) -> Self {
        let mut adj = vec![Vec::new(); n];
        let mut degree = vec![0.0; n];
        for &(a, b, w) in edges {
            if w <= 0.0 {
                continue;
            }
            if a == b {
                adj[a].push((a, 2.0 * w));
                degree[a] += 2.0 * w;
            } else {
                adj[a].push((b, w));
                adj[b].push((a, w));
                degree[a] += w;
                degree[b] += w;
            }
        }
        Self { n, adj, degree }
    }

    /// Moves nodes between communities while modularity improves.
    fn one_level(&self) -> Vec<usize> {
        let m2: f64 = self.degree.iter().sum();
        let mut community: Vec<usize> = (0..self.n).collect();
        if m2 == 0.0 {
            return community;
        }
        let mut total: Vec<f64> = self.degree.clone();
        let mut improved = true;
        let mut rounds = 0;
        while improved && rounds < 100 {
            improved = false;
            rounds += 1;
            for node in 0..self.n {
                let own = community[node];
                let k = self.degree[node];
                let mut links: std::collections::BTreeMap<usize, f64> = Default::default();
                for &(other, w) in &self.adj[node] {
                    if other != node {
                        *links.entry(community[other]).or_default() += w;
                    }
                }
                total[own] -= k;
                let gain = |c: usize, w: f64| w - total[c] * k / m2;
                let mut best = own;
                let mut best_gain = gain(own, links.get(&own).copied().unwrap_or(0.0));
                for (&c, &w) in &links {
                    let g = gain(c, w);
                    if g > best_gain + 1e-12 || ((g - best_gain).abs() <= 1e-12 && c < best) {
                        best = c;
                        best_gain = g;
                    }
                }
                total[best] += k;
                if best != own {
                    community[node] = best;
                    improved = true;
                }
            }
        }
        community
    }

    fn aggregate(&self, communities: &[usize]) -> Self {
        let k = communities.iter().max().map_or(0, |m| m + 1);
        let mut weights: std::collections::BTreeMap<(usize, usize), f64> = Default::default();
        for node in 0..self.n {
            for &(other, w) in &self.adj[node] {
                let (a, b) = (communities[node], communities[other]);
                if node == other {
                    *weights.entry((a, a)).or_default() += w / 2.0;
                } else if node < other {
                    let key = if a <= b { (a, b) } else { (b, a) };
                    *weights.entry(key).or_default() += w;
                }
            }
        }
        let edges: Vec<(usize, usize, f64)> =
            weights.into_iter().map(|((a, b), w)| (a, b, w)).collect();
        Self::new(k, &edges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cliques_joined_by_one_edge_split() {
        let mut edges = Vec::new();
        for (a, b) in [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)] {
            edges.push((a, b, 1.0));
        }
        edges.push((2, 3, 0.1));
        let m = louvain(6, &edges);
        assert_eq!(m, [0, 0, 0, 1, 1, 1]);
        assert!(modularity(6, &edges, &m) > 0.4);
        // Deterministic: same input, same answer.
        assert_eq!(louvain(6, &edges), m);
    }

    #[test]
    fn isolated_nodes_stay_alone() {
        assert_eq!(louvain(3, &[]), [0, 1, 2]);
    }
}
