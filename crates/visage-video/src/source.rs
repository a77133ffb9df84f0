//! Frames from a video source, decoded by FFmpeg (Debian's `ffmpeg`) run as a subprocess that pipes
//! raw RGB frames: a video file, a V4L2 camera (`/dev/video0`), an `rtsp://` or `http(s)://` stream,
//! or a folder / glob of image files. A file ends cleanly at its end; a live source that drops is
//! reopened with exponential backoff (and given up, with an error, when it sends no frame for
//! [`ReconnectPolicy::give_up_after`]), and when processing falls behind a live source, frames are
//! dropped (and counted) rather than queued, so the events stay current.

use image::RgbImage;
use serde::Deserialize;
use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frame rate given to a folder or glob of frames unless another is asked for.
pub const DEFAULT_FRAMES_FPS: f64 = 10.0;

/// How long probing a source may take before it counts as unreadable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// A live connection that sends nothing for this long counts as dropped (FFmpeg's socket timeout).
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How a live source that drops is reopened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectPolicy {
    /// The first wait before reopening; each failed attempt doubles it, up to `max_backoff`, and a
    /// frame received resets it.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Give up (the watch ends with an error) when the source has sent no frame for this long;
    /// `None`: never give up.
    pub give_up_after: Option<Duration>,
}

/// How long `visage watch` keeps reopening a live source that sends nothing, by default.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(300);

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            give_up_after: Some(DEFAULT_GIVE_UP_AFTER),
        }
    }
}

/// What a live source is doing now, shared with whoever shows it (the service's stream list).
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// A live source dropped and no frame has come since.
    reconnecting: AtomicBool,
    /// Times a live source was reopened after it dropped.
    reconnects: AtomicU64,
}

impl SourceStatus {
    /// Whether a live source dropped and no frame has come since (it is being reopened).
    pub fn reconnecting(&self) -> bool {
        self.reconnecting.load(Ordering::Relaxed)
    }

    /// Times the source was reopened after it dropped.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

/// Why a source cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading video needs FFmpeg, which is not installed (Debian/Ubuntu: apt-get install ffmpeg)")]
    FfmpegMissing,
    #[error(
        "no such video source: {0} (give a video file, a folder or glob of frames, /dev/videoN, rtsp:// or http(s)://)"
    )]
    NotFound(String),
    #[error("cannot read the video source {source_name}: {reason}")]
    Unreadable { source_name: String, reason: String },
}

/// What to watch.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A video file (mp4, mkv, avi, webm, ...): ends at its end.
    File(PathBuf),
    /// A V4L2 camera such as `/dev/video0` (live).
    Device(PathBuf),
    /// An `rtsp://`, `rtmp://` or `http(s)://` stream (live).
    Url(String),
    /// Image files in name order, as a video at `fps` frames per second (a folder means its
    /// jpg/jpeg/png/bmp files; a glob pattern such as `frames/*.png` is passed to FFmpeg).
    Frames { pattern: String, fps: f64 },
}

impl SourceSpec {
    /// Reads a source as the user wrote it; a path that does not exist is an error naming it.
    pub fn parse(text: &str, frames_fps: f64) -> Result<SourceSpec, SourceError> {
        let lower = text.to_ascii_lowercase();
        if ["rtsp://", "rtsps://", "rtmp://", "http://", "https://"].iter().any(|p| lower.starts_with(p)) {
            return Ok(SourceSpec::Url(text.to_string()));
        }
        let path = Path::new(text);
        if text.starts_with("/dev/video") {
            return if path.exists() {
                Ok(SourceSpec::Device(path.to_path_buf()))
            } else {
                Err(SourceError::NotFound(text.to_string()))
            };
        }
        let fps = if frames_fps.is_finite() && frames_fps > 0.0 { frames_fps } else { DEFAULT_FRAMES_FPS };
        if path.is_dir() {
            let pattern = format!("{}/*.{{jpg,jpeg,png,bmp,JPG,JPEG,PNG}}", text.trim_end_matches('/'));
            return Ok(SourceSpec::Frames { pattern, fps });
        }
        if text.contains(['*', '?', '[']) {
            return Ok(SourceSpec::Frames { pattern: text.to_string(), fps });
        }
        if path.is_file() {
            return Ok(SourceSpec::File(path.to_path_buf()));
        }
        Err(SourceError::NotFound(text.to_string()))
    }

