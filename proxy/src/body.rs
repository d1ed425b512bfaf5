//! The body type the proxy moves: streamed, boxed, with errors made one type.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// An error while streaming a body (client or upstream side).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed body.
pub type ProxyBody = BoxBody<Bytes, BodyError>;

/// A body from any hyper body.
pub fn boxed<B>(body: B) -> ProxyBody
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BodyError>,
{
    body.map_err(Into::into).boxed()
}

/// No body.
pub fn empty() -> ProxyBody {
    boxed(Empty::<Bytes>::new().map_err(|never| match never {}))
}

/// A body held in memory.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    boxed(Full::new(bytes.into()).map_err(|never| match never {}))
}
