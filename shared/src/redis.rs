//! redis backend: filled by its own issue.
