//! jwt backend: filled by its own issue.
