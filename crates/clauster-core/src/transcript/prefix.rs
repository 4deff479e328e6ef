//! A cut line made whole: the viewer reads at most a bounded prefix of a huge turn (issue 21:
//! a 10 MB tool result must not cost a page 10 MB), and the prefix of a JSON line is not
//! JSON. [`close_prefix`] keeps everything up to the last point where the text can be
//! completed — inside a string value, or just after a complete value — and closes what is
//! open there, so the turn still shows its first items and the start of the huge one.

/// One place the prefix can be cut: the length kept and what closes it.
struct Cut {
    len: usize,
    closers: Vec<u8>,
}

/// Where the scanner is, outside the string bytes themselves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After a backslash.
    Started,
    /// Inside `\uXXXX`: hex digits still to come, and the value so far.
    Hex(u8, u32),
}

/// `prefix` (a cut JSON text, UTF-8 or not) completed into a JSON text: an open string value
/// is closed where it stopped (never inside an escape or a character), a dangling key, `:`
/// or `,` and an unfinished number or literal are dropped, and every open array and object
/// is closed. `None` when no point of the prefix can be completed (it stops before its first
/// `{` or `[` was read).
pub fn close_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut stack: Vec<u8> = Vec::new();
    // Per open object: whether the next string is a key.
    let mut expect_key: Vec<bool> = Vec::new();
    let mut best: Option<Cut> = None;
    let mut i = 0;
    while i < prefix.len() {
        let byte = prefix[i];
        match byte {
            b'{' | b'[' => {
                stack.push(byte);
                if byte == b'{' {
                    expect_key.push(true);
                }
                i += 1;
                best = Some(Cut {
                    len: i,
                    closers: closers(&stack),
                });
            }
            b'}' | b']' => {
                if stack.pop() == Some(b'{') {
                    expect_key.pop();
                }
                i += 1;
                if stack.is_empty() {
                    // The text was whole after all.
                    return Some(prefix[..i].to_vec());
                }
                best = Some(Cut {
                    len: i,
                    closers: closers(&stack),
                });
            }
            b':' => {
                if let Some(key) = expect_key.last_mut() {
                    *key = false;
                }
                i += 1;
            }
            b',' => {
                if stack.last() == Some(&b'{')
                    && let Some(key) = expect_key.last_mut()
                {
                    *key = true;
                }
                i += 1;
            }
            b'"' => {
                let is_key = stack.last() == Some(&b'{') && expect_key.last() == Some(&true);
                let value_in = (!is_key && !stack.is_empty()).then(|| closers(&stack));
                let (end, cut) = scan_string(prefix, i + 1, value_in.as_deref());
                i = end;
                if cut.is_some() {
                    best = cut;
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            _ => {
                // A number or literal: complete only when something follows it.
                while i < prefix.len() && !b",}] \t\r\n".contains(&prefix[i]) {
                    i += 1;
                }
                if i < prefix.len() && !stack.is_empty() {
                    best = Some(Cut {
                        len: i,
                        closers: closers(&stack),
                    });
                }
            }
        }
    }
    best.map(|cut| {
        let mut out = Vec::with_capacity(cut.len + cut.closers.len());
        out.extend_from_slice(&prefix[..cut.len]);
        out.extend_from_slice(&cut.closers);
        out
    })
}

/// What closes the open arrays and objects of `stack`.
fn closers(stack: &[u8]) -> Vec<u8> {
    stack
        .iter()
        .rev()
        .map(|&open| if open == b'{' { b'}' } else { b']' })
        .collect()
}

/// Scans the string starting at `from` (just after its `"`): where it ends (or the prefix
/// does) and the last cut inside or just after it. Only a string value (`value_in`: what
/// closes the containers it is in) offers cuts; a key never does.
fn scan_string(prefix: &[u8], from: usize, value_in: Option<&[u8]>) -> (usize, Option<Cut>) {
    let in_string = |len: usize, closers: &[u8]| {
        let mut tail = vec![b'"'];
        tail.extend_from_slice(closers);
        Cut { len, closers: tail }
    };
    let mut best = None;
    let mut i = from;
    let mut escape = Escape::None;
    // After `\uD8xx`–`\uDBxx`: a cut before its low half would not parse.
    let mut high_surrogate = false;
    while i < prefix.len() {
        let b = prefix[i];
        escape = match escape {
            Escape::Started if b == b'u' => Escape::Hex(4, 0),
            Escape::Started => Escape::None,
            Escape::Hex(n, value) => {
                let value = value * 16 + char::from(b).to_digit(16).unwrap_or(0);
                if n == 1 {
                    high_surrogate = (0xD800..0xDC00).contains(&value);
                    Escape::None
                } else {
                    Escape::Hex(n - 1, value)
                }
            }
            Escape::None => {
                // A cut here keeps whole characters and whole escapes only.
                if let Some(closers) = value_in
                    && !high_surrogate
                    && (b & 0xC0) != 0x80
                {
                    best = Some(in_string(i, closers));
                }
                match b {
                    b'\\' => Escape::Started,
                    b'"' => {
                        let closed = value_in.map(|closers| Cut {
                            len: i + 1,
                            closers: closers.to_vec(),
                        });
                        return (i + 1, closed.or(best));
                    }
                    _ => Escape::None,
                }
            }
        };
        i += 1;
    }
    // The prefix ends inside the string: a value keeps all of it but a split last character.
    if let Some(closers) = value_in
        && escape == Escape::None
        && !high_surrogate
    {
        best = Some(in_string(whole_chars(prefix), closers));
    }
    (i, best)
}

/// The length of `bytes` without a last UTF-8 character that is cut short.
fn whole_chars(bytes: &[u8]) -> usize {
    let end = bytes.len();
    let Some(lead) = bytes.iter().rposition(|&b| (b & 0xC0) != 0x80) else {
        return end;
    };
    let need = match bytes[lead] {
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        b if b >= 0xC0 => 2,
        _ => 1,
    };
    if lead + need <= end { end } else { lead }
}

#[cfg(test)]
mod tests {
    use super::close_prefix;

    /// `text` cut after every byte: each completion parses, and the whole text comes back.
    fn every_cut_parses(text: &str) {
        let bytes = text.as_bytes();
        for at in 1..bytes.len() {
            if let Some(closed) = close_prefix(&bytes[..at]) {
                serde_json::from_slice::<serde_json::Value>(&closed).unwrap_or_else(|e| {
                    panic!(
                        "cut at {at}: {} → {} ({e})",
                        String::from_utf8_lossy(&bytes[..at]),
                        String::from_utf8_lossy(&closed)
                    )
                });
            }
        }
        assert_eq!(close_prefix(bytes).unwrap(), bytes);
    }

    #[test]
    fn every_cut_of_a_record_completes_into_json() {
        every_cut_parses(
            r#"{"type":"user","n":-12.5e3,"ok":true,"no":null,"message":{"role":"user","content":[{"type":"tool_result","content":"a \"quoted\" \\ line\nnext é ✓ \u00e9 \ud83d\ude00 end"},{"x":[1,[2,{}],[]]}]}}"#,
        );
    }

    #[test]
    fn a_cut_string_value_keeps_its_start_and_a_dangling_key_goes() {
        let closed = close_prefix(br#"{"type":"user","message":{"content":"abcdef"#).unwrap();
        assert_eq!(
            String::from_utf8(closed).unwrap(),
            r#"{"type":"user","message":{"content":"abcdef"}}"#
        );
        let closed = close_prefix(br#"{"type":"user","mess"#).unwrap();
        assert_eq!(String::from_utf8(closed).unwrap(), r#"{"type":"user"}"#);
        let closed = close_prefix(br#"{"a":"x\u00"#).unwrap();
        assert_eq!(String::from_utf8(closed).unwrap(), r#"{"a":"x"}"#);
        // Never inside a character: "é" is two bytes.
        let closed = close_prefix(&"{\"a\":\"xé".as_bytes()[..8]).unwrap();
        assert_eq!(String::from_utf8(closed).unwrap(), r#"{"a":"x"}"#);
        assert_eq!(close_prefix(b"  "), None);
    }
}
