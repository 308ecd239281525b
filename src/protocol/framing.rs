//! Cutting a byte stream into lines, with a hard bound on memory.
//!
//! `BufRead::read_line` grows its buffer for as long as no newline comes, so one
//! client streaming bytes without a newline could exhaust the server's memory.
//! [`LineReader`] keeps at most `max + 1` bytes of an unfinished line: past that
//! it discards the rest of the line and reports [`Line::TooLong`] once it ends.

use std::io::{self, Read};

/// How much is asked of the socket per `read` call.
const READ_CHUNK: usize = 4096;

/// One result of [`LineReader::next_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its `\n` or `\r\n`.
    Complete(Vec<u8>),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
}

/// Reads `\n`-terminated lines of at most `max` bytes from `inner`.
pub struct LineReader<R> {
    inner: R,
    /// Bytes read but not yet returned; never longer than `max + 1 + READ_CHUNK`.
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no newline.
    scanned: usize,
    /// The current line is too long: drop bytes until its newline.
    discarding: bool,
    max: usize,
}

impl<R: Read> LineReader<R> {
    /// A reader of lines of at most `max` bytes (the ending not counted).
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader { inner, pending: Vec::new(), scanned: 0, discarding: false, max }
    }

    /// The underlying reader, e.g. to change a socket's timeout.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader, to change how it reads.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next line, or `None` at the end of the stream (a final line without
    /// a newline is still returned).
    ///
    /// # Errors
    /// Whatever the underlying reader returns. A timeout (`WouldBlock` or
    /// `TimedOut`) loses nothing: calling again resumes where it stopped.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            let start = self.pending.len();
            self.pending.resize(start + READ_CHUNK, 0);
            let read = self.inner.read(&mut self.pending[start..]);
            self.pending.truncate(start + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => return Ok(self.take_last_line()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Splits off a finished line if `pending` holds one; otherwise enforces
    /// the bound on the unfinished one.
    fn take_line(&mut self) -> Option<Line> {
        match self.pending[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let end = self.scanned + offset;
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                self.scanned = 0;
                if self.pending.is_empty() {
                    // Between lines an idle connection holds no buffer at all.
                    self.pending = Vec::new();
                }
                line.pop(); // the '\n'
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let too_long = std::mem::take(&mut self.discarding) || line.len() > self.max;
                Some(if too_long { Line::TooLong } else { Line::Complete(line) })
            }
            None => {
                // `max + 1` leaves room for the '\r' of a "\r\n" ending.
                if self.pending.len() > self.max + 1 {
                    self.discarding = true;
                    self.pending.clear();
                }
                self.scanned = self.pending.len();
                None
            }
        }
    }

    fn take_last_line(&mut self) -> Option<Line> {
        self.scanned = 0;
        let line = std::mem::take(&mut self.pending);
        if std::mem::take(&mut self.discarding) {
            return Some(Line::TooLong);
        }
        if line.is_empty() {
            return None;
        }
        Some(if line.len() > self.max { Line::TooLong } else { Line::Complete(line) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its data a few bytes per call.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines(data: &[u8], max: usize, step: usize) -> Vec<Line> {
        let mut reader = LineReader::new(Trickle { data, step }, max);
        std::iter::from_fn(|| reader.next_line().unwrap()).collect()
    }

    fn complete(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[test]
    fn splits_lines_and_strips_endings() {
        for step in [1, 2, 3, 4096] {
            assert_eq!(
                lines(b"a\nbc\r\n\nlast", 10, step),
                vec![complete("a"), complete("bc"), complete(""), complete("last")]
            );
        }
    }

    #[test]
    fn enforces_the_limit_exactly() {
        for step in [1, 7, 4096] {
            let at = "x".repeat(8);
            let over = "x".repeat(9);
            let data = format!("{at}\n{at}\r\n{over}\n{over}\r\nok\n");
            assert_eq!(
                lines(data.as_bytes(), 8, step),
                vec![complete(&at), complete(&at), Line::TooLong, Line::TooLong, complete("ok")]
            );
        }
    }

    #[test]
    fn a_huge_line_is_discarded_in_bounded_memory() {
        let mut data = vec![b'x'; 1 << 20];
        data.extend_from_slice(b"\nafter\n");
        let mut reader = LineReader::new(Trickle { data: &data, step: 65536 }, 100);
        assert_eq!(reader.next_line().unwrap(), Some(Line::TooLong));
        assert!(reader.pending.capacity() <= 4 * READ_CHUNK, "memory stays bounded");
        assert_eq!(reader.next_line().unwrap(), Some(complete("after")));
        assert_eq!(reader.next_line().unwrap(), None);
    }

    #[test]
    fn an_unterminated_huge_tail_is_reported_too_long() {
        let data = vec![b'y'; 5000];
        assert_eq!(lines(&data, 100, 4096), vec![Line::TooLong]);
    }
}

#[cfg(test)]
mod proptests {
    //! The memory bound, which only the reader's insides can show: however the
    //! input is chopped, it never holds more than `max + 1 + READ_CHUNK` bytes.
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Hands out `data` in chunks of the given sizes, in turn.
    struct Chunks {
        data: Vec<u8>,
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.turn += 1;
            let n = self.sizes[self.turn % self.sizes.len()].min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data.drain(..n);
            Ok(n)
        }
    }

    proptest! {
        /// Lines short and long (up to twice a chunk), newline-terminated.
        #[test]
        fn never_buffers_more_than_the_limit_plus_one_read(
            lines in vec((0usize..2 * READ_CHUNK, any::<bool>()), 1..10),
            max in prop_oneof![0usize..16, 100usize..200, Just(READ_CHUNK)],
            sizes in vec(1usize..3 * READ_CHUNK, 1..6),
        ) {
            let data: Vec<u8> = lines
                .iter()
                .flat_map(|&(len, crlf)| {
                    let ending: &[u8] = if crlf { b"\r\n" } else { b"\n" };
                    std::iter::repeat_n(b'x', len).chain(ending.iter().copied())
                })
                .collect();
            let bound = max + 1 + READ_CHUNK;
            let mut reader = LineReader::new(Chunks { data, sizes, turn: 0 }, max);
            let mut count = 0;
            while let Some(line) = reader.next_line().unwrap() {
                prop_assert!(reader.pending.len() <= bound, "{} > {bound}", reader.pending.len());
                prop_assert!(reader.pending.capacity() <= 2 * bound);
                let (len, _) = lines[count];
                let expected = if len > max { Line::TooLong } else { Line::Complete(vec![b'x'; len]) };
                prop_assert_eq!(line, expected);
                count += 1;
            }
            prop_assert_eq!(count, lines.len());
        }
    }
}
