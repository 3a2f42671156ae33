//! `netspec fmt`: a spec's canonical layout, with its comments kept.
//!
//! The formatter works on the tokens of a spec that parses, so it changes only whitespace:
//! one statement per line, blocks indented by four spaces, `{` at the end of its line and `}`
//! on a line of its own, single spaces between words, none inside `image(1, 8, 8)`,
//! `dense1.weight` or `-0.1`, and one blank line between networks. Blank lines between
//! statements are kept (at most one in a row). Comments are kept where they stand: a comment
//! that followed a token on its line still does, a comment on a line of its own still is. A
//! `//` comment inside a statement ends its line, and the statement goes on on the next line,
//! indented one level deeper. Formatting is idempotent: a formatted spec formats to itself.

use crate::diagnostic::Diagnostic;

const INDENT: &str = "    ";

/// Formats spec text canonically; the spec's syntax errors when it does not parse (the
/// formatter rewrites only specs whose every token it understands).
pub fn format(source: &str) -> Result<String, Vec<Diagnostic>> {
    let lexical = crate::diagnostic::lexical_errors(source);
    if !lexical.is_empty() {
        return Err(lexical);
    }
    crate::parse(source).map_err(|error| vec![error])?;
    Ok(Formatter::default().run(&tokens(source)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A keyword, name or number.
    Word,
    /// One of `; { } ( ) , . -`.
    Punct(char),
    LineComment,
    BlockComment,
}

#[derive(Debug)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    /// Line breaks between the previous token and this one.
    newlines_before: usize,
}

/// Splits a spec that parses into tokens; whitespace only counts line breaks.
fn tokens(source: &str) -> Vec<Token<'_>> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    let mut newlines = 0;
    while at < bytes.len() {
        let c = bytes[at];
        let start = at;
        let kind = match c {
            b'\n' => {
                newlines += 1;
                at += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                at += 1;
                continue;
            }
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                at = source[at..].find('\n').map_or(bytes.len(), |i| at + i);
                Kind::LineComment
            }
            b'/' => {
                at = block_comment_end(source, at);
                Kind::BlockComment
            }
            b'0'..=b'9' => {
                at = number_end(bytes, at);
                Kind::Word
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                    at += 1;
                }
                Kind::Word
            }
            other => {
                at += 1;
                Kind::Punct(other as char)
            }
        };
        let text = source[start..at].trim_end();
        out.push(Token { kind, text, newlines_before: newlines });
        newlines = 0;
    }
    out
}

/// The end of the (nested) block comment opening at `start`; the lexical pass has checked that
/// it is closed.
fn block_comment_end(source: &str, start: usize) -> usize {
    let bytes = source.as_bytes();
    let (mut depth, mut at) = (0usize, start);
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'/', b'*') => {
                depth += 1;
                at += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return at;
                }
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The end of the number token at `start`: `3`, `0.5`, `1e-5`, `5E+3` (the grammar's `unsigned`).
fn number_end(bytes: &[u8], start: usize) -> usize {
    let digits = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        at
    };
    let mut at = digits(start);
    if bytes.get(at) == Some(&b'.') && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
        at = digits(at + 1);
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(at + 1), Some(b'+' | b'-')));
        if bytes.get(at + 1 + sign).is_some_and(u8::is_ascii_digit) {
            at = digits(at + 1 + sign);
        }
    }
    at
}

#[derive(Default)]
struct Formatter {
    out: String,
    depth: usize,
    /// A statement has begun and not yet ended with `;` or a block.
    mid_statement: bool,
    /// The next token goes on a new line.
    break_pending: bool,
    /// The last token written that is no comment, if any.
    last: Option<Kind>,
    /// Whether the last thing written is a comment.
    after_comment: bool,
}

