//! JSON strings, written and read: the trace's recordings
//! (`logging::record`) are JSON objects a line, and the Scope reads them
//! back (`scope::recording`).

use std::fmt;

/// A string as the inside of a JSON string: `Escaped("say \"hi\"")`.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

/// Reads a JSON string's inside from the start of `text` (just after its
/// opening quote): the string, and what follows its closing quote.
pub fn unescape(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = (0..4)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_escaped_reads_back_as_it_was() {
        let line = "in  127.0.0.1:9 a->b#say \"hi\"\\\t\u{1}é\r\n";
        let escaped = Escaped(line).to_string();
        assert_eq!(
            escaped,
            "in  127.0.0.1:9 a->b#say \\\"hi\\\"\\\\\\t\\u0001é\\r\\n"
        );
        let quoted = format!("{escaped}\",\"next\"");
        assert_eq!(unescape(&quoted), Some((line.to_owned(), ",\"next\"")));
        assert_eq!(unescape("no end"), None);
    }
}
