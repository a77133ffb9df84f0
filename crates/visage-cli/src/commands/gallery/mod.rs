//! The gallery commands: enrolment with consent, identification, the subjects' rights (access,
//! erasure, consent), API keys and the audit log; one module per command.

pub mod audit;
pub mod consent;
pub mod enroll;
pub mod identify;
pub mod keys;
pub mod open;
pub mod subjects;
