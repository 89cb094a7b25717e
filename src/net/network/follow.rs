//! Following directions without copying them all at every look: *marks* (a direction keeps
//! its counters as of a mark's last setting, copied only when it next changes) and *change
//! lists* (a direction is listed when it may have changed, so a caller that follows many
//! re-reads only the listed ones). Both cost O(1) per change of a followed direction.

use crate::engine::SimTime;

use super::Network;
use crate::net::conn::{DirState, Reports, Track};
use crate::net::{ChangeListId, ConnId, Dir, MarkId, NetError};

impl Network {
    /// Before a direction changes: if it tracks a mark set since its last capture, keep its
    /// counters as of that setting (the current formulas still describe that instant).
    pub(super) fn capture(&mut self, conn: ConnId, dir: Dir) {
        let stream = &mut self.conns[conn.index()].streams[dir.index()];
        let Some(track) = stream.track else {
            return;
        };
        let (epoch, at) = self.marks[track.mark as usize];
        if epoch <= track.since || track.captured_epoch == epoch {
            return;
        }
        let captured = stream.snapshot(at);
        stream.track = Some(Track {
            captured_epoch: epoch,
            captured: Some(captured),
            ..track
        });
    }

    /// After a direction's formulas were reinstalled: lists it on its change list, if it
    /// reports to one and is not listed there yet.
    pub(super) fn list_change(&mut self, c: ConnId, d: Dir) {
        let stream = &mut self.conns[c.index()].streams[d.index()];
        if let Some(r) = stream.reports.as_mut()
            && !r.listed
        {
            r.listed = true;
            if let Some(list) = self.change_lists.get_mut(r.list as usize) {
                list.push((c, d));
            }
        }
    }

    /// A new mark (never set yet). A mark is a bookmark in time: directions that
    /// [`track`](Self::track) it answer [`at_mark`](Self::at_mark) with their counters as of the
    /// mark's last [`set_mark`](Self::set_mark), however much they changed since. This lets a
    /// caller that needs every connection's counters "as of its last look" read only the few it
    /// needs, later, instead of copying all of them at every look.
    pub fn new_mark(&mut self) -> MarkId {
        self.marks.push((0, self.now));
        MarkId((self.marks.len() - 1) as u32)
    }

    /// Sets `mark` to `now` (after processing everything due up to `now`). O(1): a tracked
    /// direction copies its counters only when it next changes.
    pub fn set_mark(&mut self, now: SimTime, mark: MarkId) -> Result<(), NetError> {
        self.advance(now)?;
        let m = self
            .marks
            .get_mut(mark.index())
            .ok_or(NetError::UnknownMark(mark))?;
        *m = (m.0 + 1, now.as_nanos());
        Ok(())
    }

    /// Makes `dir` of `conn` keep its counters for `mark` (replacing any mark it tracked), from
    /// the mark's next setting on.
    pub fn track(&mut self, conn: ConnId, dir: Dir, mark: MarkId) -> Result<(), NetError> {
        self.conn(conn)?;
        let &(epoch, _) = self
            .marks
            .get(mark.index())
            .ok_or(NetError::UnknownMark(mark))?;
        self.stream_mut(conn, dir).track = Some(Track {
            mark: mark.0,
            since: epoch,
            captured_epoch: epoch,
            captured: None,
        });
        Ok(())
    }

    /// The counters of `dir` as of its mark's last setting: what [`dir_state`](Self::dir_state)
    /// returned then. `None` if `dir` does not track a mark, or the mark was not set since the
    /// tracking began.
    pub fn at_mark(&self, conn: ConnId, dir: Dir) -> Option<DirState> {
        let stream = &self.conns.get(conn.index())?.streams[dir.index()];
        let track = stream.track?;
        let (epoch, at) = *self.marks.get(track.mark as usize)?;
        if epoch <= track.since {
            return None;
        }
        if track.captured_epoch == epoch {
            return track.captured;
        }
        Some(stream.snapshot(at))
    }

    /// A new, empty change list. Directions that [`report_changes`](Self::report_changes) to
    /// it are listed there when they may have changed; [`take_changes`](Self::take_changes)
    /// hands the list over. A caller that must follow many directions at once (a pace shared
    /// by many sockets) then re-reads only the few that changed, instead of all of them at
    /// every look.
    pub fn new_change_list(&mut self) -> ChangeListId {
        self.change_lists.push(Vec::new());
        ChangeListId((self.change_lists.len() - 1) as u32)
    }

    /// Makes `dir` of `conn` report to `list` (replacing any list it reported to), or to none.
    /// From now on it is listed whenever its formulas are reinstalled: a change of its rates,
    /// its blocked flag, its production, its link's share, a reset; a listed direction may
    /// also turn out unchanged. Each direction is listed at most once between two takes.
    pub fn report_changes(
        &mut self,
        conn: ConnId,
        dir: Dir,
        list: Option<ChangeListId>,
    ) -> Result<(), NetError> {
        self.conn(conn)?;
        if let Some(l) = list
            && l.index() >= self.change_lists.len()
        {
            return Err(NetError::UnknownChangeList(l));
        }
        self.stream_mut(conn, dir).reports = list.map(|l| Reports {
            list: l.0,
            listed: false,
        });
        Ok(())
    }

    /// Advances to `now` and moves into `out` the directions listed on `list` since it was last
    /// taken, each once, in the order of their first change. A direction that reports to
    /// another list (or none) since it was listed is left out.
    pub fn take_changes(
        &mut self,
        now: SimTime,
        list: ChangeListId,
        out: &mut Vec<(ConnId, Dir)>,
    ) -> Result<(), NetError> {
        if list.index() >= self.change_lists.len() {
            return Err(NetError::UnknownChangeList(list));
        }
        self.advance(now)?;
        let listed = std::mem::take(&mut self.change_lists[list.index()]);
        for (c, d) in listed {
            let stream = &mut self.conns[c.index()].streams[d.index()];
            if let Some(r) = stream.reports.as_mut()
                && r.list == list.0
                && r.listed
            {
                r.listed = false;
                out.push((c, d));
            }
        }
        Ok(())
    }

    /// Whether `dir` of `conn` reports to a change list and changed since that list was last
    /// taken (it waits on the list now).
    pub fn is_listed(&self, conn: ConnId, dir: Dir) -> bool {
        self.conns
            .get(conn.index())
            .and_then(|c| c.streams[dir.index()].reports)
            .is_some_and(|r| r.listed)
    }

    /// The number of times `mark` was set (0 before its first setting).
    pub fn mark_epoch(&self, mark: MarkId) -> u64 {
        self.marks.get(mark.index()).map_or(0, |m| m.0)
    }
}
