//! `--shard i/N`: a deterministic slice of a sweep, so that a cluster scheduler can spread one
//! sweep over many machines. Shard `i` of `N` runs the runs whose index `r` has
//! `r % N == i − 1`; the shards are disjoint, cover every run, and are balanced to within one
//! run even when the grid is ordered by cost.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (1-based, as Slurm's `SLURM_ARRAY_TASK_ID` usually is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1..=count.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// The whole sweep: shard 1 of 1.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// The run index of this shard's `j`-th run.
    pub fn run_at(self, j: u64) -> u64 {
        (self.index - 1) + j * self.count
    }

    /// How many of `total` runs this shard holds.
    ///
    /// ```
    /// use replsim::experiment::Shard;
    /// let s: Shard = "2/3".parse().unwrap();
    /// assert_eq!(s.len(10), 3); // runs 1, 4, 7
    /// assert_eq!(s.run_at(2), 7);
    /// assert!("0/3".parse::<Shard>().is_err());
    /// assert!("4/3".parse::<Shard>().is_err());
    /// ```
    pub fn len(self, total: u64) -> u64 {
        let first = self.index - 1;
        if total <= first {
            0
        } else {
            (total - first).div_ceil(self.count)
        }
    }

    /// Whether this is the whole sweep.
    pub fn is_all(self) -> bool {
        self.count == 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("\"{s}\" is not a shard: expected i/N with 1 <= i <= N (e.g. 3/8)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}
