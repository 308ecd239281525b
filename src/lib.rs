//! `chat`: a small, sturdy group chat for the terminal.
//!
//! # Layout
//! - [`protocol`]: the wire contract v1 (JSON lines and plain text), pure code
//!   shared by both sides.
//! - [`server`]: `chat serve`, one thread per connection and one hub that owns the
//!   room.
//! - [`client`]: `chat connect`, the interactive terminal client.
//!
//! Dependencies point one way: `server` and `client` use `protocol`, never each
//! other.

pub mod bench;
pub mod client;
pub mod protocol;
pub mod server;
