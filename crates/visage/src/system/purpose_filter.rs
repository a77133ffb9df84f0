//! Purpose limitation for the in-memory search: which subjects hold an active consent for which
//! purpose, kept in step with the store through its consent log (as the search index follows the
//! template log), so a search bound to a purpose only ever sees the subjects consented for it.

use std::collections::HashMap;
use visage_store::{ActiveConsent, ConsentChanges};

/// A subject's consents for one purpose: (consent id, expiry; `None`: never).
type Held = Vec<(i64, Option<String>)>;

/// Consents in force, by purpose and subject, with their expiry (checked at search time, so a consent
/// that lapses stops counting at once, without a write).
#[derive(Default)]
pub(super) struct PurposeFilter {
    /// Purpose → subject → expiry of each of the subject's consents for it (`None`: never).
    by_purpose: HashMap<String, HashMap<String, Held>>,
    /// Consent id → (purpose, subject), to find what a revocation or erasure ends.
    by_id: HashMap<i64, (String, String)>,
    /// The store's consent log position this filter reflects.
    pub(super) position: i64,
}

impl PurposeFilter {
    /// Brings the filter to `changes.position`. Applying the same changes twice is harmless.
    pub(super) fn apply(&mut self, changes: ConsentChanges) {
        if changes.position <= self.position {
            return;
        }
        for id in changes.ended {
            self.end(id);
        }
        for consent in changes.active {
            self.add(consent);
        }
        self.position = changes.position;
    }

    fn add(&mut self, c: ActiveConsent) {
        self.end(c.id); // a changed consent replaces its old state
        let held = self.by_purpose.entry(c.purpose.clone()).or_default().entry(c.subject_id.clone()).or_default();
        held.push((c.id, c.expires_at));
        self.by_id.insert(c.id, (c.purpose, c.subject_id));
    }

    fn end(&mut self, id: i64) {
        let Some((purpose, subject)) = self.by_id.remove(&id) else { return };
        let Some(subjects) = self.by_purpose.get_mut(&purpose) else { return };
        if let Some(held) = subjects.get_mut(&subject) {
            held.retain(|(c, _)| *c != id);
            if held.is_empty() {
                subjects.remove(&subject);
            }
        }
        if subjects.is_empty() {
            self.by_purpose.remove(&purpose);
        }
    }

    /// The subjects consented for `purpose` at `now` (stored-format time), as a test for the search.
    pub(super) fn consented<'a>(&'a self, purpose: &str, now: &'a str) -> impl Fn(&str) -> bool + Sync + 'a {
        let subjects = self.by_purpose.get(purpose);
        move |subject| {
            subjects
                .and_then(|s| s.get(subject))
                .is_some_and(|held| held.iter().any(|(_, expires)| expires.as_deref().is_none_or(|e| e > now)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(id: i64, subject: &str, purpose: &str, expires: Option<&str>) -> ActiveConsent {
        ActiveConsent {
            id,
            subject_id: subject.into(),
            purpose: purpose.into(),
            expires_at: expires.map(str::to_string),
        }
    }

    #[test]
    fn grants_revocations_and_expiry() {
        let mut f = PurposeFilter::default();
        f.apply(ConsentChanges {
            position: 3,
            active: vec![
                consent(1, "ann", "access", None),
                consent(2, "bob", "access", Some("2026-01-01T00:00:00Z")),
                consent(3, "bob", "payroll", None),
            ],
            ended: vec![],
        });
        let now = "2025-06-01T00:00:00Z";
        {
            let access = f.consented("access", now);
            assert!(access("ann") && access("bob") && !access("eve"));
        }
        assert!(!f.consented("access", "2026-02-01T00:00:00Z")("bob"), "expired consent counts");
        assert!(!f.consented("marketing", now)("ann"));
        // Bob's access consent revoked: payroll stays.
        f.apply(ConsentChanges { position: 4, active: vec![], ended: vec![2] });
        assert!(!f.consented("access", now)("bob"));
        assert!(f.consented("payroll", now)("bob"));
        // Old changes are ignored.
        f.apply(ConsentChanges { position: 2, active: vec![consent(2, "bob", "access", None)], ended: vec![] });
        assert!(!f.consented("access", now)("bob"));
    }
}
