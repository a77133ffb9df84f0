//! Charts as PNG and SVG: named curves on linear or log axes, and overlaid histograms, with labelled
//! vertical markers (thresholds). Generic: ROC/DET of verification, identification and liveness
//! (APCER against BPCER) all go through [`draw_curves`].
//!
//! Text is drawn with the DejaVu Sans font compiled into the binary (the `dejavu` crate) through
//! plotters' `ab_glyph` feature: no system fonts or fontconfig are needed.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Linear, or log10 (values ≤ 0 are left out of a log axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// One named series of points.
#[derive(Debug, Clone)]
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A labelled vertical line (e.g. a threshold) at `x`.
#[derive(Debug, Clone)]
pub struct Marker {
    pub label: String,
    pub x: f64,
}

/// Where a chart's legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Corner {
    #[default]
    LowerRight,
    LowerLeft,
    UpperLeft,
    UpperRight,
}

/// A chart of curves.
#[derive(Debug, Clone)]
pub struct CurveChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    /// Axis ranges in data units (default: the data's extent).
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    pub curves: Vec<Curve>,
    pub markers: Vec<Marker>,
    /// Where the legend goes (out of the curves' way).
    pub legend: Corner,
}

/// Overlaid histograms of named samples, each normalised to a density so that sets of different
/// sizes compare.
#[derive(Debug, Clone)]
pub struct HistogramChart {
    pub title: String,
    pub x_label: String,
    pub series: Vec<(String, Vec<f64>)>,
    pub bins: usize,
    pub x_range: (f64, f64),
    pub markers: Vec<Marker>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{path}: {reason}")]
    Draw { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("nothing to plot: {0}")]
    Empty(String),
}

const SIZE: (u32, u32) = (900, 640);
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is valid (it ships with the crate), so registration cannot fail.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Writes `<stem>.png` and `<stem>.svg` with the curves; returns both paths.
pub fn draw_curves(chart: &CurveChart, stem: &Path) -> Result<[PathBuf; 2], PlotError> {
    render_both(stem, Chart::Curves(chart))
}

/// Writes `<stem>.png` and `<stem>.svg` with the histograms; returns both paths.
pub fn draw_histograms(chart: &HistogramChart, stem: &Path) -> Result<[PathBuf; 2], PlotError> {
    render_both(stem, Chart::Histograms(chart))
}

type DrawResult = Result<(), String>;

enum Chart<'a> {
    Curves(&'a CurveChart),
    Histograms(&'a HistogramChart),
}

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart<'_>) -> DrawResult {
    match chart {
        Chart::Curves(c) => curves_on(area, c),
        Chart::Histograms(h) => histograms_on(area, h),
    }
}

fn render_both(stem: &Path, chart: Chart<'_>) -> Result<[PathBuf; 2], PlotError> {
    register_fonts();
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PlotError::Io { path: dir.into(), source })?;
    }
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        draw(&area, &chart).map_err(|reason| PlotError::Draw { path: png.clone(), reason })?;
        area.present().map_err(|e| PlotError::Draw { path: png.clone(), reason: e.to_string() })?;
    }
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, buffer).expect("buffer sized for the image");
    image.save(&png).map_err(|e| PlotError::Draw { path: png.clone(), reason: e.to_string() })?;
    {
        let area = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw(&area, &chart).map_err(|reason| PlotError::Draw { path: svg.clone(), reason })?;
        area.present().map_err(|e| PlotError::Draw { path: svg.clone(), reason: e.to_string() })?;
    }
    Ok([png, svg])
}

fn transform(v: f64, scale: Scale) -> Option<f64> {
    match scale {
        Scale::Linear => v.is_finite().then_some(v),
        Scale::Log => (v > 0.0 && v.is_finite()).then(|| v.log10()),
    }
}

