netspec::network! {}

fn main() {}
