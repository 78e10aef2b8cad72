//! Places decoded audio packets on the media timeline by their timestamps, so that sample `n`
//! of the output is media time `n / rate` whatever the packets say about themselves.
//!
//! Why: files joined without re-encoding (recorders, editors, `ffmpeg -c copy` concatenation)
//! carry gaps and overlaps in their audio timestamps. Counting decoded samples instead of
//! reading timestamps shifts everything after a gap earlier by the gap's length, so subtitles
//! drift out of sync with the video; and a long file with gaps looks "truncated" because fewer
//! samples come out than its duration says. Players honour the timestamps: so do we.
//!
//! - A gap (a packet starting later than the previous one ended) becomes silence.
//! - An overlap (a packet starting before the previous one ended) is trimmed from its start.
//! - Audio before media time zero (encoder priming hidden by an MP4 edit list) is dropped exactly.
//! - Differences below [`SLACK_SECONDS`] are timestamp rounding (Matroska stores milliseconds)
//!   and are ignored; they never accumulate, because every packet is compared with its own
//!   absolute timestamp.
//! - A timestamp far outside the file (a jump back by more than a second past the packet's own
//!   length, or forward past the declared end) is a discontinuity, not a gap: the audio is
//!   kept as it comes instead of being dropped or padded with hours of silence.

/// Timestamp jitter ignored, in seconds: below a 25 fps video frame.
pub(crate) const SLACK_SECONDS: f64 = 0.04;

/// Where one packet's frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Frames of silence to emit before the packet (a gap).
    pub silence: u64,
    /// Leading frames of the packet to drop (an overlap, or audio before time zero).
    pub skip: usize,
}

/// What placing the packets found, for the job's warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct TimingReport {
    pub gaps: u32,
    pub gap_seconds: f64,
    pub overlaps: u32,
    pub overlap_seconds: f64,
    pub discontinuities: u32,
}

pub(crate) struct Timeline {
    rate: u32,
    slack: u64,
    /// Frames placed so far (silence included): the media time reached, in frames.
    cursor: u64,
    /// The declared end in frames, when the file states one.
    limit: Option<u64>,
    report: TimingReport,
}

impl Timeline {
    pub(crate) fn new(rate: u32, declared_seconds: Option<f64>) -> Self {
        let rate_f = f64::from(rate);
        Timeline {
            rate,
            slack: (SLACK_SECONDS * rate_f).round() as u64,
            cursor: 0,
            limit: declared_seconds.filter(|s| s.is_finite() && *s > 0.0).map(|s| (s * rate_f).round() as u64),
            report: TimingReport::default(),
        }
    }

    /// Places a packet of `frames` frames whose timestamp says it starts at frame `start`
    /// (negative: before media time zero). `None` when the packet has no usable timestamp:
    /// it then follows the previous one.
    pub(crate) fn place(&mut self, start: Option<i64>, frames: usize) -> Placement {
        let mut placement = Placement { silence: 0, skip: 0 };
        if let Some(start) = start {
            let cursor = self.cursor as i64;
            let rate = i64::from(self.rate);
            let frames_i = frames as i64;
            if start < 0 && cursor == 0 {
                // Before time zero: dropped to the frame, slack or not.
                placement.skip = (-start).min(frames_i) as usize;
            } else if start < cursor - self.slack as i64 {
                let behind = cursor - start;
                if behind > frames_i + rate {
                    self.report.discontinuities += 1;
                } else {
                    placement.skip = behind.min(frames_i) as usize;
                    self.report.overlaps += 1;
                    self.report.overlap_seconds += placement.skip as f64 / rate as f64;
                }
            } else if start > cursor + self.slack as i64 {
                let beyond_end = self.limit.is_some_and(|limit| start > limit as i64 + rate);
                if beyond_end {
                    self.report.discontinuities += 1;
                } else {
                    placement.silence = (start - cursor) as u64;
                    self.report.gaps += 1;
                    self.report.gap_seconds += placement.silence as f64 / rate as f64;
                }
            }
        }
        self.cursor += placement.silence + (frames - placement.skip) as u64;
        placement
    }

    /// Media seconds reached.
    #[cfg(test)]
    pub(crate) fn seconds(&self) -> f64 {
        self.cursor as f64 / f64::from(self.rate)
    }

    pub(crate) fn report(&self) -> TimingReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 1000;

    #[test]
    fn back_to_back_packets_are_placed_as_they_come() {
        let mut t = Timeline::new(RATE, Some(3.0));
        for i in 0..3 {
            assert_eq!(t.place(Some(i * 1000), 1000), Placement { silence: 0, skip: 0 });
        }
        assert_eq!(t.seconds(), 3.0);
        assert_eq!(t.report(), TimingReport::default());
    }

    #[test]
    fn a_gap_becomes_silence_of_its_length() {
        let mut t = Timeline::new(RATE, Some(20.0));
        t.place(Some(0), 1000);
        assert_eq!(t.place(Some(11_000), 1000), Placement { silence: 10_000, skip: 0 });
        assert_eq!(t.seconds(), 12.0);
        assert_eq!(t.report().gaps, 1);
        assert!((t.report().gap_seconds - 10.0).abs() < 1e-9);
    }

    #[test]
    fn an_overlap_is_trimmed_from_the_packet_start() {
        let mut t = Timeline::new(RATE, None);
        t.place(Some(0), 1000);
        assert_eq!(t.place(Some(700), 1000), Placement { silence: 0, skip: 300 });
        assert_eq!(t.seconds(), 1.7);
        assert_eq!(t.report().overlaps, 1);
    }

    #[test]
    fn priming_before_time_zero_is_dropped_exactly_even_below_the_slack() {
        let mut t = Timeline::new(RATE, None);
        assert_eq!(t.place(Some(-23), 1000), Placement { silence: 0, skip: 23 });
        assert_eq!(t.place(Some(977), 1000), Placement { silence: 0, skip: 0 });
        assert_eq!(t.report(), TimingReport::default());
    }

    #[test]
    fn rounding_jitter_is_ignored_and_does_not_accumulate() {
        let mut t = Timeline::new(RATE, None);
        // Millisecond timestamps for 1001-frame packets: each one starts up to a frame "early".
        for i in 0..100i64 {
            let p = t.place(Some(i * 1001 - (i % 2)), 1001);
            assert_eq!(p, Placement { silence: 0, skip: 0 }, "packet {i}");
        }
        assert_eq!(t.report(), TimingReport::default());
    }

    #[test]
    fn wild_timestamps_are_discontinuities_not_hours_of_silence_or_dropped_audio() {
        let mut t = Timeline::new(RATE, Some(60.0));
        for i in 0..4 {
            t.place(Some(i * 1000), 1000);
        }
        // Forward far past the declared end.
        assert_eq!(t.place(Some(36_000_000), 1000), Placement { silence: 0, skip: 0 });
        // Back to zero (a timestamp reset), 5 s behind.
        assert_eq!(t.place(Some(0), 1000), Placement { silence: 0, skip: 0 });
        assert_eq!(t.report().discontinuities, 2);
        assert_eq!(t.report().overlaps, 0);
        assert_eq!(t.seconds(), 6.0);
    }

    #[test]
    fn packets_without_timestamps_follow_the_previous_one() {
        let mut t = Timeline::new(RATE, None);
        t.place(Some(0), 500);
        assert_eq!(t.place(None, 500), Placement { silence: 0, skip: 0 });
        assert_eq!(t.seconds(), 1.0);
    }
}
