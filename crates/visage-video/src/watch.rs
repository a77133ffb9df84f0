//! The watch loop: frames from a [`FrameSource`], detection every Nth frame, the [`Tracker`] in
//! between, each track's evidence gathered by [`TrackIdentity`] and decided by [`decision::decide`],
//! and events handed to the caller as they happen. Stopping (Ctrl-C, `DELETE /v1/streams/{id}`) and
//! the end of a file both end every open track with a `track_end` event.

use crate::decision::{self, DecisionContext, DecisionSettings};
use crate::detect_every::DetectEvery;
use crate::draw::{colors, Label, VideoWriter};
use crate::events::{Event, EventKind};
use crate::scene_cut::{CutDetector, DEFAULT_CUT_THRESHOLD};
use crate::source::{Frame, FrameSource};
use crate::track_identity::{frame_quality, Continuity, IdentityConfig, Sample, TrackIdentity, Verdict};
use crate::track_liveness::TrackLiveness;
use crate::tracker::{EndedTrack, TrackedBox, Tracker, TrackerConfig};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use visage::system::FaceRecognitionSystem;
use visage::VisageError;
use visage_core::geometry::BBox;
use visage_detect::Detection;

/// Frames whose time is remembered for the events of tracks that end later.
const TIMES_KEPT: u64 = 8192;

/// How a watch runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often the detector runs (by default about 10 times a second of video); the tracker
    /// predicts the other frames.
    pub detect_every: DetectEvery,
    pub decision: DecisionSettings,
    pub tracker: TrackerConfig,
    pub identity: IdentityConfig,
    /// The stream's id in audit entries (`cli` for `visage watch`).
    pub stream_id: String,
    /// Who acts, in audit entries.
    pub actor: String,
    /// Write the video with boxes and labels here.
    pub draw: Option<PathBuf>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            detect_every: DetectEvery::Auto,
            decision: DecisionSettings::default(),
            tracker: TrackerConfig::default(),
            identity: IdentityConfig::default(),
            stream_id: "cli".into(),
            actor: visage::system::default_actor(),
            draw: None,
        }
    }
}

/// What a finished watch did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct WatchSummary {
    /// Frames processed.
    pub frames: u64,
    /// Frames of a live source dropped because processing was behind.
    pub dropped_frames: u64,
    /// Times a live source was reopened after it dropped.
    pub reconnects: u64,
    /// The detector ran on every Nth frame: this N (`auto` resolved for the source's frame rate).
    pub detect_every: u32,
    /// Frames the detector ran on.
    pub detections: u64,
    /// Face crops embedded (with their liveness scored).
    pub embeddings: u64,
    /// Tracks confirmed.
    pub tracks: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Frames processed per second of wall-clock time.
    pub fps: f64,
    /// The `--draw` video, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub drawn: Option<PathBuf>,
}

/// A watch that ended on an error (a file that cannot be decoded, a live source given up), with
/// what it did until then.
#[derive(Debug)]
pub struct WatchFailed {
    pub summary: WatchSummary,
    pub error: anyhow::Error,
}

impl std::fmt::Display for WatchFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for WatchFailed {}

/// A track's state beside the tracker's box.
struct TrackState {
    identity: TrackIdentity,
    liveness: TrackLiveness,
    /// The last frame and box known to show this track's person (ends a track whose face changed).
    last_consistent: Option<(u64, BBox)>,
    /// A cut happened since the last embedding: check the face on the next detection.
    check_pending: bool,
}

/// Watches one source with one gallery.
pub struct Watcher<'a> {
    system: &'a FaceRecognitionSystem,
    options: WatchOptions,
    tracker: Tracker,
    tracks: HashMap<u64, TrackState>,
    cuts: CutDetector,
    summary: WatchSummary,
    /// Frame rate, for the time of events.
    fps: f64,
    times: HashMap<u64, f64>,
}

