//! Flag groups shared by several commands, and how each becomes a library configuration.

pub mod decision;
pub mod gallery;
pub mod parse;
pub mod pipeline;
