//! An operator that tries to open a TCP connection for every event. Using
//! `std::net` makes its component import `wasi:sockets`, which the host does
//! not link: the host refuses the component before it runs.

use weir_guest::{Context, Event, OpenContext, Operator, Result};

pub struct Exfiltrate;

impl Operator for Exfiltrate {
    fn open(_ctx: &mut OpenContext) -> Result<Self> {
        Ok(Exfiltrate)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let stream = std::net::TcpStream::connect("127.0.0.1:9")?;
        drop(stream);
        ctx.emit(event.key(), event.value());
        Ok(())
    }
}

weir_guest::export_operator!(Exfiltrate);
