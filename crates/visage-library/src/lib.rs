//! visage-library: a personal photo library. Scan folders for faces, group them into people without
//! enrolment, correct the grouping, search by face, and export a page of thumbnails.
//!
//! The library is its own SQLite file, separate from the consent gallery: it is a person organising
//! their own photos. Nothing passes from it to the gallery except through an explicit, consented
//! enrolment (`visage library enroll`), and the HTTP service never reads it.
//!
//! - [`scan`]: walk folders, skip unchanged files, find and embed faces, commit image by image.
//! - [`cluster`]: the clustering algorithms (average linkage, Chinese whispers, DBSCAN).
//! - [`grouping`]: clustering the library's faces into people, incrementally, keeping corrections.
//! - [`corrections`]: name, merge, move, split, "not this person", forget a person.
//! - [`people`] and [`search`]: reading the library.
//! - [`metrics`]: pairwise and BCubed scores of a clustering against the truth.
//! - [`thumbnails`], [`export_html`], [`forget`].

pub mod cluster;
pub mod corrections;
pub mod db;
mod error;
pub mod export_html;
pub mod finder;
pub mod forget;
pub mod grouping;
pub mod metrics;
pub mod people;
pub mod scan;
pub mod search;
pub mod thumbnails;

pub use db::{default_path, Library};
pub use error::{LibraryError, Result};
