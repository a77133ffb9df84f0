//! `--draw out.mp4`: the watched video with each track's box and label, encoded by FFmpeg (libx264)
//! from raw frames piped to it. Labels use the DejaVu Sans font when the system has it (Debian's
//! `fonts-dejavu-core`, which FFmpeg's package pulls in); without it, boxes are drawn unlabelled.

use ab_glyph::{point, Font, FontVec, PxScale, ScaleFont};
use image::{Rgb, RgbImage};
use imageproc::drawing::draw_filled_rect_mut;
use imageproc::rect::Rect;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use visage_core::geometry::BBox;

/// Where a label font is looked for.
const FONTS: [&str; 2] = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

/// What a track's box shows.
#[derive(Debug, Clone)]
pub struct Label {
    pub bbox: BBox,
    pub text: String,
    pub color: Rgb<u8>,
}

/// Green for identified, red for spoof, orange for unknown, grey while undecided.
pub mod colors {
    use image::Rgb;
    pub const IDENTIFIED: Rgb<u8> = Rgb([40, 200, 60]);
    pub const UNKNOWN: Rgb<u8> = Rgb([255, 150, 0]);
    pub const SPOOF: Rgb<u8> = Rgb([230, 30, 30]);
    pub const PENDING: Rgb<u8> = Rgb([180, 180, 180]);
}

/// A video being written.
pub struct VideoWriter {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    path: PathBuf,
    font: Option<FontVec>,
    size: (u32, u32),
}

impl VideoWriter {
    /// Starts FFmpeg writing `path` (H.264 in the container its extension names) at `fps`.
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<VideoWriter, String> {
        crate::source::ensure_ffmpeg().map_err(|e| e.to_string())?;
        // H.264 with 4:2:0 chroma needs even sides.
        let (w, h) = (width & !1, height & !1);
        let mut command = Command::new("ffmpeg");
        command
            .args(["-loglevel", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-s", &format!("{width}x{height}"), "-r", &format!("{fps}"), "-i", "pipe:0"])
            .args([
                "-vf",
                &format!("crop={w}:{h}:0:0"),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| format!("cannot run ffmpeg: {e}"))?;
        let stdin = child.stdin.take();
        let font = FONTS.iter().find_map(|f| std::fs::read(f).ok()).and_then(|b| FontVec::try_from_vec(b).ok());
        Ok(VideoWriter { child: Some(child), stdin, path: path.to_path_buf(), font, size: (width, height) })
    }

    /// Draws the labels onto a copy of `frame` and appends it.
    pub fn write(&mut self, frame: &RgbImage, labels: &[Label]) -> Result<(), String> {
        if frame.dimensions() != self.size {
            return Err(format!("frame size changed to {:?}", frame.dimensions()));
        }
        let mut canvas = frame.clone();
        for label in labels {
            draw_label(&mut canvas, label, self.font.as_ref());
        }
        let stdin = self.stdin.as_mut().ok_or("the encoder has ended")?;
        stdin.write_all(canvas.as_raw()).map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    /// Ends the file.
    pub fn finish(mut self) -> Result<PathBuf, String> {
        self.stdin.take();
        let child = self.child.take().ok_or("the encoder has ended")?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "ffmpeg could not write {}: {}",
                self.path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(self.path.clone())
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// A box (line width growing with the frame) and, above it, its text on a filled band.
pub fn draw_label(image: &mut RgbImage, label: &Label, font: Option<&FontVec>) {
    visage_core::draw::draw_face(image, &label.bbox, &[], label.color);
    let Some(font) = font else { return };
    let size = (image.height() as f32 / 28.0).max(12.0);
    let x = label.bbox.x1.max(0.0) as i32;
    let y = (label.bbox.y1 - size - 4.0).max(0.0) as i32;
    let width = (label.text.chars().count() as f32 * size * 0.6) as u32 + 6;
    draw_filled_rect_mut(image, Rect::at(x, y).of_size(width.max(1), size as u32 + 4), label.color);
    draw_text(image, (x + 3, y + 2), size, font, &label.text);
}

/// Black text with its top-left corner at `at`, clipped to the image.
fn draw_text(image: &mut RgbImage, at: (i32, i32), size: f32, font: &FontVec, text: &str) {
    let scaled = font.as_scaled(PxScale::from(size));
    let mut caret = at.0 as f32;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        let glyph = id.with_scale_and_position(size, point(caret, at.1 as f32 + scaled.ascent()));
        caret += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else { continue };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
            if px < 0 || py < 0 || px >= image.width() as i32 || py >= image.height() as i32 {
                return;
            }
            let pixel = image.get_pixel_mut(px as u32, py as u32);
            for channel in pixel.0.iter_mut() {
                *channel = (*channel as f32 * (1.0 - coverage.clamp(0.0, 1.0))) as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_drawn_inside_the_frame() {
        let mut img = RgbImage::new(200, 150);
        let font = FONTS.iter().find_map(|f| std::fs::read(f).ok()).and_then(|b| FontVec::try_from_vec(b).ok());
        let label =
            Label { bbox: BBox::new(50.0, 60.0, 120.0, 140.0), text: "alice 0.71".into(), color: colors::IDENTIFIED };
        draw_label(&mut img, &label, font.as_ref());
        assert_eq!(img.get_pixel(50, 100), &colors::IDENTIFIED);
        // A box at the edge is clipped, not a panic.
        let edge = Label { bbox: BBox::new(-20.0, -5.0, 300.0, 20.0), ..label };
        draw_label(&mut img, &edge, font.as_ref());
    }
}
