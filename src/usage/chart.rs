//! The `/usage` chart: cost per UTC day as stacked bars, one colour per project, as a PNG.
//!
//! Why it is built this way: it must render the same on a server without fontconfig or any
//! system font, so the font is compiled in (a DejaVu Sans subset under `assets/fonts/`, with
//! its licence) and registered with plotters' `ab_glyph` text backend; pixels are drawn into
//! memory and encoded with `png`, never written to disk. Rendering is CPU work: callers run
//! it on a blocking thread (`spawn_blocking`), never on the async runtime.

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{Usage, CHART_PROJECTS};

/// The size `/usage` sends.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 400;

/// DejaVu Sans, printable ASCII only (see `assets/fonts/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
const FAMILY: &str = "sans-serif";

/// One colour per stacked project; the last is "other".
const COLORS: [RGBColor; CHART_PROJECTS + 1] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x7f, 0x7f, 0x7f),
];

fn register_font() -> Result<(), String> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(())
        .ok_or_else(|| "the embedded font is unreadable".to_string())
}

/// The stacks to draw: the largest projects by name, the rest summed as "other".
fn stacks(u: &Usage) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = u
        .project_days
        .iter()
        .take(CHART_PROJECTS)
        .cloned()
        .collect();
    if u.project_days.len() > CHART_PROJECTS {
        let mut other = vec![0.0; u.days.len()];
        for (_, days) in &u.project_days[CHART_PROJECTS..] {
            for (o, c) in other.iter_mut().zip(days) {
                *o += c;
            }
        }
        out.push(("other".to_string(), other));
    }
    out
}

/// Labels are drawn with an ASCII-only font: anything else becomes `?`.
fn ascii(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// Render `u` as a `width`×`height` PNG.
pub fn render_png(u: &Usage, width: u32, height: u32) -> Result<Vec<u8>, String> {
    register_font()?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    draw(u, &mut rgb, width, height)?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::High);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn draw(u: &Usage, rgb: &mut [u8], width: u32, height: u32) -> Result<(), String> {
    let e = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
    let root = BitMapBackend::with_buffer(rgb, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let n = u.days.len();
    let top = u.per_day.iter().cloned().fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let days = u.days.clone();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Cost per day, last {n} days (total ${:.4})", u.total),
            (FAMILY, 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
        .map_err(e)?;
    let date_label = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 || i as usize >= days.len() {
            return String::new();
        }
        days[i as usize].format("%m-%d").to_string()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(10)
        .x_label_formatter(&date_label)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .x_desc("day (UTC)")
        .y_desc("USD")
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 14))
        .draw()
        .map_err(e)?;
    let mut bottoms = vec![0.0; n];
    for (k, (name, costs)) in stacks(u).into_iter().enumerate() {
        let color = COLORS[k.min(COLORS.len() - 1)];
        let bars: Vec<Rectangle<(f64, f64)>> = costs
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0.0)
            .map(|(i, c)| {
                let x = i as f64;
                Rectangle::new(
                    [(x - 0.38, bottoms[i]), (x + 0.38, bottoms[i] + c)],
                    color.filled(),
                )
            })
            .collect();
        for (b, c) in bottoms.iter_mut().zip(&costs) {
            *b += c;
        }
        chart
            .draw_series(bars)
            .map_err(e)?
            .label(ascii(&name))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 12))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UsageRow;
    use crate::usage::{aggregate, Scope, DAYS};
    use chrono::NaiveDate;
    use std::path::Path;

    fn decode(png_bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn chart_is_a_png_of_the_asked_size_with_bars_in_project_colours() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let mut rows = Vec::new();
        for (i, p) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            rows.push(UsageRow {
                user_id: 7,
                day: format!("2026-12-0{}", 1 + i % 3),
                directory: format!("/srv/{p}"),
                cost_usd: 0.1 * (i + 1) as f64,
            });
        }
        let u = aggregate(&rows, Path::new("/srv"), today, Scope::Own(7));
        assert_eq!(stacks(&u).len(), CHART_PROJECTS + 1, "five named + other");
        let bytes = render_png(&u, WIDTH, HEIGHT).unwrap();
        assert!(bytes.len() < 200 * 1024, "{} bytes", bytes.len());
        let (info, px) = decode(&bytes);
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let pixels: Vec<[u8; 3]> = px.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let count = |c: RGBColor| pixels.iter().filter(|p| **p == [c.0, c.1, c.2]).count();
        // Every stack colour is drawn (bars and legend), text and axes are dark, most is white.
        for c in COLORS {
            assert!(count(c) > 100, "colour {c:?}: {}", count(c));
        }
        let dark = pixels.iter().filter(|p| p.iter().all(|v| *v < 80)).count();
        assert!(dark > 1000, "text and axes: {dark}");
        assert!(count(WHITE) > pixels.len() / 2);
        let _ = DAYS;
    }

    #[test]
    fn chart_with_one_project_draws_only_its_colour() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let rows = [UsageRow {
            user_id: 7,
            day: "2026-12-03".into(),
            directory: "/srv/a".into(),
            cost_usd: 0.02,
        }];
        let u = aggregate(&rows, Path::new("/srv"), today, Scope::Own(7));
        let (info, px) = decode(&render_png(&u, 640, 320).unwrap());
        assert_eq!((info.width, info.height), (640, 320));
        let has = |c: RGBColor| px.chunks(3).any(|p| p == [c.0, c.1, c.2]);
        assert!(has(COLORS[0]));
        assert!(!has(COLORS[1]));
    }

    #[test]
    fn labels_are_ascii_and_short() {
        assert_eq!(ascii("web/app"), "web/app");
        assert_eq!(ascii("проект"), "??????");
        assert_eq!(ascii(&"x".repeat(50)), format!("{}...", "x".repeat(40)));
    }
}
