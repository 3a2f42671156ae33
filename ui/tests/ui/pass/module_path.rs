// A network generated inside a module and used through its path; the generated code names the
// runtime by `::netspec`, so it works wherever it is expanded.
use netspec::prelude::*;

mod models {
    use netspec::Network;

    netspec::network! {
        network Tiny {
            input 2;
            batch 1;
            dense 1 init ones bias zeros;
            loss mse;
        }
    }

    pub fn fresh() -> Tiny {
        Tiny::new(&mut netspec::Rng::seed(0))
    }
}

use models::Tiny as Renamed;

fn main() {
    let net: models::Tiny = models::fresh();
    assert_eq!(net.predict(&[2.0, 3.0]), [5.0]);
    assert_eq!(Renamed::PARAM_COUNT, 3);
    let cloned = net.clone();
    assert_eq!(cloned.params(), net.params());
    assert!(format!("{net:?}").contains("Tiny"));
    let path = std::env::temp_dir().join(format!("netspec-ui-{}.safetensors", std::process::id()));
    net.save(&path).unwrap();
    let mut other = models::fresh();
    other.params_mut().fill(9.0);
    other.load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(other.params(), net.params());
}
