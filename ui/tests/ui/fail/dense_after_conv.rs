// A dense layer needs a vector: the conv output must be flattened first.
netspec::network! {
    network Cnn {
        input image(1, 8, 8);
        conv 4 kernel 3;
        relu;
        dense 10;
        loss softmax_cross_entropy;
    }
}

fn main() {}
