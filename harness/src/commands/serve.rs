//! `e2ee serve`: one compiled-in client as an `MLSClient` gRPC server (the IETF interop
//! interface), for the IETF Go test runner, other labs, or `e2ee interop --clients grpc:…`.

use clap::Args;
use std::io::Write;
use std::net::SocketAddr;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The client to serve (`openmls`, `mls-rs`).
    #[arg(long, value_name = "NAME")]
    client: String,
    /// Where to listen; loopback unless told otherwise. Port 0 picks a free one; the address
    /// bound is printed as `listening on ADDR` on stdout.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Seed a bug, to test a harness against a misbehaving server (repeatable):
    /// `wrong-authenticator`, `unimplemented:RPC`, `hang:RPC`, `panic:RPC` (the handler panics),
    /// `crash-after:N` (exit on the Nth call).
    #[arg(long, value_name = "FAULT")]
    fault: Vec<crate::grpc::fault::Fault>,
}

/// Serves until killed.
pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    use crate::grpc::{fault::Faults, proto::mls_client_server::MlsClientServer, server::Service};
    let mut chosen = crate::clients::by_names(
        Some(std::slice::from_ref(&args.client)),
        crate::clients::member_clients,
    )?;
    if !args.fault.is_empty() {
        tracing::warn!("serving with seeded faults: {:?}", args.fault);
    }
    let service = Service::new(chosen.remove(0), Faults::new(args.fault));
    super::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let bound = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {bound}")?;
        out.flush()?;
        drop(out);
        tonic::transport::Server::builder()
            .add_service(MlsClientServer::new(service))
            // Without TCP_NODELAY every small answer waits out the peer's delayed ACK (~40 ms).
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            )
            .await?;
        Ok(0)
    })
}
