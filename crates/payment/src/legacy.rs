//! The old system's `payment.PaymentService`, kept on the wire for its
//! clients: a thin adapter over [`PaymentApi`] and the same ledger. Legacy
//! card numbers are test tokens: `9999` is declined, any other pays (they
//! become the documented test cards that do so, [`cards::legacy_card`], so
//! only those cards' last four digits reach the ledger). The port takes no credentials, as the
//! old one did not: its charges live under `legacy:` keys, and it answers
//! queries for those alone.

use std::sync::Arc;

use boxoffice_proto::legacy::payment as legacy;
use boxoffice_proto::legacy::payment::payment_service_server::PaymentService as LegacyPaymentService;
use boxoffice_proto::v1;
use tonic::{Code, Request, Response, Status};

use crate::cards;
use crate::service::PaymentApi;

/// The legacy payment service.
pub struct LegacyPayment {
    api: Arc<PaymentApi>,
}

impl LegacyPayment {
    /// The adapter over `api`.
    pub fn new(api: Arc<PaymentApi>) -> Self {
        Self { api }
    }
}

fn status_name(status: i32) -> &'static str {
    match v1::TransactionStatus::try_from(status).unwrap_or(v1::TransactionStatus::Unspecified) {
        v1::TransactionStatus::Succeeded => "SUCCEEDED",
        v1::TransactionStatus::Declined => "DECLINED",
        v1::TransactionStatus::Refunded => "REFUNDED",
        // The old contract knows four words; a charge refunded in part
        // still stands in part. (Old clients' charges are never refunded:
        // this port does not refund, and nodes refund only checkouts.)
        v1::TransactionStatus::PartiallyRefunded => "SUCCEEDED",
        v1::TransactionStatus::Unspecified => "UNKNOWN",
    }
}

#[tonic::async_trait]
impl LegacyPaymentService for LegacyPayment {
    async fn process_payment(
        &self,
        req: Request<legacy::PaymentRequest>,
    ) -> Result<Response<legacy::PaymentResponse>, Status> {
        let r = req.into_inner();
        // Old clients' keys live in their own namespace: a correlation id
        // equal to a checkout's order id (which customers see) must never
        // land a charge under that order's key, or the checkout would take
        // the old client's charge (any amount) as the order's payment.
        let replayed = !r.correlation_id.is_empty();
        let key = if r.correlation_id.is_empty() {
            format!("legacy:{}", uuid::Uuid::new_v4().simple())
        } else {
            format!("legacy:{}", r.correlation_id)
        };
        let charge = v1::ChargeRequest {
            idempotency_key: key,
            user_id: if r.user_id.is_empty() {
                "legacy".into()
            } else {
                r.user_id
            },
            amount_cents: r.amount_cents,
            currency: if r.currency.is_empty() {
                "EUR".into()
            } else {
                r.currency.to_uppercase()
            },
            card: Some(cards::legacy_card(&r.card_number)),
            description: r.metadata.chars().take(200).collect(),
        };
        let response = match self.api.charge_checked(charge).await {
            Ok(reply) => {
                let tx = reply.into_inner().transaction.unwrap_or_default();
                let succeeded = tx.status == v1::TransactionStatus::Succeeded as i32;
                legacy::PaymentResponse {
                    success: succeeded,
                    message: if succeeded {
                        "payment accepted".into()
                    } else {
                        format!("payment declined: {}", tx.decline_reason)
                    },
                    status: status_name(tx.status).into(),
                    transaction_id: tx.transaction_id,
                }
            }
            // Old clients retry elsewhere only on UNAVAILABLE; a charge
            // whose reply was lost is replayed under the same correlation id.
            // A storage failure (INTERNAL) leaves the outcome unknown too:
            // the charge may be in the ledger's journal and come back when
            // the service restarts, so FAILED ("not charged") would be a lie.
            // Without a correlation id a retry is a new charge: only a call
            // that did nothing (UNAVAILABLE) may invite one; one whose
            // outcome is unknown is UNKNOWN, which old clients do not retry.
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Internal
                ) =>
            {
                // A call that did nothing says why (the service is down);
                // any other cause stays in the service's log: this port
                // takes no credentials.
                if status.code() == Code::Unavailable {
                    return Err(Status::unavailable(status.message().to_owned()));
                }
                tracing::warn!(cause = %status.message(), "an old client's charge ended unknown");
                return Err(if replayed {
                    Status::unavailable(
                        "the charge's outcome is not known yet; retry with the same correlation_id",
                    )
                } else {
                    Status::unknown(
                        "the charge may or may not have been made; send a correlation_id to retry safely",
                    )
                });
            }
            Err(status) => legacy::PaymentResponse {
                success: false,
                transaction_id: String::new(),
                status: "FAILED".into(),
                message: format!("payment failed: {}", status.message()),
            },
        };
        Ok(Response::new(response))
    }

    async fn query_transaction(
        &self,
        req: Request<legacy::QueryTransactionRequest>,
    ) -> Result<Response<legacy::QueryTransactionResponse>, Status> {
        let id = req.into_inner().transaction_id;
        let query = v1::GetTransactionRequest {
            transaction_id: id.clone(),
            idempotency_key: String::new(),
        };
        let found = self.api.get_checked(query).await.map(|reply| {
            let tx = reply.into_inner().transaction.unwrap_or_default();
            // This port takes no credentials: it answers only for the old
            // clients' own charges, never for a checkout's (whose id the
            // buyer's booking shows), so it reveals no one's card or amount.
            tx.idempotency_key.starts_with("legacy:").then_some(tx)
        });
        let response = match found {
            Ok(Some(tx)) => {
                let raw = serde_json::json!({
                    "transaction_id": tx.transaction_id,
                    "status": status_name(tx.status),
                    "amount_cents": tx.amount_cents,
                    "currency": tx.currency,
                    "card_last4": tx.card_last4,
                    "created_at_ms": tx.created_at_ms,
                });
                legacy::QueryTransactionResponse {
                    transaction_id: tx.transaction_id,
                    status: status_name(tx.status).into(),
                    amount_cents: tx.amount_cents,
                    currency: tx.currency,
                    created_at: tx.created_at_ms,
                    raw_response: raw.to_string(),
                }
            }
            Ok(None) => legacy::QueryTransactionResponse {
                transaction_id: id,
                status: "NOT_FOUND".into(),
                ..legacy::QueryTransactionResponse::default()
            },
            Err(status)
                if status.code() == Code::NotFound || status.code() == Code::InvalidArgument =>
            {
                legacy::QueryTransactionResponse {
                    transaction_id: id,
                    status: "NOT_FOUND".into(),
                    ..legacy::QueryTransactionResponse::default()
                }
            }
            Err(status) => return Err(status),
        };
        Ok(Response::new(response))
    }
}
