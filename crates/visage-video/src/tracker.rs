//! A SORT / ByteTrack-style face tracker: each track's box is predicted by a constant-velocity motion
//! model, detections are matched to predictions by IoU (confident detections first, then the weaker
//! ones, as ByteTrack does), and tracks are born and die with hysteresis so that one missed detection
//! neither ends a track nor does one stray detection start one. Track ids are stable and never reused.

use visage_core::geometry::BBox;

/// Tracker settings, in detection rounds (a round is one frame that ran the detector).
#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// A detection continues a track when their IoU is at least this.
    pub min_iou: f32,
    /// Detections at least this confident are matched first and may start tracks; weaker ones only
    /// continue existing tracks.
    pub high_score: f32,
    /// Consecutive matched rounds before a new track is confirmed (birth hysteresis).
    pub min_hits: u32,
    /// Consecutive missed rounds after which a confirmed track ends (death hysteresis).
    pub max_misses: u32,
    /// How much of a prediction's error goes into the velocity (0: constant, 1: last step only).
    pub velocity_gain: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { min_iou: 0.3, high_score: 0.6, min_hits: 2, max_misses: 4, velocity_gain: 0.5 }
    }
}

/// One detected box given to the tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedBox {
    pub bbox: BBox,
    /// Detector confidence in [0, 1].
    pub score: f32,
}

/// A track as the tracker holds it.
#[derive(Debug, Clone)]
pub struct Track {
    /// Stable id, never reused by this tracker.
    pub id: u64,
    /// The predicted (or, right after a match, detected) box.
    pub bbox: BBox,
    /// Box edge velocity in pixels per frame: x1, y1, x2, y2.
    velocity: [f32; 4],
    hits: u32,
    misses: u32,
    /// Confirmed tracks are reported; tentative ones are not (yet).
    pub confirmed: bool,
    /// The frame and box of the last detection matched to this track.
    pub last_seen: (u64, BBox),
    /// The frame the track's current prediction is for.
    frame: u64,
}

/// A track that ended: where and when its face was last seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndedTrack {
    pub id: u64,
    pub last_frame: u64,
    pub last_bbox: BBox,
}

/// What one detection round changed.
#[derive(Debug, Clone, Default)]
pub struct RoundResult {
    /// Tracks confirmed in this round (report their start).
    pub confirmed: Vec<u64>,
    /// Confirmed tracks that ended in this round.
    pub ended: Vec<EndedTrack>,
    /// Confirmed tracks matched in this round, with the index of their detection.
    pub matched: Vec<(u64, usize)>,
}

