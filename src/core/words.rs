//! Numbers and changes in the words every thread renderer shows them in, so a session
//! reads the same on GitHub and in Slack.

/// Lines added and removed by a unified diff, its `+++`/`---` headers not counted.
pub fn diff_counts(diff: &str) -> (usize, usize) {
    diff.lines().fold((0, 0), |(added, removed), line| {
        if line.starts_with('+') && !line.starts_with("+++") {
            (added + 1, removed)
        } else if line.starts_with('-') && !line.starts_with("---") {
            (added, removed + 1)
        } else {
            (added, removed)
        }
    })
}

/// `0s`, `59s`, `2m 05s`, `1h 02m`.
pub fn elapsed_words(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3_600, seconds / 60 % 60),
    }
}

/// Millionths of a dollar as dollars to four places: `$0.0123`.
pub fn dollars(micros: u64) -> String {
    if micros > 0 && micros < 50 {
        return "<$0.0001".to_owned();
    }
    let ten_thousandths = micros.saturating_add(50) / 100;
    format!(
        "${}.{:04}",
        ten_thousandths / 10_000,
        ten_thousandths % 10_000
    )
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