/// Tick label of a (transformed) axis value: `1e-3` on log axes (integer decades only).
fn tick(v: f64, scale: Scale) -> String {
    match scale {
        Scale::Linear => {
            let s = format!("{v:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        Scale::Log if (v - v.round()).abs() < 1e-6 => match v.round() as i32 {
            0 => "1".into(),
            e => format!("1e{e}"),
        },
        Scale::Log => String::new(),
    }
}

/// The range in transformed units: the requested one or the data's extent, log ranges widened to
/// whole decades.
fn axis_range(requested: Option<(f64, f64)>, data: impl Iterator<Item = f64>, scale: Scale) -> Option<(f64, f64)> {
    let (lo, hi) = match requested {
        Some((a, b)) => (transform(a, scale)?, transform(b, scale)?),
        None => data.fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((a, b)) => Some((a.min(v), b.max(v))),
        })?,
    };
    let (lo, hi) = match scale {
        Scale::Log => (lo.floor(), hi.ceil().max(lo.floor() + 1.0)),
        Scale::Linear if hi - lo < 1e-9 => (lo - 0.5, hi + 0.5),
        Scale::Linear => (lo, hi),
    };
    Some((lo, hi))
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn curves_on<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &CurveChart) -> DrawResult {
    area.fill(&WHITE).map_err(err)?;
    let points: Vec<Vec<(f64, f64)>> = chart
        .curves
        .iter()
        .map(|c| {
            c.points
                .iter()
                .filter_map(|&(x, y)| Some((transform(x, chart.x_scale)?, transform(y, chart.y_scale)?)))
                .collect()
        })
        .collect();
    let xs = points.iter().flatten().map(|p| p.0);
    let ys = points.iter().flatten().map(|p| p.1);
    let (x0, x1) = axis_range(chart.x_range, xs, chart.x_scale).ok_or("no points on the x axis")?;
    let (y0, y1) = axis_range(chart.y_range, ys, chart.y_scale).ok_or("no points on the y axis")?;
    let mut ctx = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let decades = |lo: f64, hi: f64, scale: Scale| match scale {
        Scale::Log => ((hi - lo).round() as usize + 1).max(2),
        Scale::Linear => 11,
    };
    let (xs, ys) = (chart.x_scale, chart.y_scale);
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(decades(x0, x1, xs))
        .y_labels(decades(y0, y1, ys))
        .x_label_formatter(&|v| tick(*v, xs))
        .y_label_formatter(&|v| tick(*v, ys))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (i, (curve, pts)) in chart.curves.iter().zip(&points).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        ctx.draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
            .map_err(err)?
            .label(&curve.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    for m in &chart.markers {
        let Some(x) = transform(m.x, chart.x_scale) else { continue };
        ctx.draw_series(LineSeries::new([(x, y0), (x, y1)], BLACK.mix(0.6).stroke_width(1))).map_err(err)?;
        ctx.draw_series(std::iter::once(Text::new(
            m.label.clone(),
            (x, y1 - (y1 - y0) * 0.03),
            ("sans-serif", 13).into_font().color(&BLACK),
        )))
        .map_err(err)?;
    }
    if chart.curves.iter().any(|c| !c.name.is_empty()) {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 14))
            .position(match chart.legend {
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
            })
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn histograms_on<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &HistogramChart) -> DrawResult {
    area.fill(&WHITE).map_err(err)?;
    let (lo, hi) = chart.x_range;
    let bins = chart.bins.max(1);
    let width = (hi - lo) / bins as f64;
    let densities: Vec<Vec<f64>> = chart
        .series
        .iter()
        .map(|(_, values)| {
            let mut counts = vec![0usize; bins];
            for &v in values {
                if v >= lo && v <= hi {
                    counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
                }
            }
            let total = values.len().max(1) as f64;
            counts.iter().map(|&c| c as f64 / total / width).collect()
        })
        .collect();
    let top = densities.iter().flatten().fold(0.0f64, |a, &b| a.max(b)) * 1.1;
    if top <= 0.0 {
        return Err("no values in range".into());
    }
    let mut ctx = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(lo..hi, 0.0..top)
        .map_err(err)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc("density")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (i, ((name, values), density)) in chart.series.iter().zip(&densities).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let bars = density.iter().enumerate().map(|(b, &d)| {
            let x = lo + b as f64 * width;
            Rectangle::new([(x, 0.0), (x + width, d)], colour.mix(0.45).filled())
        });
        ctx.draw_series(bars)
            .map_err(err)?
            .label(format!("{name} (n = {})", values.len()))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.mix(0.45).filled()));
    }
    for (i, m) in chart.markers.iter().enumerate() {
        ctx.draw_series(LineSeries::new([(m.x, 0.0), (m.x, top)], BLACK.mix(0.7).stroke_width(1))).map_err(err)?;
        // Staggered so that labels of close thresholds do not overprint.
        ctx.draw_series(std::iter::once(Text::new(
            m.label.clone(),
            (m.x, top * (0.97 - 0.05 * (i % 3) as f64)),
            ("sans-serif", 13).into_font().color(&BLACK),
        )))
        .map_err(err)?;
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_and_svg_on_log_and_linear_axes() {
        let dir = tempfile::tempdir().unwrap();
        let chart = CurveChart {
            title: "DET".into(),
            x_label: "FAR".into(),
            y_label: "FRR".into(),
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            x_range: None,
            y_range: None,
            curves: vec![Curve {
                name: "a".into(),
                points: (1..100).map(|i| (i as f64 / 100.0, 1.0 / i as f64)).collect(),
            }],
            markers: vec![Marker { label: "t".into(), x: 0.1 }],
            legend: Corner::default(),
        };
        let [png, svg] = draw_curves(&chart, &dir.path().join("det")).unwrap();
        let img = image::open(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), SIZE);
        // Something besides white was drawn (axes, curve, text).
        assert!(img.pixels().filter(|p| p.0 != [255, 255, 255]).count() > 2000);
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg") && text.contains("DET") && text.contains("1e-2"));
        let hist = HistogramChart {
            title: "scores".into(),
            x_label: "similarity".into(),
            series: vec![("genuine".into(), vec![0.6, 0.7, 0.7]), ("impostor".into(), vec![0.0, 0.1])],
            bins: 20,
            x_range: (-0.2, 1.0),
            markers: vec![],
        };
        draw_histograms(&hist, &dir.path().join("hist")).unwrap();
        assert!(dir.path().join("hist.png").is_file());
        let empty = CurveChart { curves: vec![], ..chart };
        assert!(draw_curves(&empty, &dir.path().join("empty")).is_err());
    }

    #[test]
    fn log_ticks_only_on_decades() {
        assert_eq!(tick(-3.0, Scale::Log), "1e-3");
        assert_eq!(tick(0.0, Scale::Log), "1");
        assert_eq!(tick(-2.5, Scale::Log), "");
        assert_eq!(tick(0.25, Scale::Linear), "0.25");
    }
}
