//! Init schemes resolved to distributions with torch.nn.init's formulas, keyword arguments
//! (`mode`, `nonlinearity`, `a`, `gain`) included.

use super::*;
use crate::ast::{InitArgument, InitKind, InitValue};

/// The nonlinearities of `torch.nn.init.calculate_gain` that a spec may name.
const NONLINEARITIES: &[&str] = &["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"];

/// Resolves an init scheme to a distribution with torch.nn.init's formulas.
pub(super) fn resolve_init(
    checker: &mut Checker,
    init: &ast::InitAst,
    fans: Fans,
    is_bias: bool,
) -> Option<(String, Init)> {
    let Fans { fan_in, fan_out } = fans;
    let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
    let allowed: &[&str] = match init.kind {
        InitKind::KaimingNormal | InitKind::KaimingUniform => &["mode", "nonlinearity", "a"],
        InitKind::XavierNormal | InitKind::XavierUniform | InitKind::Orthogonal => &["gain"],
        _ => &[],
    };
    let arguments = arguments(checker, init, allowed)?;
    let resolved = match &init.kind {
        InitKind::Zeros => Init::Zeros,
        InitKind::Ones => Init::Constant(1.0),
        InitKind::Constant(c) => Init::Constant(checker.representable(c, "the constant")?),
        InitKind::Uniform(lo, hi) => {
            let (lo_v, hi_v) = (
                checker.representable(lo, "the lower bound"),
                checker.representable(hi, "the upper bound"),
            );
            let (lo_v, hi_v) = (lo_v?, hi_v?);
            if lo_v >= hi_v {
                checker.error(
                    Diagnostic::error(
                        init.span,
                        format!(
                            "`uniform({lo_v}, {hi_v})` needs its lower bound below its upper bound"
                        ),
                    )
                    .with_label("empty interval")
                    .with_help(if lo_v == hi_v {
                        format!("for a single value write `constant {lo_v}`")
                    } else {
                        format!("write `uniform({hi_v}, {lo_v})`?")
                    }),
                );
                return None;
            }
            Init::Uniform { lo: lo_v, hi: hi_v }
        }
        InitKind::Normal(mean, std) => {
            let mean = checker.representable(mean, "the mean");
            let std = checker.non_negative(
                std,
                "the standard deviation",
                "write e.g. `normal(0, 0.01)`; the mean may be negative, the spread may not",
            );
            Init::Normal { mean: mean?, std: std? }
        }
        InitKind::TruncNormal(values) => trunc_normal(checker, init, values)?,
        // LeCun (1998): Var(w) = 1/fan_in, the lecture's derivation; Keras draws it truncated.
        InitKind::LecunNormal => Init::Normal { mean: 0.0, std: (1.0 / fan_in).sqrt() },
        InitKind::LecunUniform => uniform((3.0 / fan_in).sqrt()),
        // torch.nn.init.xavier_*_ (Glorot and Bengio 2010): Var(w) = gain^2 * 2/(fan_in + fan_out).
        InitKind::XavierNormal | InitKind::XavierUniform => {
            let gain_sq = gain(checker, arguments.get("gain"))?.powi(2);
            // Numerators first, so that gain 1 gives exactly sqrt(2/(fi+fo)) and sqrt(6/(fi+fo)).
            if init.kind == InitKind::XavierNormal {
                Init::Normal { mean: 0.0, std: (gain_sq * 2.0 / (fan_in + fan_out)).sqrt() }
            } else {
                uniform((3.0 * gain_sq * 2.0 / (fan_in + fan_out)).sqrt())
            }
        }
        // torch.nn.init.kaiming_*_ (He et al. 2015): Var(w) = gain^2 / fan, with torch's defaults
        // mode fan_in and nonlinearity leaky_relu with a = 0 (gain sqrt(2), as for relu).
        InitKind::KaimingNormal | InitKind::KaimingUniform => {
            let gain_sq = kaiming_gain_sq(checker, &arguments)?;
            let fan = match arguments.get("mode").map(|a| &a.value) {
                None => fan_in,
                Some(InitValue::Word(w)) if w.text == "fan_in" => fan_in,
                Some(InitValue::Word(w)) if w.text == "fan_out" => fan_out,
                Some(_) => {
                    let argument = arguments["mode"];
                    checker.error(
                        Diagnostic::error(argument.span, "`mode` is `fan_in` or `fan_out`")
                            .with_label("not a mode")
                            .with_help(
                                "`fan_in` keeps the forward pass's variance (the default), \
                                 `fan_out` the backward pass's: write `mode fan_out`",
                            ),
                    );
                    return None;
                }
            };
            // Bound sqrt(3) * std: sqrt(3 gain^2 / fan), which is sqrt(6/fan) for relu.
            if init.kind == InitKind::KaimingNormal {
                Init::Normal { mean: 0.0, std: (gain_sq / fan).sqrt() }
            } else {
                uniform((3.0 * gain_sq / fan).sqrt())
            }
        }
        InitKind::Orthogonal if is_bias => {
            checker.error(
                Diagnostic::error(
                    init.name.span,
                    "`orthogonal` needs a matrix, but a bias is a vector",
                )
                .with_label("1-D tensor")
                .with_help("initialize the bias with `zeros` or `constant C`"),
            );
            return None;
        }
        InitKind::Orthogonal => Init::Orthogonal { gain: gain(checker, arguments.get("gain"))? },
        InitKind::Unknown => {
            checker.error(unknown_init(init));
            return None;
        }
    };
    Some((written(init), resolved))
}

