netspec::network! {
    network Mlp {
        input 4;
        dense 8 init kaiming_norml;
        relu;
        dense 2;
        loss mse;
    }
}

fn main() {}
