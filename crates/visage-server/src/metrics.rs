//! Prometheus counters, kept in the process.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    inference: Mutex<(f64, u64)>,
}

impl Metrics {
    pub fn request(&self, route: &str, status: u16) {
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route.to_string(), status)).or_default() += 1;
    }

    pub fn inference(&self, seconds: f64) {
        let mut m = self.inference.lock().unwrap_or_else(|p| p.into_inner());
        m.0 += seconds;
        m.1 += 1;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP visage_requests_total Requests by route and status.\n# TYPE visage_requests_total counter\n",
        );
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("visage_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"));
        }
        let (sum, count) = *self.inference.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str(
            "# HELP visage_inference_seconds Time spent running models.\n# TYPE visage_inference_seconds summary\n",
        );
        out.push_str(&format!("visage_inference_seconds_sum {sum}\nvisage_inference_seconds_count {count}\n"));
        out
    }
}
