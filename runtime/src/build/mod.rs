//! The image builder: Dockerfiles to OCI images (see its modules).
//!
//! `shell` expands variables and splits words as BuildKit's shell lexer does.

pub mod shell;