    /// Live sources reconnect and drop frames when behind; files and frames do neither.
    pub fn is_live(&self) -> bool {
        matches!(self, SourceSpec::Device(_) | SourceSpec::Url(_))
    }

    /// The source for messages (a URL without its password).
    pub fn describe(&self) -> String {
        match self {
            SourceSpec::File(p) | SourceSpec::Device(p) => p.display().to_string(),
            SourceSpec::Url(u) => redact_url(u),
            SourceSpec::Frames { pattern, .. } => pattern.clone(),
        }
    }

    /// FFmpeg's input options and input for this source.
    fn input_args(&self) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        let input = match self {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::Device(p) => {
                args.extend(["-f".into(), "v4l2".into()]);
                p.display().to_string()
            }
            SourceSpec::Url(u) => {
                // A connection that stalls without closing must count as a drop, not hang forever.
                let stall = STALL_TIMEOUT.as_micros().to_string();
                if u.to_ascii_lowercase().starts_with("rtsp") {
                    args.extend(["-rtsp_transport".into(), "tcp".into(), "-timeout".into(), stall]);
                } else {
                    args.extend(["-rw_timeout".into(), stall]);
                }
                u.clone()
            }
            SourceSpec::Frames { pattern, fps } => {
                args.extend(["-pattern_type".into(), "glob".into(), "-framerate".into(), fps.to_string()]);
                pattern.clone()
            }
        };
        args.extend(["-i".into(), input]);
        args
    }
}

/// `user:password@` removed from a URL.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// The size and rate of a source's video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second (the container's average; 25 when it does not say).
    pub fps: f64,
}

/// The source has no more frames (a file ended, or the source was stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceEnded;

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Index among all frames the source delivered, counting dropped ones.
    pub index: u64,
    /// Seconds from the start: frame / rate for files and frames, wall-clock time for live sources.
    pub t: f64,
    pub image: RgbImage,
}

/// A running source: frames arrive from a reader thread.
pub struct FrameSource {
    spec: SourceSpec,
    info: VideoInfo,
    frames: Receiver<Result<Frame, String>>,
    dropped: Arc<AtomicU64>,
    status: Arc<SourceStatus>,
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
}

impl FrameSource {
    /// Checks FFmpeg, probes the source (an unreadable one is an error here, not later) and starts
    /// decoding, reconnecting a live source with the default [`ReconnectPolicy`].
    pub fn open(spec: SourceSpec) -> Result<FrameSource, SourceError> {
        FrameSource::open_with(spec, ReconnectPolicy::default())
    }

    /// [`FrameSource::open`] with how a live source that drops is reopened.
    pub fn open_with(spec: SourceSpec, reconnect: ReconnectPolicy) -> Result<FrameSource, SourceError> {
        ensure_ffmpeg()?;
        let info = probe(&spec)?;
        // Live: one frame of slack, then drop. Files: a few frames decoded ahead.
        let (tx, rx) = sync_channel(if spec.is_live() { 1 } else { 4 });
        let source = FrameSource {
            spec: spec.clone(),
            info,
            frames: rx,
            dropped: Arc::default(),
            status: Arc::default(),
            stop: Arc::default(),
            child: Arc::default(),
        };
        let reader = Reader {
            spec,
            info,
            reconnect,
            tx,
            dropped: source.dropped.clone(),
            status: source.status.clone(),
            stop: source.stop.clone(),
            child: source.child.clone(),
            last_frame: Cell::new(None),
        };
        std::thread::Builder::new()
            .name("video-source".into())
            .spawn(move || reader.run())
            .map_err(|e| SourceError::Unreadable { source_name: source.spec.describe(), reason: e.to_string() })?;
        Ok(source)
    }

