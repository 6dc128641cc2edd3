//! The attach client's input scanner: finds the keys crew acts on in what the user types
//! (SPEC 5) and passes everything else through byte for byte.
//!
//! A key may arrive split across reads (a terminal's escape sequence, or an ssh packet
//! boundary), so a tail that could still become one is held back until the next read or a
//! short timeout. Inside a bracketed paste nothing is a key: a paste never detaches.

/// What a run of typed bytes means.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Bytes for the agent.
    Input(Vec<u8>),
    /// `←`, as the terminal sent it: the host decides whether it detaches.
    Left(Vec<u8>),
    /// Enter outside a paste: the host decides whether it was `/bg`.
    Enter(Vec<u8>),
    Detach,
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";
const LEFT: [&[u8]; 2] = [b"\x1b[D", b"\x1bOD"];

pub struct Keys {
    detach: u8,
    /// The detach key as terminals encode it with the kitty keyboard protocol (`CSI 92;5u`)
    /// and with xterm's modifyOtherKeys (`CSI 27;5;92~`).
    detach_sequences: Vec<Vec<u8>>,
    held: Vec<u8>,
    in_paste: bool,
}

impl Keys {
    /// `detach` is the control byte of the detach key (`ctrl-\` is 0x1c).
    pub fn new(detach: u8) -> Keys {
        let mut detach_sequences = Vec::new();
        if let Some(c) = control_char(detach) {
            let code = c as u32;
            detach_sequences.push(format!("\x1b[{code};5u").into_bytes());
            detach_sequences.push(format!("\x1b[27;5;{code}~").into_bytes());
        }
        Keys {
            detach,
            detach_sequences,
            held: Vec::new(),
            in_paste: false,
        }
    }

    /// Whether a possible key is held back waiting for more bytes.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Nothing more came: what was held back is just input.
    pub fn flush(&mut self) -> Vec<Action> {
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return Vec::new();
        }
        if self.in_paste {
            return vec![Action::Input(held)];
        }
        // A lone ESC (or a sequence that stopped) is typed input; scan again with nothing
        // left to wait for.
        let mut out = Vec::new();
        self.scan(&held, false, &mut out);
        out
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(bytes);
        let mut out = Vec::new();
        self.scan(&data, true, &mut out);
        out
    }

    /// Scans `data`; when `more` may follow, an unfinished sequence at the end is held.
    fn scan(&mut self, data: &[u8], more: bool, out: &mut Vec<Action>) {
        let mut input: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            if self.in_paste {
                match find(rest, PASTE_END) {
                    Some(at) => {
                        input.extend_from_slice(&rest[..at + PASTE_END.len()]);
                        i += at + PASTE_END.len();
                        self.in_paste = false;
                    }
                    None => {
                        let keep = if more {
                            partial_tail(rest, PASTE_END)
                        } else {
                            0
                        };
                        input.extend_from_slice(&rest[..rest.len() - keep]);
                        self.held.extend_from_slice(&rest[rest.len() - keep..]);
                        i = data.len();
                    }
                }
                continue;
            }
            let b = rest[0];
            if b == self.detach {
                push_input(out, &mut input);
                out.push(Action::Detach);
                return;
            }
            if b == b'\r' {
                push_input(out, &mut input);
                out.push(Action::Enter(vec![b'\r']));
                i += 1;
                continue;
            }
            if b != 0x1b {
                input.push(b);
                i += 1;
                continue;
            }
            if rest.starts_with(PASTE_START) {
                input.extend_from_slice(PASTE_START);
                i += PASTE_START.len();
                self.in_paste = true;
                continue;
            }
            if let Some(seq) = LEFT.iter().find(|s| rest.starts_with(s)) {
                push_input(out, &mut input);
                out.push(Action::Left(seq.to_vec()));
                i += seq.len();
                continue;
            }
            if self.detach_sequences.iter().any(|s| rest.starts_with(s)) {
                push_input(out, &mut input);
                out.push(Action::Detach);
                return;
            }
            let could_be_key = more
                && (PASTE_START.starts_with(rest)
                    || LEFT.iter().any(|s| s.starts_with(rest))
                    || self.detach_sequences.iter().any(|s| s.starts_with(rest)));
            if could_be_key {
                self.held.extend_from_slice(rest);
                break;
            }
            input.push(b);
            i += 1;
        }
        push_input(out, &mut input);
    }
}

