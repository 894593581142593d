//! Calendar arithmetic for the few timestamps X-Road writes and reads (UTC only).
//!
//! Verification never reads the clock: instants arrive as parameters ([`SystemTime`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the Unix epoch of a UTC date and time; `None` if a field is out of range.
pub(crate) fn unix_seconds(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        // A leap second is read as the last second of its minute.
        && (0..=60).contains(&s);
    valid.then(|| days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s.min(59))
}

/// Seconds since the epoch (negative before 1970).
pub fn to_unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The instant `secs` seconds after the epoch.
pub fn from_unix(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// `xsd:dateTime` in UTC with milliseconds, as Java's `DatatypeConverter.printDateTime`
/// writes XAdES `SigningTime`: `2017-09-08T09:15:11.580Z`.
pub fn format_xsd_millis(t: SystemTime) -> String {
    let millis = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    let secs = millis.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let day = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        day / 3600,
        day % 3600 / 60,
        day % 60,
        millis.rem_euclid(1000)
    )
}

/// Parses an ISO-8601 instant as operators write it: `2024-07-09`, `2024-07-09T08:00:00Z`,
/// `2024-07-09T08:00:00.123+03:00`. A date alone means midnight UTC.
pub fn parse_instant(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, rest) = match s.split_once(['T', 't', ' ']) {
        Some((d, r)) => (d, Some(r)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, d) = (parts.next()??, parts.next()??, parts.next()??);
    let Some(rest) = rest else {
        return unix_seconds(y, mo, d, 0, 0, 0).map(from_unix);
    };
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    } else {
        return None;
    };
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut f = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (f.next()??, f.next()??, f.next().unwrap_or(Some(0))?);
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis = format!("{fraction:0<3}").get(..3)?.parse::<u64>().ok()?;
    let secs = unix_seconds(y, mo, d, h, mi, sec)? - offset;
    Some(from_unix(secs) + Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        assert_eq!(unix_seconds(1970, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(unix_seconds(2000, 2, 29, 0, 0, 0), Some(951_782_400));
        assert_eq!(unix_seconds(1900, 2, 29, 0, 0, 0), None);
        assert_eq!(unix_seconds(2024, 4, 31, 0, 0, 0), None);
        let t = parse_instant("2017-09-08T09:15:11.580Z").unwrap();
        assert_eq!(format_xsd_millis(t), "2017-09-08T09:15:11.580Z");
        assert_eq!(
            parse_instant("2017-09-08T12:15:11.58+03:00"),
            Some(t),
            "offset and short fraction"
        );
        assert_eq!(
            format_xsd_millis(parse_instant("2014-10-30").unwrap()),
            "2014-10-30T00:00:00.000Z"
        );
        assert_eq!(format_xsd_millis(from_unix(-1)), "1969-12-31T23:59:59.000Z");
        for bad in [
            "",
            "2014-13-01",
            "2014-10-30T25:00:00Z",
            "2014-10-30T10:00:00",
            "x",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }
}
