//! YAML timestamps the way go-yaml v3 accepts them (Go `time.Parse` with four layouts), turned
//! into the canonical text Go's `time.MarshalText` gives: RFC 3339 with trimmed nanoseconds,
//! `Z` for a zero offset, otherwise `±hh:mm`.

/// Layouts tried in order: `2006-1-2T15:4:5.999999999Z07:00` (also with a lowercase `t`),
/// `2006-1-2 15:4:5.999999999` and `2006-1-2`.
pub(super) fn parse(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    [Layout::Upper, Layout::Lower, Layout::Space, Layout::Date].into_iter().find_map(|l| parse_layout(b, l))
}

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Upper,
    Lower,
    Space,
    Date,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digit(&self, k: usize) -> Option<u32> {
        self.b.get(self.i + k).filter(|c| c.is_ascii_digit()).map(|c| u32::from(c - b'0'))
    }

    /// Go `getnum(s, false)`: one or two digits.
    fn num(&mut self) -> Option<u32> {
        let d0 = self.digit(0)?;
        if let Some(d1) = self.digit(1) {
            self.i += 2;
            Some(d0 * 10 + d1)
        } else {
            self.i += 1;
            Some(d0)
        }
    }

    fn lit(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// Go treats a space in the layout as any non-empty run of spaces.
    fn spaces(&mut self) -> Option<()> {
        if self.b.get(self.i) != Some(&b' ') {
            return None;
        }
        while self.b.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        Some(())
    }
}

fn parse_layout(b: &[u8], layout: Layout) -> Option<String> {
    let mut c = Cursor { b, i: 4 };
    let year: u32 = std::str::from_utf8(&b[..4]).ok()?.parse().ok()?;
    c.lit(b'-')?;
    let month = c.num()?;
    c.lit(b'-')?;
    let day = c.num()?;
    let (mut hour, mut minute, mut second, mut nanos, mut offset) = (0, 0, 0, 0u32, Some(0i32));
    if layout != Layout::Date {
        match layout {
            Layout::Upper => c.lit(b'T')?,
            Layout::Lower => c.lit(b't')?,
            _ => c.spaces()?,
        }
        hour = c.num()?;
        c.lit(b':')?;
        minute = c.num()?;
        c.lit(b':')?;
        second = c.num()?;
        if hour >= 24 || minute >= 60 || second >= 60 {
            return None;
        }
        // Optional fraction, `.` or `,`, any number of digits (nanoseconds kept).
        if matches!(b.get(c.i), Some(b'.' | b',')) && c.digit(1).is_some() {
            c.i += 1;
            let mut k = 0;
            while let Some(d) = c.digit(0) {
                if k < 9 {
                    nanos = nanos * 10 + d;
                }
                k += 1;
                c.i += 1;
            }
            for _ in k..9 {
                nanos *= 10;
            }
        }
        if layout != Layout::Space {
            offset = zone(&mut c);
            offset?;
        }
    }
    if c.i != b.len() || !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    Some(format(year, month, day, hour, minute, second, nanos, offset.unwrap_or(0)))
}

/// `Z07:00`: `Z`, or a sign and `hh:mm` (Go accepts hours up to 24 and minutes up to 60).
fn zone(c: &mut Cursor<'_>) -> Option<i32> {
    if c.lit(b'Z').is_some() {
        return Some(0);
    }
    let b = c.b.get(c.i..c.i + 6)?;
    if b[3] != b':' || !b[1].is_ascii_digit() || !b[2].is_ascii_digit() {
        return None;
    }
    if !b[4].is_ascii_digit() || !b[5].is_ascii_digit() {
        return None;
    }
    let hh = i32::from((b[1] - b'0') * 10 + (b[2] - b'0'));
    let mm = i32::from((b[4] - b'0') * 10 + (b[5] - b'0'));
    if hh > 24 || mm > 60 {
        return None;
    }
    let off = (hh * 60 + mm) * 60;
    let off = match b[0] {
        b'+' => off,
        b'-' => -off,
        _ => return None,
    };
    c.i += 6;
    Some(off)
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[allow(clippy::too_many_arguments)]
fn format(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32, nanos: u32, offset: i32) -> String {
    let mut s = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    if offset == 0 {
        s.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let m = offset.unsigned_abs() / 60;
        s.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn dates_and_times_are_canonical() {
        assert_eq!(parse("2024-01-02").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(parse("2024-1-2").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(parse("2001-12-14t21:59:43.10-05:00").as_deref(), Some("2001-12-14T21:59:43.1-05:00"));
        assert_eq!(parse("2001-12-14T21:59:43.123456789123Z").as_deref(), Some("2001-12-14T21:59:43.123456789Z"));
        assert_eq!(parse("2001-12-14 21:59:43.10").as_deref(), Some("2001-12-14T21:59:43.1Z"));
        assert_eq!(parse("2001-12-14   1:2:3").as_deref(), Some("2001-12-14T01:02:03Z"));
        assert_eq!(parse("2026-11-23T03:25:06+00:00").as_deref(), Some("2026-11-23T03:25:06Z"));
        assert_eq!(parse("2024-02-29").as_deref(), Some("2024-02-29T00:00:00Z"));
    }

    #[test]
    fn near_misses_stay_strings() {
        for s in [
            "2001-12-14 21:59:43.10 -5",
            "2024-01-02T10:00:00",
            "2023-02-29",
            "2024-13-01",
            "2024-01-02T24:00:00Z",
            "2024-01-02x",
            "20240-01-02",
            "2024-001-02",
            "2024-01-02T10:00:00z",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
