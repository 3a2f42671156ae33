// Two networks, one with a checker error: `Good` is still generated and usable, `Bad` becomes a
// skeleton, and the spec error is the only one.
netspec::network! {
    network Good {
        input 2;
        dense 1;
        loss mse;
    }

    network Bad {
        input 2;
        dense 1;
        loss mean_squared_error;
    }
}

fn main() {
    let net = Good::new(&mut netspec::Rng::seed(0));
    let _ = net.predict(&[0.0, 0.0]);
}
