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

/// A client's request body: hyper's, or none for a request the HTTP/1 fast
/// lane took whole (it takes only requests that declare no body).
#[derive(Debug)]
pub enum ClientBody {
    /// The request declared no body.
    Empty,
    /// Read by hyper.
    Hyper(hyper::body::Incoming),
}

impl hyper::body::Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Empty => std::task::Poll::Ready(None),
            Self::Hyper(incoming) => std::pin::Pin::new(incoming).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Hyper(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Self::Empty => hyper::body::SizeHint::with_exact(0),
            Self::Hyper(incoming) => incoming.size_hint(),
        }
    }
}
