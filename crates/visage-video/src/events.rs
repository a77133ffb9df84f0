//! The events a watch emits, one JSON object each:
//! `{"event": "identified", "track": 3, "t": 12.4, "frame": 186, "bbox": [x1,y1,x2,y2],
//! "subject": "alice", "similarity": 0.71, "liveness": 0.93}`.

use serde::{Deserialize, Serialize};

/// What happened to a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A face is tracked (confirmed after a few detections).
    TrackStart,
    /// The track's face is an enrolled subject (first decision, or a revision).
    Identified,
    /// The track's face matches nobody enrolled at the threshold.
    Unknown,
    /// The track failed passive liveness (median P(live) below the threshold).
    Spoof,
    /// The face left (or the watch stopped): the event is at the frame where it was last seen.
    TrackEnd,
}

impl EventKind {
    /// The name used in JSON and text output.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::TrackStart => "track_start",
            EventKind::Identified => "identified",
            EventKind::Unknown => "unknown",
            EventKind::Spoof => "spoof",
            EventKind::TrackEnd => "track_end",
        }
    }

    /// A decision about who the track is (what webhooks receive).
    pub fn is_decision(self) -> bool {
        matches!(self, EventKind::Identified | EventKind::Unknown | EventKind::Spoof)
    }
}

/// One event. `t` is seconds from the start of the source (for a file: frame / frame rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub event: EventKind,
    pub track: u64,
    pub t: f64,
    pub frame: u64,
    pub bbox: [f32; 4],
    /// The identified subject; `null` when unknown or not decided yet.
    #[schema(required = true)]
    pub subject: Option<String>,
    /// The best gallery similarity of the track's fused embedding (`null` before a search).
    #[schema(required = true)]
    pub similarity: Option<f32>,
    /// The median P(live) over the track's frames scored so far (`null` before any).
    #[schema(required = true)]
    pub liveness: Option<f32>,
}

impl Event {
    /// One line for people: `12.4s  #3  identified  alice (similarity 0.71, live 0.93)`.
    pub fn describe(&self) -> String {
        let mut line = format!("{:>8.2}s  #{:<4} {:<12}", self.t, self.track, self.event.name());
        if let Some(s) = &self.subject {
            line.push_str(&format!(" {s}"));
        }
        let mut details = Vec::new();
        if let Some(s) = self.similarity {
            details.push(format!("similarity {s:.2}"));
        }
        if let Some(l) = self.liveness {
            details.push(format!("P(live) {l:.2}"));
        }
        if !details.is_empty() {
            line.push_str(&format!(" ({})", details.join(", ")));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_the_documented_shape() {
        let e = Event {
            event: EventKind::TrackStart,
            track: 3,
            t: 12.4,
            frame: 186,
            bbox: [1.0, 2.0, 3.0, 4.0],
            subject: None,
            similarity: None,
            liveness: Some(0.5),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"event": "track_start", "track": 3, "t": 12.4, "frame": 186,
                "bbox": [1.0, 2.0, 3.0, 4.0], "subject": null, "similarity": null, "liveness": 0.5})
        );
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
        assert!(e.describe().contains("track_start"));
    }
}
