//! Float text as Go's `encoding/json` writes it, which is also how `sops decrypt` shows numbers in
//! JSON output.

/// Formats a float the way Go's `encoding/json` marshals a `float64`.
///
/// - `|x|` in `[1e-6, 1e21)`, and zero: plain decimal with the shortest digits that read back
///   to the same float, no exponent and no trailing `.0` (`2.0` → `2`, `1e20` →
///   `100000000000000000000`, `-0.0` → `-0`).
/// - otherwise: shortest digits in exponent form with a signed exponent (`1e+21`,
///   `1.7976931348623157e+308`, `1e-7`, `5e-324`). Go's `strconv` pads the exponent to two
///   digits and `encoding/json` then strips the padding of negative ones, so positive exponents
///   (always ≥ 21 here) have no padding to show and negative ones never do.
/// - NaN and ±infinity have no JSON form (Go's marshaller fails on them); this function then
///   returns Go's `strconv.FormatFloat(x, 'g', -1, 64)` text, `NaN`, `+Inf` or `-Inf`, so that
///   display code gets the same words sops prints. The JSON emitter refuses such values before
///   calling it.
///
/// This is the *display* formatting. The canonical plaintext that sops encrypts and hashes uses
/// Go's `'f', -1` form for every magnitude (no exponent), which this function does not produce
/// outside `[1e-6, 1e21)`.
pub fn go_format_float_json(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` gives the same shortest digits as Go, with a bare exponent (`1e21`, `1e-7`).
        let text = format!("{f:e}");
        return match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        };
    }
    // Rust's `Display` for floats is the shortest round-trip decimal without exponent, which is
    // exactly Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::go_format_float_json as fmt;

    #[test]
    fn plain_decimal_inside_go_range() {
        assert_eq!(fmt(0.0), "0");
        assert_eq!(fmt(-0.0), "-0");
        assert_eq!(fmt(2.0), "2");
        assert_eq!(fmt(2.5), "2.5");
        assert_eq!(fmt(-17.0), "-17");
        assert_eq!(fmt(0.1), "0.1");
        assert_eq!(fmt(0.000001), "0.000001");
        assert_eq!(fmt(1e20), "100000000000000000000");
        assert_eq!(fmt(123456789012345678.0), "123456789012345680");
        assert_eq!(fmt(9007199254740993.0), "9007199254740992");
        assert_eq!(fmt(9223372036854775807.0), "9223372036854776000");
        assert_eq!(fmt(18446744073709551615.0), "18446744073709552000");
        assert_eq!(fmt(std::f64::consts::PI), "3.141592653589793");
        assert_eq!(fmt(12345678900.0), "12345678900");
    }

    #[test]
    fn exponent_outside_go_range() {
        assert_eq!(fmt(1e21), "1e+21");
        assert_eq!(fmt(-1e21), "-1e+21");
        assert_eq!(fmt(999999999999999999999.0), "1e+21");
        assert_eq!(fmt(1e-7), "1e-7");
        assert_eq!(fmt(-1e-7), "-1e-7");
        assert_eq!(fmt(0.00000099), "9.9e-7");
        assert_eq!(fmt(1.5e-10), "1.5e-10");
        assert_eq!(fmt(5e-324), "5e-324");
        assert_eq!(fmt(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(fmt(1.23456789e-300), "1.23456789e-300");
        assert_eq!(fmt(1.5e100), "1.5e+100");
    }

    #[test]
    fn non_finite_use_go_words() {
        assert_eq!(fmt(f64::NAN), "NaN");
        assert_eq!(fmt(f64::INFINITY), "+Inf");
        assert_eq!(fmt(f64::NEG_INFINITY), "-Inf");
    }
}
