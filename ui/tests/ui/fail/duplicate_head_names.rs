netspec::network! {
    network Multi {
        input 16;
        dense 32;
        relu;
        head out { dense 10; loss softmax_cross_entropy; }
        head out { dense 1; loss mse weight 0.5; }
    }
}

fn main() {}
