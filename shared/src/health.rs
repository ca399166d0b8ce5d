//! Rotation health: filled by the monitor issue.
