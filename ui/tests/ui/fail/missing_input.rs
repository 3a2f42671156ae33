netspec::network! {
    network Mlp {
        dense 8;
        relu;
        dense 2;
        loss mse;
    }
}

fn main() {}
