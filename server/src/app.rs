//! Putting the pieces together: the service stack every front end serves, and a
//! running server that tests and the binary start and stop.

use crate::core::{Config, Core, Deps};
use crate::http::{serve, Api, Limits, RequestId, RequestIdLayer, Timeout, TimeoutLayer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;

/// The API with its layers: request id and log line outside, timeout inside. A
/// `tower::Service` for any request body the API reads; cheap to clone.
pub type Stack = RequestId<Timeout<Api>>;

/// The `Stack` over `api`.
pub fn stack(api: Api, limits: &Limits) -> Stack {
    stack_with(api, limits, RequestIdLayer::new())
}

/// `stack`, numbering requests with `request_ids` (the mock restarts its numbering
/// on reset).
pub fn stack_with(api: Api, limits: &Limits, request_ids: RequestIdLayer) -> Stack {
    ServiceBuilder::new()
        .layer(request_ids)
        .layer(TimeoutLayer::new(limits.request_timeout))
        .service(api)
}

/// A server running on a tokio task; stops gracefully on `shutdown` or drop.
pub struct Running {
    pub addr: SocketAddr,
    pub core: Arc<Core>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// `http://<addr>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits for that.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The real parts around `store`: the system clock, the OS's randomness, bcrypt at
/// `bcrypt_cost`, and no mail (self-hosted mode sends none).
pub fn real_parts(store: Arc<dyn crate::core::ports::Store>, bcrypt_cost: u32) -> Deps {
    Deps {
        store,
        clock: Arc::new(crate::time::SystemClock),
        random: Arc::new(crate::crypto::OsRandom::new()),
        hasher: Arc::new(crate::hashing::Bcrypt::new(bcrypt_cost)),
        mailer: Arc::new(crate::core::ports::NoMail),
        notifier: Arc::new(crate::core::ports::NoNotifier),
    }
}

/// Builds the core and serves it on `listener` in the background.
pub async fn start(
    listener: TcpListener,
    deps: Deps,
    config: Config,
    limits: Limits,
) -> std::io::Result<Running> {
    let core = Arc::new(
        Core::new(deps, config)
            .await
            .map_err(std::io::Error::other)?,
    );
    let addr = listener.local_addr()?;
    let service = stack(Api::new(core.clone(), &limits), &limits);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, service, limits, async {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        core,
        stop: Some(stop),
        task: Some(task),
    })
}
