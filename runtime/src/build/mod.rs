//! The image builder: Dockerfiles to OCI images (see its modules).
//!
//! `dockerfile` reads a Dockerfile's lines into instructions as BuildKit's parser does;
//! `instructions` gives them their meaning (stages of typed commands); `resolve` works out which
//! stages a target needs and what each step says with its variables expanded, and the environment
//! it runs with; `shell` expands variables and splits words as BuildKit's shell lexer does;
//! `ignore` applies `.dockerignore` as Docker does; `diff` turns what a step changed (an overlay's
//! upper directory) into a layer; `copy` writes the layer of a `COPY` or `ADD` (`archive`: the tar
//! archives `ADD` extracts) and the digest its cache key takes, with `hashes` keeping file hashes
//! by `stat`; `mounts` readies `RUN --mount`s; `bridge` is the network steps get by default;
//! `execute` carries the resolved stages out on this runtime.

pub mod archive;
pub mod bridge;
pub mod copy;
pub mod diff;
pub mod dockerfile;
pub mod execute;
pub mod fetch;
pub mod hashes;
pub mod ignore;
pub mod instructions;
pub mod mounts;
pub mod resolve;
pub mod shell;
