//! Network-level declarations: input, preprocess, augment.

use super::*;

impl Checker {
    pub(super) fn input(
        &mut self,
        network: &ast::NetworkAst,
        input: Option<&Statement>,
    ) -> Option<Shape> {
        let Some(statement) = input else {
            self.error(
                Diagnostic::error(
                    network.name.span,
                    format!("network `{}` has no `input`", network.name.text),
                )
                .with_label("no input declared")
                .with_help(
                    "declare the shape of one sample first: `input 64;` or `input image(1, 8, 8);`",
                ),
            );
            return None;
        };
        self.options(statement, &[]);
        match &statement.kind {
            StatementKind::Input(InputAst::Vector(n)) => {
                self.count(n, "the input size", 1).map(Shape::Vector)
            }
            StatementKind::Input(InputAst::Image([c, h, w])) => {
                let channels = self.count(c, "the number of input channels", 1);
                let height = self.count(h, "the input height", 1);
                let width = self.count(w, "the input width", 1);
                let shape = Shape::Image { channels: channels?, height: height?, width: width? };
                self.fits(shape, statement.span).then_some(shape)
            }
            StatementKind::Input(InputAst::Sequence([c, l])) => {
                let channels = self.count(c, "the number of input channels", 1);
                let length = self.count(l, "the sequence length", 1);
                let shape = Shape::Sequence { channels: channels?, length: length? };
                self.fits(shape, statement.span).then_some(shape)
            }
            _ => None,
        }
    }

    /// Whether a shape's value count stays within [`MAX_VALUES`].
    pub(super) fn fits(&mut self, shape: Shape, span: Span) -> bool {
        let dims = shape.dims();
        let values = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        if values.is_some_and(|v| v <= MAX_VALUES) {
            return true;
        }
        self.error(
            Diagnostic::error(span, format!("the shape {shape} holds too many values"))
                .with_label("too large")
                .with_help(format!("one sample may hold at most 2^31 = {MAX_VALUES} values")),
        );
        false
    }

