//! The process's own dealings with the operating system that safe Rust cannot express: signal
//! handlers, core-dump limits and liveness checks ([`signals`]), named pipes ([`fifo`]), and the wiping global allocator
//! ([`wipe_alloc`]).
//!
//! The rest of the CLI denies `unsafe`; this module is the one place that allows it, so a
//! reviewer reads every `unsafe` block of the binary here. Each block says why it is sound.

#![allow(unsafe_code)]

pub mod fifo;
pub mod signals;
pub mod wipe_alloc;