/// The tracker. Call [`Tracker::advance`] on every frame and [`Tracker::update`] on frames that ran
/// the detector.
#[derive(Debug, Default)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// An empty tracker; the first track gets id 1.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker { config, tracks: Vec::new(), next_id: 1 }
    }

    /// The confirmed tracks, with their current (predicted) boxes.
    pub fn confirmed(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(|t| t.confirmed)
    }

    /// Moves every track's box to `frame` along its velocity (the motion model's prediction).
    pub fn advance(&mut self, frame: u64) {
        for t in &mut self.tracks {
            let dt = frame.saturating_sub(t.frame) as f32;
            let v = t.velocity;
            t.bbox =
                BBox::new(t.bbox.x1 + v[0] * dt, t.bbox.y1 + v[1] * dt, t.bbox.x2 + v[2] * dt, t.bbox.y2 + v[3] * dt);
            t.frame = frame;
        }
    }

    /// One detection round at `frame` (after [`Tracker::advance`] to it): match, update, give birth,
    /// and end tracks missed too often.
    pub fn update(&mut self, frame: u64, detections: &[TrackedBox]) -> RoundResult {
        let mut result = RoundResult::default();
        let mut unmatched_tracks: Vec<usize> = (0..self.tracks.len()).collect();
        let (strong, weak): (Vec<usize>, Vec<usize>) =
            (0..detections.len()).partition(|&i| detections[i].score >= self.config.high_score);
        let mut pairs = self.match_boxes(&unmatched_tracks, &strong, detections);
        unmatched_tracks.retain(|t| !pairs.iter().any(|(pt, _)| pt == t));
        pairs.extend(self.match_boxes(&unmatched_tracks, &weak, detections));
        unmatched_tracks.retain(|t| !pairs.iter().any(|(pt, _)| pt == t));
        for &(ti, di) in &pairs {
            let track = &mut self.tracks[ti];
            correct(track, &detections[di].bbox, frame, self.config.velocity_gain);
            track.hits += 1;
            track.misses = 0;
            if !track.confirmed && track.hits >= self.config.min_hits {
                track.confirmed = true;
                result.confirmed.push(track.id);
            }
            if track.confirmed {
                result.matched.push((track.id, di));
            }
        }
        for &ti in &unmatched_tracks {
            self.tracks[ti].misses += 1;
        }
        let max_misses = self.config.max_misses;
        // A tentative track dies at its first miss; a confirmed one after `max_misses` in a row.
        self.tracks.retain(|t| {
            let dies = if t.confirmed { t.misses > max_misses } else { t.misses > 0 };
            if dies && t.confirmed {
                result.ended.push(EndedTrack { id: t.id, last_frame: t.last_seen.0, last_bbox: t.last_seen.1 });
            }
            !dies
        });
        for &di in &strong {
            if !pairs.iter().any(|&(_, d)| d == di) {
                self.birth(frame, &detections[di].bbox, &mut result);
            }
        }
        result
    }

    /// Ends a track now (its face changed to another person's): returns where it was last seen.
    pub fn end(&mut self, id: u64) -> Option<EndedTrack> {
        let at = self.tracks.iter().position(|t| t.id == id)?;
        let t = self.tracks.remove(at);
        t.confirmed.then_some(EndedTrack { id: t.id, last_frame: t.last_seen.0, last_bbox: t.last_seen.1 })
    }

    /// Starts a confirmed track at once (the successor of a track ended by [`Tracker::end`], whose
    /// face was already seen often enough), returning its id.
    pub fn start_confirmed(&mut self, frame: u64, bbox: BBox) -> u64 {
        let mut result = RoundResult::default();
        self.birth(frame, &bbox, &mut result);
        let track = self.tracks.last_mut().expect("just born");
        track.confirmed = true;
        track.hits = self.config.min_hits;
        track.id
    }

    /// Ends every confirmed track (the source ended or the watch stopped).
    pub fn finish(&mut self) -> Vec<EndedTrack> {
        let ended = self
            .tracks
            .iter()
            .filter(|t| t.confirmed)
            .map(|t| EndedTrack { id: t.id, last_frame: t.last_seen.0, last_bbox: t.last_seen.1 })
            .collect();
        self.tracks.clear();
        ended
    }

    fn birth(&mut self, frame: u64, bbox: &BBox, result: &mut RoundResult) {
        let id = self.next_id;
        self.next_id += 1;
        let confirmed = self.config.min_hits <= 1;
        if confirmed {
            result.confirmed.push(id);
        }
        self.tracks.push(Track {
            id,
            bbox: *bbox,
            velocity: [0.0; 4],
            hits: 1,
            misses: 0,
            confirmed,
            last_seen: (frame, *bbox),
            frame,
        });
    }

    /// Greedy IoU matching, best pairs first: (track index, detection index).
    fn match_boxes(&self, tracks: &[usize], dets: &[usize], detections: &[TrackedBox]) -> Vec<(usize, usize)> {
        let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
        for &t in tracks {
            for &d in dets {
                let iou = self.tracks[t].bbox.iou(&detections[d].bbox);
                if iou >= self.config.min_iou {
                    candidates.push((iou, t, d));
                }
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for (_, t, d) in candidates {
            if !pairs.iter().any(|&(pt, pd)| pt == t || pd == d) {
                pairs.push((t, d));
            }
        }
        pairs
    }
}

/// Takes the detection as the box and moves the velocity towards the step the detection implies.
fn correct(track: &mut Track, detected: &BBox, frame: u64, gain: f32) {
    let (last_frame, last) = track.last_seen;
    let dt = frame.saturating_sub(last_frame).max(1) as f32;
    let observed = [
        (detected.x1 - last.x1) / dt,
        (detected.y1 - last.y1) / dt,
        (detected.x2 - last.x2) / dt,
        (detected.y2 - last.y2) / dt,
    ];
    for (v, o) in track.velocity.iter_mut().zip(observed) {
        *v += gain * (o - *v);
    }
    track.bbox = *detected;
    track.last_seen = (frame, *detected);
    track.frame = frame;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(x: f32, y: f32, size: f32) -> TrackedBox {
        TrackedBox { bbox: BBox::new(x, y, x + size, y + size), score: 0.9 }
    }

    /// Runs `frames` rounds of detections (one Vec per frame), returning every round's result.
    fn run(tracker: &mut Tracker, frames: &[Vec<TrackedBox>]) -> Vec<RoundResult> {
        frames
            .iter()
            .enumerate()
            .map(|(f, dets)| {
                tracker.advance(f as u64);
                tracker.update(f as u64, dets)
            })
            .collect()
    }

    #[test]
    fn a_moving_face_keeps_one_id() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        // 30 px per frame: IoU between consecutive boxes of 100 px is only 0.54 without prediction.
        let frames: Vec<Vec<TrackedBox>> = (0..20).map(|f| vec![boxed(30.0 * f as f32, 50.0, 100.0)]).collect();
        let results = run(&mut tracker, &frames);
        let confirmed: Vec<u64> = results.iter().flat_map(|r| r.confirmed.clone()).collect();
        assert_eq!(confirmed, vec![1], "one track, confirmed once");
        assert!(results[1..].iter().all(|r| r.matched == vec![(1, 0)]));
        assert!(results.iter().all(|r| r.ended.is_empty()));
    }

    #[test]
    fn prediction_bridges_frames_without_detection() {
        // Fast motion with detection every 3rd frame: the velocity carries the box between rounds.
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut ids = Vec::new();
        for f in 0..30u64 {
            tracker.advance(f);
            if f % 3 == 0 {
                let r = tracker.update(f, &[boxed(10.0 * f as f32, 0.0, 100.0)]);
                ids.extend(r.matched.iter().map(|m| m.0));
            }
        }
        assert!(ids.iter().all(|&id| id == 1), "{ids:?}");
        // Predicted between rounds: last seen at x = 270 (frame 27), at frame 31 the box is near 310.
        tracker.advance(31);
        let x = tracker.confirmed().next().unwrap().bbox.x1;
        assert!((x - 310.0).abs() < 15.0, "predicted x1 {x}");
    }

    #[test]
    fn one_stray_detection_does_not_start_a_track_and_one_miss_does_not_end_one() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut frames: Vec<Vec<TrackedBox>> = (0..10).map(|_| vec![boxed(100.0, 100.0, 80.0)]).collect();
        frames[4].clear(); // a missed detection
        frames[6].push(boxed(400.0, 300.0, 60.0)); // a stray false positive
        let results = run(&mut tracker, &frames);
        let confirmed: Vec<u64> = results.iter().flat_map(|r| r.confirmed.clone()).collect();
        assert_eq!(confirmed, vec![1]);
        assert!(results.iter().all(|r| r.ended.is_empty()));
    }

    #[test]
    fn a_face_that_leaves_ends_after_the_misses_and_a_new_one_gets_a_new_id() {
        let config = TrackerConfig::default();
        let mut tracker = Tracker::new(config);
        let mut frames: Vec<Vec<TrackedBox>> = (0..5).map(|_| vec![boxed(100.0, 100.0, 80.0)]).collect();
        frames.extend((0..config.max_misses + 1).map(|_| Vec::new()));
        frames.extend((0..3).map(|_| vec![boxed(100.0, 100.0, 80.0)]));
        let results = run(&mut tracker, &frames);
        let ended: Vec<EndedTrack> = results.iter().flat_map(|r| r.ended.clone()).collect();
        assert_eq!(ended.len(), 1);
        assert_eq!((ended[0].id, ended[0].last_frame), (1, 4), "ended where last seen");
        let confirmed: Vec<u64> = results.iter().flat_map(|r| r.confirmed.clone()).collect();
        assert_eq!(confirmed, vec![1, 2], "ids are never reused");
        assert_eq!(tracker.finish().iter().map(|e| e.id).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn two_faces_crossing_paths_keep_their_ids() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        // Two faces moving towards each other horizontally, at different heights so they never merge.
        let frames: Vec<Vec<TrackedBox>> = (0..15)
            .map(|f| {
                let f = f as f32;
                vec![boxed(10.0 + 25.0 * f, 0.0, 90.0), boxed(400.0 - 25.0 * f, 120.0, 90.0)]
            })
            .collect();
        let results = run(&mut tracker, &frames);
        for r in &results[1..] {
            let mut m = r.matched.clone();
            m.sort();
            assert_eq!(m, vec![(1, 0), (2, 1)]);
        }
    }

    #[test]
    fn weak_detections_continue_tracks_but_never_start_them() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let weak = |x: f32| TrackedBox { score: 0.4, ..boxed(x, 0.0, 80.0) };
        let frames = vec![
            vec![boxed(0.0, 0.0, 80.0), weak(300.0)],
            vec![boxed(2.0, 0.0, 80.0), weak(300.0)],
            vec![weak(4.0), weak(300.0)],
        ];
        let results = run(&mut tracker, &frames);
        assert_eq!(results[2].matched, vec![(1, 0)]);
        assert_eq!(tracker.confirmed().count(), 1);
    }

    #[test]
    fn end_and_restart_give_a_new_confirmed_id() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        run(&mut tracker, &[vec![boxed(0.0, 0.0, 80.0)], vec![boxed(0.0, 0.0, 80.0)]]);
        let ended = tracker.end(1).unwrap();
        assert_eq!(ended.last_frame, 1);
        let id = tracker.start_confirmed(2, BBox::new(0.0, 0.0, 80.0, 80.0));
        assert_eq!(id, 2);
        assert_eq!(tracker.confirmed().count(), 1);
        assert!(tracker.end(99).is_none());
    }
}
