//! A connection's writer thread: drains its [`SendQueue`] into the socket.
//!
//! Everything already waiting is written together in one vectored write, so a
//! client that receives a burst costs a few syscalls, not one per line. When the
//! queue closes (the hub dropped the client, or the server is stopping) the
//! writer sends what is left and then half-closes the socket, so the client reads
//! every line up to and including `bye`, then end of stream.
//!
//! [`SendQueue`]: super::send_queue::SendQueue

use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, TcpStream};

use super::send_queue::{size_of_frames, Frame, Frames, QueueReceiver};

/// The most buffers one `writev` takes (Linux's IOV_MAX).
const MAX_IOVECS: usize = 1024;

/// How a writer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The queue closed and everything in it was written.
    Flushed,
    /// A write made no progress for the socket's write timeout: the client is
    /// not reading (or its network is that slow). It should leave as "too slow".
    Stalled,
    /// The connection broke.
    Broken,
}

/// Writes until the queue is closed and empty (then half-closes the socket),
/// or until the socket fails (then leaves the socket to the caller, which
/// reports why before shutting it down).
pub fn run(socket: &TcpStream, queue: QueueReceiver) -> Ending {
    let mut batch = Frames::new();
    while queue.next_batch(&mut batch) {
        let bytes = size_of_frames(&batch);
        let written = write_all(socket, &batch);
        queue.release(bytes);
        // A burst can grow the batch; an idle client should not keep that memory.
        batch = Frames::new();
        if let Err(err) = written {
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ending::Stalled,
                _ => Ending::Broken,
            };
        }
    }
    let _ = socket.shutdown(Shutdown::Write);
    Ending::Flushed
}

/// `write_all` for a batch of frames, with as few syscalls as the socket allows.
fn write_all(mut socket: &TcpStream, frames: &[Frame]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|frame| IoSlice::new(frame)).collect();
    let mut remaining = &mut slices[..];
    while !remaining.is_empty() {
        let window = remaining.len().min(MAX_IOVECS);
        match socket.write_vectored(&remaining[..window]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut remaining, written),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
