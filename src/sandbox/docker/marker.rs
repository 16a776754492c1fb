//! The end of a command in a shared output stream: a marker with the command's exit
//! code, made with a nonce the command never sees, found even split across chunks.

/// Finds a command's end marker in the output stream and hands back the output
/// before it.
pub(super) struct EndMarker {
    pub nonce: String,
    /// Bytes held back because they might be the start of the marker.
    held: Vec<u8>,
}

impl EndMarker {
    pub fn new() -> Self {
        Self {
            nonce: uuid::Uuid::now_v7().simple().to_string(),
            held: Vec::new(),
        }
    }

    fn prefix(&self) -> Vec<u8> {
        format!("\x1elucid-end:{}:", self.nonce).into_bytes()
    }

    /// The output that is surely not marker, and the exit code once the whole marker
    /// has arrived.
    pub fn scan(&mut self, chunk: &[u8]) -> (Vec<u8>, Option<i64>) {
        self.held.extend_from_slice(chunk);
        let prefix = self.prefix();
        if let Some(at) = find(&self.held, &prefix) {
            let rest = &self.held[at + prefix.len()..];
            if let Some(close) = rest.iter().position(|b| *b == 0x1e) {
                let code = std::str::from_utf8(&rest[..close])
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(-1);
                let before = self.held[..at].to_vec();
                self.held.clear();
                return (before, Some(code));
            }
            let before = self.held[..at].to_vec();
            self.held.drain(..at);
            return (before, None);
        }
        // Keep back only what could still become the marker's prefix.
        let keep = (1..prefix.len().min(self.held.len() + 1))
            .rev()
            .find(|n| self.held.ends_with(&prefix[..*n]))
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        (self.held.drain(..cut).collect(), None)
    }

    /// Whatever was held back, when the stream ended without a marker.
    pub fn flush(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(marker: &mut EndMarker, chunks: &[&[u8]]) -> (Vec<u8>, Option<i64>) {
        let mut out = Vec::new();
        for chunk in chunks {
            let (bytes, code) = marker.scan(chunk);
            out.extend(bytes);
            if code.is_some() {
                return (out, code);
            }
        }
        (out, None)
    }

    #[test]
    fn the_end_marker_is_found_and_cut_even_split_across_chunks() {
        let mut marker = EndMarker::new();
        let full = format!("hello\nworld\x1elucid-end:{}:42\x1e", marker.nonce).into_bytes();
        for split in 1..full.len() {
            let mut m = EndMarker {
                nonce: marker.nonce.clone(),
                held: Vec::new(),
            };
            let (out, code) = scan_all(&mut m, &[&full[..split], &full[split..]]);
            assert_eq!(
                (out.as_slice(), code),
                (&b"hello\nworld"[..], Some(42)),
                "split at {split}"
            );
        }
        // A marker with another nonce is output like any other; a last byte that
        // could start a marker waits for the next chunk or the end of the stream.
        let (mut out, code) = scan_all(&mut marker, &[b"no marker here \x1elucid-end:guess:0\x1e"]);
        assert_eq!(code, None);
        out.extend(marker.flush());
        assert_eq!(out, b"no marker here \x1elucid-end:guess:0\x1e");
    }
}
