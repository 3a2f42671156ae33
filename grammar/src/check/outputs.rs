//! Pass 3: heads, and a loss for every output that fits its shape.

use super::*;

impl Checker {
    pub(super) fn heads(
        &mut self,
        lowering: &mut Lowering,
        heads: &[HeadOutline],
        trunk_output: Option<Shape>,
    ) -> Vec<Head> {
        let mut out = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for head in heads {
            if seen.insert(&head.name.text, head.name.span).is_some() {
                self.error(
                    Diagnostic::error(
                        head.name.span,
                        format!("a head named `{}` is already defined", head.name.text),
                    )
                    .with_label("duplicate head name")
                    .with_help("give each head its own name"),
                );
            }
            let (layers, output) = lowering.layers(self, &head.layers, trunk_output);
            let loss = match head.loss {
                Some(statement) => self.loss(statement, output, true),
                // `dense 1 loss mse;` (a missing `;`) is reported as an unknown option already.
                None if swallowed_loss(&head.layers) => None,
                None => {
                    self.error(
                        Diagnostic::error(
                            head.name.span,
                            format!("head `{}` has no loss", head.name.text),
                        )
                        .with_label("no `loss` in this head")
                        .with_help("end the head with e.g. `loss softmax_cross_entropy;`"),
                    );
                    None
                }
            };
            if let (Some(loss), Some(output)) = (loss, output) {
                out.push(Head {
                    name: head.name.text.clone(),
                    layers,
                    loss,
                    output,
                    span: head.span,
                });
            }
        }
        out
    }

    pub(super) fn network_loss(
        &mut self,
        network: &ast::NetworkAst,
        outline: &Outline,
        output: Option<Shape>,
    ) -> Option<Loss> {
        match (outline.loss, outline.heads.is_empty()) {
            (Some(statement), true) => self.loss(statement, output, false),
            (Some(statement), false) => {
                self.error(
                    Diagnostic::error(
                        statement.keyword.span,
                        "a network with heads has no network-level `loss`",
                    )
                    .with_label("each head has its own loss")
                    .with_help("move this `loss` into a `head` block"),
                );
                None
            }
            // `dense 1 loss mse;` (a missing `;`) is reported as an unknown option already.
            (None, true) if swallowed_loss(&outline.trunk) => None,
            (None, true) => {
                self.error(
                    Diagnostic::error(
                        network.name.span,
                        format!("network `{}` has no `loss`", network.name.text),
                    )
                    .with_label("no loss declared")
                    .with_help("add e.g. `loss softmax_cross_entropy;` after the last layer"),
                );
                None
            }
            (None, false) => None,
        }
    }

    pub(super) fn loss(
        &mut self,
        statement: &Statement,
        output: Option<Shape>,
        in_head: bool,
    ) -> Option<Loss> {
        let StatementKind::Loss(word) = &statement.kind else {
            return None;
        };
        let options = self.options(statement, if in_head { &["weight"] } else { &[] });
        let weight = match options.get("weight") {
            Some(ast::OptionAst { kind: OptionKind::Weight(n), .. }) => self.non_negative(
                n,
                "a loss weight",
                "a head's loss is multiplied by its weight; 0 ignores the head",
            )?,
            _ => 1.0,
        };
        let kind = match word.text.as_str() {
            "softmax_cross_entropy" => LossKind::SoftmaxCrossEntropy,
            "mse" => LossKind::Mse,
            "binary_cross_entropy" => LossKind::BinaryCrossEntropy,
            other => {
                self.error(
                    Diagnostic::error(word.span, format!("unknown loss `{other}`"))
                        .with_label("unknown loss")
                        .with_help(suggest::hint(other, LOSSES, "expected")),
                );
                return None;
            }
        };
        let output = output?;
        let problem = match (kind, output) {
            (LossKind::Mse, _) => None,
            (_, Shape::Image { .. } | Shape::Sequence { .. }) => Some((
                format!("`{}` needs a vector of scores, but the output is {output}", word.text),
                "add `flatten;` and a `dense` layer before the loss".to_string(),
            )),
            (LossKind::SoftmaxCrossEntropy, Shape::Vector(1)) => Some((
                "`softmax_cross_entropy` needs at least 2 classes, but the output has 1 value"
                    .to_string(),
                "for one output use `binary_cross_entropy`, or end with `dense CLASSES;`"
                    .to_string(),
            )),
            _ => None,
        };
        if let Some((message, help)) = problem {
            self.error(
                Diagnostic::error(word.span, message)
                    .with_label("does not fit the output")
                    .with_help(help),
            );
            return None;
        }
        Some(Loss { kind, weight, span: statement.span })
    }
}

/// Whether a `loss` statement was read as an option of the statement before it because the `;`
/// between them is missing: that error says so, and "has no loss" would only repeat it.
fn swallowed_loss(statements: &[&Statement]) -> bool {
    statements
        .iter()
        .flat_map(|s| &s.options)
        .any(|option| matches!(option.kind, OptionKind::Unknown) && option.keyword.text == "loss")
}
