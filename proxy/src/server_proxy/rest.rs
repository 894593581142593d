//! A REST request at the server proxy.

use std::sync::Arc;

use hyper::header::HeaderMap;
use hyper::Response;
use xroad_fault::{ErrorCode, XRoadError};

use super::Peer;
use crate::context::ProxyContext;
use crate::transport::{Body, TransportMessage};

pub(super) async fn process(
    _ctx: &Arc<ProxyContext>,
    _peer: &Peer,
    _headers: &HeaderMap,
    _message: TransportMessage,
) -> Result<Response<Body>, XRoadError> {
    Err(XRoadError::new(ErrorCode::InternalError, "REST is not handled yet"))
}
