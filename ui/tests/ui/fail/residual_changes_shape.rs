// A residual branch must keep the shape: x + F(x).
netspec::network! {
    network Res {
        input 16;
        dense 16;
        relu;
        residual {
            dense 8;
            relu;
        }
        dense 1;
        loss mse;
    }
}

fn main() {}
