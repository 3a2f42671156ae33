// `dropout` takes the probability of dropping, in [0, 1).
netspec::network! {
    network Mlp {
        input 4;
        dense 8;
        relu;
        dropout 1.5;
        dense 2;
        loss mse;
    }
}

fn main() {}
