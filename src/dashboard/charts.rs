//! The geometry of the dashboard's inline SVG charts: a line over periods with its interval
//! as a band, and horizontal interval bars (a leaderboard, rates by channel). Coordinates are
//! computed here; the template only draws them.

use serde::Serialize;

/// An estimate to draw: its label, value and 95% interval, and the answers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub label: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub n: u64,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A line chart: the line through the periods with data, the interval band around it, a dot
/// per period (with its figures as a tooltip), and the axes' labels.
#[derive(Debug, Clone, Serialize)]
pub struct LineChart {
    pub width: f64,
    pub height: f64,
    /// `x,y x,y …` of the line.
    pub line: String,
    /// `x,y …` of the band: the highs left to right, then the lows right to left.
    pub band: String,
    pub dots: Vec<Dot>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub empty: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dot {
    pub x: String,
    pub y: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub x: String,
    pub y: String,
    pub label: String,
}

fn coordinate(v: f64) -> String {
    format!("{v:.1}")
}

/// The chart of `estimates` over `periods` (every period of the window, in order; those
/// without an estimate get no dot), on the scale `min..max`, values written by `show`.
pub fn line_chart(
    periods: &[String],
    estimates: &[Estimate],
    (min, max): (f64, f64),
    show: fn(f64) -> String,
) -> LineChart {
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_width * (i as f64 + 0.5) / periods.len().max(1) as f64;
    let y = |v: f64| TOP + plot_height * (1.0 - (v.clamp(min, max) - min) / (max - min));
    let placed: Vec<(f64, &Estimate)> = periods
        .iter()
        .enumerate()
        .filter_map(|(i, p)| estimates.iter().find(|e| &e.label == p).map(|e| (x(i), e)))
        .collect();
    let pairs = |values: &mut dyn Iterator<Item = (f64, f64)>| {
        values
            .map(|(x, v)| format!("{},{}", coordinate(x), coordinate(y(v))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let line = pairs(&mut placed.iter().map(|(x, e)| (*x, e.value)));
    let band = format!(
        "{} {}",
        pairs(&mut placed.iter().map(|(x, e)| (*x, e.high))),
        pairs(&mut placed.iter().rev().map(|(x, e)| (*x, e.low)))
    );
    let dots = placed
        .iter()
        .map(|(x, e)| Dot {
            x: coordinate(*x),
            y: coordinate(y(e.value)),
            title: format!(
                "{}: {} ({}–{}), n = {}",
                e.label,
                show(e.value),
                show(e.low),
                show(e.high),
                e.n
            ),
        })
        .collect();
    let y_ticks = (0..=4)
        .map(|i| {
            let v = min + (max - min) * i as f64 / 4.0;
            Tick {
                x: coordinate(LEFT - 6.0),
                y: coordinate(y(v)),
                label: show(v),
            }
        })
        .collect();
    // Every other period's label at most, so they do not overlap on a phone.
    let every = periods.len().div_ceil(6).max(1);
    let x_ticks = periods
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, p)| Tick {
            x: coordinate(x(i)),
            y: coordinate(HEIGHT - 8.0),
            label: p.get(5..).unwrap_or(p).to_owned(),
        })
        .collect();
    LineChart {
        width: WIDTH,
        height: HEIGHT,
        line,
        band,
        dots,
        y_ticks,
        x_ticks,
        empty: placed.is_empty(),
    }
}

/// Horizontal interval bars on a 0–100% scale: one row per estimate, its interval as a bar
/// and its value as a dot.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalBars {
    pub width: f64,
    pub height: f64,
    pub rows: Vec<BarRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BarRow {
    pub label: String,
    /// The row's baseline.
    pub y: String,
    pub text_y: String,
    pub low: String,
    pub high: String,
    pub value: String,
    /// The figures written beside the bar, at `figures_x`.
    pub figures: String,
    pub figures_x: String,
}

const ROW: f64 = 28.0;
const LABEL: f64 = 150.0;
const FIGURES: f64 = 210.0;

/// Estimates of shares (0–1) as interval bars, each with the figures written beside it.
pub fn interval_bars(estimates: &[(Estimate, String)]) -> IntervalBars {
    let scale = WIDTH - LABEL - FIGURES;
    let x = |v: f64| coordinate(LABEL + scale * v.clamp(0.0, 1.0));
    IntervalBars {
        width: WIDTH,
        height: ROW * estimates.len() as f64 + 4.0,
        rows: estimates
            .iter()
            .enumerate()
            .map(|(i, (e, figures))| {
                let base = ROW * i as f64 + ROW / 2.0;
                BarRow {
                    label: e.label.clone(),
                    y: coordinate(base),
                    text_y: coordinate(base + 5.0),
                    low: x(e.low),
                    high: x(e.high),
                    value: x(e.value),
                    figures: figures.clone(),
                    figures_x: coordinate(WIDTH - FIGURES + 12.0),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_a_dot_per_period_with_data_inside_the_plot() {
        let periods: Vec<String> = ["2026-11-02", "2026-11-09", "2026-11-16"]
            .map(String::from)
            .to_vec();
        let estimates = [
            Estimate {
                label: "2026-11-02".into(),
                value: 0.5,
                low: 0.4,
                high: 0.6,
                n: 80,
            },
            Estimate {
                label: "2026-11-16".into(),
                value: 1.0,
                low: 0.9,
                high: 1.0,
                n: 20,
            },
        ];
        let chart = line_chart(&periods, &estimates, (0.0, 1.0), |v| {
            format!("{:.0}%", v * 100.0)
        });
        assert_eq!(chart.dots.len(), 2);
        assert_eq!(chart.line.split(' ').count(), 2);
        assert_eq!(chart.band.split(' ').count(), 4);
        // 100% sits on the plot's top edge; 50% halfway down.
        assert_eq!(chart.dots[1].y, coordinate(TOP));
        assert_eq!(
            chart.dots[0].y,
            coordinate(TOP + (HEIGHT - TOP - BOTTOM) / 2.0)
        );
        assert!(chart.dots[0].title.contains("50% (40%–60%), n = 80"));
        assert!(!chart.empty);
        assert!(line_chart(&periods, &[], (0.0, 1.0), |v| v.to_string()).empty);
    }
}
