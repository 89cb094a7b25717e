//! One chart, two files: the same drawing code runs on plotters' SVG backend and on its bitmap
//! backend, and the bitmap is encoded as PNG here (no image crate, deterministic bytes).

use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportError;
use super::style;

/// A drawing failure inside a chart's code; becomes [`ReportError::Draw`] with the chart's name.
#[derive(Debug)]
pub(crate) struct ChartError(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError(e.to_string())
    }
}

/// The result of drawing code.
pub(crate) type ChartResult<T = ()> = Result<T, ChartError>;

/// Something that draws itself on any plotters backend.
pub(crate) trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws on a white root area of [`Chart::size`].
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> ChartResult;
}

/// Writes `<dir>/<stem>.svg` and `<dir>/<stem>.png`; returns both paths.
pub(crate) fn render<C: Chart>(
    chart: &C,
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, ReportError> {
    let fail = |reason: String| ReportError::Draw {
        chart: stem.to_string(),
        reason,
    };
    style::ensure_font().map_err(fail)?;
    let svg = render_svg(chart).map_err(|e| fail(e.0))?;
    let png = render_png(chart).map_err(|e| fail(e.0))?;
    let svg_path = dir.join(format!("{stem}.svg"));
    let png_path = dir.join(format!("{stem}.png"));
    write_file(&svg_path, svg.as_bytes())?;
    write_file(&png_path, &png)?;
    Ok(vec![svg_path, png_path])
}

/// Writes a whole file.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    fs::write(path, bytes).map_err(|e| ReportError::write(path, e))
}

fn render_svg<C: Chart>(chart: &C) -> ChartResult<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, chart.size()).into_drawing_area();
        root.fill(&WHITE)?;
        chart.draw(&root)?;
        root.present()?;
    }
    Ok(out)
}

fn render_png<C: Chart>(chart: &C) -> ChartResult<Vec<u8>> {
    let (w, h) = chart.size();
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        chart.draw(&root)?;
        root.present()?;
    }
    encode_png(&rgb, w, h)
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> ChartResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let png_err = |e: png::EncodingError| ChartError(format!("PNG encoding: {e}"));
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(rgb).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}

/// Text in the embedded font at `size` pixels.
pub(crate) fn text(size: f64, colour: RGBColor) -> TextStyle<'static> {
    (style::FONT, size).into_font().color(&colour)
}

/// Draws a title and a subtitle at the top of `area` and returns the area below them.
pub(crate) fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> ChartResult<DrawingArea<DB, Shift>> {
    let (w, _) = area.dim_in_pixel();
    let centre = Pos::new(HPos::Center, VPos::Top);
    area.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 10),
        text(style::TITLE_SIZE, style::BLACK).pos(centre),
    ))?;
    let mut y = 40;
    for line in wrap(subtitle, (w as usize).saturating_sub(40) / 8) {
        area.draw(&Text::new(
            line,
            (w as i32 / 2, y),
            text(style::SUBTITLE_SIZE, RGBColor(60, 60, 60)).pos(centre),
        ))?;
        y += 20;
    }
    Ok(area.split_vertically(y + 6).1)
}

/// Splits text into lines of at most `width` characters at spaces (a longer word stays whole).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width.max(10) {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces() {
        assert_eq!(wrap("aaa bbb ccc", 11), vec!["aaa bbb ccc"]);
        assert_eq!(
            wrap("aaaa bbbb cccc dddd", 10),
            vec!["aaaa bbbb", "cccc dddd"]
        );
        assert!(wrap("", 10).is_empty());
    }
}