impl<'a> Watcher<'a> {
    /// A watcher deciding with `system`'s gallery.
    pub fn new(system: &'a FaceRecognitionSystem, options: WatchOptions) -> Watcher<'a> {
        let tracker = Tracker::new(options.tracker);
        Watcher {
            system,
            options,
            tracker,
            tracks: HashMap::new(),
            cuts: CutDetector::new(DEFAULT_CUT_THRESHOLD),
            summary: WatchSummary::default(),
            fps: 25.0,
            times: HashMap::new(),
        }
    }

    /// Runs to the end of the source or until `stop` is set, handing every event to `emit` as it
    /// happens; open tracks end with `track_end` either way, and the summary is given either way.
    pub fn run(
        mut self,
        source: &FrameSource,
        stop: &AtomicBool,
        mut emit: impl FnMut(&Event),
    ) -> Result<WatchSummary, WatchFailed> {
        let started = Instant::now();
        let info = source.info();
        self.fps = info.fps;
        let mut writer = match &self.options.draw {
            Some(path) => match VideoWriter::create(path, info.width, info.height, info.fps) {
                Ok(w) => Some(w),
                Err(e) => return Err(WatchFailed { summary: self.summary, error: anyhow::Error::msg(e) }),
            },
            None => None,
        };
        let detect_every = self.options.detect_every.frames(info.fps);
        self.summary.detect_every = detect_every;
        let mut since_detection = u32::MAX;
        let result: Result<(), anyhow::Error> = (|| {
            while !stop.load(Ordering::SeqCst) {
                let frame = match source.next_frame_timeout(Duration::from_millis(200)) {
                    Ok(Some(Ok(frame))) => frame,
                    Ok(Some(Err(reason))) if source.spec().is_live() => anyhow::bail!("{reason}"),
                    Ok(Some(Err(reason))) => anyhow::bail!("cannot decode {}: {reason}", source.spec().describe()),
                    Ok(None) => continue,
                    Err(crate::source::SourceEnded) => break,
                };
                let detect = since_detection >= detect_every - 1;
                since_detection = if detect { 0 } else { since_detection + 1 };
                self.process(&frame, detect, &mut emit)?;
                if let Some(w) = writer.as_mut() {
                    w.write(&frame.image, &self.labels()).map_err(anyhow::Error::msg)?;
                }
            }
            Ok(())
        })();
        // Open tracks end whatever happened: Ctrl-C, end of file, or an error.
        for ended in self.tracker.finish() {
            self.end_track(ended, &mut emit);
        }
        let drawn = match (result, writer) {
            (Ok(()), Some(w)) => w.finish().map(Some).map_err(anyhow::Error::msg),
            (Ok(()), None) => Ok(None),
            (Err(e), _) => Err(e),
        };
        self.summary.dropped_frames = source.dropped();
        self.summary.reconnects = source.reconnects();
        self.summary.seconds = started.elapsed().as_secs_f64();
        self.summary.fps = self.summary.frames as f64 / self.summary.seconds.max(1e-9);
        match drawn {
            Ok(path) => {
                self.summary.drawn = path;
                Ok(self.summary)
            }
            Err(error) => Err(WatchFailed { summary: self.summary, error }),
        }
    }

    /// One frame: predict, and on detection frames match, start and end tracks and gather evidence.
    fn process(&mut self, frame: &Frame, detect: bool, emit: &mut impl FnMut(&Event)) -> Result<(), VisageError> {
        self.summary.frames += 1;
        self.times.insert(frame.index, frame.t);
        self.tracker.advance(frame.index);
        if self.cuts.is_cut(&frame.image) {
            self.tracks.values_mut().for_each(|s| s.check_pending = true);
        }
        if !detect {
            return Ok(());
        }
        self.summary.detections += 1;
        let detections = self.system.analyzer().detect(&frame.image)?;
        let boxes: Vec<TrackedBox> = detections.iter().map(|d| TrackedBox { bbox: d.bbox, score: d.score }).collect();
        let round = self.tracker.update(frame.index, &boxes);
        for ended in round.ended {
            self.end_track(ended, emit);
        }
        for id in round.confirmed {
            let bbox = self.tracker.confirmed().find(|t| t.id == id).map(|t| t.bbox).unwrap_or_default();
            self.start_track(id, frame, bbox, emit);
        }
        for (id, index) in round.matched {
            self.observe(id, frame, &detections[index], emit)?;
        }
        // Times of old frames are forgotten (a track refers back a few hundred frames at most), so a
        // long watch does not grow.
        if frame.index & 1023 == 0 {
            self.times.retain(|&f, _| f + TIMES_KEPT >= frame.index);
        }
        Ok(())
    }

    fn start_track(&mut self, id: u64, frame: &Frame, bbox: BBox, emit: &mut impl FnMut(&Event)) {
        self.summary.tracks += 1;
        let state = TrackState {
            identity: TrackIdentity::new(self.options.identity),
            liveness: TrackLiveness::new(self.options.decision.liveness.frames),
            last_consistent: None,
            check_pending: false,
        };
        self.tracks.insert(id, state);
        emit(&self.event(EventKind::TrackStart, id, frame.index, frame.t, bbox));
    }

    /// Ends a track at the last frame known to show its person.
    fn end_track(&mut self, ended: EndedTrack, emit: &mut impl FnMut(&Event)) {
        let (frame, bbox) = self
            .tracks
            .get(&ended.id)
            .and_then(|s| s.last_consistent)
            .filter(|(f, _)| *f <= ended.last_frame)
            .unwrap_or((ended.last_frame, ended.last_bbox));
        let t = self.times.get(&frame).copied().unwrap_or(frame as f64 / self.fps);
        emit(&self.event(EventKind::TrackEnd, ended.id, frame, t, bbox));
        self.tracks.remove(&ended.id);
    }

    /// A detection of a confirmed track: score its liveness while the track's is undecided, embed it
    /// if it is worth it, then decide if the evidence changed.
    fn observe(
        &mut self,
        id: u64,
        frame: &Frame,
        face: &Detection,
        emit: &mut impl FnMut(&Event),
    ) -> Result<(), VisageError> {
        let analyzer = self.system.analyzer();
        let crop = analyzer.align(&frame.image, face);
        let quality = frame_quality(face, &crop);
        let Some(state) = self.tracks.get_mut(&id) else { return Ok(()) };
        let embed = state.identity.wants(quality, state.check_pending);
        let liveness =
            if state.liveness.wants_frame() { Some(analyzer.liveness(&frame.image, face, None)?.score) } else { None };
        if !embed {
            if let Some(p) = liveness {
                state.liveness.add(p);
                state.last_consistent = Some((frame.index, face.bbox));
                if self.decision_due(id) {
                    self.decide(id, frame, face.bbox, emit)?;
                }
            }
            return Ok(());
        }
        self.summary.embeddings += 1;
        let embedding = analyzer.embed_aligned(std::slice::from_ref(&crop))?.remove(0);
        let sample = Sample { frame: frame.index, quality, embedding };
        let mut id = id;
        if state.identity.add(sample.clone()) == Continuity::Changed {
            // Another person where this track was: end it, and start a new track with this frame
            // (whose liveness is scored for the new track).
            if let Some(ended) = self.tracker.end(id) {
                self.end_track(ended, emit);
            }
            id = self.tracker.start_confirmed(frame.index, face.bbox);
            self.start_track(id, frame, face.bbox, emit);
            let state = self.tracks.get_mut(&id).expect("just started");
            state.identity.add(sample);
            let p = match liveness {
                Some(p) => p,
                None => analyzer.liveness(&frame.image, face, None)?.score,
            };
            state.liveness.add(p);
        } else if let Some(p) = liveness {
            state.liveness.add(p);
        }
        let state = self.tracks.get_mut(&id).expect("tracked");
        state.check_pending = false;
        state.last_consistent = Some((frame.index, face.bbox));
        if self.decision_due(id) {
            self.decide(id, frame, face.bbox, emit)?;
        }
        Ok(())
    }

    /// Whether a track should be decided now: its identity evidence changed and is sufficient, and
    /// with liveness required, its liveness is decided (a track is never searched before).
    fn decision_due(&self, id: u64) -> bool {
        let Some(state) = self.tracks.get(&id) else { return false };
        state.identity.needs_decision() && (!self.options.decision.decision.require_live || state.liveness.decided())
    }

    /// Decides a track on its current evidence; emits and audits only a decision that changed.
    fn decide(&mut self, id: u64, frame: &Frame, bbox: BBox, emit: &mut impl FnMut(&Event)) -> Result<(), VisageError> {
        let state = self.tracks.get_mut(&id).expect("tracked");
        let fused = state.identity.fused().expect("frames to decide on");
        let liveness = state.liveness.score();
        let verdict = decision::decide(self.system, &self.options.decision, &fused, &state.liveness)?;
        if !state.identity.record(verdict.clone()) {
            return Ok(());
        }
        let frames = state.identity.samples().len();
        let context = DecisionContext {
            actor: &self.options.actor,
            decision: &self.options.decision.decision,
            stream: &self.options.stream_id,
            track: id,
            frame: frame.index,
        };
        decision::audit(self.system, context, &verdict, liveness, frames)?;
        let kind = match verdict {
            Verdict::Identified { .. } => EventKind::Identified,
            Verdict::Unknown { .. } => EventKind::Unknown,
            Verdict::Spoof => EventKind::Spoof,
        };
        emit(&self.event(kind, id, frame.index, frame.t, bbox));
        Ok(())
    }

    /// An event of a track, with its current decision and liveness.
    fn event(&self, kind: EventKind, track: u64, frame: u64, t: f64, bbox: BBox) -> Event {
        let state = self.tracks.get(&track);
        let verdict = state.and_then(|s| s.identity.verdict());
        let rounded = |v: f32| (v * 10_000.0).round() / 10_000.0;
        Event {
            event: kind,
            track,
            t: (t * 1000.0).round() / 1000.0,
            frame,
            bbox: bbox.to_array().map(|v| v.round()),
            subject: verdict.and_then(|v| v.subject()).map(str::to_string),
            similarity: verdict.and_then(|v| v.similarity()).map(rounded),
            liveness: state.and_then(|s| s.liveness.score()).map(rounded),
        }
    }

    /// What `--draw` shows for each confirmed track.
    fn labels(&self) -> Vec<Label> {
        self.tracker
            .confirmed()
            .map(|t| {
                let verdict = self.tracks.get(&t.id).and_then(|s| s.identity.verdict());
                let (text, color) = match verdict {
                    Some(Verdict::Identified { subject, similarity }) => {
                        (format!("#{} {subject} {similarity:.2}", t.id), colors::IDENTIFIED)
                    }
                    Some(Verdict::Unknown { .. }) => (format!("#{} unknown", t.id), colors::UNKNOWN),
                    Some(Verdict::Spoof) => (format!("#{} spoof", t.id), colors::SPOOF),
                    None => (format!("#{}", t.id), colors::PENDING),
                };
                Label { bbox: t.bbox, text, color }
            })
            .collect()
    }
}
