//! Spec text -> syntax tree, with pest. Syntax errors become located diagnostics.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::ast::*;
use crate::diagnostic::{Diagnostic, Span};
use crate::layers::Argument;

#[derive(pest_derive::Parser)]
#[grammar = "network.pest"]
struct SpecParser;

type Node<'i> = Pair<'i, Rule>;

/// Parses spec text into a syntax tree. On a syntax error, returns the one diagnostic pest
/// found (parsing stops there; the checker is what reports many errors at once).
pub fn parse(source: &str) -> Result<File, Diagnostic> {
    let mut pairs = SpecParser::parse(Rule::file, source).map_err(|e| syntax_error(source, e))?;
    let file = pairs.next().expect("pest returns the `file` rule it was asked for");
    let networks = file
        .into_inner()
        .filter(|node| node.as_rule() == Rule::network)
        .map(network)
        .collect::<Result<_, _>>()?;
    Ok(File { networks })
}

fn span(node: &Node) -> Span {
    let s = node.as_span();
    Span::new(s.start(), s.end())
}

fn word(node: Node) -> Word {
    Word { text: node.as_str().to_string(), span: span(&node) }
}

/// `dense1.weight`, whose parts arrive space-separated from `network!` (`dense1 . weight`).
fn target(node: Node) -> Word {
    let whole = span(&node);
    let parts: Vec<&str> = meaningful(node).map(|part| part.as_str()).collect();
    Word { text: parts.join("."), span: whole }
}

fn number(node: Node) -> Number {
    let whole = span(&node);
    let mut negative = false;
    let mut digits = String::new();
    for part in node.into_inner() {
        match part.as_rule() {
            Rule::neg => negative = true,
            _ => digits = part.as_str().to_string(),
        }
    }
    Number { negative, digits, span: whole }
}

/// The children that carry meaning: keywords and punctuation are dropped.
fn meaningful<'i>(node: Node<'i>) -> impl Iterator<Item = Node<'i>> {
    node.into_inner().filter(|child| {
        !matches!(
            child.as_rule(),
            Rule::semicolon
                | Rule::lbrace
                | Rule::rbrace
                | Rule::lparen
                | Rule::rparen
                | Rule::comma
                | Rule::dot
        ) && !rule_name(child.as_rule()).starts_with("kw_")
    })
}

fn rule_name(rule: Rule) -> String {
    format!("{rule:?}")
}

fn network(node: Node) -> Result<NetworkAst, Diagnostic> {
    let whole = span(&node);
    let mut parts = meaningful(node);
    let name = word(parts.next().expect("grammar: network has a name"));
    let body = block(parts.next().expect("grammar: network has a block"))?;
    Ok(NetworkAst { name, body, span: whole })
}

fn block(node: Node) -> Result<Vec<Statement>, Diagnostic> {
    meaningful(node).map(statement).collect()
}

fn statement(node: Node) -> Result<Statement, Diagnostic> {
    let inner = node.into_inner().next().expect("grammar: a statement has one alternative");
    let whole = span(&inner);
    let rule = inner.as_rule();
    if rule == Rule::layer {
        return layer(inner);
    }
    let mut children = inner.into_inner().peekable();
    let keyword = word(children.next().expect("grammar: a statement starts with a word"));
    let mut options = Vec::new();
    let mut numbers = Vec::new();
    let mut words = Vec::new();
    let mut targets = Vec::new();
    let mut body = Vec::new();
    let mut image = None;
    let mut sequence = None;
    for child in children {
        match child.as_rule() {
            Rule::number => numbers.push(number(child)),
            Rule::word | Rule::ident => words.push(word(child)),
            Rule::option => options.push(option(child)),
            Rule::block => body = block(child)?,
            Rule::image_shape => {
                let dims: Vec<Number> = meaningful(child).map(number).collect();
                image = Some([dims[0].clone(), dims[1].clone(), dims[2].clone()]);
            }
            Rule::sequence_shape => {
                let dims: Vec<Number> = meaningful(child).map(number).collect();
                sequence = Some([dims[0].clone(), dims[1].clone()]);
            }
            Rule::on_clause => targets = meaningful(child).map(target).collect(),
            _ => {}
        }
    }
    let mut numbers = numbers.into_iter();
    let mut next_number = || numbers.next().expect("grammar: the statement has its number");
    let kind = match rule {
        Rule::input => match (image, sequence) {
            (Some(dims), _) => StatementKind::Input(InputAst::Image(dims)),
            (None, Some(dims)) => StatementKind::Input(InputAst::Sequence(dims)),
            (None, None) => StatementKind::Input(InputAst::Vector(next_number())),
        },
        Rule::batch => StatementKind::Batch(next_number()),
        Rule::preprocess => {
            let mut words = words.into_iter();
            StatementKind::Preprocess {
                method: words.next().expect("grammar: preprocess has a method"),
                mode: words.next(),
            }
        }
        Rule::augment => StatementKind::Augment(body),
        Rule::loss => StatementKind::Loss(words.remove(0)),
        Rule::penalty => {
            StatementKind::Penalty { kind: words.remove(0), coefficient: next_number(), targets }
        }
        Rule::head => StatementKind::Head { name: words.remove(0), body },
        Rule::noise => StatementKind::GaussianNoise(next_number()),
        Rule::residual => StatementKind::Residual(body),
        Rule::translate => StatementKind::Translate(next_number()),
        Rule::flip => StatementKind::Flip(words.remove(0)),
        Rule::rotate => StatementKind::Rotate(next_number()),
        Rule::cutout => StatementKind::Cutout(next_number()),
        Rule::mixup => StatementKind::Mixup(next_number()),
        Rule::cutmix => StatementKind::Cutmix(next_number()),
        _ => StatementKind::Unknown,
    };
    Ok(Statement { kind, keyword, options, span: whole })
}