/// The scheme as written, for the summary: its name, and its keyword arguments if any.
fn written(init: &ast::InitAst) -> String {
    if init.arguments.is_empty() {
        return init.name.text.clone();
    }
    let arguments: Vec<String> = init
        .arguments
        .iter()
        .map(|a| match &a.value {
            InitValue::Number(n) => {
                format!("{} {}{}", a.name.text, if n.negative { "-" } else { "" }, n.digits)
            }
            InitValue::Word(w) => format!("{} {}", a.name.text, w.text),
        })
        .collect();
    format!("{}({})", init.name.text, arguments.join(", "))
}

/// The keyword arguments by name, reporting unknown and repeated ones.
fn arguments<'a>(
    checker: &mut Checker,
    init: &'a ast::InitAst,
    allowed: &[&str],
) -> Option<HashMap<&'a str, &'a InitArgument>> {
    let mut found = HashMap::new();
    let mut valid = true;
    let name = &init.name.text;
    for argument in &init.arguments {
        let word = argument.name.text.as_str();
        if !allowed.contains(&word) {
            let help = if allowed.is_empty() {
                format!("`{name}` takes no arguments: write `{name}`")
            } else {
                suggest::hint(word, allowed, &format!("`{name}` takes"))
            };
            checker.error(
                Diagnostic::error(
                    argument.name.span,
                    format!("`{word}` is no argument of `{name}`"),
                )
                .with_label("unknown argument")
                .with_help(help),
            );
            valid = false;
        } else if found.insert(word, argument).is_some() {
            checker.error(
                Diagnostic::error(argument.span, format!("argument `{word}` is given twice"))
                    .with_label("second time")
                    .with_help(format!("keep one `{word}`")),
            );
            valid = false;
        }
    }
    valid.then_some(found)
}

/// `gain G` (1 unless given): a positive number, or a nonlinearity's name for
/// `torch.nn.init.calculate_gain` of it (`gain relu` is sqrt(2)).
fn gain(checker: &mut Checker, argument: Option<&&InitArgument>) -> Option<f64> {
    match argument.map(|a| &a.value) {
        None => Some(1.0),
        Some(InitValue::Number(n)) => checker.positive(
            n,
            "the gain",
            "the gain scales the distribution: 1 is the default, `gain relu` is sqrt(2)",
        ),
        Some(InitValue::Word(w)) => {
            // calculate_gain('leaky_relu') uses its default slope 0.01.
            Some(nonlinearity_gain_sq(checker, w, 0.01)?.sqrt())
        }
    }
}

/// `torch.nn.init.calculate_gain(nonlinearity, a)` squared.
fn nonlinearity_gain_sq(checker: &mut Checker, name: &Word, a: f64) -> Option<f64> {
    Some(match name.text.as_str() {
        "linear" | "sigmoid" => 1.0,
        "tanh" => 25.0 / 9.0,
        "relu" => 2.0,
        "leaky_relu" => 2.0 / (1.0 + a * a),
        "selu" => 9.0 / 16.0,
        other => {
            checker.error(
                Diagnostic::error(name.span, format!("unknown nonlinearity `{other}`"))
                    .with_label("not a nonlinearity of torch.nn.init.calculate_gain")
                    .with_help(suggest::hint(other, NONLINEARITIES, "expected")),
            );
            return None;
        }
    })
}

