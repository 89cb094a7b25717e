//! Colours, the embedded font and text sizes shared by every chart.
//!
//! Colours are the Okabe–Ito palette (Okabe & Ito, *Color Universal Design*, 2008), which stays
//! distinguishable for the common forms of colour blindness. The font is DejaVu Sans
//! (`assets/fonts/`, Bitstream Vera licence), compiled in and registered with plotters'
//! `ab_glyph` backend, so a chart renders the same on a machine without any fonts installed.

use std::sync::OnceLock;

use plotters::style::{FontStyle, RGBColor, register_font};

/// Okabe–Ito black.
pub const BLACK: RGBColor = RGBColor(0, 0, 0);
/// Okabe–Ito orange.
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
/// Okabe–Ito sky blue.
pub const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
/// Okabe–Ito bluish green.
pub const BLUISH_GREEN: RGBColor = RGBColor(0, 158, 115);
/// Okabe–Ito yellow.
pub const YELLOW: RGBColor = RGBColor(240, 228, 66);
/// Okabe–Ito blue.
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
/// Okabe–Ito vermillion.
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
/// Okabe–Ito reddish purple.
pub const REDDISH_PURPLE: RGBColor = RGBColor(204, 121, 167);
/// The probability that a scripted test passed (Okabe–Ito blue, unused by the outcomes).
pub const PASSED: RGBColor = BLUE;
/// A neutral grey for "no information" (unfinished runs, event markers).
pub const GREY: RGBColor = RGBColor(150, 150, 150);
/// A light grey for grid lines and shaded areas.
pub const LIGHT_GREY: RGBColor = RGBColor(225, 225, 225);

/// The outcome classes of DESIGN.md ("Outcome of a run"), in the order legends list them.
pub const OUTCOMES: [&str; 6] = crate::valkey::Outcome::NAMES;

/// The colour of an outcome class in every chart; grey for a name replsim does not know.
///
/// ```
/// use replsim::report::style::{outcome_colour, BLUISH_GREEN, GREY};
/// assert_eq!(outcome_colour("clean_sync"), BLUISH_GREEN);
/// assert_eq!(outcome_colour("no_such_outcome"), GREY);
/// ```
pub fn outcome_colour(outcome: &str) -> RGBColor {
    match outcome {
        "clean_sync" => BLUISH_GREEN,
        "overflow_partial_resync" => SKY_BLUE,
        "overflow_full_resync" => ORANGE,
        "full_resync_loop" => VERMILLION,
        "timeout" => REDDISH_PURPLE,
        _ => GREY,
    }
}

/// The colour as SVG writes it (`#RRGGBB`, upper-case hex), e.g. to find a phase diagram's cells.
///
/// ```
/// use replsim::report::style::{hex, VERMILLION};
/// assert_eq!(hex(VERMILLION), "#D55E00");
/// ```
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// A sequential colour-blind-safe scale for a probability in [0, 1]: light yellow (0) through
/// orange and vermillion to dark purple (1), after the "YlOrBr"/"inferno" family, monotone in
/// lightness so it also reads in grey scale. Values outside [0, 1] are clamped; NaN is grey.
///
/// ```
/// use replsim::report::style::probability_colour;
/// let (lo, hi) = (probability_colour(0.0), probability_colour(1.0));
/// assert!(u32::from(lo.0) + u32::from(lo.1) + u32::from(lo.2) > u32::from(hi.0) + u32::from(hi.1) + u32::from(hi.2));
/// ```
pub fn probability_colour(p: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.0, (255.0, 247.0, 200.0)),
        (0.25, (254.0, 196.0, 79.0)),
        (0.5, (236.0, 112.0, 20.0)),
        (0.75, (166.0, 54.0, 3.0)),
        (1.0, (72.0, 20.0, 90.0)),
    ];
    if p.is_nan() {
        return GREY;
    }
    let p = p.clamp(0.0, 1.0);
    let i = STOPS
        .windows(2)
        .position(|w| p <= w[1].0)
        .unwrap_or(STOPS.len() - 2);
    let ((p0, c0), (p1, c1)) = (STOPS[i], STOPS[i + 1]);
    let w = (p - p0) / (p1 - p0);
    let mix = |a: f64, b: f64| (a + (b - a) * w).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(c0.0, c1.0), mix(c0.1, c1.1), mix(c0.2, c1.2))
}

/// Black or white, whichever reads better on `background`.
pub fn text_colour_on(background: RGBColor) -> RGBColor {
    let luma = 0.299 * f64::from(background.0)
        + 0.587 * f64::from(background.1)
        + 0.114 * f64::from(background.2);
    if luma > 140.0 {
        BLACK
    } else {
        RGBColor(255, 255, 255)
    }
}

/// The font family name every chart uses; SVG viewers fall back to their own sans-serif.
pub const FONT: &str = "sans-serif";
/// Chart titles.
pub const TITLE_SIZE: f64 = 22.0;
/// Subtitles (the fixed parameters).
pub const SUBTITLE_SIZE: f64 = 15.0;
/// Axis descriptions and legends.
pub const LABEL_SIZE: f64 = 15.0;
/// Tick labels and small annotations.
pub const TICK_SIZE: f64 = 13.0;

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters (once per process). Every chart calls it first.
pub(crate) fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded DejaVu Sans font is not a valid TrueType font".into())
        })
        .clone()
}
