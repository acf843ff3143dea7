//! Networking: the userland proxy that publishes container ports on the host.

pub mod proxy;
