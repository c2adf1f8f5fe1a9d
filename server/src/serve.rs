//! Serving the app on a socket, plain or HTTPS (rustls), with graceful shutdown.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;

use crate::config::TlsFiles;
use crate::http::{app, AppState};

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(20);

/// Serve until `shutdown` completes, then drain in-flight requests. Tests pass a listener bound
/// to port 0 and a future they control.
pub async fn serve_with_listener(
    state: AppState,
    listener: std::net::TcpListener,
    tls: Option<&TlsFiles>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = Handle::new();
    let drain = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight requests");
        drain.graceful_shutdown(Some(DRAIN));
    });
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(service)
                .await?
        }
        Some(files) => {
            // ring is the one crypto provider compiled in; installing twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = RustlsConfig::from_pem_file(&files.cert, &files.key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} and key {}",
                        files.cert.display(),
                        files.key.display()
                    )
                })?;
            axum_server::from_tcp_rustls(listener, config)
                .handle(handle)
                .serve(service)
                .await?
        }
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
