//! event-callback end to end: WeChat's push, signed and encrypted, against
//! the real handler, moto and the simulator.

mod builder;
mod by_push;
mod garbage;
mod interop;
mod race;
mod security;
mod vectors;

pub use wxface_tests::world;
