//! Max-min fair sharing of one link direction among bulk flows (water-filling).

/// A demand that only the link limits.
pub const UNLIMITED: u64 = u64::MAX;

/// Splits `capacity` (bytes/s) among flows with the given `demands` (bytes/s, [`UNLIMITED`] for
/// a flow only the link limits), max-min fairly: a flow that wants less than an equal share gets
/// what it wants and leaves the rest to the others. Integer remainders go one byte/s each to the
/// bottlenecked flows with the lowest positions in `demands` (callers list flows in connection
/// order), so the result is deterministic and sums exactly to `min(capacity, Σ demands)`.
///
/// ```
/// use replsim::net::{max_min_share, UNLIMITED};
/// let mut out = Vec::new();
/// max_min_share(100, &[UNLIMITED, 10, UNLIMITED], &mut out);
/// assert_eq!(out, vec![45, 10, 45]);
/// max_min_share(10, &[UNLIMITED, UNLIMITED, UNLIMITED], &mut out);
/// assert_eq!(out, vec![4, 3, 3]);
/// ```
pub fn max_min_share(capacity: u64, demands: &[u64], out: &mut Vec<u64>) {
    out.clear();
    out.resize(demands.len(), 0);
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| (demands[i], i));
    let mut remaining = capacity;
    for (k, &i) in order.iter().enumerate() {
        let left = (order.len() - k) as u64;
        if demands[i] <= remaining / left {
            out[i] = demands[i];
            remaining -= demands[i];
            continue;
        }
        let mut bottlenecked = order[k..].to_vec();
        bottlenecked.sort_unstable();
        let (share, mut extra) = (remaining / left, remaining % left);
        for j in bottlenecked {
            out[j] = share + u64::from(extra > 0);
            extra = extra.saturating_sub(1);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(capacity: u64, demands: &[u64]) -> Vec<u64> {
        let mut out = Vec::new();
        max_min_share(capacity, demands, &mut out);
        out
    }

    #[test]
    fn equal_split_and_remainders_by_position() {
        assert_eq!(share(100, &[UNLIMITED, UNLIMITED]), vec![50, 50]);
        assert_eq!(share(101, &[UNLIMITED, UNLIMITED]), vec![51, 50]);
        assert_eq!(share(5, &[UNLIMITED; 3]), vec![2, 2, 1]);
    }

    #[test]
    fn limited_flows_leave_the_rest_to_others() {
        assert_eq!(share(100, &[10, UNLIMITED, 20]), vec![10, 70, 20]);
        assert_eq!(share(100, &[60, 60]), vec![50, 50]);
        assert_eq!(share(100, &[30, 30]), vec![30, 30]);
        assert_eq!(share(100, &[0, UNLIMITED]), vec![0, 100]);
    }

    #[test]
    fn never_exceeds_capacity_or_demand() {
        let demands = [7, 3, UNLIMITED, 50, 1, 0, 99];
        for capacity in [0, 1, 10, 77, 1000] {
            let out = share(capacity, &demands);
            let total: u64 = out.iter().sum();
            let wanted = demands.iter().fold(0u64, |a, &d| a.saturating_add(d));
            assert_eq!(total, capacity.min(wanted));
            assert!(out.iter().zip(&demands).all(|(o, d)| o <= d));
        }
    }

    #[test]
    fn empty_is_fine() {
        assert!(share(10, &[]).is_empty());
        assert_eq!(share(0, &[UNLIMITED]), vec![0]);
    }
}
