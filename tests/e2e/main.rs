//! End-to-end tests: the real `weir` binary and the library API, driving
//! real components built from source by `cargo xtask build-guests`.
//!
//! Run them with `cargo xtask test` (which builds the guests first).

mod brokers;
mod cache;
mod checkpoint_support;
mod checkpoints;
mod cli_output;
mod coordinator;
mod damage;
mod dashboard;
mod errors;
mod event_time;
mod examples;
mod faults;
mod faulty_store;
mod graphs;
mod guest_state;
mod http;
mod http_auth;
mod http_support;
mod incremental;
mod kafka;
mod lease;
mod native;
mod nats;
mod new_project;
mod output;
mod polyglot;
mod runtime;
mod s3;
mod s3_faults;
mod sandbox;
mod stats;
mod support;
mod unreadable;
mod wordcount;
