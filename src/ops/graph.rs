//! Rendering `wharf graph` as an image through Graphviz's `dot`, when it is installed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    /// The image format a file name asks for (`.svg`, `.png`), if any.
    pub fn of(path: &Path) -> Option<ImageFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "svg" => Some(ImageFormat::Svg),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GraphvizError {
    #[error("Graphviz `dot` is not installed: it renders `{}`", .0.display())]
    Missing(PathBuf),
    #[error("Graphviz `dot` failed: {0}")]
    Failed(String),
}

impl GraphvizError {
    pub fn hint(&self) -> Option<String> {
        match self {
            GraphvizError::Missing(_) => Some(
                "install Graphviz (`apt-get install graphviz`, `brew install graphviz`, `dnf install graphviz`), \
                 or print `--format dot` or `--format mermaid` and render it elsewhere"
                    .into(),
            ),
            GraphvizError::Failed(_) => None,
        }
    }
}

/// Renders DOT `text` into `path` with `dot -T<format>`.
pub fn render(text: &str, path: &Path, format: ImageFormat) -> Result<(), GraphvizError> {
    let kind = match format {
        ImageFormat::Svg => "-Tsvg",
        ImageFormat::Png => "-Tpng",
    };
    let mut child = match Command::new("dot")
        .arg(kind)
        .arg("-o")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(GraphvizError::Missing(path.to_path_buf())),
        Err(e) => return Err(GraphvizError::Failed(e.to_string())),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).map_err(|e| GraphvizError::Failed(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| GraphvizError::Failed(e.to_string()))?;
    if !out.status.success() {
        return Err(GraphvizError::Failed(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}
