//! How much lucid takes from whom: sessions per person and per place, and the HTTP
//! server's guards (body size, slow clients, the API's request rate).

use super::reader::Reader;
use crate::core::Limits;
use crate::http::HttpLimits;
use std::time::Duration;

pub(super) fn sessions(r: &mut Reader) -> Option<Limits> {
    let running_per_person = r.parsed("LUCID_MAX_RUNNING_PER_PERSON", count);
    let running_per_place = r.parsed("LUCID_MAX_RUNNING_PER_CHANNEL", count);
    let new_per_person_hour = r.parsed("LUCID_MAX_NEW_PER_PERSON_HOUR", count);
    Some(Limits {
        running_per_person: running_per_person?,
        running_per_place: running_per_place?,
        new_per_person_hour: new_per_person_hour?,
    })
}

pub(super) fn http(r: &mut Reader) -> Option<HttpLimits> {
    let max_body_bytes = r.parsed("LUCID_MAX_BODY_BYTES", |s| {
        s.parse::<usize>()
            .ok()
            .filter(|n| *n >= 1024)
            .ok_or_else(|| format!("{s:?} is not a number of bytes of at least 1024"))
    });
    let header_timeout = r.parsed("LUCID_HEADER_TIMEOUT", timeout);
    let body_timeout = r.parsed("LUCID_BODY_TIMEOUT", timeout);
    let api_rate = r.parsed("LUCID_API_RATE", count);
    let api_burst = r.parsed("LUCID_API_BURST", |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{s:?} is not a positive whole number"))
    });
    Some(HttpLimits {
        max_body_bytes: max_body_bytes?,
        header_timeout: header_timeout?,
        body_timeout: body_timeout?,
        api_rate: api_rate?,
        api_burst: api_burst?,
    })
}

/// A whole number, 0 for no limit.
fn count(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .map_err(|_| format!("{s:?} is not a whole number (0 for no limit)"))
}

fn timeout(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .ok()
        .filter(|d| *d >= Duration::from_millis(100))
        .ok_or_else(|| format!("{s:?} is not a duration of at least 100ms, such as 10s"))
}