fn push_input(out: &mut Vec<Action>, input: &mut Vec<u8>) {
    if !input.is_empty() {
        out.push(Action::Input(std::mem::take(input)));
    }
}

/// The character a control byte is typed with (0x1c is `\`, 0x01 is `a`).
fn control_char(byte: u8) -> Option<char> {
    match byte {
        0x01..=0x1a => Some((b'a' + byte - 1) as char),
        0x1b..=0x1f => Some((b'[' + byte - 0x1b) as char),
        _ => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Length of the longest tail of `data` that is a proper prefix of `pattern`.
fn partial_tail(data: &[u8], pattern: &[u8]) -> usize {
    (1..pattern.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&pattern[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(s: &[u8]) -> Action {
        Action::Input(s.to_vec())
    }

    #[test]
    fn plain_bytes_pass_through_and_control_keys_reach_the_agent() {
        let mut k = Keys::new(0x1c);
        assert_eq!(k.feed(b"hi\x03\x04\x1a"), vec![input(b"hi\x03\x04\x1a")]);
    }

    #[test]
    fn the_detach_byte_detaches_and_drops_what_follows() {
        let mut k = Keys::new(0x1c);
        assert_eq!(k.feed(b"ab\x1ccd"), vec![input(b"ab"), Action::Detach]);
    }

    #[test]
    fn encoded_detach_keys_split_across_reads() {
        let mut k = Keys::new(0x1c);
        assert_eq!(k.feed(b"x\x1b[92"), vec![input(b"x")]);
        assert!(k.holding());
        assert_eq!(k.feed(b";5u"), vec![Action::Detach]);
        let mut k = Keys::new(0x1c);
        assert_eq!(k.feed(b"\x1b"), vec![]);
        assert_eq!(k.feed(b"[27;5;92~"), vec![Action::Detach]);
        let mut k = Keys::new(0x1d);
        assert_eq!(k.feed(b"\x1b[93;5u"), vec![Action::Detach]);
    }

    #[test]
    fn a_paste_never_detaches_even_split() {
        let mut k = Keys::new(0x1c);
        assert_eq!(k.feed(b"\x1b[20"), vec![]);
        assert_eq!(k.feed(b"0~a\x1cb\r"), vec![input(b"\x1b[200~a\x1cb\r")]);
        assert_eq!(k.feed(b"c\x1b[20"), vec![input(b"c")]);
        assert_eq!(k.feed(b"1~\x1c"), vec![input(b"\x1b[201~"), Action::Detach]);
    }

    #[test]
    fn left_and_enter_are_reported_outside_pastes() {
        let mut k = Keys::new(0x1c);
        assert_eq!(
            k.feed(b"ab\x1b[Dc\r"),
            vec![
                input(b"ab"),
                Action::Left(b"\x1b[D".to_vec()),
                input(b"c"),
                Action::Enter(b"\r".to_vec())
            ]
        );
        assert_eq!(k.feed(b"\x1bOD"), vec![Action::Left(b"\x1bOD".to_vec())]);
    }

    #[test]
    fn a_lone_escape_is_released_by_flush_and_other_sequences_pass() {
        let mut k = Keys::new(0x1c);
        assert_eq!(k.feed(b"\x1b"), vec![]);
        assert_eq!(k.flush(), vec![input(b"\x1b")]);
        assert_eq!(k.feed(b"\x1b[A\x1b[C"), vec![input(b"\x1b[A\x1b[C")]);
    }
}
