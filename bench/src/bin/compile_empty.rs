//! Compile-cost probe without a network: the same program shape as `compile_tiny` etc. minus
//! the generated code, the fixed cost to subtract (see `bench/compile_cost`).

fn main() {
    let mut rng = netspec::Rng::seed(1);
    let mut params: Vec<f32> = (0..64).map(|i| i as f32).collect();
    let grads = vec![0.5f32; 64];
    let mut opt = netspec::Sgd::new(0.01).momentum(0.9).build().unwrap();
    netspec::Optimizer::step(&mut opt, &mut params, &grads);
    println!("{} {}", params[0], rng.uniform_f32());
}
