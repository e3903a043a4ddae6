//! The book's diagrams: pikchr sources rendered to SVGs that follow the
//! page's theme.

use crate::generated::{Generated, crate_files};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Where the diagrams' pikchr sources live.
pub const DIAGRAM_SOURCES: &str = "book/diagrams";
/// Where `cargo xtask pages` writes the diagrams, rendered to SVG.
pub const DIAGRAMS_DIR: &str = "book/src/generated/diagrams";

/// The diagram sources, `book/diagrams/*.pikchr`, sorted by name.
pub fn diagram_sources(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(DIAGRAM_SOURCES);
    let mut sources: Vec<PathBuf> = crate_files(&dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pikchr"))
        .map(|p| Path::new(DIAGRAM_SOURCES).join(p))
        .collect();
    sources.sort();
    Ok(sources)
}

/// Whether this build of xtask renders diagrams: it does on Linux only,
/// where CI runs (see [`render_diagram`]).
pub const RENDERS_DIAGRAMS: bool = cfg!(target_os = "linux");

/// pikchr's own SVG for a source, or its error message.
#[cfg(target_os = "linux")]
fn pikchr_svg(source: &str) -> Result<String> {
    let mut flags = pikchr::PikchrFlags::default();
    flags.generate_plain_errors();
    // No class: pikchr 0.1.4 drops the class's C string before the call
    // reads it, so the attribute would come out as garbage.
    let svg = pikchr::Pikchr::render(source, None, flags)
        .map_err(|err| anyhow::anyhow!("pikchr: {err}"))?;
    Ok(svg.to_string())
}

/// The honest fallback where the pikchr C library is not built.
#[cfg(not(target_os = "linux"))]
fn pikchr_svg(_source: &str) -> Result<String> {
    anyhow::bail!(
        "this xtask cannot render diagrams: it builds the pikchr C library on Linux only, \
         so that the workspace still cross-checks for macOS and Windows; render them on Linux"
    )
}

/// Renders one pikchr source to an SVG that follows the page's theme: black
/// becomes `currentColor`, so lines and text take the colour of the text
/// around them, light or dark. The SVG comes out on one line, so that a
/// markdown page can hold it inside an HTML block.
pub fn render_diagram(source: &str) -> Result<String> {
    let svg = pikchr_svg(source)?;
    let svg = svg
        .replace("rgb(0,0,0)", "currentColor")
        // pikchr's `red` and `blue` are pure colours that read badly on one
        // theme or the other; these two read on both.
        .replace("rgb(255,0,0)", "rgb(220,60,50)")
        .replace("rgb(0,0,255)", "rgb(50,130,230)")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    // The SVG keeps its natural width on a wide page and shrinks to the
    // text column on a narrower one, but not below 480px (or its natural
    // width, if less): on a phone the figure scrolls sideways rather than
    // shrink its text below about 11px.
    let width = svg
        .split_once("viewBox=\"")
        .and_then(|(_, rest)| rest.split_whitespace().nth(2))
        .and_then(|w| w.parse::<f64>().ok())
        .context("pikchr's SVG has no viewBox")?
        .ceil();
    let floor = width.min(480.0);
    // The source's first comment line says what the picture shows.
    let label = source
        .lines()
        .find_map(|line| line.trim().strip_prefix('#'))
        .map(|line| {
            line.trim()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('"', "'")
        })
        .unwrap_or_default();
    let svg = svg.replacen(
        "<svg ",
        &format!(
            "<svg width=\"{width}\" role=\"img\" aria-label=\"{label}\" \
             style=\"max-width: max(100%, {floor}px); height: auto\" "
        ),
        1,
    );
    // pikchr's own style attribute would be a second one; keep ours.
    let svg = svg.replacen(" style='font-size:initial;'", "", 1);
    Ok(format!("{svg}\n"))
}

/// Every diagram, rendered from its source; none where this build of
/// xtask cannot render them ([`RENDERS_DIAGRAMS`]), so that the other pages
/// can still be written and checked there.
pub fn diagram_pages(root: &Path) -> Result<Vec<Generated>> {
    if !RENDERS_DIAGRAMS {
        return Ok(Vec::new());
    }
    diagram_sources(root)?
        .into_iter()
        .map(|source| {
            let text = fs::read_to_string(root.join(&source))
                .with_context(|| format!("reading {}", source.display()))?;
            let stem = source
                .file_stem()
                .context("a diagram source has a name")?
                .to_string_lossy()
                .into_owned();
            Ok(Generated {
                path: Path::new(DIAGRAMS_DIR).join(format!("{stem}.svg")),
                content: render_diagram(&text)
                    .with_context(|| format!("rendering {}", source.display()))?,
                command: "cargo xtask pages",
            })
        })
        .collect()
}
