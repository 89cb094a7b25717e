//! Valkey-style logs: `<pid>:<role> <day> <Mon> <year> <hh:mm:ss.mmm> <level> <text>`, with
//! the message texts of valkey-model.md §5 so that a user greps for the same strings as on a real
//! server.
//!
//! Simulated time 0 is shown as 1 Jan 2026 00:00:00.000 UTC. Scripts can watch for a line that
//! matches a Tcl-style glob (`*` and `?`), like the Valkey tests' `wait_for_log_messages`.

use std::fmt::Write;

use crate::engine::SimTime;

/// Log levels as Valkey prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `.` (loglevel debug)
    Debug,
    /// `-` (loglevel verbose)
    Verbose,
    /// `*` (loglevel notice)
    Notice,
    /// `#` (loglevel warning)
    Warning,
}

impl Level {
    /// The one-character marker Valkey writes.
    pub fn marker(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

/// The process role letter: `M` primary, `S` replica, `C` fork child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Role {
    /// `M`
    Primary,
    /// `S`
    Replica,
    /// `C`
    Child,
}

impl Role {
    fn letter(self) -> char {
        match self {
            Role::Primary => 'M',
            Role::Replica => 'S',
            Role::Child => 'C',
        }
    }
}

/// One log line.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LogLine {
    /// When it was written.
    pub time: SimTime,
    /// Index of the node in the cluster.
    pub node: usize,
    /// The process id shown.
    pub pid: u32,
    /// The role letter shown.
    pub role: Role,
    /// The level.
    pub level: Level,
    /// The message text.
    pub text: String,
}

impl LogLine {
    /// The line as Valkey would print it.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 40);
        let _ = write!(out, "{}:{} ", self.pid, self.role.letter());
        write_timestamp(&mut out, self.time);
        let _ = write!(out, " {} {}", self.level.marker(), self.text);
        out
    }
}

/// A watch a script placed on a node's log.
#[derive(Clone, Debug)]
struct LogWatch {
    node: usize,
    pattern: String,
    /// Lines before this index are not considered (the watch starts "from now", like the
    /// Valkey tests' `wait_for_log_messages ... $loglines`).
    from_line: usize,
    token: u64,
}

/// All log lines of a run, in the order they were written, and the watches on them.
#[derive(Debug, Default)]
pub struct LogBook {
    lines: Vec<LogLine>,
    watches: Vec<LogWatch>,
    /// The least level kept, per node (lines below it are not stored, as with `loglevel`).
    min_levels: Vec<Level>,
}

impl LogBook {
    /// Sets a node's `loglevel`.
    pub fn set_level(&mut self, node: usize, level: Level) {
        if self.min_levels.len() <= node {
            self.min_levels.resize(node + 1, Level::Notice);
        }
        self.min_levels[node] = level;
    }

    /// Appends a line (if its level is kept) and returns the tokens of the watches it satisfies;
    /// those watches are removed.
    pub fn write(&mut self, line: LogLine) -> Vec<u64> {
        let min = self
            .min_levels
            .get(line.node)
            .copied()
            .unwrap_or(Level::Notice);
        if line.level < min {
            return Vec::new();
        }
        let index = self.lines.len();
        let mut fired = Vec::new();
        self.watches.retain(|w| {
            let hit =
                w.node == line.node && index >= w.from_line && glob_match(&w.pattern, &line.text);
            if hit {
                fired.push(w.token);
            }
            !hit
        });
        self.lines.push(line);
        fired
    }

    /// Watches `node`'s log for a line matching `pattern`. With `include_past`, a line already
    /// written counts (and the watch fires at once: the token is returned).
    pub fn watch(
        &mut self,
        node: usize,
        pattern: &str,
        include_past: bool,
        token: u64,
    ) -> Option<u64> {
        if include_past
            && self
                .lines
                .iter()
                .any(|l| l.node == node && glob_match(pattern, &l.text))
        {
            return Some(token);
        }
        self.watches.push(LogWatch {
            node,
            pattern: pattern.to_string(),
            from_line: self.lines.len(),
            token,
        });
        None
    }

    /// Removes a watch.
    pub fn unwatch(&mut self, token: u64) {
        self.watches.retain(|w| w.token != token);
    }

    /// Every line, in order.
    pub fn lines(&self) -> &[LogLine] {
        &self.lines
    }

    /// The lines of one node, rendered.
    pub fn render_node(&self, node: usize) -> String {
        let mut out = String::new();
        for line in self.lines.iter().filter(|l| l.node == node) {
            out.push_str(&line.render());
            out.push('\n');
        }
        out
    }

