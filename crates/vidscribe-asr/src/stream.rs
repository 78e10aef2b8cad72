//! The audio the engine reads: a forward-only stream of 16 kHz mono samples, and the bounded
//! look-ahead buffer the decoding loop keeps over it.
//!
//! Memory is bounded by the look-ahead (one 30 s window plus the STFT's context and one
//! decoder chunk: about 2 MB), never by the length of the media: samples behind the current
//! window are dropped as soon as the window's seek position has moved past them. Every sample
//! is pulled from the source exactly once.

use crate::error::AsrError;

/// A forward-only source of 16 kHz mono samples (a media decoder).
pub trait AudioSource {
    /// The next samples, any number; `Ok(None)` at the end.
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AsrError>;
}

impl AudioSource for vidscribe_media::AudioDecoder {
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AsrError> {
        vidscribe_media::AudioDecoder::next_chunk(self).map_err(AsrError::Media)
    }
}

/// The part of the stream the loop still needs: samples `start..start + buf.len()`.
pub(crate) struct Lookahead<'a> {
    source: &'a mut dyn AudioSource,
    buf: Vec<f32>,
    /// Stream index of `buf[0]`.
    start: usize,
    ended: bool,
}

impl<'a> Lookahead<'a> {
    pub(crate) fn new(source: &'a mut dyn AudioSource) -> Self {
        Lookahead { source, buf: Vec::new(), start: 0, ended: false }
    }

    /// Pulls from the source until samples up to stream index `end` (exclusive) are held or
    /// the stream has ended.
    pub(crate) fn fill_to(&mut self, end: usize) -> Result<(), AsrError> {
        while !self.ended && self.start + self.buf.len() < end {
            match self.source.next_chunk()? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => self.ended = true,
            }
        }
        Ok(())
    }

    /// The stream's length, once its end has been reached.
    pub(crate) fn total(&self) -> Option<usize> {
        self.ended.then_some(self.start + self.buf.len())
    }

    /// Samples held from stream index `from` (clamped to what is held) to `to`.
    pub(crate) fn slice(&self, from: usize, to: usize) -> &[f32] {
        let held_end = self.start + self.buf.len();
        let from = from.clamp(self.start, held_end) - self.start;
        let to = to.clamp(self.start, held_end) - self.start;
        &self.buf[from..to.max(from)]
    }

    /// Reads past the stream up to index `index` (or its end), keeping none of it: the
    /// samples are pulled and dropped chunk by chunk, so memory stays bounded however far.
    pub(crate) fn skip_to(&mut self, index: usize) -> Result<(), AsrError> {
        while !self.ended && self.start + self.buf.len() < index {
            self.discard_before(index);
            match self.source.next_chunk()? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => self.ended = true,
            }
        }
        self.discard_before(index);
        Ok(())
    }

    /// Stream index of the first sample held.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// Forgets the samples before stream index `index`: the loop never looks back past it.
    pub(crate) fn discard_before(&mut self, index: usize) {
        let n = index.saturating_sub(self.start).min(self.buf.len());
        if n > 0 {
            self.buf.drain(..n);
            self.start += n;
        }
    }

    /// Samples held now (the look-ahead's size).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples already in memory, handed out in one piece.
    struct InMemory(Option<Vec<f32>>);

    impl AudioSource for InMemory {
        fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AsrError> {
            Ok(self.0.take().filter(|s| !s.is_empty()))
        }
    }

    /// Counts down `total` samples in chunks of `chunk`, each sample's value its index.
    struct Counting {
        next: usize,
        total: usize,
        chunk: usize,
        pulled: usize,
    }

    impl AudioSource for Counting {
        fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AsrError> {
            if self.next >= self.total {
                return Ok(None);
            }
            let end = (self.next + self.chunk).min(self.total);
            let chunk = (self.next..end).map(|i| i as f32).collect::<Vec<_>>();
            self.pulled += chunk.len();
            self.next = end;
            Ok(Some(chunk))
        }
    }

    #[test]
    fn the_lookahead_stays_bounded_and_reads_each_sample_once() {
        let mut source = Counting { next: 0, total: 1_000_000, chunk: 3_000, pulled: 0 };
        let mut peak = 0;
        {
            let mut l = Lookahead::new(&mut source);
            let mut pos = 0;
            while l.total().is_none_or(|t| pos < t) {
                l.fill_to(pos + 10_000).unwrap();
                let s = l.slice(pos, pos + 10_000);
                assert_eq!(s.first().copied(), Some(pos as f32).filter(|_| !s.is_empty()));
                peak = peak.max(l.held());
                pos += 7_000;
                l.discard_before(pos);
            }
            assert_eq!(l.total(), Some(1_000_000));
        }
        assert!(peak <= 10_000 + 3_000, "peak {peak}");
        assert_eq!(source.pulled, 1_000_000);
    }

    #[test]
    fn skipping_reads_past_the_stream_without_holding_it() {
        let mut source = Counting { next: 0, total: 1_000_000, chunk: 3_000, pulled: 0 };
        {
            let mut l = Lookahead::new(&mut source);
            l.skip_to(700_001).unwrap();
            assert!(l.held() < 3_000, "held {}", l.held());
            assert_eq!(l.start(), 700_001);
            l.fill_to(700_010).unwrap();
            assert_eq!(l.slice(700_001, 700_003), &[700_001.0, 700_002.0]);
            l.skip_to(2_000_000).unwrap();
            assert_eq!(l.total(), Some(1_000_000));
        }
        assert_eq!(source.pulled, 1_000_000);
    }

    #[test]
    fn slices_are_clamped_to_what_is_held() {
        let mut source = InMemory(Some((0..100).map(|i| i as f32).collect()));
        let mut l = Lookahead::new(&mut source);
        l.fill_to(1_000).unwrap();
        assert_eq!(l.total(), Some(100));
        l.discard_before(40);
        assert_eq!(l.slice(0, 42), &[40.0, 41.0]);
        assert_eq!(l.slice(98, 500), &[98.0, 99.0]);
        assert!(l.slice(200, 300).is_empty());
    }
}
