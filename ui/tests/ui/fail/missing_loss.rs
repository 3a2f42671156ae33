netspec::network! {
    network Mlp {
        input 4;
        dense 8;
        relu;
        dense 2;
    }
}

fn main() {}
