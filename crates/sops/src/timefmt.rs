//! Timestamps as Go formats them: `lastmodified` (RFC 3339, second precision) and YAML `time`
//! values (RFC 3339 with trimmed nanoseconds), since those exact strings feed AADs and the MAC.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// `time.Now().UTC().Format(time.RFC3339)`.
pub fn now_last_modified() -> String {
    go_format(OffsetDateTime::now_utc(), false)
}

/// The AAD of the MAC: `lastmodified` parsed as RFC 3339 and re-formatted at second precision,
/// keeping its offset (`Z` for zero). `None` when it does not parse.
pub fn mac_aad(last_modified: &str) -> Option<String> {
    let parsed = OffsetDateTime::parse(last_modified, &Rfc3339).ok()?;
    Some(go_format(parsed, false))
}

/// Go `time.Time.MarshalText` of a parsed RFC 3339 value; the input unchanged when it does not
/// parse (so a foreign writer's text is hashed as written).
pub fn canonical_time(text: &str) -> String {
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(parsed) => go_format(parsed, true),
        Err(_) => text.to_string(),
    }
}

/// Formats a date-time the way Go does: `2006-01-02T15:04:05[.999999999]Z07:00`.
pub fn go_format(t: OffsetDateTime, with_nanos: bool) -> String {
    let mut out = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second());
    if with_nanos && t.nanosecond() != 0 {
        let frac = format!("{:09}", t.nanosecond());
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(&format_offset(t.offset()));
    out
}

fn format_offset(offset: UtcOffset) -> String {
    if offset.is_utc() {
        return "Z".to_string();
    }
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_aad_reformats_to_seconds_and_keeps_offsets() {
        assert_eq!(mac_aad("2026-11-23T03:25:06Z").unwrap(), "2026-11-23T03:25:06Z");
        assert_eq!(mac_aad("2026-11-23T03:25:06+00:00").unwrap(), "2026-11-23T03:25:06Z");
        assert_eq!(mac_aad("2026-11-23T03:25:06.123456789Z").unwrap(), "2026-11-23T03:25:06Z");
        assert_eq!(mac_aad("2026-11-23T05:25:06+02:00").unwrap(), "2026-11-23T05:25:06+02:00");
        assert_eq!(mac_aad("2026-11-23T05:25:06-05:30").unwrap(), "2026-11-23T05:25:06-05:30");
        assert!(mac_aad("yesterday").is_none());
    }

    #[test]
    fn canonical_time_trims_nanoseconds() {
        assert_eq!(canonical_time("2024-01-02T00:00:00Z"), "2024-01-02T00:00:00Z");
        assert_eq!(canonical_time("2024-01-02T00:00:00.500Z"), "2024-01-02T00:00:00.5Z");
        assert_eq!(canonical_time("not a time"), "not a time");
    }

    #[test]
    fn now_has_second_precision_and_z() {
        let now = now_last_modified();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z'));
    }
}
