netspec::network! {
    network Mlp {
        input 4;
        dense 8;
        dropout -0.5;
        dense 2;
        loss mse;
    }
}

fn main() {}
