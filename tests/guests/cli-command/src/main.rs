//! A plain `wasi:cli/command` component. The host tests load it to check
//! that a component targeting another world than `weir:operator` is refused
//! with a clear message.

fn main() {
    println!("hello");
}
