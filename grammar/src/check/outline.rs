//! Pass 1: which statement may stand where, duplicates, unknown statements.

use super::*;

/// Pass 1's result: the statements of a network sorted by role.
#[derive(Default)]
pub(super) struct Outline<'a> {
    pub(super) input: Option<&'a Statement>,
    pub(super) batch: Option<&'a Statement>,
    pub(super) preprocess: Option<&'a Statement>,
    /// The `augment { }` block, and the augmentations inside it.
    pub(super) augment_block: Option<&'a Statement>,
    pub(super) augment: Vec<&'a Statement>,
    pub(super) loss: Option<&'a Statement>,
    pub(super) penalties: Vec<&'a Statement>,
    pub(super) trunk: Vec<&'a Statement>,
    pub(super) heads: Vec<HeadOutline<'a>>,
}

pub(super) struct HeadOutline<'a> {
    pub(super) name: &'a Word,
    pub(super) layers: Vec<&'a Statement>,
    pub(super) loss: Option<&'a Statement>,
    pub(super) span: Span,
}

/// Where a statement stands, for placement rules.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Network,
    Residual,
    Head,
    Augment,
}

impl Place {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Place::Network => "at the network level",
            Place::Residual => "inside `residual { }`",
            Place::Head => "inside `head NAME { }`",
            Place::Augment => "inside `augment { }`",
        }
    }
}

impl Checker {
    pub(super) fn outline<'a>(&mut self, network: &'a ast::NetworkAst) -> Outline<'a> {
        let mut outline = Outline::default();
        for statement in &network.body {
            match &statement.kind {
                StatementKind::Input(_) => self.once(&mut outline.input, statement),
                StatementKind::Batch(_) => self.once(&mut outline.batch, statement),
                StatementKind::Preprocess { .. } => self.once(&mut outline.preprocess, statement),
                StatementKind::Loss(_) => self.once(&mut outline.loss, statement),
                StatementKind::Penalty { .. } => outline.penalties.push(statement),
                StatementKind::Augment(items) => {
                    self.once(&mut outline.augment_block, statement);
                    for item in items {
                        if is_augmentation(&item.kind) {
                            outline.augment.push(item);
                        } else {
                            self.misplaced(item, Place::Augment);
                        }
                    }
                }
                StatementKind::Head { name, body } => {
                    let head = self.head_outline(name, body, statement.span);
                    outline.heads.push(head);
                }
                kind if is_layer(kind) => {
                    if let Some(head) = outline.heads.first() {
                        self.error(
                            Diagnostic::error(
                                statement.keyword.span,
                                format!(
                                    "`{}` comes after `head {}`: trunk layers must come before the heads",
                                    statement.keyword.text, head.name.text
                                ),
                            )
                            .with_label("trunk layer after a head")
                            .with_help("move this layer above the first `head`, or into a head's block"),
                        );
                    } else {
                        outline.trunk.push(statement);
                    }
                }
                _ => self.misplaced(statement, Place::Network),
            }
        }
        outline
    }

    pub(super) fn head_outline<'a>(
        &mut self,
        name: &'a Word,
        body: &'a [Statement],
        span: Span,
    ) -> HeadOutline<'a> {
        let mut head = HeadOutline { name, layers: Vec::new(), loss: None, span };
        for statement in body {
            match &statement.kind {
                StatementKind::Loss(_) => self.once(&mut head.loss, statement),
                kind if is_layer(kind) => head.layers.push(statement),
                _ => self.misplaced(statement, Place::Head),
            }
        }
        head
    }

    pub(super) fn once<'a>(&mut self, slot: &mut Option<&'a Statement>, statement: &'a Statement) {
        match slot {
            Some(first) => self.duplicate(statement, first),
            None => *slot = Some(statement),
        }
    }

    pub(super) fn duplicate(&mut self, statement: &Statement, first: &Statement) {
        self.error(
            Diagnostic::error(
                statement.keyword.span,
                format!("`{}` is given twice", statement.keyword.text),
            )
            .with_label("second declaration")
            .with_help(format!(
                "keep one `{}`; the first is `{}`",
                statement.keyword.text,
                first_line(first)
            )),
        );
    }

    /// A statement that is known but stands in the wrong place, or is not known at all.
    pub(super) fn misplaced(&mut self, statement: &Statement, place: Place) {
        let word = &statement.keyword.text;
        let (message, help) = match (&statement.kind, place) {
            (StatementKind::Unknown, _) => {
                let layers = crate::layers::keywords();
                let candidates: Vec<&str> = match place {
                    Place::Augment => AUGMENTATIONS.to_vec(),
                    Place::Residual => layers,
                    Place::Head => [&layers[..], &["loss"]].concat(),
                    Place::Network => [&layers[..], DECLARATIONS].concat(),
                };
                let what = match place {
                    Place::Augment => "an augmentation",
                    _ => "a statement",
                };
                (
                    format!("unknown statement `{word}`"),
                    suggest::hint(word, &candidates, &format!("expected {what}")),
                )
            }
            (kind, Place::Augment) if is_layer(kind) => (
                format!("`{word}` is a layer, not an augmentation"),
                format!(
                    "inside `augment {{ }}` only {} stand; move `{word}` out of the block",
                    suggest::list(AUGMENTATIONS)
                ),
            ),
            (kind, Place::Network) if is_augmentation(kind) => (
                format!("`{word}` is an augmentation and must stand inside `augment {{ }}`"),
                format!("write `augment {{ {}; }}`", first_line(statement).trim_end_matches(';')),
            ),
            (StatementKind::Head { .. }, _) => (
                format!("`head` is not allowed {}", place.describe()),
                "heads stand at the network level, after the trunk's layers".to_string(),
            ),
            (StatementKind::Loss(_), Place::Residual) => (
                format!("`loss` is not allowed {}", place.describe()),
                "the loss belongs at the network level, or inside a `head`".to_string(),
            ),
            _ => (
                format!("`{word}` is not allowed {}", place.describe()),
                match place {
                    Place::Residual => "a residual branch holds layers only".to_string(),
                    Place::Head => "a head holds layers and one `loss`".to_string(),
                    Place::Augment => format!("expected {}", suggest::list(AUGMENTATIONS)),
                    Place::Network => format!("move `{word}` to where it belongs"),
                },
            ),
        };
        let label = match statement.kind {
            StatementKind::Unknown => "unknown statement",
            _ => "not allowed here",
        };
        self.error(
            Diagnostic::error(statement.keyword.span, message).with_label(label).with_help(help),
        );
    }
}
