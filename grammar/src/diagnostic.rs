//! Located errors and warnings, rendered like rustc's: `path:line:col`, the source line, a caret,
//! a hint.

use std::fmt::Write as _;

/// A byte range of the spec text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// Whether a diagnostic stops the spec or only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Severity {
    /// The spec is refused: `check` fails and no code is generated.
    #[default]
    Error,
    /// The spec is accepted and generates code; something in it deserves attention.
    Warning,
}

impl Severity {
    /// `error` or `warning`, as the rendered diagnostic starts.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One error or warning found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A short label printed beside the caret.
    pub label: Option<String>,
    /// How to fix it, when there is something to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            help: None,
        }
    }

    /// A warning at `span`: reported, but the spec still checks and generates.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(span, message) }
    }

    /// Adds the text printed beside the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a hint on how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic against the text it was found in.
    pub fn render(&self, path: &str, source: &str) -> String {
        let position = LineCol::of(source, self.span.start);
        let line_text = source[position.line_start..].split('\n').next().unwrap_or("");
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let line_number = position.line.to_string();
        let gutter = " ".repeat(line_number.len());

        // The caret line copies the tabs of the source line so that it stays aligned.
        let before = &source[position.line_start..self.span.start.min(source.len())];
        let indent: String = before.chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        let underlined_end = self.span.end.min(position.line_start + line_text.len());
        let width = source
            .get(self.span.start..underlined_end.max(self.span.start))
            .map_or(0, |s| s.chars().count())
            .max(1);

        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", self.severity.as_str(), self.message);
        let _ = writeln!(out, "{gutter}--> {path}:{}:{}", position.line, position.column);
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{line_number} | {}", printable(line_text));
        let _ = write!(out, "{gutter} | {indent}{}", "^".repeat(width));
        match &self.label {
            Some(label) => {
                let _ = writeln!(out, " {label}");
            }
            None => out.push('\n'),
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{gutter} |");
            let _ = writeln!(out, "{gutter} = help: {help}");
        }
        out
    }
}

/// Shows control characters as `\u{..}` escapes so that a rendered line cannot move the
/// terminal's cursor; everything else is kept, so the caret stays aligned for ordinary text.
fn printable(line: &str) -> String {
    line.chars().map(|c| if c.is_control() && c != '\t' { '\u{fffd}' } else { c }).collect()
}

/// A 1-based line and column (in characters) of a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Byte offset where the line starts.
    pub line_start: usize,
}

impl LineCol {
    /// Where `offset` lies in `source`.
    pub fn of(source: &str, offset: usize) -> LineCol {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        LineCol {
            line: before.matches('\n').count() + 1,
            column: source[line_start..offset].chars().count() + 1,
            line_start,
        }
    }
}

/// Renders every diagnostic, separated by blank lines, with a closing count: `error: PATH: N
/// errors found` (`, M warnings` when there are warnings too), or `warning: PATH: M warnings`
/// when there are only warnings.
pub fn render_all(diagnostics: &[Diagnostic], path: &str, source: &str) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&diagnostic.render(path, source));
        out.push('\n');
    }
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let warnings = diagnostics.iter().filter(|d| d.severity == Severity::Warning).count();
    let errors = diagnostics.len() - warnings;
    if errors == 0 && warnings > 0 {
        let _ = writeln!(out, "warning: {path}: {}", plural(warnings, "warning"));
    } else if warnings == 0 {
        let _ = writeln!(out, "error: {path}: {} found", plural(errors, "error"));
    } else {
        let _ = writeln!(
            out,
            "error: {path}: {} found, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    out
}

/// How deeply blocks may nest (`residual { residual { ... } }`); far beyond any real network,
/// low enough that parsing cannot exhaust the stack.
pub const MAX_NESTING: usize = 32;

/// What the grammar cannot say well: control characters, unterminated block comments and
/// blocks nested too deeply. Checked before parsing, each with its own location.
pub(crate) fn lexical_errors(source: &str) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut chars = source.char_indices().peekable();
    let mut in_line_comment = false;
    let mut comment_starts: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            errors.push(
                Diagnostic::error(
                    Span::new(at, at + c.len_utf8()),
                    format!("control character U+{:04X} in the spec", c as u32),
                )
                .with_label("unexpected control character")
                .with_help("delete it; only spaces, tabs and line breaks may separate words"),
            );
        }
        if in_line_comment {
            in_line_comment = c != '\n';
        } else if c == '/' && next == Some('*') {
            comment_starts.push(at);
            chars.next();
        } else if comment_starts.len() > MAX_NESTING {
            errors.push(
                Diagnostic::error(Span::new(at, at + 1), "block comments are nested too deeply")
                    .with_label(format!("nesting level {}", comment_starts.len()))
                    .with_help(format!(
                        "block comments may nest at most {MAX_NESTING} levels deep"
                    )),
            );
            return errors;
        } else if !comment_starts.is_empty() {
            if c == '*' && next == Some('/') {
                comment_starts.pop();
                chars.next();
            }
        } else if c == '/' && next == Some('/') {
            in_line_comment = true;
        } else if c == '{' || c == '(' {
            depth += 1;
            if depth > MAX_NESTING {
                errors.push(
                    Diagnostic::error(Span::new(at, at + 1), "blocks are nested too deeply")
                        .with_label(format!("nesting level {depth}"))
                        .with_help(format!("blocks may nest at most {MAX_NESTING} levels deep")),
                );
                return errors;
            }
        } else if c == '}' || c == ')' {
            depth = depth.saturating_sub(1);
        }
    }
    if let Some(&start) = comment_starts.first() {
        errors.push(
            Diagnostic::error(Span::new(start, start + 2), "unterminated block comment")
                .with_label("this comment is never closed")
                .with_help("close it with `*/` (block comments nest, so every `/*` needs one)"),
        );
    }
    errors
}

