// A correct spec, but convolutions are not generated yet.
netspec::network! {
    network Cnn {
        input image(1, 8, 8);
        conv 4 kernel 3 pad 1;
        relu;
        flatten;
        dense 10;
        loss softmax_cross_entropy;
    }
}

fn main() {}
