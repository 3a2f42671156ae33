//! `residual [stochastic_depth P] { ... }`: y = x + F(x), where the branch F keeps the shape.
//! The checker lowers the branch layer by layer (`check/layers.rs`).

use super::{Argument, LayerKind, Lower};
use crate::ir::Op;

pub(super) const KINDS: &[LayerKind] = &[RESIDUAL];

pub(super) const RESIDUAL: LayerKind = LayerKind {
    keyword: "residual",
    argument: Argument::None,
    options: &["stochastic_depth"],
    lower: Lower::Residual,
    label: |op| match op {
        Op::Residual { stochastic_depth, .. } if *stochastic_depth > 0.0 => {
            Some(format!("residual, stochastic_depth {stochastic_depth}"))
        }
        Op::Residual { .. } => Some("residual".into()),
        _ => None,
    },
};
