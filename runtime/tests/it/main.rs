//! The runtime's one integration-test binary (matklad's layout): the image store end to end through its
//! public API, against archives made in the tests and by the real peer tools (umoci, skopeo).

mod support;

mod concurrency;
mod hostile;
mod lifecycle;
mod mutation;
mod overlay;
mod peers;
