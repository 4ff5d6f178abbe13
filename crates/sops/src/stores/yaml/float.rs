//! Floats as go-yaml prints them: Go `strconv.FormatFloat(f, 'g', -1, 64)` (shortest digits,
//! exponent form below 1e-4 and from 1e6 on, at least two exponent digits), with YAML's
//! `.inf`, `-.inf` and `.nan`.

pub(super) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` yields the same shortest round-trip digits as Go.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i64 = exp.parse().unwrap_or(0);
    let nd = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    // The digit at a position the loops below reach (never negative there).
    let digit = |i: i64| usize::try_from(i).ok().and_then(|i| digits.as_bytes().get(i)).map_or('0', |&b| char::from(b));
    let mut out = String::from(sign);
    if (-4..6).contains(&exp) {
        let dp = exp + 1;
        if dp > 0 {
            for i in 0..dp {
                out.push(digit(i));
            }
        } else {
            out.push('0');
        }
        let decimals = (nd - dp).max(0);
        if decimals > 0 {
            out.push('.');
            for i in dp..dp + decimals {
                out.push(digit(i));
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn go_g_formatting() {
        let cases = [
            (0.75, "0.75"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-07"),
            (2.0, "2"),
            (-0.0, "-0"),
            (0.0, "0"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (100.5, "100.5"),
            (-3.25, "-3.25"),
            (1e100, "1e+100"),
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
            (f64::NAN, ".nan"),
            (5e-324, "5e-324"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want, "{f}");
        }
    }
}
