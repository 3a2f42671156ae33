//! Pass 4: `penalty` statements resolved to the parameters or layers they apply to.

use super::*;

impl Checker {
    /// `failed` names the layers that had errors of their own: targets in them are not
    /// reported again.
    pub(super) fn penalties(
        &mut self,
        net: &mut Network,
        statements: &[&Statement],
        failed: &[String],
    ) {
        // Which statement set each parameter's l1 and l2, to report conflicts at both places.
        let mut set_by: HashMap<(usize, bool), Span> = HashMap::new();
        for statement in statements {
            let StatementKind::Penalty { kind, coefficient, targets } = &statement.kind else {
                continue;
            };
            let Some(a) = self.non_negative(
                coefficient,
                "a penalty coefficient",
                "0 turns the penalty off; a negative one would reward large weights",
            ) else {
                continue;
            };
            match kind.text.as_str() {
                "l1_activity" => {
                    if targets.is_empty() {
                        self.error(
                            Diagnostic::error(statement.span, "`penalty l1_activity` needs `on LAYER`")
                                .with_label("which activations?")
                                .with_help("name the layer whose output to make sparse, e.g. `penalty l1_activity 1e-4 on relu2;`"),
                        );
                    }
                    for target in targets.iter().filter(|t| !in_failed_layer(t, failed)) {
                        if net.all_layers().iter().any(|l| l.name == target.text) {
                            net.activity_penalties.push(ActivityPenalty {
                                layer: target.text.clone(),
                                coefficient: a,
                                span: statement.span,
                            });
                        } else {
                            let layers: Vec<String> =
                                net.all_layers().iter().map(|l| l.name.clone()).collect();
                            self.unknown_target(target, &layers, "layer");
                        }
                    }
                }
                name @ ("l1" | "l2") => {
                    let l1 = name == "l1";
                    let indices: Vec<usize> = if targets.is_empty() {
                        (0..net.params.len())
                            .filter(|&i| net.params[i].role == Role::Weight)
                            .collect()
                    } else {
                        targets
                            .iter()
                            .filter(|t| !in_failed_layer(t, failed))
                            .flat_map(|t| self.target_params(net, t))
                            .collect()
                    };
                    for i in indices {
                        if let Some(first) = set_by.insert((i, l1), statement.span) {
                            self.error(
                                Diagnostic::error(statement.span, format!("`{}` gets `penalty {name}` twice", net.params[i].name))
                                    .with_label("second penalty on the same parameter")
                                    .with_help(format!(
                                        "the penalty on line {} already covers it; a bare `penalty {name}` covers every weight, so name the others with `on`",
                                        self.source_lines.line(first)
                                    )),
                            );
                        }
                        let slot = if l1 { &mut net.params[i].l1 } else { &mut net.params[i].l2 };
                        *slot = Some(a);
                    }
                }
                other => self.error(
                    Diagnostic::error(kind.span, format!("unknown penalty `{other}`"))
                        .with_label("unknown penalty")
                        .with_help(suggest::hint(other, PENALTIES, "expected")),
                ),
            }
        }
    }

    /// `dense1` (the layer's weights) or `dense1.bias` (one parameter).
    pub(super) fn target_params(&mut self, net: &Network, target: &Word) -> Vec<usize> {
        if let Some(i) = net.params.iter().position(|p| p.name == target.text) {
            return vec![i];
        }
        if let Some(buffer) = net.buffers.iter().find(|b| b.name == target.text) {
            self.error(
                Diagnostic::error(
                    target.span,
                    format!("`{}` is a running statistic, not a trainable parameter", buffer.name),
                )
                .with_label("not trainable")
                .with_help(format!(
                    "penalize `{}.weight` or `{}.bias` instead",
                    buffer.layer, buffer.layer
                )),
            );
            return Vec::new();
        }
        if let Some(layer) = net.all_layers().into_iter().find(|l| l.name == target.text) {
            let weights: Vec<usize> = layer
                .params
                .iter()
                .copied()
                .filter(|&i| net.params[i].role == Role::Weight)
                .collect();
            if weights.is_empty() {
                let help = if layer.params.is_empty() {
                    format!(
                        "`{}` has no parameters; for sparse activations use `penalty l1_activity A on {}`",
                        layer.name, layer.name
                    )
                } else {
                    let names: Vec<&str> =
                        layer.params.iter().map(|&i| net.params[i].name.as_str()).collect();
                    format!("name its parameters one by one: {}", suggest::list(&names))
                };
                self.error(
                    Diagnostic::error(
                        target.span,
                        format!("`{}` has no weights to penalize", layer.name),
                    )
                    .with_label("no weights")
                    .with_help(help),
                );
            }
            return weights;
        }
        let mut names: Vec<String> = net.params.iter().map(|p| p.name.clone()).collect();
        names.extend(
            net.all_layers().iter().filter(|l| !l.params.is_empty()).map(|l| l.name.clone()),
        );
        self.unknown_target(target, &names, "parameter or layer");
        Vec::new()
    }

    pub(super) fn unknown_target(&mut self, target: &Word, names: &[String], what: &str) {
        let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
        let help = match suggest::closest(&target.text, candidates.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if candidates.is_empty() => "this network has none".to_string(),
            None => format!(
                "names are kind + index in order of appearance: {}",
                suggest::list(&candidates[..candidates.len().min(8)])
            ),
        };
        self.error(
            Diagnostic::error(target.span, format!("no {what} is named `{}`", target.text))
                .with_label("unknown name")
                .with_help(help),
        );
    }
}

/// Whether a penalty target names a layer (or a parameter of one) that had errors of its own.
pub(super) fn in_failed_layer(target: &Word, failed: &[String]) -> bool {
    let layer = target.text.split('.').next().unwrap_or_default();
    failed.iter().any(|name| name == layer)
}
