// After a spec error the type still exists (as a skeleton), so code naming it does not add
// "cannot find type" errors: only the spec's error is reported.
netspec::network! {
    network Xor {
        input 2;
        dense 8 init xavier_normal;
        tahn;
        dense 1;
        loss mse;
    }
}

struct Trainer {
    net: Xor,
    steps: usize,
}

fn build() -> Option<Trainer> {
    None::<Xor>.map(|net| Trainer { net, steps: 0 })
}

fn main() {
    if let Some(t) = build() {
        let Trainer { net: _, steps } = t;
        assert_eq!(steps, 0);
    }
}
