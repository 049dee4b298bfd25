//! Extractors whose rejections are `ApiError`s, so bad bodies get the same JSON errors.

use axum::extract::FromRequest;

use crate::error::ApiError;

/// `axum::Json`, with a typed 400 `bad_json` instead of axum's plain-text rejection.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);
