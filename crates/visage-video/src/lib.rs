//! Live video for visage: watch a camera, a stream, a video file or a folder of frames, track each
//! face, identify each track once (and again only when the evidence changes), and emit events.
//!
//! ```text
//! source (FFmpeg) ─▶ detect every Nth frame ─▶ tracker (IoU + constant velocity) ─▶ per track:
//!   best frames ─▶ fused embedding; first frames ─▶ liveness ─▶ open-set decision ─▶ events (JSON, webhook, SSE)
//! ```
//!
//! One job per module: [`source`] decodes, [`tracker`] follows boxes, [`track_identity`] gathers a
//! track's evidence of who it is, [`track_liveness`] whether it is live, [`decision`] asks the gallery, [`events`] is the event shape, [`watch`] runs the
//! loop, [`webhook`] and [`draw`] are optional outputs.

pub mod decision;
pub mod detect_every;
pub mod draw;
pub mod events;
pub mod scene_cut;
pub mod source;
pub mod track_identity;
pub mod track_liveness;
pub mod tracker;
pub mod watch;
pub mod webhook;

pub use detect_every::DetectEvery;
pub use events::{Event, EventKind};
pub use source::{SourceError, SourceSpec};
pub use watch::{WatchFailed, WatchOptions, WatchSummary, Watcher};
