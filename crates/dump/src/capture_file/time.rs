//! Timestamps as the header writes them.

use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC with microseconds, e.g. `2026-04-20T12:34:56.123456Z`. Times before
/// 1970 are written as the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rfc3339() {
        let t = |s| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00.000000Z");
        assert_eq!(t(1_709_251_199), "2024-02-29T23:59:59.000000Z");
        assert_eq!(t(4_102_444_800), "2100-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::new(1_234_567_890, 123_456_789)),
            "2009-02-13T23:31:30.123456Z"
        );
        // Every day boundary over 400 years is a valid date.
        let mut prev = String::new();
        for day in (0..146_097 * 2).step_by(97) {
            let s = t(day * 86_400);
            assert!(s > prev, "{s} after {prev}");
            prev = s;
        }
    }
}