    /// The lines of every node `0..nodes`, rendered, in one pass over the log (rendering node by
    /// node with [`Self::render_node`] reads the whole log once per node).
    pub fn render_nodes(&self, nodes: usize) -> Vec<String> {
        let mut out = vec![String::new(); nodes];
        for line in &self.lines {
            if let Some(text) = out.get_mut(line.node) {
                text.push_str(&line.render());
                text.push('\n');
            }
        }
        out
    }

    /// Whether `node` logged a line matching `pattern`.
    pub fn contains(&self, node: usize, pattern: &str) -> bool {
        self.lines
            .iter()
            .any(|l| l.node == node && glob_match(pattern, &l.text))
    }

    /// The first time `node` logged a line matching `pattern`.
    pub fn first_time(&self, node: usize, pattern: &str) -> Option<SimTime> {
        self.lines
            .iter()
            .find(|l| l.node == node && glob_match(pattern, &l.text))
            .map(|l| l.time)
    }
}

/// Tcl `string match` globbing with `*` (any run) and `?` (any one character).
///
/// ```
/// use replsim::valkey::glob_match;
/// assert!(glob_match("*Unable to partial resync with replica * for lack of backlog*",
///     "Unable to partial resync with replica 10.0.0.2:6380 for lack of backlog (Replica request was: 5)."));
/// // The test's pattern matches both the synchronous and the asynchronous COB message.
/// assert!(glob_match("Client * closed * for overcoming of output buffer limits.",
///     "Client id=4 scheduled to be closed ASAP for overcoming of output buffer limits."));
/// assert!(!glob_match("Client * closed *", "Client id=4 connected"));
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Writes `24 Nov 2026 22:10:00.123`-style timestamps; time 0 is 1 Jan 2026 00:00:00 UTC.
fn write_timestamp(out: &mut String, time: SimTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const EPOCH_DAYS_2026: i64 = 20_454; // days from 1970-01-01 to 2026-01-01
    let ms_total = time.as_nanos() / 1_000_000;
    let secs = ms_total / 1000;
    let (y, m, d) = civil_from_days(EPOCH_DAYS_2026 + (secs / 86_400) as i64);
    let sod = secs % 86_400;
    let _ = write!(
        out,
        "{d:02} {} {y} {:02}:{:02}:{:02}.{:03}",
        MONTHS[(m - 1) as usize],
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms_total % 1000
    );
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_valkey() {
        let line = LogLine {
            time: SimTime::from_nanos(90_061_123_000_000), // 1 d 1 h 1 m 1.123 s
            node: 0,
            pid: 4242,
            role: Role::Primary,
            level: Level::Notice,
            text: "Replica 10.0.0.2:6380 asks for synchronization".into(),
        };
        assert_eq!(
            line.render(),
            "4242:M 02 Jan 2026 01:01:01.123 * Replica 10.0.0.2:6380 asks for synchronization"
        );
    }

    #[test]
    fn watches_fire_once_on_a_matching_line_of_their_node() {
        let mut book = LogBook::default();
        let line = |node, text: &str| LogLine {
            time: SimTime::ZERO,
            node,
            pid: 1,
            role: Role::Primary,
            level: Level::Warning,
            text: text.into(),
        };
        assert_eq!(book.watch(0, "*lack of backlog*", false, 9), None);
        assert!(book.write(line(1, "x for lack of backlog")).is_empty());
        assert_eq!(book.write(line(0, "x for lack of backlog")), [9]);
        assert!(book.write(line(0, "x for lack of backlog")).is_empty());
        assert_eq!(book.watch(0, "*lack*", true, 3), Some(3));
    }

    #[test]
    fn one_pass_rendering_equals_rendering_node_by_node() {
        let mut book = LogBook::default();
        for (i, node) in [0, 2, 0, 1, 2, 2, 0].into_iter().enumerate() {
            book.write(LogLine {
                time: SimTime::from_nanos(i as u64 * 1_000_000),
                node,
                pid: 7 + node as u32,
                role: Role::Replica,
                level: Level::Warning,
                text: format!("line {i}"),
            });
        }
        let all = book.render_nodes(4);
        assert_eq!(all.len(), 4);
        for (node, text) in all.iter().enumerate() {
            assert_eq!(text, &book.render_node(node));
        }
        assert_eq!(all[0].lines().count(), 3);
        assert!(all[3].is_empty());
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("a?c", "abc"));
    }
}
