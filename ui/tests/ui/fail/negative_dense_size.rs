// In Rust tokens `-3` is two tokens, `-` and `3`.
netspec::network! {
    network Mlp {
        input 4;
        dense -3;
        dense 2;
        loss mse;
    }
}

fn main() {}