/// `WORD [NUMBER] option* ;`: a layer of the registry, with the number its kind takes, or an
/// unknown statement for the checker to report.
fn layer(node: Node) -> Result<Statement, Diagnostic> {
    let whole = span(&node);
    let source = node.get_input();
    let mut children = node.into_inner().peekable();
    let keyword = word(children.next().expect("grammar: a layer starts with a word"));
    // Where the parser stands after the keyword: the number, an option or the `;`.
    let after_keyword = children.peek().map_or(whole.end, |next| span(next).start);
    let argument = children.next_if(|child| child.as_rule() == Rule::number).map(number);
    let options = children.filter(|child| child.as_rule() == Rule::option).map(option).collect();
    let Some(kind) = crate::layers::find(&keyword.text) else {
        return Ok(Statement { kind: StatementKind::Unknown, keyword, options, span: whole });
    };
    // The syntax errors a rule of its own per layer would give.
    match (kind.argument, &argument) {
        (Argument::Number, None) => {
            return Err(expected_at(source, after_keyword, &[Rule::number]));
        }
        (Argument::None, Some(extra)) => {
            return Err(expected_at(source, extra.span.start, &[Rule::semicolon, Rule::option]));
        }
        _ => {}
    }
    Ok(Statement { kind: StatementKind::Layer { kind, argument }, keyword, options, span: whole })
}

fn option(node: Node) -> OptionAst {
    let inner = node.into_inner().next().expect("grammar: an option has one alternative");
    let whole = span(&inner);
    let rule = inner.as_rule();
    let mut children = inner.into_inner();
    let keyword = word(children.next().expect("grammar: an option starts with a word"));
    let value = children.find(|c| !matches!(c.as_rule(), Rule::lparen | Rule::rparen));
    let kind = match (rule, value) {
        (Rule::init_clause, Some(scheme)) => OptionKind::Init(init_scheme(scheme)),
        (Rule::bias_clause, Some(v)) if v.as_rule() == Rule::bias_none => OptionKind::Bias(None),
        (Rule::bias_clause, Some(scheme)) => OptionKind::Bias(Some(init_scheme(scheme))),
        (Rule::dropconnect_clause, Some(v)) => OptionKind::DropConnect(number(v)),
        (Rule::kernel_clause, Some(v)) => OptionKind::Kernel(sizes(v)),
        (Rule::stride_clause, Some(v)) => OptionKind::Stride(sizes(v)),
        (Rule::pad_clause, Some(v)) => OptionKind::Pad(sizes(v)),
        (Rule::dilation_clause, Some(v)) => OptionKind::Dilation(sizes(v)),
        (Rule::groups_clause, Some(v)) => OptionKind::Groups(number(v)),
        (Rule::count_pad_clause, Some(v)) => OptionKind::CountPad(word(v)),
        (Rule::affine_clause, Some(v)) => OptionKind::Affine(word(v)),
        (Rule::track_running_stats_clause, Some(v)) => OptionKind::TrackRunningStats(word(v)),
        (Rule::eps_clause, Some(v)) => OptionKind::Eps(number(v)),
        (Rule::momentum_clause, Some(v)) => OptionKind::Momentum(number(v)),
        (Rule::weight_clause, Some(v)) => OptionKind::Weight(number(v)),
        (Rule::stochastic_depth_clause, Some(v)) => OptionKind::StochasticDepth(number(v)),
        (Rule::shortcut_clause, None) => OptionKind::Shortcut,
        (Rule::rescale_clause, Some(v)) => OptionKind::Rescale(word(v)),
        (Rule::label_smoothing_clause, Some(v)) => OptionKind::LabelSmoothing(number(v)),
        (Rule::class_weights_clause, Some(v)) => {
            let list = span(&v);
            let weights = v.into_inner().filter(|c| c.as_rule() == Rule::number).map(number);
            OptionKind::ClassWeights(weights.collect(), list)
        }
        (Rule::delta_clause, Some(v)) => OptionKind::Delta(number(v)),
        (Rule::pos_weight_clause, Some(v)) => OptionKind::PosWeight(number(v)),
        _ => OptionKind::Unknown,
    };
    OptionAst { kind, keyword, span: whole }
}