    pub(super) fn preprocess(
        &mut self,
        statement: &Statement,
        input: Option<Shape>,
    ) -> Option<Preprocess> {
        let StatementKind::Preprocess { method, mode } = &statement.kind else {
            return None;
        };
        let options = self.options(statement, &["eps"]);
        let eps = match options.get("eps") {
            Some(ast::OptionAst { kind: OptionKind::Eps(n), .. }) => {
                self.positive(n, "eps", "eps keeps the division stable; the default is 1e-5")?
            }
            _ => 1e-5,
        };
        let mode_text = mode.as_ref().map(|m| m.text.as_str());
        let kind = match (method.text.as_str(), mode_text) {
            ("mean_subtract", Some("per_pixel")) => PreprocessKind::MeanSubtractPerPixel,
            ("mean_subtract", Some("per_channel")) => PreprocessKind::MeanSubtractPerChannel,
            ("standardize", Some("per_channel")) => PreprocessKind::StandardizePerChannel,
            ("standardize", Some("per_feature")) => PreprocessKind::StandardizePerFeature,
            ("whiten", Some("pca")) => PreprocessKind::WhitenPca,
            (known @ ("mean_subtract" | "standardize" | "whiten"), _) => {
                let modes: &[&str] = match known {
                    "mean_subtract" => &["per_pixel", "per_channel"],
                    "standardize" => &["per_channel", "per_feature"],
                    _ => &["pca"],
                };
                let span = mode.as_ref().map_or(method.span, |m| m.span);
                let found = mode_text.map_or("nothing".to_string(), |m| format!("`{m}`"));
                let help = match mode_text {
                    Some(m) => suggest::hint(m, modes, &format!("`{known}` takes")),
                    None => format!("`{known}` takes {}", suggest::list(modes)),
                };
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "`preprocess {known}` needs {}, found {found}",
                            suggest::list(modes)
                        ),
                    )
                    .with_label("unknown preprocessing mode")
                    .with_help(help),
                );
                return None;
            }
            (other, _) => {
                self.error(
                    Diagnostic::error(method.span, format!("unknown preprocessing `{other}`"))
                        .with_label("unknown method")
                        .with_help(suggest::hint(other, PREPROCESS_METHODS, "expected")),
                );
                return None;
            }
        };
        if options.contains_key("eps")
            && !matches!(
                kind,
                PreprocessKind::StandardizePerChannel
                    | PreprocessKind::StandardizePerFeature
                    | PreprocessKind::WhitenPca
            )
        {
            self.error(
                Diagnostic::error(
                    statement.options[0].keyword.span,
                    "`eps` does not apply to `mean_subtract`",
                )
                .with_help("`eps` is for `standardize` and `whiten pca`; delete it"),
            );
        }
        let per_channel = matches!(
            kind,
            PreprocessKind::MeanSubtractPerChannel | PreprocessKind::StandardizePerChannel
        );
        if per_channel && matches!(input, Some(Shape::Vector(_) | Shape::Sequence { .. })) {
            let label = match input {
                Some(Shape::Sequence { .. }) => "the input is a sequence",
                _ => "the input is a vector",
            };
            self.error(
                Diagnostic::error(statement.span, "per-channel preprocessing needs an image input")
                    .with_label(label)
                    .with_help("use `per_feature` (or `per_pixel` for mean subtraction), or declare `input image(C, H, W);`"),
            );
            return None;
        }
        Some(Preprocess { kind, eps, span: statement.span })
    }

    pub(super) fn augmentations(
        &mut self,
        items: &[&Statement],
        input: Option<Shape>,
    ) -> Vec<Augmentation> {
        let (height, width) = match input {
            Some(Shape::Image { height, width, .. }) => (Some(height), Some(width)),
            _ => (None, None),
        };
        let side = height.zip(width).map(|(h, w)| h.min(w));
        let mut out = Vec::new();
        for item in items {
            let needs_image =
                !matches!(item.kind, StatementKind::GaussianNoise(_) | StatementKind::Mixup(_));
            if needs_image && matches!(input, Some(Shape::Vector(_) | Shape::Sequence { .. })) {
                let label = match input {
                    Some(Shape::Sequence { .. }) => "the input is a sequence",
                    _ => "the input is a vector",
                };
                self.error(
                    Diagnostic::error(item.keyword.span, format!("`{}` needs an image input", item.keyword.text))
                        .with_label(label)
                        .with_help("declare `input image(C, H, W);`, or use `noise gaussian` or `mixup`, which work on vectors"),
                );
                continue;
            }
            let fits_image = |checker: &mut Checker, n: &Number, what: &str| {
                let size = checker.count(n, what, 1)?;
                match side {
                    Some(s) if size >= s => {
                        checker.error(
                            Diagnostic::error(
                                n.span,
                                format!("{what} {size} does not fit the {s}-pixel input"),
                            )
                            .with_label("too large")
                            .with_help(format!("use at most {}", s - 1)),
                        );
                        None
                    }
                    _ => Some(size),
                }
            };
            let augmentation = match &item.kind {
                StatementKind::Translate(n) => fits_image(self, n, "the shift")
                    .map(|pixels| Augmentation::Translate { pixels }),
                StatementKind::Cutout(n) => {
                    fits_image(self, n, "the cutout size").map(|size| Augmentation::Cutout { size })
                }
                StatementKind::Flip(axis) => match axis.text.as_str() {
                    "horizontal" => Some(Augmentation::FlipHorizontal),
                    "vertical" => Some(Augmentation::FlipVertical),
                    other => {
                        self.error(
                            Diagnostic::error(axis.span, format!("unknown flip axis `{other}`"))
                                .with_label("expected `horizontal` or `vertical`")
                                .with_help(suggest::hint(
                                    other,
                                    &["horizontal", "vertical"],
                                    "`flip` takes",
                                )),
                        );
                        None
                    }
                },
                StatementKind::Rotate(n) => self
                    .bounded(
                        n,
                        "the rotation angle",
                        "in (0, 180] degrees",
                        "rotations are drawn from [-angle, angle]; 10 to 15 degrees suit digits",
                        |d| d > 0.0 && d <= 180.0,
                    )
                    .map(|degrees| Augmentation::Rotate { degrees }),
                StatementKind::GaussianNoise(n) => self
                    .non_negative(
                        n,
                        "the noise level",
                        "sigma is a standard deviation; 0 adds no noise",
                    )
                    .map(|sigma| Augmentation::GaussianNoise { sigma }),
                StatementKind::Mixup(n) => self
                    .positive(
                        n,
                        "mixup's alpha",
                        "the mixing weight is drawn from Beta(alpha, alpha); 0.2 is common",
                    )
                    .map(|alpha| Augmentation::Mixup { alpha }),
                StatementKind::Cutmix(n) => self
                    .positive(
                        n,
                        "cutmix's alpha",
                        "the box area is drawn from Beta(alpha, alpha); 1.0 is common",
                    )
                    .map(|alpha| Augmentation::Cutmix { alpha }),
                _ => None,
            };
            out.extend(augmentation);
        }
        out
    }
}
