//! The journal's key events as labelled vertical markers on the run timeline.

use plotters::style::RGBColor;

use super::run_data::JournalEvent;
use super::style;

/// One marker: a time, a label (several events at the same instant share one), a colour.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Marker {
    pub t_s: f64,
    pub label: String,
    pub colour: RGBColor,
    /// The label and colour of each event the marker stands for, in order.
    pub parts: Vec<(String, RGBColor)>,
}

/// Estimated width of a label in pixels at [`style::TICK_SIZE`] (DejaVu Sans averages ≈ 0.56
/// em per character).
pub(crate) fn label_width_px(label: &str) -> f64 {
    label.chars().count() as f64 * style::TICK_SIZE * 0.56 + 8.0
}

/// The markers of a run: fork, `$ENDOFF` / PSYNC accepted or refused, RDB transferred, load done,
/// COB disconnect, backlog exhausted, local buffer full, timeout, every full sync after the
/// first, and script marks. Events closer than `merge_s` seconds share one marker.
pub(crate) fn markers(events: &[JournalEvent], merge_s: f64) -> Vec<Marker> {
    let mut full_syncs = 0;
    let mut labelled: Vec<(f64, String, RGBColor)> = Vec::new();
    for e in events {
        if e.kind == "full_sync_started" {
            full_syncs += 1;
        }
        if let Some((label, colour)) = describe(e, full_syncs) {
            labelled.push((e.t_s, label, colour));
        }
    }
    merge(labelled, merge_s)
}

/// The label and colour of one event; `None` for events the timeline does not mark.
fn describe(e: &JournalEvent, full_syncs: usize) -> Option<(String, RGBColor)> {
    let label = match e.kind.as_str() {
        "fork" if full_syncs > 1 => return None,
        "fork" => "fork".to_string(),
        "full_sync_started" if full_syncs > 1 => format!("full sync #{full_syncs} (fork)"),
        "psync_accepted" if e.fields.get("dual_main") == Some(&serde_json::Value::Bool(true)) => {
            "$ENDOFF, PSYNC ok".to_string()
        }
        "psync_accepted" => "PSYNC ok".to_string(),
        "psync_refused_backlog" => "PSYNC refused".to_string(),
        "rdb_transferred" => "RDB sent".to_string(),
        "load_done" => "loaded".to_string(),
        "cob_disconnect" => cob_label(e.str_field("limit")).to_string(),
        "backlog_exhausted" => "backlog out".to_string(),
        "replica_buffer_full" => "buffer full".to_string(),
        "timeout" => "timeout".to_string(),
        "grace_expired" => "grace expired".to_string(),
        "mark" => e.str_field("name").unwrap_or("mark").to_string(),
        _ => return None,
    };
    Some((label, colour_of(&e.kind)))
}

fn cob_label(limit: Option<&str>) -> &'static str {
    match limit {
        Some("primary_cob_soft") => "COB soft limit",
        Some("rdb_channel_cob") => "RDB-channel COB",
        _ => "COB hard limit",
    }
}

fn colour_of(kind: &str) -> RGBColor {
    match kind {
        "cob_disconnect" | "psync_refused_backlog" | "timeout" => style::VERMILLION,
        "backlog_exhausted" => style::REDDISH_PURPLE,
        "replica_buffer_full" | "grace_expired" => style::ORANGE,
        "psync_accepted" => style::BLUISH_GREEN,
        "rdb_transferred" | "load_done" => style::BLUE,
        _ => style::BLACK,
    }
}

/// Rank of a colour when events merge: a failure colours the marker.
pub(crate) fn severity(c: RGBColor) -> u8 {
    [style::ORANGE, style::REDDISH_PURPLE, style::VERMILLION]
        .iter()
        .position(|&s| s == c)
        .map_or(0, |i| i as u8 + 1)
}

fn merge(events: Vec<(f64, String, RGBColor)>, merge_s: f64) -> Vec<Marker> {
    let mut out: Vec<Marker> = Vec::new();
    for (t, label, colour) in events {
        match out.last_mut() {
            Some(m) if t - m.t_s <= merge_s => {
                if !m.parts.iter().any(|(l, _)| *l == label) {
                    m.label = format!("{}, {label}", m.label);
                    m.parts.push((label, colour));
                }
                if severity(colour) > severity(m.colour) {
                    m.colour = colour;
                }
            }
            _ => out.push(Marker {
                t_s: t,
                label: label.clone(),
                colour,
                parts: vec![(label, colour)],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t_s: f64, kind: &str, extra: serde_json::Value) -> JournalEvent {
        let mut fields = extra.as_object().cloned().unwrap_or_default();
        fields.insert("event".into(), kind.into());
        JournalEvent {
            t_s,
            kind: kind.into(),
            fields,
        }
    }

    #[test]
    fn later_full_syncs_replace_their_fork_and_same_time_events_merge() {
        let none = serde_json::json!({});
        let events = vec![
            ev(0.0, "full_sync_started", none.clone()),
            ev(0.0, "fork", none.clone()),
            ev(
                25.5,
                "cob_disconnect",
                serde_json::json!({"limit": "primary_cob_hard"}),
            ),
            ev(25.5, "backlog_exhausted", none.clone()),
            ev(40.0, "psync_refused_backlog", none.clone()),
            ev(40.0, "full_sync_started", none.clone()),
            ev(40.0, "fork", none),
        ];
        let m = markers(&events, 0.1);
        let labels: Vec<&str> = m.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(
            labels,
            vec![
                "fork",
                "COB hard limit, backlog out",
                "PSYNC refused, full sync #2 (fork)"
            ]
        );
        assert_eq!(m[1].colour, style::VERMILLION);
    }
}
