//! `--webhook URL`: decisions (identified, unknown, spoof) POSTed as JSON to a URL from a background
//! thread, retried with exponential backoff, so a slow or failing receiver never holds up the video.

use crate::events::Event;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Events waiting to be sent; beyond this they are dropped (and counted in a warning).
const QUEUE: usize = 1024;

/// Retry policy of a webhook.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per event, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 5, first_backoff: Duration::from_millis(250), timeout: Duration::from_secs(5) }
    }
}

/// A webhook sender. Dropping it (or [`Webhook::finish`]) delivers what is queued, then stops.
pub struct Webhook {
    queue: Option<SyncSender<Event>>,
    worker: Option<JoinHandle<WebhookStats>>,
    dropped: u64,
}

/// What a webhook delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub delivered: u64,
    /// Events given up after every attempt failed.
    pub failed: u64,
    /// Events not queued because the queue was full.
    pub dropped: u64,
}

impl Webhook {
    /// Starts a sender to `url` (http or https).
    pub fn start(url: &str, policy: RetryPolicy) -> Result<Webhook, String> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(format!("the webhook must be an http:// or https:// URL, not '{url}'"));
        }
        let (tx, rx) = sync_channel::<Event>(QUEUE);
        let url = url.to_string();
        let agent = ureq::AgentBuilder::new().timeout(policy.timeout).build();
        let worker = std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || {
                let mut stats = WebhookStats::default();
                for event in rx {
                    if post_with_retries(&agent, &url, &event, policy) {
                        stats.delivered += 1;
                    } else {
                        stats.failed += 1;
                    }
                }
                stats
            })
            .map_err(|e| e.to_string())?;
        Ok(Webhook { queue: Some(tx), worker: Some(worker), dropped: 0 })
    }

    /// Queues a decision event (other events are not sent).
    pub fn send(&mut self, event: &Event) {
        if !event.event.is_decision() {
            return;
        }
        if let Some(q) = &self.queue {
            if let Err(TrySendError::Full(_)) = q.try_send(event.clone()) {
                self.dropped += 1;
            }
        }
    }

    /// Delivers what is queued and reports.
    pub fn finish(mut self) -> WebhookStats {
        self.stop()
    }

    fn stop(&mut self) -> WebhookStats {
        self.queue.take();
        let mut stats = self.worker.take().and_then(|w| w.join().ok()).unwrap_or_default();
        stats.dropped = self.dropped;
        stats
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop();
    }
}

/// POSTs one event, retrying failures (network errors and non-2xx answers) with backoff.
fn post_with_retries(agent: &ureq::Agent, url: &str, event: &Event, policy: RetryPolicy) -> bool {
    let body = serde_json::to_string(event).expect("events serialise");
    let mut wait = policy.first_backoff;
    for attempt in 1..=policy.attempts.max(1) {
        match agent.post(url).set("Content-Type", "application/json").send_string(&body) {
            Ok(_) => return true,
            Err(e) => {
                tracing::warn!("webhook attempt {attempt} of {}: {e}", policy.attempts);
                if attempt < policy.attempts {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
            }
        }
    }
    tracing::error!("webhook: gave up on a {} event of track {}", event.event.name(), event.track);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn event(kind: EventKind) -> Event {
        Event {
            event: kind,
            track: 1,
            t: 0.5,
            frame: 5,
            bbox: [0.0; 4],
            subject: Some("a".into()),
            similarity: Some(0.7),
            liveness: None,
        }
    }

    /// A loopback receiver that answers 503 to the first `failures` requests, then 200; returns the
    /// bodies it accepted.
    fn receiver(failures: usize, accept: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            let mut seen = 0;
            while bodies.len() < accept {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = vec![0u8; 8192];
                let mut text = String::new();
                while !text.contains("\r\n\r\n") || !text.ends_with('}') {
                    let n = s.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                seen += 1;
                let status = if seen <= failures { "503 Service Unavailable" } else { "200 OK" };
                write!(s, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
                if seen > failures {
                    bodies.push(text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string());
                }
            }
            bodies
        });
        (url, handle)
    }

    #[test]
    fn decisions_are_posted_after_retries_and_other_events_are_not() {
        let (url, server) = receiver(2, 1);
        let policy = RetryPolicy { first_backoff: Duration::from_millis(10), ..RetryPolicy::default() };
        let mut hook = Webhook::start(&url, policy).unwrap();
        hook.send(&event(EventKind::TrackStart));
        hook.send(&event(EventKind::Identified));
        let stats = hook.finish();
        assert_eq!(stats, WebhookStats { delivered: 1, failed: 0, dropped: 0 });
        let bodies = server.join().unwrap();
        let v: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(v["event"], "identified");
        assert_eq!(v["subject"], "a");
    }

    #[test]
    fn an_unreachable_receiver_is_given_up_and_a_bad_url_refused() {
        let policy = RetryPolicy { attempts: 2, first_backoff: Duration::from_millis(5), ..RetryPolicy::default() };
        // A port nothing listens on (bound, then released).
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut hook = Webhook::start(&format!("http://127.0.0.1:{port}/"), policy).unwrap();
        hook.send(&event(EventKind::Unknown));
        assert_eq!(hook.finish().failed, 1);
        assert!(Webhook::start("ftp://x", policy).is_err());
    }
}
