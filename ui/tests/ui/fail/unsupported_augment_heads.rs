// A correct spec, but augmentation is not generated for networks with heads yet.
netspec::network! {
    network Multi {
        input image(1, 8, 8);
        augment { flip horizontal; }
        conv 4 kernel 3 pad 1;
        relu;
        flatten;
        head digit { dense 10; loss softmax_cross_entropy; }
        head parity { dense 1; loss binary_cross_entropy; }
    }
}

fn main() {}
