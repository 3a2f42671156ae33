// The usual program around a spec with a typo: the skeleton left after the error carries the
// generated API's names (`new`, `predict`, `OUTPUT`, ...), so the spec error is the only one.
netspec::network! {
    network Xor {
        input 2;
        dense 8 init xavier_normal;
        tahn;
        dense 1;
        loss mse;
    }
}

fn main() {
    let mut rng = netspec::Rng::seed(42);
    let net = Xor::new(&mut rng);
    let y: [f32; 1] = net.predict(&[0.0, 1.0]);
    assert!(y[0] < Xor::OUTPUT as f32);
}
