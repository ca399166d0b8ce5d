//! postgres backend: filled by its own issue.
