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
        let kind = match word.text.as_str() {
            "softmax_cross_entropy" => LossKind::SoftmaxCrossEntropy,
            "mse" => LossKind::Mse,
            "binary_cross_entropy" => LossKind::BinaryCrossEntropy,
            "huber" => LossKind::Huber,
            "l1" => LossKind::L1,
            other => {
                self.error(
                    Diagnostic::error(word.span, format!("unknown loss `{other}`"))
                        .with_label("unknown loss")
                        .with_help(suggest::hint(other, LOSSES, "expected")),
                );
                return None;
            }
        };
        let mut allowed = loss_options(kind).to_vec();
        if in_head {
            allowed.push("weight");
        }
        let options = self.options(statement, &allowed);
        let weight = match options.get("weight") {
            Some(ast::OptionAst { kind: OptionKind::Weight(n), .. }) => self.non_negative(
                n,
                "a loss weight",
                "a head's loss is multiplied by its weight; 0 ignores the head",
            )?,
            _ => 1.0,
        };
        let label_smoothing = match options.get("label_smoothing") {
            // nn.CrossEntropyLoss(label_smoothing=E): the target becomes (1 - E) onehot + E/K.
            Some(ast::OptionAst { kind: OptionKind::LabelSmoothing(n), .. }) => self.bounded(
                n,
                "the label smoothing",
                "in [0, 1)",
                "the target is (1 - E) one-hot + E / classes: 0 is none, 0.1 is usual",
                |e| (0.0..1.0).contains(&e),
            )?,
            _ => 0.0,
        };
        let delta = match options.get("delta") {
            Some(ast::OptionAst { kind: OptionKind::Delta(n), .. }) => self.positive(
                n,
                "the Huber delta",
                "the loss is quadratic within delta of the target and linear beyond: write e.g. \
                 `delta 1.0`",
            )?,
            _ => 1.0,
        };
        let pos_weight = match options.get("pos_weight") {
            Some(ast::OptionAst { kind: OptionKind::PosWeight(n), .. }) => Some(self.positive(
                n,
                "the positive-class weight",
                "it multiplies the loss of positive targets: above 1 for rare positives, e.g. \
                 `pos_weight 3` for 1 positive in 4",
            )?),
            _ => None,
        };
        let class_weights = match options.get("class_weights") {
            Some(ast::OptionAst { kind: OptionKind::ClassWeights(weights, list), .. }) => {
                Some(self.class_weights(weights, *list, output)?)
            }
            _ => None,
        };
        let output = output?;
        let problem = match (kind, output) {
            (LossKind::Mse | LossKind::Huber | LossKind::L1, _) => None,
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
        Some(Loss {
            kind,
            weight,
            label_smoothing,
            class_weights,
            delta,
            pos_weight,
            span: statement.span,
        })
    }

    /// `class_weights(W0, W1, ...)`: one non-negative weight per class, not all zero (the
    /// weighted mean divides by the sum of the batch's label weights).
    fn class_weights(
        &mut self,
        weights: &[ast::Number],
        list: Span,
        output: Option<Shape>,
    ) -> Option<Vec<f64>> {
        let help = "a class's weight multiplies its samples' loss: 1 is the default, 0 ignores \
                    the class";
        let values: Vec<Option<f64>> =
            weights.iter().map(|w| self.non_negative(w, "a class weight", help)).collect();
        let values: Vec<f64> = values.into_iter().collect::<Option<_>>()?;
        if let Some(Shape::Vector(classes)) = output
            && classes != values.len()
        {
            self.error(
                Diagnostic::error(
                    list,
                    format!(
                        "`class_weights` lists {} weight{}, but the output has {classes} classes",
                        values.len(),
                        if values.len() == 1 { "" } else { "s" }
                    ),
                )
                .with_label(format!("expected {classes} weights"))
                .with_help("give one weight per class, in class order: `(W0, W1, ...)`"),
            );
            return None;
        }
        if values.iter().all(|&w| w == 0.0) {
            self.error(
                Diagnostic::error(list, "every class weight is 0")
                    .with_label("the loss would be 0 / 0")
                    .with_help("give at least one class a positive weight (1 is the default)"),
            );
            return None;
        }
        Some(values)
    }
}

/// The options each loss takes besides a head's `weight`.
fn loss_options(kind: LossKind) -> &'static [&'static str] {
    match kind {
        LossKind::SoftmaxCrossEntropy => &["label_smoothing", "class_weights"],
        LossKind::Huber => &["delta"],
        LossKind::BinaryCrossEntropy => &["pos_weight"],
        LossKind::Mse | LossKind::L1 => &[],
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
