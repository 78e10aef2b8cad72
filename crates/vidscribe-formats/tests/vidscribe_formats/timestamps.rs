use vidscribe_formats::{format_timestamp, TimestampStyle};

#[test]
fn timestamps_are_hours_minutes_seconds_and_milliseconds() {
    assert_eq!(format_timestamp(0.0, TimestampStyle::Srt), "00:00:00,000");
    assert_eq!(format_timestamp(61.5, TimestampStyle::Srt), "00:01:01,500");
    assert_eq!(format_timestamp(61.5, TimestampStyle::Vtt), "00:01:01.500");
}

#[test]
fn timestamps_past_one_hour_and_past_99_hours_keep_counting() {
    assert_eq!(format_timestamp(3_723.004, TimestampStyle::Srt), "01:02:03,004");
    assert_eq!(format_timestamp(360_000.0, TimestampStyle::Vtt), "100:00:00.000");
}

#[test]
fn timestamps_round_to_the_nearest_millisecond_and_carry_over() {
    assert_eq!(format_timestamp(1.0004, TimestampStyle::Srt), "00:00:01,000");
    assert_eq!(format_timestamp(1.0006, TimestampStyle::Srt), "00:00:01,001");
    assert_eq!(format_timestamp(59.9996, TimestampStyle::Srt), "00:01:00,000");
    assert_eq!(format_timestamp(3_599.999_9, TimestampStyle::Vtt), "01:00:00.000");
}

#[test]
fn negative_and_non_finite_timestamps_show_as_zero() {
    assert_eq!(format_timestamp(-3.0, TimestampStyle::Srt), "00:00:00,000");
    assert_eq!(format_timestamp(f64::NAN, TimestampStyle::Srt), "00:00:00,000");
    assert_eq!(format_timestamp(f64::INFINITY, TimestampStyle::Vtt), "00:00:00.000");
}
