//! Every error the API returns: a status code and a JSON body
//! `{"error": {"code": "...", "message": "..."}}`, from one mapping of the
//! cluster's gRPC statuses and of bad requests.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: a stable code for programs, a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: `invalid_argument`, `malformed_json`,
    /// `invalid_body`, `invalid_file`, `unsupported_media_type`, `payload_too_large`,
    /// `unauthenticated`, `permission_denied`, `not_found`,
    /// `method_not_allowed`,
    /// `already_exists`, `conflict`, `payment_declined`,
    /// `too_many_requests`, `unavailable`, `timeout`, `upstream_error`,
    /// `internal`.
    pub code: String,
    /// A sentence saying what to fix.
    pub message: String,
    /// For a file that could not be read (a venue or pricing file): the
    /// line of the mistake, counted from 1, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// An error response.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// See [`ErrorDetail::code`].
    pub code: &'static str,
    /// See [`ErrorDetail::message`].
    pub message: String,
    /// See [`ErrorDetail::line`].
    pub line: Option<usize>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            line: None,
        }
    }

    /// 400 `invalid_file`: a venue or pricing file with a mistake, on
    /// `line` if known.
    pub fn invalid_file(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            line,
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_file", message)
        }
    }

    /// 400 `invalid_argument`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 429 `too_many_requests`.
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        let (code, name) = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => {
                (StatusCode::BAD_REQUEST, "invalid_argument")
            }
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Code::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            Code::FailedPrecondition if message.starts_with("payment declined") => {
                (StatusCode::PAYMENT_REQUIRED, "payment_declined")
            }
            Code::FailedPrecondition | Code::Aborted => (StatusCode::CONFLICT, "conflict"),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Code::DeadlineExceeded | Code::Cancelled => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
        };
        Self::new(code, name, message)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_body",
        };
        Self::new(rejection.status(), code, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

impl ApiError {
    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                line: self.line,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_http_codes() {
        let cases = [
            (
                tonic::Status::invalid_argument("x"),
                400,
                "invalid_argument",
            ),
            (tonic::Status::unauthenticated("x"), 401, "unauthenticated"),
            (
                tonic::Status::permission_denied("x"),
                403,
                "permission_denied",
            ),
            (tonic::Status::not_found("x"), 404, "not_found"),
            (tonic::Status::already_exists("x"), 409, "already_exists"),
            (
                tonic::Status::failed_precondition("seat 3 is booked"),
                409,
                "conflict",
            ),
            (
                tonic::Status::failed_precondition("payment declined: insufficient funds"),
                402,
                "payment_declined",
            ),
            (tonic::Status::unavailable("x"), 503, "unavailable"),
            (tonic::Status::deadline_exceeded("x"), 504, "timeout"),
            (tonic::Status::internal("x"), 502, "upstream_error"),
        ];
        for (status, http, code) in cases {
            let error = ApiError::from(status);
            assert_eq!((error.status.as_u16(), error.code), (http, code));
        }
    }
}
