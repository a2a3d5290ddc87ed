//! HTTP-level tests of the simulator: a real server on loopback, driven with
//! reqwest the way the backend will drive it.

mod common;
mod face_v1;
mod face_v2;
mod hooks;
mod push;
mod session;
mod tokens;
