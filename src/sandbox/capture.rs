//! Keeps a command's output within a cap: the first half and the last half of the
//! cap, and a count of what was cut between them. The start says what ran, the end
//! says how it ended; the middle is what a model or a thread can do without.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct OutputCapture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    total: u64,
}

/// What was kept of a command's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedOutput {
    /// The kept text, with a marker where bytes were cut.
    pub text: String,
    pub total_bytes: u64,
    pub cut_bytes: u64,
}

impl OutputCapture {
    pub fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap: cap - head_cap,
            total: 0,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.head_cap - self.head.len();
        let to_head = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..to_head]);
        bytes = &bytes[to_head..];
        if bytes.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(bytes);
    }

    pub fn finish(self) -> CapturedOutput {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let cut = self.total - kept;
        let head = String::from_utf8_lossy(&self.head).into_owned();
        let tail: Vec<u8> = self.tail.into_iter().collect();
        let tail = String::from_utf8_lossy(&tail);
        let text = if cut == 0 {
            head + &tail
        } else {
            format!("{head}\n[… {cut} bytes of output cut …]\n{tail}")
        };
        CapturedOutput {
            text,
            total_bytes: self.total,
            cut_bytes: cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_under_the_cap_is_kept_whole() {
        let mut capture = OutputCapture::new(100);
        capture.push(b"hello ");
        capture.push(b"world");
        let out = capture.finish();
        assert_eq!(out.text, "hello world");
        assert_eq!((out.total_bytes, out.cut_bytes), (11, 0));
    }

    #[test]
    fn long_output_keeps_head_and_tail_and_says_how_much_was_cut() {
        let mut capture = OutputCapture::new(10);
        for chunk in [&b"abc"[..], b"defgh", b"ijklmnop", b"qrstuvwxyz"] {
            capture.push(chunk);
        }
        let out = capture.finish();
        assert_eq!(out.text, "abcde\n[… 16 bytes of output cut …]\nvwxyz");
        assert_eq!((out.total_bytes, out.cut_bytes), (26, 16));
    }

    #[test]
    fn one_huge_chunk_is_cut_the_same_way() {
        let mut capture = OutputCapture::new(4);
        capture.push(b"0123456789");
        let out = capture.finish();
        assert_eq!(out.text, "01\n[… 6 bytes of output cut …]\n89");
    }

    #[test]
    fn exactly_the_cap_is_not_cut() {
        let mut capture = OutputCapture::new(6);
        capture.push(b"abcdef");
        assert_eq!(capture.finish().cut_bytes, 0);
    }
}