/// The gain squared of `kaiming_*(nonlinearity N, a A)`: torch's default nonlinearity is
/// `leaky_relu` with `a` = 0, whose gain is relu's.
fn kaiming_gain_sq(checker: &mut Checker, arguments: &HashMap<&str, &InitArgument>) -> Option<f64> {
    let a = match arguments.get("a").map(|a| &a.value) {
        None => 0.0,
        Some(InitValue::Number(n)) => checker.representable(n, "the negative slope `a`")?,
        Some(InitValue::Word(w)) => {
            checker.error(
                Diagnostic::error(w.span, "`a` is a number: leaky ReLU's negative slope")
                    .with_label("not a number")
                    .with_help("write e.g. `nonlinearity leaky_relu, a 0.01`"),
            );
            return None;
        }
    };
    match arguments.get("nonlinearity").map(|a| &a.value) {
        None => Some(2.0 / (1.0 + a * a)),
        Some(InitValue::Word(w)) => {
            if let Some(slope) = arguments.get("a")
                && w.text != "leaky_relu"
            {
                checker.error(
                    Diagnostic::error(
                        slope.span,
                        format!("`a` is leaky ReLU's slope, but the nonlinearity is `{}`", w.text),
                    )
                    .with_label("ignored by this nonlinearity")
                    .with_help("drop `a`, or write `nonlinearity leaky_relu`"),
                );
                return None;
            }
            nonlinearity_gain_sq(checker, w, a)
        }
        Some(InitValue::Number(n)) => {
            checker.error(
                Diagnostic::error(n.span, "`nonlinearity` is a name, not a number")
                    .with_label("not a nonlinearity")
                    .with_help(format!("write one of {}", suggest::list(NONLINEARITIES))),
            );
            None
        }
    }
}

/// `trunc_normal(MEAN, STD, A, B)`: torch.nn.init.trunc_normal_, a normal conditioned on
/// `[A, B]` (absolute bounds, not in standard deviations).
fn trunc_normal(
    checker: &mut Checker,
    init: &ast::InitAst,
    [mean, std, a, b]: &[Number; 4],
) -> Option<Init> {
    let mean = checker.representable(mean, "the mean");
    let std = checker.positive(
        std,
        "the standard deviation",
        "write e.g. `trunc_normal(0, 0.02, -0.04, 0.04)`",
    );
    let (a, b) =
        (checker.representable(a, "the lower bound"), checker.representable(b, "the upper bound"));
    let (mean, std, a, b) = (mean?, std?, a?, b?);
    if a >= b {
        checker.error(
            Diagnostic::error(
                init.span,
                format!("`trunc_normal` needs A below B, found [{a}, {b}]"),
            )
            .with_label("empty interval")
            .with_help("the values are drawn in [A, B]: write e.g. `trunc_normal(0, 1, -2, 2)`"),
        );
        return None;
    }
    // torch warns that its sampler is inaccurate there ("mean is more than 2 std from [a, b]").
    if mean < a - 2.0 * std || mean > b + 2.0 * std {
        checker.error(
            Diagnostic::error(
                init.span,
                format!("the mean {mean} is more than 2 standard deviations from [{a}, {b}]"),
            )
            .with_label("the interval lies in the tail")
            .with_help(
                "torch.nn.init.trunc_normal_ cannot draw this accurately: move the mean into or \
                 near [A, B], or widen the standard deviation",
            ),
        );
        return None;
    }
    Some(Init::TruncNormal { mean, std, a, b })
}

/// A word after `init`/`bias` that is not a scheme, or a scheme written without its arguments
/// (the grammar only accepts `uniform` with its parentheses).
fn unknown_init(init: &ast::InitAst) -> Diagnostic {
    let name = init.name.text.as_str();
    let form = match name {
        "constant" => Some("constant C"),
        "uniform" => Some("uniform(LO, HI)"),
        "normal" => Some("normal(MEAN, STD)"),
        "trunc_normal" => Some("trunc_normal(MEAN, STD, A, B)"),
        _ => None,
    };
    match form {
        Some(form) => {
            Diagnostic::error(init.span, format!("`{name}` needs its arguments: `{form}`"))
                .with_label("arguments missing or malformed")
                .with_help(format!(
                    "write e.g. `{}`",
                    form.replace("LO, HI", "-0.1, 0.1")
                        .replace("MEAN, STD, A, B", "0, 0.02, -0.04, 0.04")
                        .replace("MEAN, STD", "0, 0.01")
                        .replace(" C", " 0.1")
                ))
        }
        None => Diagnostic::error(init.name.span, format!("unknown init scheme `{name}`"))
            .with_label("not an init scheme")
            .with_help(suggest::hint(name, INIT_SCHEMES, "expected")),
    }
}

fn uniform(bound: f64) -> Init {
    Init::Uniform { lo: -bound, hi: bound }
}