/// The byte offset of the `{` most likely never closed (outside comments), if any: braces pair
/// up innermost first, so the unclosed one is usually the `{` whose line is indented deeper than
/// the `}` that paired with it; failing that, the first one left open.
pub(crate) fn unclosed_brace(source: &str) -> Option<usize> {
    let indent_of_line = |at: usize| {
        let start = source[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = &source[start..];
        (line.len() - line.trim_start().len(), start + (line.len() - line.trim_start().len()))
    };
    let mut open = Vec::new();
    let mut suspect = None;
    let mut chars = source.char_indices().peekable();
    let (mut line_comment, mut block_depth) = (false, 0usize);
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if line_comment {
            line_comment = c != '\n';
        } else if c == '/' && next == Some('*') {
            block_depth += 1;
            chars.next();
        } else if block_depth > 0 {
            if c == '*' && next == Some('/') {
                block_depth -= 1;
                chars.next();
            }
        } else if c == '/' && next == Some('/') {
            line_comment = true;
        } else if c == '{' {
            open.push(at);
        } else if c == '}' {
            let (indent, first_on_line) = indent_of_line(at);
            if let Some(opener) = open.pop()
                && first_on_line == at
                && indent < indent_of_line(opener).0
            {
                suspect = suspect.or(Some(opener));
            }
        }
    }
    if open.is_empty() { None } else { suspect.or(open.first().copied()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let source = "ab\ncdé f";
        assert_eq!(LineCol::of(source, 0), LineCol { line: 1, column: 1, line_start: 0 });
        let f = source.find('f').unwrap();
        assert_eq!(LineCol::of(source, f), LineCol { line: 2, column: 5, line_start: 3 });
    }

    #[test]
    fn render_points_a_caret_at_the_span() {
        let source = "network A {\n  dense 0;\n}\n";
        let at = source.find('0').unwrap();
        let rendered = Diagnostic::error(Span::new(at, at + 1), "size must be positive")
            .with_label("zero units")
            .with_help("give `dense` at least 1 unit")
            .render("a.nn", source);
        let expected = "error: size must be positive\n --> a.nn:2:9\n  |\n2 |   dense 0;\n  |         ^ zero units\n  |\n  = help: give `dense` at least 1 unit\n";
        assert_eq!(rendered, expected);
    }

    #[test]
    fn warnings_render_as_warnings_and_are_counted_apart_from_errors() {
        let source = "network A { input 4; }\n";
        let warning = Diagnostic::warning(Span::new(8, 9), "large");
        assert_eq!(warning.severity, Severity::Warning);
        assert!(warning.render("a.nn", source).starts_with("warning: large\n --> a.nn:1:9\n"));
        let error = Diagnostic::error(Span::new(12, 17), "bad");
        let last_line = |diagnostics: &[Diagnostic]| {
            render_all(diagnostics, "a.nn", source).lines().last().unwrap().to_string()
        };
        assert_eq!(last_line(std::slice::from_ref(&warning)), "warning: a.nn: 1 warning");
        assert_eq!(last_line(std::slice::from_ref(&error)), "error: a.nn: 1 error found");
        assert_eq!(
            last_line(&[warning.clone(), error.clone(), warning]),
            "error: a.nn: 1 error found, 2 warnings"
        );
        assert_eq!(last_line(&[error.clone(), error]), "error: a.nn: 2 errors found");
    }

    #[test]
    fn lexical_errors_find_unterminated_comments_and_control_characters() {
        let errors = lexical_errors("a /* b /* c */ d\u{7}");
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            ["control character U+0007 in the spec", "unterminated block comment"]
        );
        assert_eq!(errors[1].span, Span::new(2, 4));
    }
}
