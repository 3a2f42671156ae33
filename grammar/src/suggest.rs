//! "Did you mean ...?" by edit distance.

/// Edit distance in characters where swapping two neighbours counts as one edit, like an
/// insertion, deletion or substitution (optimal string alignment: `rleu` is 1 from `relu`).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between the first i characters of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo: at most one edit
/// per three characters (and at least one), or `word` is a prefix of it (`kaiming` for
/// `kaiming_normal`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| {
            let d = distance(word, candidate);
            let prefix = word.len() >= 3 && candidate.starts_with(word);
            (if prefix { d.min(limit) } else { d }, candidate)
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, candidate)| candidate)
}

/// Names other frameworks use for netspec's words (Keras, PyTorch, Caffe).
const ALIASES: &[(&str, &str)] = &[
    ("he_normal", "kaiming_normal"),
    ("he_uniform", "kaiming_uniform"),
    ("glorot_normal", "xavier_normal"),
    ("glorot_uniform", "xavier_uniform"),
    ("linear", "dense"),
    ("fc", "dense"),
    ("innerproduct", "dense"),
    ("conv2d", "conv"),
    ("convolution", "conv"),
    ("batch_norm", "batchnorm"),
    ("batchnorm2d", "batchnorm"),
    ("bn", "batchnorm"),
    ("max_pool", "maxpool"),
    ("avg_pool", "avgpool"),
    ("leakyrelu", "leaky_relu"),
    ("weight_decay", "l2"),
    ("cross_entropy", "softmax_cross_entropy"),
    ("categorical_crossentropy", "softmax_cross_entropy"),
    ("bce", "binary_cross_entropy"),
    ("binary_crossentropy", "binary_cross_entropy"),
    ("mean_squared_error", "mse"),
];

/// `did you mean `x`?` or a list of what is accepted.
pub fn hint(word: &str, candidates: &[&str], what: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let alias = ALIASES.iter().find(|(alias, _)| *alias == lower).map(|&(_, name)| name);
    if let Some(name) = alias.filter(|name| candidates.contains(name)) {
        return format!("did you mean `{name}`? (netspec's name for `{word}`)");
    }
    match closest(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("{what}: {}", list(candidates)),
    }
}

/// `a`, `b` or `c`.
pub fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("dense", "dense"), 0);
        assert_eq!(distance("dens", "dense"), 1);
        assert_eq!(distance("kaiming_norml", "kaiming_normal"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("flaten", "flatten"), 1);
        assert_eq!(distance("rleu", "relu"), 1);
        assert_eq!(distance("bais", "bias"), 1);
    }

    #[test]
    fn closest_finds_typos_and_prefixes_but_not_strangers() {
        let schemes = ["kaiming_normal", "kaiming_uniform", "xavier_normal", "zeros"];
        assert_eq!(closest("kaiming_norml", schemes), Some("kaiming_normal"));
        assert_eq!(closest("xavier", schemes), Some("xavier_normal"));
        assert_eq!(closest("glorot", schemes), None);
        assert_eq!(closest("zero", schemes), Some("zeros"));
    }
}
