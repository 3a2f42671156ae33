// Rust habits in a spec: a typed literal.
netspec::network! {
    network Mlp {
        input 4;
        dense 8usize;
        dense 2;
        loss mse;
    }
}

fn main() {}
