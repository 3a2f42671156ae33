// Sizes are numbers, not strings.
netspec::network! {
    network Mlp {
        input "4";
        dense 2;
        loss mse;
    }
}

fn main() {}
