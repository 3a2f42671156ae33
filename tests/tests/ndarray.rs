//! ndarray interop (the facade's `ndarray` feature): the `NdarrayExt` methods compute exactly
//! what the slice methods do, accept any input layout, and refuse wrong shapes and strided
//! targets with errors that name the argument and the shape.

use ndarray::{Array1, Array2, ArrayView1, s};
use netspec::prelude::*;
use netspec::{ArrayError, BatchError, Dataset, NdarrayExt, Rng};

netspec::network! {
    network Iris {
        input 4;
        batch 8;
        dense 16 init kaiming_uniform;
        relu;
        dense 3;
        loss softmax_cross_entropy;
    }
    network Regress {
        input 3;
        batch 4;
        dense 2;
        loss mse;
    }
}

fn sgd() -> netspec::Sgd {
    netspec::Sgd::new(0.05).build().unwrap()
}

#[test]
fn array_methods_match_the_slice_methods_bit_for_bit() {
    let iris = Dataset::iris();
    let x = iris.features_array();
    let y = iris.labels_array();
    let (mut a, mut b) = (Iris::new(&mut Rng::seed(1)), Iris::new(&mut Rng::seed(1)));
    let (mut ra, mut rb) = (Rng::seed(2), Rng::seed(2));
    let (mut oa, mut ob) = (sgd(), sgd());
    for start in (0..144).step_by(8) {
        let rows = x.slice(s![start..start + 8, ..]);
        let labels = y.slice(s![start..start + 8]);
        let la = a.train_step_array(rows, labels, &mut oa, &mut ra).unwrap();
        let lb = b
            .train_step(rows.to_slice().unwrap(), labels.to_slice().unwrap(), &mut ob, &mut rb)
            .unwrap();
        assert_eq!(la.to_bits(), lb.to_bits());
    }
    assert_eq!(a.params(), b.params());
    let rows = x.slice(s![..8, ..]);
    let labels = y.slice(s![..8]);
    let la = a.loss_and_grad_array(rows, labels).unwrap();
    let lb = b.loss_and_grad(rows.to_slice().unwrap(), labels.to_slice().unwrap()).unwrap();
    assert_eq!((la.to_bits(), a.grads()), (lb.to_bits(), b.grads()));

    let scores = a.predict_array(x).unwrap();
    let mut flat = vec![0.0; 150 * 3];
    b.predict_batch(&iris.features, &mut flat).unwrap();
    assert_eq!(scores.dim(), (150, 3));
    assert_eq!(scores.as_slice().unwrap(), flat.as_slice());
    // A column-major copy of the inputs gives the same outputs.
    let fortran = x.t().to_owned();
    assert_eq!(a.predict_array(fortran.t()).unwrap(), scores);
    // Zero rows is an empty prediction, not an error.
    assert_eq!(a.predict_array(x.slice(s![..0, ..])).unwrap().dim(), (0, 3));
}

#[test]
fn wrong_shapes_and_layouts_are_errors_that_say_what_to_pass() {
    let mut rng = Rng::seed(3);
    let mut net = Iris::new(&mut rng);
    let mut opt = sgd();
    let x = Array2::<f32>::zeros((8, 4));
    let labels = Array1::<usize>::zeros(8);

    let err = net.predict_array(Array2::zeros((5, 3)).view()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Iris::predict_array: `inputs` must be [n, 4] ([n, INPUT]), found [5, 3]; pass one \
         sample per row"
    );
    let err = net.train_step_array(x.slice(s![..7, ..]), labels.view(), &mut opt, &mut rng);
    assert!(matches!(
        err,
        Err(ArrayError::Shape { argument: "inputs", ref found, .. }) if found == &[7, 4]
    ));
    let err = net.loss_and_grad_array(x.view(), labels.slice(s![..4])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Iris::loss_and_grad_array: `targets` must be [8] (BATCH class indices), found [4]; \
         pass one sample per row"
    );
    let strided = Array1::<usize>::zeros(16);
    let err = net.loss_and_grad_array(x.view(), strided.slice(s![..;2])).unwrap_err();
    assert_eq!(
        err,
        ArrayError::Layout { network: "Iris", method: "loss_and_grad_array", argument: "targets" }
    );
    assert!(err.to_string().contains("as_standard_layout()"), "{err}");
    // What the slice method refuses comes through as it is.
    let bad = Array1::from(vec![0, 1, 2, 3, 0, 1, 2, 0]);
    let err = net.train_step_array(x.view(), bad.view(), &mut opt, &mut rng).unwrap_err();
    assert!(matches!(err, ArrayError::Batch(BatchError::Label { label: 3, sample: 3, .. })));
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn value_targets_are_batch_by_output_arrays() {
    let mut rng = Rng::seed(4);
    let mut net = Regress::new(&mut rng);
    let mut opt = sgd();
    let x = Array2::from_shape_fn((4, 3), |(i, j)| (i + j) as f32 / 4.0);
    let y = Array2::from_shape_fn((4, 2), |(i, j)| (i * j) as f32 / 8.0);
    let first = net.train_step_array(x.view(), y.view(), &mut opt, &mut rng).unwrap();
    for _ in 0..200 {
        net.train_step_array(x.view(), y.view(), &mut opt, &mut rng).unwrap();
    }
    assert!(net.loss_and_grad_array(x.view(), y.view()).unwrap() < first / 4.0);
    let err = net.loss_and_grad_array(x.view(), y.t()).unwrap_err();
    assert!(err.to_string().contains("`targets` must be [4, 2] ([BATCH, OUTPUT]), found [2, 4]"));
}

#[test]
fn a_dataset_round_trips_through_arrays() {
    let iris = Dataset::iris();
    let (x, y): (Array2<f32>, Array1<usize>) = iris.clone().into_arrays();
    let back = Dataset::from_arrays(x.view(), y.view()).unwrap();
    assert_eq!(back.features, iris.features);
    assert_eq!(back.labels, iris.labels);
    assert!(Dataset::from_arrays(x.view(), ArrayView1::from(&[0usize; 3][..])).is_err());
}