    /// The source as opened.
    pub fn spec(&self) -> &SourceSpec {
        &self.spec
    }

    /// Size and rate.
    pub fn info(&self) -> VideoInfo {
        self.info
    }

    /// The next frame; `None` at the end (a file ended, or [`FrameSource::stop`] was called).
    /// `Some(Err)` when decoding failed.
    pub fn next_frame(&self) -> Option<Result<Frame, String>> {
        self.frames.recv().ok()
    }

    /// The next frame, waiting at most `timeout`; `Ok(None)` when none came in time.
    pub fn next_frame_timeout(&self, timeout: Duration) -> Result<Option<Result<Frame, String>>, SourceEnded> {
        match self.frames.recv_timeout(timeout) {
            Ok(f) => Ok(Some(f)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(SourceEnded),
        }
    }

    /// Frames of a live source dropped because processing was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How often a live source was reopened.
    pub fn reconnects(&self) -> u64 {
        self.status.reconnects()
    }

    /// Whether the source is being reopened and how often it was, shared (it stays current while
    /// the source runs).
    pub fn status(&self) -> Arc<SourceStatus> {
        self.status.clone()
    }

    /// Stops decoding (the FFmpeg process is killed); [`FrameSource::next_frame`] then ends.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = child.kill();
        }
    }
}

