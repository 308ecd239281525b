//! [`SendQueue`]: a connection's outgoing queue, bounded in bytes.
//!
//! The hub must never wait for a socket, so it only ever *pushes* into a queue,
//! which never blocks. The connection's writer thread pops from the other end and
//! writes. A client that stops reading lets its queue grow until the byte bound is
//! hit; the push then fails and the hub drops that client as "too slow", and
//! nobody else is delayed at all.
//!
//! Bytes are counted from the push until the writer has written them, so the
//! bound covers everything the server holds for the client, not just what waits
//! in the channel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

/// One encoded line (or several), shared by every recipient of an event.
pub type Frame = Arc<[u8]>;

/// What one push carries: every frame the hub had for the client in one round.
pub type Frames = Vec<Frame>;

/// The most frames handed to one `writev` call (Linux allows 1024 buffers).
const MAX_BATCH_FRAMES: usize = 512;
/// The most bytes gathered for one write; large enough to amortise the syscall.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Creates a queue that holds at most `limit` bytes.
pub fn send_queue(limit: usize) -> (SendQueue, QueueReceiver) {
    let (frames, receiver) = crossbeam_channel::unbounded();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        SendQueue { frames, queued: Arc::clone(&queued), limit },
        QueueReceiver { frames: receiver, queued },
    )
}

/// The pushing end, held by the hub and by the connection (for its own replies).
///
/// When every clone is dropped the writer finishes what is queued and closes.
#[derive(Clone)]
pub struct SendQueue {
    frames: Sender<Frames>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// Why a push failed.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The client is not reading fast enough: the byte bound would be passed.
    Full,
    /// The writer has stopped (the connection is closing).
    Closed,
}

impl SendQueue {
    /// Queues `frames` (together `bytes` long) without ever blocking.
    pub fn push(&self, frames: Frames, bytes: usize) -> Result<(), PushError> {
        if self.queued.fetch_add(bytes, Ordering::AcqRel) + bytes > self.limit {
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
            return Err(PushError::Full);
        }
        self.frames.send(frames).map_err(|_| {
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
            PushError::Closed
        })
    }

    /// Whether `bytes` more would still fit within the bound.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.queued.load(Ordering::Acquire) + bytes <= self.limit
    }
}

/// The popping end, owned by the connection's writer.
pub struct QueueReceiver {
    frames: Receiver<Frames>,
    queued: Arc<AtomicUsize>,
}

impl QueueReceiver {
    /// Waits for at least one frame, then takes whatever else is already
    /// waiting (up to a batch), so a busy client gets few large writes.
    ///
    /// Returns false once the queue is closed and empty.
    pub fn next_batch(&self, batch: &mut Frames) -> bool {
        let Ok(first) = self.frames.recv() else {
            return false;
        };
        batch.extend(first);
        while batch.len() < MAX_BATCH_FRAMES
            && batch.iter().map(|f| f.len()).sum::<usize>() < MAX_BATCH_BYTES
        {
            match self.frames.try_recv() {
                Ok(frames) => batch.extend(frames),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        true
    }

    /// Marks `bytes` as written, making room in the bound.
    pub fn release(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The bytes in `frames`.
pub fn size_of_frames(frames: &[Frame]) -> usize {
    frames.iter().map(|frame| frame.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Frames {
        vec![vec![b'x'; n].into()]
    }

    #[test]
    fn push_fails_past_the_byte_bound_and_recovers_after_release() {
        let (queue, receiver) = send_queue(10);
        assert_eq!(queue.push(frame(6), 6), Ok(()));
        assert_eq!(queue.push(frame(5), 5), Err(PushError::Full));
        assert_eq!(queue.push(frame(4), 4), Ok(()));
        assert!(!queue.has_room(1));
        let mut batch = Vec::new();
        assert!(receiver.next_batch(&mut batch));
        assert_eq!(batch.len(), 2, "everything waiting comes in one batch");
        receiver.release(10);
        assert_eq!(queue.push(frame(10), 10), Ok(()));
    }

    #[test]
    fn closes_when_every_sender_is_gone_after_draining() {
        let (queue, receiver) = send_queue(100);
        queue.push(frame(1), 1).unwrap();
        drop(queue);
        let mut batch = Vec::new();
        assert!(receiver.next_batch(&mut batch));
        batch.clear();
        assert!(!receiver.next_batch(&mut batch));
    }

    #[test]
    fn push_to_a_closed_queue_says_closed() {
        let (queue, receiver) = send_queue(100);
        drop(receiver);
        assert_eq!(queue.push(frame(1), 1), Err(PushError::Closed));
        assert!(queue.has_room(100), "a failed push gives its bytes back");
    }
}
