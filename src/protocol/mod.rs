//! The wire contract v1, shared by the server and the client.
//!
//! Everything here is pure: no sockets, no threads, no clock. The server and the
//! client both depend on this module and never on each other, so a change to the
//! contract happens in one place. `docs/protocol.md` is the prose version of it.
//!
//! # Layout
//! - [`message`]: the JSON types, [`Request`] (client to server) and [`Event`]
//!   (server to client), with their one-line encoders and decoders.
//! - [`framing`]: [`LineReader`], which cuts a byte stream into lines without
//!   ever buffering more than the line limit.
//! - [`text`]: nick rules and the sanitiser that keeps control characters out
//!   of other people's terminals.
//! - [`command`]: the slash commands (`/who`, `/msg`, ...) typed by people, used by
//!   plain mode on the server and by the interactive client alike.
//! - [`plain`]: how events read as text lines for people on `nc` or `telnet`.

pub mod command;
pub mod framing;
pub mod message;
pub mod plain;
pub mod text;

pub use framing::{Line, LineReader};
pub use message::{ChatMessage, ErrorCode, Event, Request};

/// Default longest line, in bytes, not counting the `\n` (or `\r\n`) ending it.
///
/// 4 KiB holds any paragraph a person types, and keeps a reader's buffer small.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// The address both `chat serve` and `chat connect` use when given none.
pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";