impl Drop for FrameSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `ffmpeg` and `ffprobe` run.
pub fn ensure_ffmpeg() -> Result<(), SourceError> {
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(tool).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !ok.is_ok_and(|s| s.success()) {
            return Err(SourceError::FfmpegMissing);
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<ProbeStream>,
}

#[derive(Deserialize)]
struct ProbeStream {
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
}

/// The video's size and rate from `ffprobe`, within [`PROBE_TIMEOUT`].
fn probe(spec: &SourceSpec) -> Result<VideoInfo, SourceError> {
    let unreadable = |reason: String| SourceError::Unreadable { source_name: spec.describe(), reason };
    let mut child = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,avg_frame_rate,r_frame_rate",
        ])
        .args(["-of", "json"])
        .args(spec.input_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| unreadable(format!("cannot run ffprobe: {e}")))?;
    let started = Instant::now();
    while child.try_wait().map_err(|e| unreadable(e.to_string()))?.is_none() {
        if started.elapsed() > PROBE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(unreadable(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().map_err(|e| unreadable(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let parsed: ProbeOutput = serde_json::from_slice(&output.stdout).unwrap_or(ProbeOutput { streams: Vec::new() });
    let Some(stream) = parsed.streams.into_iter().find(|s| s.width.is_some() && s.height.is_some()) else {
        let reason = stderr.lines().last().map_or("it holds no video stream".to_string(), |l| l.trim().to_string());
        return Err(unreadable(reason));
    };
    let (width, height) = (stream.width.unwrap_or(0), stream.height.unwrap_or(0));
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > 64_000_000 {
        return Err(unreadable(format!("unusable frame size {width}x{height}")));
    }
    let fps = match spec {
        SourceSpec::Frames { fps, .. } => *fps,
        _ => [stream.avg_frame_rate, stream.r_frame_rate]
            .iter()
            .flatten()
            .filter_map(|r| parse_rate(r))
            .next()
            .unwrap_or(25.0),
    };
    Ok(VideoInfo { width, height, fps })
}

/// `30000/1001` or `25` as frames per second (`None` for 0/0 and nonsense).
fn parse_rate(text: &str) -> Option<f64> {
    let rate = match text.split_once('/') {
        Some((n, d)) => n.trim().parse::<f64>().ok()? / d.trim().parse::<f64>().ok()?,
        None => text.trim().parse().ok()?,
    };
    (rate.is_finite() && rate > 0.0 && rate < 1000.0).then_some(rate)
}

/// The reader thread: runs FFmpeg, cuts its output into frames, reopens live sources.
struct Reader {
    spec: SourceSpec,
    info: VideoInfo,
    reconnect: ReconnectPolicy,
    tx: SyncSender<Result<Frame, String>>,
    dropped: Arc<AtomicU64>,
    status: Arc<SourceStatus>,
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
    /// When the last frame arrived.
    last_frame: Cell<Option<Instant>>,
}

impl Reader {
    fn run(self) {
        let started = Instant::now();
        let mut index = 0u64;
        let mut backoff = self.reconnect.initial_backoff;
        loop {
            let outcome = self.decode_once(started, &mut index, &mut backoff);
            if self.stopped() {
                return;
            }
            match outcome {
                Ok(()) if !self.spec.is_live() => return,
                Err(reason) if !self.spec.is_live() => {
                    let _ = self.tx.send(Err(reason));
                    return;
                }
                Ok(()) => tracing::warn!("{} ended; reconnecting in {:?}", self.spec.describe(), backoff),
                Err(reason) => tracing::warn!("{}: {reason}; reconnecting in {:?}", self.spec.describe(), backoff),
            }
            self.status.reconnecting.store(true, Ordering::Relaxed);
            if let Some(limit) = self.reconnect.give_up_after {
                // The time since the last frame (or since the start, if none came).
                let silent = self.last_frame_at(started).elapsed();
                if silent + backoff > limit {
                    let _ = self.tx.send(Err(format!(
                        "the live source dropped and sent no frame for {:.0} s after {} attempts to reconnect: \
                         giving up (the limit is {}: `--reconnect-for`, or `reconnect_for_seconds` in the \
                         service)",
                        silent.as_secs_f64(),
                        self.status.reconnects(),
                        format_duration(limit)
                    )));
                    return;
                }
            }
            if !self.sleep(backoff) {
                return;
            }
            backoff = (backoff * 2).min(self.reconnect.max_backoff);
            self.status.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// When the last frame arrived (the start when none did).
    fn last_frame_at(&self, started: Instant) -> Instant {
        self.last_frame.get().unwrap_or(started)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps unless stopped meanwhile; false when stopped.
    fn sleep(&self, total: Duration) -> bool {
        let until = Instant::now() + total;
        while Instant::now() < until {
            if self.stopped() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        !self.stopped()
    }

    /// One FFmpeg run to its end. Ok at a clean end of input; Err with FFmpeg's last words otherwise.
    fn decode_once(&self, started: Instant, index: &mut u64, backoff: &mut Duration) -> Result<(), String> {
        let VideoInfo { width, height, fps } = self.info;
        let mut command = Command::new("ffmpeg");
        command
            .args(["-loglevel", "error", "-nostdin"])
            .args(self.spec.input_args())
            .args(["-an", "-sn", "-vf", &format!("scale={width}:{height}"), "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .arg("pipe:1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: Ctrl-C reaches visage, which then ends the watch in order.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| format!("cannot run ffmpeg: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("no ffmpeg output")?;
        let stderr = child.stderr.take().map(collect_tail);
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        if self.stopped() {
            self.kill_child();
        }
        let frame_bytes = width as usize * height as usize * 3;
        let mut buffer = vec![0u8; frame_bytes];
        let mut clean_end = true;
        loop {
            match read_full(&mut stdout, &mut buffer) {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    clean_end = false;
                    break;
                }
            }
            *backoff = self.reconnect.initial_backoff;
            self.status.reconnecting.store(false, Ordering::Relaxed);
            self.last_frame.set(Some(Instant::now()));
            let image = RgbImage::from_raw(width, height, buffer.clone()).expect("buffer of the frame's size");
            let t = if self.spec.is_live() { started.elapsed().as_secs_f64() } else { *index as f64 / fps };
            let frame = Frame { index: *index, t, image };
            *index += 1;
            if !self.deliver(frame) {
                break;
            }
        }
        let status = self.child.lock().unwrap_or_else(|p| p.into_inner()).take().map(|mut c| c.wait());
        let tail = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        match status {
            Some(Ok(s)) if s.success() && clean_end => Ok(()),
            _ if self.stopped() => Ok(()),
            Some(Ok(s)) => Err(if tail.is_empty() { format!("ffmpeg stopped ({s})") } else { tail }),
            Some(Err(e)) => Err(e.to_string()),
            None => Ok(()),
        }
    }

    /// Hands a frame over: files wait for the consumer; live sources drop the frame when it is busy.
    /// False when nobody listens any more.
    fn deliver(&self, frame: Frame) -> bool {
        if self.stopped() {
            return false;
        }
        if !self.spec.is_live() {
            return self.tx.send(Ok(frame)).is_ok();
        }
        match self.tx.try_send(Ok(frame)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    fn kill_child(&self) {
        if let Some(c) = self.child.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = c.kill();
        }
    }
}

/// A duration as `--reconnect-for` takes it: `90s`, `5m`, `1h`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{}s", d.as_secs_f64()),
    }
}

/// Reads `90s`, `5m`, `1h`, `500ms` or a number of seconds; `never` is `None` (never give up).
pub fn parse_give_up(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "never" {
        return Ok(None);
    }
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t.as_str(), "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("'{text}': give a duration such as 30s, 5m or 1h, or never")),
    };
    let value: f64 =
        number.trim().parse().map_err(|_| format!("'{text}': give a duration such as 30s, 5m or 1h, or never"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 1e9 {
        return Err(format!("'{text}': out of range"));
    }
    Ok(Some(Duration::from_secs_f64(value * scale)))
}

/// Fills `buffer` from `reader`: Ok(true) when full, Ok(false) at a clean end before any byte.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Ok(false), // a truncated last frame is not a frame
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Reads a stream to its end on a thread, keeping its last few lines (FFmpeg's error message).
fn collect_tail(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_recognised_by_form() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        assert!(matches!(SourceSpec::parse("rtsp://u:p@cam/stream", 10.0), Ok(SourceSpec::Url(_))));
        assert!(SourceSpec::parse("https://cam/x.mjpg", 10.0).unwrap().is_live());
        assert!(matches!(SourceSpec::parse(d, 5.0), Ok(SourceSpec::Frames { fps, .. }) if fps == 5.0));
        assert!(
            matches!(SourceSpec::parse(&format!("{d}/*.png"), 0.0), Ok(SourceSpec::Frames { fps, .. }) if fps == DEFAULT_FRAMES_FPS)
        );
        let file = dir.path().join("a.mp4");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(SourceSpec::parse(file.to_str().unwrap(), 10.0).unwrap(), SourceSpec::File(file.clone()));
        assert!(!SourceSpec::File(file).is_live());
        assert!(matches!(SourceSpec::parse(&format!("{d}/none.mp4"), 10.0), Err(SourceError::NotFound(_))));
        assert!(matches!(SourceSpec::parse("/dev/video99", 10.0), Err(SourceError::NotFound(_))));
    }

    #[test]
    fn passwords_stay_out_of_messages_and_rates_parse() {
        assert_eq!(SourceSpec::Url("rtsp://admin:secret@10.0.0.2/s".into()).describe(), "rtsp://10.0.0.2/s");
        assert_eq!(parse_rate("30000/1001").map(|r| (r * 100.0).round()), Some(2997.0));
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("25"), Some(25.0));
    }

    #[test]
    fn give_up_durations_parse_and_print() {
        assert_eq!(parse_give_up("90s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_give_up("5m"), Ok(Some(Duration::from_secs(300))));
        assert_eq!(parse_give_up("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_give_up("500ms"), Ok(Some(Duration::from_millis(500))));
        assert_eq!(parse_give_up("2"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(parse_give_up("never"), Ok(None));
        assert!(parse_give_up("5 parsecs").is_err() && parse_give_up("-1s").is_err() && parse_give_up("").is_err());
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(3)), "3s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn frames_are_cut_whole() {
        let mut data: &[u8] = &[1, 2, 3, 4, 5, 6, 7];
        let mut buf = [0u8; 3];
        assert!(read_full(&mut data, &mut buf).unwrap());
        assert!(read_full(&mut data, &mut buf).unwrap());
        assert!(!read_full(&mut data, &mut buf).unwrap(), "a partial frame is the end");
    }
}
