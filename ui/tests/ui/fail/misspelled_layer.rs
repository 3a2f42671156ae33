netspec::network! {
    network Mlp {
        input 4;
        dens 8;
        relu;
        dense 2;
        loss mse;
    }
}

fn main() {}
