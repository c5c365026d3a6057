//! An operator that tries to open a TCP connection (to config `addr`,
//! default `127.0.0.1:9`) for every event. Using `std::net` makes its
//! component import `wasi:sockets`; the host links it (language runtimes
//! import it whether or not they use it) but its WASI context refuses every
//! connection, so `process` fails and nothing leaves the sandbox.

use weir_guest::{Context, Event, OpenContext, Operator, Result};

pub struct Exfiltrate {
    addr: String,
}

impl Operator for Exfiltrate {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Exfiltrate { addr: ctx.info().config("addr").unwrap_or("127.0.0.1:9").to_owned() })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let stream = std::net::TcpStream::connect(self.addr.as_str())?;
        drop(stream);
        ctx.emit(event.key(), event.value());
        Ok(())
    }
}

weir_guest::export_operator!(Exfiltrate);
