//! Several streams' chunks in one model call.
//!
//! A worker that runs several jobs at once gives them one [`Pack`]: one engine with all the
//! worker's cores, whose calls run one after another. Each job's batched loop cuts up to the
//! batch size of chunks, hands them to the pack and waits; the stream whose turn it is runs its
//! own chunks together with those the other streams are waiting with (same settings, any
//! language, up to the batch size in all). So a call is full even when each file is a single
//! chunk (short files) or has only a few left (a long file's end), and one stream's reading and
//! feature work overlaps another's model call. A stream never cuts less than a full call for
//! the others' sake: when they are late, its call would run half empty.
//!
//! Whose turn: nobody runs a call while one is in flight. Once the engine is free, a waiting
//! stream runs the next call as soon as every stream in the pack is waiting, the call is
//! full, or the oldest chunks have waited [`GATHER`] for the others: a stream busy reading
//! its file delays the rest by at most that.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use vidscribe_core::{Segment, Transcript};

use super::batched::{Batch, Decoded, Decoder};
use super::{DecodeOptions, LoopState, Stop, WhisperEngine, WindowReport};
use crate::error::AsrError;
use crate::stream::AudioSource;

/// The longest a waiting stream holds the engine back for the other streams' chunks: about
/// what cutting and featurising a batch of chunks takes on one core, far below a model call.
pub const GATHER: Duration = Duration::from_millis(200);

/// One engine shared by the streams of a worker, running their chunks together.
pub struct Pack {
    engine: WhisperEngine,
    /// [`GATHER`] unless made with [`Pack::with_gather`].
    gather: Duration,
    queue: Mutex<Queue>,
    turn: Condvar,
}

#[derive(Default)]
struct Queue {
    /// Streams inside their decoding loop.
    streams: usize,
    waiting: Vec<Waiting>,
    /// A model call is in flight.
    running: bool,
    done: HashMap<u64, Result<Decoded, AsrError>>,
    next_id: u64,
    /// Model calls run and chunks decoded, for the log and tests.
    calls: u64,
    chunks: u64,
}

struct Waiting {
    id: u64,
    since: Instant,
    batch: Batch,
}

impl Queue {
    /// `None` when the next call should run now, else how long to wait for more chunks.
    fn gather_for(&self, gather: Duration) -> Option<Duration> {
        let oldest = self.waiting.first()?;
        let cap = oldest.batch.options.batch_size;
        let waiting_chunks: usize = self.waiting.iter().map(|w| w.batch.chunks.len()).sum();
        let left = gather.saturating_sub(oldest.since.elapsed());
        let ready = self.waiting.len() >= self.streams || waiting_chunks >= cap || left.is_zero();
        (!ready).then_some(left)
    }

    /// The oldest waiting batch and, in arrival order, every other that fits with it
    /// ([`Batch::fits`]) while the call stays within the batch size.
    fn take_call(&mut self) -> Vec<Waiting> {
        let first = self.waiting.remove(0);
        let cap = first.batch.options.batch_size;
        let mut size = first.batch.chunks.len();
        let mut call = vec![first];
        let mut i = 0;
        while i < self.waiting.len() {
            let n = self.waiting[i].batch.chunks.len();
            if size + n <= cap && call[0].batch.fits(&self.waiting[i].batch) {
                size += n;
                call.push(self.waiting.remove(i));
            } else {
                i += 1;
            }
        }
        call
    }
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // Every update of the queue is complete before anything that could panic runs.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stream's membership of the pack, for as long as its loop runs.
struct Member<'a>(&'a Pack);

impl Drop for Member<'_> {
    fn drop(&mut self) {
        lock(&self.0.queue).streams -= 1;
        // The others may have been waiting for this stream's chunks.
        self.0.turn.notify_all();
    }
}

impl Pack {
    pub fn new(engine: WhisperEngine) -> Self {
        Self::with_gather(engine, GATHER)
    }

    /// A pack whose streams wait up to `gather` for each other (tests use a long one, so that
    /// which chunks share a call does not depend on how fast each stream reads).
    pub fn with_gather(engine: WhisperEngine, gather: Duration) -> Self {
        Pack { engine, gather, queue: Mutex::new(Queue::default()), turn: Condvar::new() }
    }

    pub fn engine(&self) -> &WhisperEngine {
        &self.engine
    }

    /// Model calls made so far and the chunks they decoded.
    pub fn calls(&self) -> (u64, u64) {
        let q = lock(&self.queue);
        (q.calls, q.chunks)
    }

    /// [`WhisperEngine::transcribe`] with batched decoding (`options.batch_size` > 1), its
    /// chunks decoded together with those of the other streams transcribed on this pack at
    /// the same time.
    pub fn transcribe(
        &self,
        source: &mut dyn AudioSource,
        expected_seconds: f64,
        options: &DecodeOptions,
        resume: Option<&LoopState>,
        on_window: &mut dyn FnMut(&WindowReport, &[Segment], &LoopState),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Transcript, Stop> {
        lock(&self.queue).streams += 1;
        let _member = Member(self);
        self.engine.transcribe_batched(self, source, expected_seconds, options, resume, on_window, cancelled)
    }

    /// Runs one call's batches; a panic in the engine fails them instead of leaving the pack
    /// waiting for a call that never ends.
    fn run(&self, call: &[Waiting], cancelled: &dyn Fn() -> bool) -> Result<Vec<Decoded>, Stop> {
        let batches: Vec<&Batch> = call.iter().map(|w| &w.batch).collect();
        catch_unwind(AssertUnwindSafe(|| self.engine.decode_batches(&batches, cancelled)))
            .unwrap_or_else(|_| Err(AsrError::inference("the model call panicked").into()))
    }
}

impl Decoder for Pack {
    fn decode(&self, batch: Batch, cancelled: &dyn Fn() -> bool) -> Result<Decoded, Stop> {
        let mut q = lock(&self.queue);
        let id = q.next_id;
        q.next_id += 1;
        q.waiting.push(Waiting { id, since: Instant::now(), batch });
        self.turn.notify_all();
        loop {
            if let Some(done) = q.done.remove(&id) {
                return done.map_err(Stop::from);
            }
            if q.running {
                q = self.turn.wait(q).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            if let Some(wait) = q.gather_for(self.gather) {
                q = self.turn.wait_timeout(q, wait).unwrap_or_else(PoisonError::into_inner).0;
                continue;
            }
            let call = q.take_call();
            q.running = true;
            drop(q);
            // Only a call of this stream's chunks alone may stop for this stream's cancel.
            let alone = call.len() == 1 && call[0].id == id;
            let outcome = self.run(&call, if alone { cancelled } else { &|| false });
            q = lock(&self.queue);
            q.running = false;
            q.calls += 1;
            q.chunks += call.iter().map(|w| w.batch.chunks.len() as u64).sum::<u64>();
            let ids = call.iter().map(|w| w.id);
            match outcome {
                Ok(decoded) => q.done.extend(ids.zip(decoded.into_iter().map(Ok))),
                Err(Stop::Cancelled) => {
                    self.turn.notify_all();
                    return Err(Stop::Cancelled);
                }
                Err(Stop::Failed(e)) => {
                    let message = e.to_string();
                    let mut first = Some(e);
                    for id in ids {
                        let e = first.take().unwrap_or_else(|| AsrError::inference(message.clone()));
                        q.done.insert(id, Err(e));
                    }
                }
            }
            self.turn.notify_all();
        }
    }
}