/// `3` or `(10, 4)`.
fn sizes(node: Node) -> Sizes {
    let whole = span(&node);
    let mut numbers = node.into_inner().filter(|c| c.as_rule() == Rule::number).map(number);
    let first = numbers.next().expect("grammar: sizes hold a number");
    match numbers.next() {
        Some(second) => Sizes::PerAxis([first, second], whole),
        None => Sizes::All(first),
    }
}

fn init_scheme(node: Node) -> InitAst {
    let whole = span(&node);
    let inner = node.into_inner().next().expect("grammar: an init scheme has one alternative");
    let rule = inner.as_rule();
    if matches!(
        rule,
        Rule::init_constant | Rule::init_uniform | Rule::init_normal | Rule::init_trunc_normal
    ) {
        let mut children = inner.into_inner();
        let name = word(children.next().expect("grammar: the scheme's keyword"));
        let mut values = children.filter(|c| c.as_rule() == Rule::number).map(number);
        let mut value = || values.next().expect("grammar: the scheme's arguments");
        let kind = match rule {
            Rule::init_constant => InitKind::Constant(value()),
            Rule::init_uniform => InitKind::Uniform(value(), value()),
            Rule::init_normal => InitKind::Normal(value(), value()),
            _ => InitKind::TruncNormal([value(), value(), value(), value()]),
        };
        return InitAst { kind, name, arguments: Vec::new(), span: whole };
    }
    if rule == Rule::unknown_init {
        let name = word(inner.into_inner().next().expect("grammar: a word"));
        return InitAst { kind: InitKind::Unknown, name, arguments: Vec::new(), span: whole };
    }
    let mut children = inner.into_inner();
    let keyword = children.next().expect("grammar: the scheme's keyword");
    let kind = match keyword.as_rule() {
        Rule::kw_zeros => InitKind::Zeros,
        Rule::kw_ones => InitKind::Ones,
        Rule::kw_lecun_normal => InitKind::LecunNormal,
        Rule::kw_lecun_uniform => InitKind::LecunUniform,
        Rule::kw_xavier_normal => InitKind::XavierNormal,
        Rule::kw_xavier_uniform => InitKind::XavierUniform,
        Rule::kw_kaiming_normal => InitKind::KaimingNormal,
        Rule::kw_kaiming_uniform => InitKind::KaimingUniform,
        Rule::kw_orthogonal => InitKind::Orthogonal,
        _ => InitKind::Unknown,
    };
    let arguments = children
        .next()
        .into_iter()
        .flat_map(|list| list.into_inner())
        .filter(|c| c.as_rule() == Rule::init_argument)
        .map(|argument| {
            let whole = span(&argument);
            let mut parts = argument.into_inner();
            let name = word(parts.next().expect("grammar: the argument's name"));
            let value = parts.next().expect("grammar: the argument's value");
            let value = match value.as_rule() {
                Rule::number => InitValue::Number(number(value)),
                _ => InitValue::Word(word(value)),
            };
            InitArgument { name, value, span: whole }
        })
        .collect();
    InitAst { kind, name: word(keyword), arguments, span: whole }
}

/// Turns pest's error into a diagnostic that names what was expected in the spec's own terms.
fn syntax_error(source: &str, error: pest::error::Error<Rule>) -> Diagnostic {
    let at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((start, _)) => start,
    };
    let positives = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        // pest's own guard against exhausting the stack (the lexical pass caps nesting first).
        ErrorVariant::CustomError { message } if message.contains("limit reached") => {
            let span = Span::new(at, at + found_at(source, at).len());
            return Diagnostic::error(span, "the spec is nested too deeply to parse")
                .with_help("flatten the nesting of blocks, parentheses and comments");
        }
        ErrorVariant::CustomError { message } => {
            return expected_text_at(source, at, message.clone());
        }
    };
    // Right after a layer keyword that takes a number, only the number was expected (what a
    // rule of its own per layer would say): `dense 8usize;`.
    let before = source[..at].trim_end();
    // The word's first byte is the end of the text before it: a boundary even after `\u{feff}`.
    let word_start = before.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_').len();
    let previous = &before[word_start..];
    if crate::layers::find(previous).is_some_and(|kind| kind.argument == Argument::Number) {
        return expected_at(source, at, &[Rule::number]);
    }
    expected_at(source, at, positives)
}

