//! A REST request at the client proxy.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};
use xroad_fault::{ErrorCode, XRoadError};

use super::IsConnection;
use crate::context::ProxyContext;
use crate::transport::Body;

pub(super) async fn handle(
    ctx: &Arc<ProxyContext>,
    _conn: &IsConnection,
    _req: Request<Incoming>,
) -> Response<Body> {
    super::soap_fault(ctx, XRoadError::new(ErrorCode::InternalError, "REST is not handled yet"))
}
