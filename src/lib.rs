//! `chat`: a small, sturdy group chat for the terminal.
//!
//! # Layout
//! - [`protocol`]: the wire contract v1 (JSON lines and plain text), pure code
//!   shared by both sides.
//! - [`server`]: `chat serve`, a thread per connection and one hub that owns the
//!   room.
//! - [`client`]: `chat connect`, the interactive terminal client.
//! - [`bench`]: `chat bench`, a load generator that measures any server.
//!
//! Dependencies point one way: `server`, `client` and `bench` use `protocol`,
//! never each other.

pub mod bench;
pub mod client;
pub mod protocol;
pub mod server;
