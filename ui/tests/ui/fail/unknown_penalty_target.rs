// There is no third dense layer.
netspec::network! {
    network Mlp {
        input 4;
        dense 8;
        relu;
        dense 2;
        loss mse;
        penalty l1 1e-5 on dense3.weight;
    }
}

fn main() {}
