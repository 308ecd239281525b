//! Fault injection for tests, in debug builds only.
//!
//! The server promises that a bug in one connection's code ends that
//! connection only. To prove it, the tests need a bug on demand: started with
//! `CHAT_FAULT_PANIC_NICK=NAME`, a debug build panics in the connection that
//! tries to join as NAME. Release builds compile this to nothing.

/// Panics if fault injection asks for it for this nick (debug builds only).
pub fn on_hello(nick: &str) {
    if cfg!(debug_assertions)
        && std::env::var_os("CHAT_FAULT_PANIC_NICK").is_some_and(|n| n == nick)
    {
        panic!("fault injected for the nick {nick}");
    }
}