impl Formatter {
    fn run(mut self, tokens: &[Token]) -> String {
        for token in tokens {
            self.token(token);
        }
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    fn token(&mut self, token: &Token) {
        let comment = matches!(token.kind, Kind::LineComment | Kind::BlockComment);
        if token.kind == Kind::Punct('}') {
            self.depth = self.depth.saturating_sub(1);
            self.break_pending = self.last.is_some();
        }
        // A comment that followed a token on its line stays there.
        let trailing_comment = comment && token.newlines_before == 0 && !self.out.is_empty();
        // A comment on a line of its own stays on a line of its own.
        let own_line_comment = comment && token.newlines_before > 0;
        if (self.break_pending && !trailing_comment) || own_line_comment {
            self.new_line(token);
        } else if self.needs_space(token) {
            self.out.push(' ');
        }
        self.out.push_str(token.text);
        // A trailing block comment leaves the line break that was due after it.
        self.break_pending &= trailing_comment;
        match token.kind {
            Kind::Punct(';') => {
                self.mid_statement = false;
                self.break_pending = true;
            }
            Kind::Punct('{') => {
                self.depth += 1;
                self.mid_statement = false;
                self.break_pending = true;
            }
            Kind::Punct('}') => self.break_pending = true,
            Kind::LineComment => self.break_pending = true,
            Kind::BlockComment => {}
            _ => self.mid_statement = true,
        }
        // A comment neither starts nor ends a statement, nor changes what a space depends on.
        if !comment {
            self.last = Some(token.kind);
        }
        self.after_comment = comment;
        if token.kind == Kind::BlockComment && !trailing_comment && token.newlines_before > 0 {
            self.break_pending = true;
        }
    }

    fn new_line(&mut self, token: &Token) {
        if self.out.is_empty() {
            return;
        }
        self.out.push('\n');
        let after_open = !self.after_comment && self.last == Some(Kind::Punct('{'));
        let closing = token.kind == Kind::Punct('}');
        let between_networks = self.depth == 0
            && !closing
            && !self.after_comment
            && self.last == Some(Kind::Punct('}'));
        let blank_in_source = token.newlines_before > 1 && !self.mid_statement;
        if between_networks || (blank_in_source && !after_open && !closing) {
            self.out.push('\n');
        }
        let depth = self.depth + usize::from(self.mid_statement);
        self.out.push_str(&INDENT.repeat(depth));
    }

    /// Whether a space separates `token` from the last one on the same line.
    fn needs_space(&self, token: &Token) -> bool {
        if self.out.ends_with('\n') || self.out.is_empty() {
            return false;
        }
        if self.after_comment || matches!(token.kind, Kind::LineComment | Kind::BlockComment) {
            return true;
        }
        let glued_after = matches!(self.last, Some(Kind::Punct('(' | '.' | '-')));
        let glued_before = matches!(token.kind, Kind::Punct(';' | ',' | ')' | '.' | '('));
        !(glued_after || glued_before)
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn lays_out_statements_blocks_and_punctuation() {
        let spec = "network A{input image( 1 ,8,8 );conv 4 kernel 3 init uniform ( - 0.1 , 0.1 );\
                    relu;flatten;dense 2;loss mse;penalty l1 1e-5 on conv1 . weight , dense4;\
                    augment{flip horizontal;}}network B{input 2;dense 1;loss mse;}";
        let expected = "network A {\n    input image(1, 8, 8);\n    conv 4 kernel 3 init uniform(-0.1, 0.1);\n    relu;\n    flatten;\n    dense 2;\n    loss mse;\n    penalty l1 1e-5 on conv1.weight, dense4;\n    augment {\n        flip horizontal;\n    }\n}\n\nnetwork B {\n    input 2;\n    dense 1;\n    loss mse;\n}\n";
        assert_eq!(format(spec).unwrap(), expected);
        assert_eq!(format(expected).unwrap(), expected);
    }

    #[test]
    fn keeps_comments_where_they_stand_and_one_blank_line() {
        let spec = "// header\n\n\n/* about A */\nnetwork A { // trailing\n  input 2;   /* why */\n\n\n  dense 1 // units\n init zeros;\n  /* own\n line */\n  loss mse; }\n// end\n";
        let expected = "// header\n\n/* about A */\nnetwork A { // trailing\n    input 2; /* why */\n\n    dense 1 // units\n        init zeros;\n    /* own\n line */\n    loss mse;\n}\n\n// end\n";
        let formatted = format(spec).unwrap();
        assert_eq!(formatted, expected);
        assert_eq!(format(&formatted).unwrap(), formatted);
    }

    #[test]
    fn refuses_specs_that_do_not_parse() {
        let errors = format("network A { dense 8 }").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.starts_with("expected"), "{}", errors[0].message);
        assert!(format("network A { /* open").is_err());
    }
}
