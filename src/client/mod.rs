//! `chat connect`: the terminal client.
//!
//! # Architecture
//! - [`render`]: how events look in the terminal, coloured or not.
//! - [`room`]: the client's view of the room (its nick, who is here).
//! - [`reconnect`]: the backoff between reconnect attempts.
//!
//! The client depends on [`crate::protocol`] only, never on the server.

pub mod reconnect;
pub mod render;
pub mod room;