/// "expected a number, found `;`" at `at`, for the rules the parser could have matched there.
fn expected_at(source: &str, at: usize, positives: &[Rule]) -> Diagnostic {
    expected_text_at(source, at, describe_expected(positives))
}

fn expected_text_at(source: &str, at: usize, expected: String) -> Diagnostic {
    let found = found_at(source, at);
    // At the end of the file the span is empty; the renderer still draws one caret.
    let span = Span::new(at, at + found.len());
    if found.is_empty()
        && expected.contains("`}`")
        && let Some(open) = crate::diagnostic::unclosed_brace(source)
    {
        let line = source[..open].matches('\n').count() + 1;
        return Diagnostic::error(
            Span::new(open, open + 1),
            format!("the `{{` on line {line} is never closed"),
        )
        .with_label("this block is never closed")
        .with_help("add `}` where the block ends");
    }
    let shown =
        if found.is_empty() { "the end of the file".to_string() } else { format!("`{found}`") };
    let mut diagnostic = Diagnostic::error(span, format!("expected {expected}, found {shown}"))
        .with_label(format!("expected {expected}"));
    if let Some(help) = syntax_help(source, at, &expected, found) {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

/// The token that starts at `at`: a word, a number, or one character.
fn found_at(source: &str, at: usize) -> &str {
    let rest = &source[at.min(source.len())..];
    let word_len = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map_or(rest.len(), |(i, _)| i);
    if word_len > 0 {
        return &rest[..word_len];
    }
    rest.chars().next().map_or("", |c| &rest[..c.len_utf8()])
}

fn describe_expected(positives: &[Rule]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for rule in positives {
        let name = match rule {
            Rule::semicolon => "`;`",
            Rule::lbrace => "`{`",
            Rule::rbrace => "`}`",
            Rule::lparen => "`(`",
            Rule::rparen => "`)`",
            Rule::comma => "`,`",
            Rule::dot => "`.`",
            Rule::number | Rule::unsigned | Rule::neg => "a number",
            Rule::ident | Rule::word | Rule::target => "a name",
            Rule::statement => "a statement",
            Rule::option => "an option",
            Rule::init_scheme | Rule::bias_none => "an init scheme",
            Rule::image_shape | Rule::kw_image => "`image(C, H, W)`",
            Rule::sequence_shape | Rule::kw_sequence => "`sequence(C, L)`",
            Rule::sizes => "a number or `(height, width)`",
            // `file` is what pest names when nothing at all matched at the top level.
            Rule::kw_network | Rule::network | Rule::file => "`network NAME { ... }`",
            Rule::kw_on | Rule::on_clause => "`on`",
            Rule::kw_gaussian => "`gaussian`",
            Rule::EOI => "the end of the file",
            _ => "a statement",
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    match names.as_slice() {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A hint for the common slips: a missing `;`, a missing brace, a stray character.
fn syntax_help(source: &str, at: usize, expected: &str, found: &str) -> Option<String> {
    if found.starts_with(['"', '\'']) {
        return Some(
            "specs take bare words and numbers, not string or character literals: drop the quotes"
                .to_string(),
        );
    }
    let suffixed = found.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    if found.starts_with(|c: char| c.is_ascii_digit())
        && ["usize", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64"]
            .contains(&suffixed)
    {
        let number = &found[..found.len() - suffixed.len()];
        return Some(format!("numbers in a spec take no type suffix: write `{number}`"));
    }
    if found.starts_with('#') {
        return Some("comments start with `//` (or are enclosed in `/* */`)".to_string());
    }
    if found.starts_with(['\u{2212}', '\u{2013}']) {
        return Some("use the ASCII minus sign `-`".to_string());
    }
    if found.starts_with(|c: char| !c.is_ascii()) {
        return Some(format!("`{found}` is not ASCII: names use ASCII letters, digits and `_`"));
    }
    let previous_end = source[..at].trim_end().len();
    let same_line = !source[previous_end..at].contains('\n');
    if same_line && found.starts_with(|c: char| c.is_ascii_punctuation()) {
        return Some(format!("delete the stray `{found}`"));
    }
    if expected.contains("`;`") {
        let line = source[..previous_end].matches('\n').count() + 1;
        return Some(format!("add `;` at the end of the statement on line {line}"));
    }
    if expected.contains("`}`") && found.is_empty() {
        return Some("a block was opened with `{` and never closed: add `}`".to_string());
    }
    if found.starts_with(|c: char| c.is_ascii_digit()) && expected.contains("a name") {
        return Some("names start with a letter or `_`".to_string());
    }
    None
}
