//! Text made safe and fitting to draw: control characters removed, truncated by display
//! width (wide characters and emoji count as two columns) with `…`.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Removes control characters (C0, DEL, C1), so session output can never inject escape
/// sequences into what crew draws. Newlines and tabs become spaces.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\n' | '\t' | '\r' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Fits `s` into `max` columns, ending with `…` when cut. Never wraps.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` truncated or padded with spaces to exactly `cols` columns.
pub fn fit(s: &str, cols: usize) -> String {
    let mut out = truncate(s, cols);
    let w = width(&out);
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(w)));
    out
}

/// A duration in its largest whole unit: `45s`, `12m`, `3h`, `2d`.
pub fn age(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(sanitize("a\x1b[31mb\x07c\u{9b}d\ne"), "a[31mbcd e");
    }

    #[test]
    fn truncation_counts_display_width() {
        assert_eq!(truncate("hello world", 8), "hello w…");
        assert_eq!(truncate("日本語のテキスト", 7), "日本語…");
        assert_eq!(width(&truncate("🚀🚀🚀🚀", 5)), 5);
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(width(&fit("日本語のテキスト", 6)), 6);
    }
}
