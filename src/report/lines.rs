//! Polylines that plotters' bitmap backend draws without artefacts.

/// Splits a line into runs that plotters' bitmap backend draws cleanly. It draws a wide line as
/// one polygon whose corners are the miters of each joint, so a point on the same pixel as the
/// one before it (no direction) or a turn sharper than a right angle (a miter far away) throws a
/// spike across the image. Points on the previous point's pixel are dropped, and a run ends at a
/// sharp turn; the next run starts at the same point.
pub(crate) fn smooth_runs(
    points: &[(f64, f64)],
    to_pixel: impl Fn(&(f64, f64)) -> (i32, i32),
) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut pixels: Vec<(i32, i32)> = Vec::new();
    for p in points {
        let px = to_pixel(p);
        if pixels.last() == Some(&px) {
            continue;
        }
        if let [.., a, b] = pixels[..] {
            let (u, v) = ((b.0 - a.0, b.1 - a.1), (px.0 - b.0, px.1 - b.1));
            if u.0 * v.0 + u.1 * v.1 < 0 {
                let joint = run.last().copied();
                runs.push(std::mem::take(&mut run));
                pixels.clear();
                if let Some(j) = joint {
                    run.push(j);
                    pixels.push(b);
                }
            }
        }
        run.push(*p);
        pixels.push(px);
    }
    if run.len() > 1 {
        runs.push(run);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::smooth_runs;

    #[test]
    fn runs_drop_repeated_pixels_and_break_at_sharp_turns() {
        let px = |p: &(f64, f64)| (p.0 as i32, p.1 as i32);
        let pts = [
            (0.0, 0.0),
            (1.0, 0.0),
            (1.2, 0.0),
            (2.0, 0.0),
            (2.0, 5.0),
            (3.0, 4.0),
        ];
        let runs = smooth_runs(&pts, px);
        assert_eq!(
            runs,
            vec![
                vec![(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (2.0, 5.0)],
                vec![(2.0, 5.0), (3.0, 4.0)]
            ]
        );
    }
}
