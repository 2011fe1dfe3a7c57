//! Reconciliation of bookings against the payment ledger: the check that
//! no money moved without a seat and no seat was sold without its money.
//!
//! [`reconcile`] takes every booking and every ledger transaction of the
//! same users and says whether they match exactly, once every checkout
//! has settled:
//!
//! - a confirmed booking has exactly one successful charge under its
//!   order's key, for its total, with the transaction id it records;
//! - a cancelled or released booking's charge, if one was made, is
//!   refunded, and the booking says so; a released booking that was never
//!   charged has no successful or refunded charge;
//! - no booking is still held or waiting for a settlement or a refund;
//! - every charge of the ledger belongs to exactly one booking (its key is
//!   that booking's order), and no order was charged twice.

use std::collections::BTreeMap;

use crate::proto::{Booking, BookingStatus, PaymentStatus, Transaction, TransactionStatus};

/// Checks `bookings` against `transactions` (see the module documentation).
/// Returns every mismatch found, one per line.
pub fn reconcile(bookings: &[Booking], transactions: &[Transaction]) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut by_key: BTreeMap<&str, Vec<&Transaction>> = BTreeMap::new();
    for tx in transactions {
        by_key
            .entry(tx.idempotency_key.as_str())
            .or_default()
            .push(tx);
    }
    for (key, txs) in &by_key {
        if txs.len() > 1 {
            problems.push(format!("order {key} has {} transactions", txs.len()));
        }
    }
    let mut orders: BTreeMap<&str, &Booking> = BTreeMap::new();
    for booking in bookings {
        if booking.order_id.is_empty() {
            continue;
        }
        if let Some(other) = orders.insert(booking.order_id.as_str(), booking) {
            problems.push(format!(
                "bookings {} and {} share order {}",
                other.booking_id, booking.booking_id, booking.order_id
            ));
        }
        let tx = by_key
            .get(booking.order_id.as_str())
            .and_then(|txs| txs.first().copied());
        if let Err(problem) = check_booking(booking, tx) {
            problems.push(format!("booking {}: {problem}", booking.booking_id));
        }
    }
    for tx in transactions {
        let charged = matches!(
            status_of(tx),
            TransactionStatus::Succeeded | TransactionStatus::Refunded
        );
        if charged && !orders.contains_key(tx.idempotency_key.as_str()) {
            problems.push(format!(
                "charge {} (key {}, {} cents) belongs to no booking",
                tx.transaction_id, tx.idempotency_key, tx.amount_cents
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn status_of(tx: &Transaction) -> TransactionStatus {
    TransactionStatus::try_from(tx.status).unwrap_or(TransactionStatus::Unspecified)
}

/// One booking against the transaction under its order's key, if any.
fn check_booking(booking: &Booking, tx: Option<&Transaction>) -> Result<(), String> {
    let status = BookingStatus::try_from(booking.status).unwrap_or(BookingStatus::Unspecified);
    let payment =
        PaymentStatus::try_from(booking.payment_status).unwrap_or(PaymentStatus::Unspecified);
    let tx_status = tx.map(status_of);
    let recorded = |tx: &Transaction| tx.transaction_id == booking.transaction_id;
    match (status, payment) {
        (BookingStatus::Confirmed, PaymentStatus::Charged) => match tx {
            Some(tx) if tx_status == Some(TransactionStatus::Succeeded) && recorded(tx) => {
                if tx.amount_cents == booking.total_cents {
                    Ok(())
                } else {
                    Err(format!(
                        "charged {} cents for a total of {}",
                        tx.amount_cents, booking.total_cents
                    ))
                }
            }
            _ => Err(format!(
                "confirmed as paid by {:?}, but the ledger has {tx_status:?}",
                booking.transaction_id
            )),
        },
        (BookingStatus::Confirmed | BookingStatus::Cancelled, PaymentStatus::None) => {
            if booking.total_cents == 0 && tx.is_none() {
                Ok(())
            } else {
                Err(format!(
                    "unpaid, yet it costs {} cents or has a transaction ({tx_status:?})",
                    booking.total_cents
                ))
            }
        }
        (BookingStatus::Cancelled | BookingStatus::Released, PaymentStatus::Refunded) => match tx {
            Some(tx) if tx_status == Some(TransactionStatus::Refunded) && recorded(tx) => Ok(()),
            _ => Err(format!("says refunded, but the ledger has {tx_status:?}")),
        },
        (BookingStatus::Released, PaymentStatus::NotCharged) => match tx_status {
            None | Some(TransactionStatus::Declined) => Ok(()),
            Some(other) => Err(format!("says not charged, but the ledger has {other:?}")),
        },
        (status, payment) => Err(format!("unsettled: {status:?} with payment {payment:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(id: u32, status: BookingStatus, payment: PaymentStatus, tx: &str) -> Booking {
        Booking {
            booking_id: id.to_string(),
            order_id: format!("ord-{id}"),
            total_cents: 500,
            status: status as i32,
            payment_status: payment as i32,
            transaction_id: tx.into(),
            ..Booking::default()
        }
    }

    fn tx(id: &str, key: &str, status: TransactionStatus) -> Transaction {
        Transaction {
            transaction_id: id.into(),
            idempotency_key: key.into(),
            amount_cents: 500,
            status: status as i32,
            ..Transaction::default()
        }
    }

    #[test]
    fn matching_books_reconcile() {
        let bookings = [
            booking(1, BookingStatus::Confirmed, PaymentStatus::Charged, "tx1"),
            booking(2, BookingStatus::Cancelled, PaymentStatus::Refunded, "tx2"),
            booking(3, BookingStatus::Released, PaymentStatus::NotCharged, ""),
            booking(4, BookingStatus::Released, PaymentStatus::NotCharged, ""),
            booking(5, BookingStatus::Released, PaymentStatus::Refunded, "tx5"),
        ];
        let ledger = [
            tx("tx1", "ord-1", TransactionStatus::Succeeded),
            tx("tx2", "ord-2", TransactionStatus::Refunded),
            tx("tx3", "ord-3", TransactionStatus::Declined),
            tx("tx5", "ord-5", TransactionStatus::Refunded),
        ];
        reconcile(&bookings, &ledger).unwrap();
    }

    #[test]
    fn every_kind_of_mismatch_is_reported() {
        let cases: [(Booking, Vec<Transaction>, &str); 6] = [
            // A confirmed booking whose charge is missing.
            (
                booking(1, BookingStatus::Confirmed, PaymentStatus::Charged, "tx1"),
                vec![],
                "confirmed as paid",
            ),
            // A charge of the wrong amount.
            (
                booking(1, BookingStatus::Confirmed, PaymentStatus::Charged, "tx1"),
                vec![Transaction {
                    amount_cents: 499,
                    ..tx("tx1", "ord-1", TransactionStatus::Succeeded)
                }],
                "charged 499 cents",
            ),
            // Released, but the charge stands.
            (
                booking(1, BookingStatus::Released, PaymentStatus::NotCharged, ""),
                vec![tx("tx1", "ord-1", TransactionStatus::Succeeded)],
                "says not charged",
            ),
            // Cancelled, refund never made.
            (
                booking(1, BookingStatus::Cancelled, PaymentStatus::Refunded, "tx1"),
                vec![tx("tx1", "ord-1", TransactionStatus::Succeeded)],
                "says refunded",
            ),
            // Still waiting.
            (
                booking(1, BookingStatus::Held, PaymentStatus::Pending, ""),
                vec![],
                "unsettled",
            ),
            // A charge for an order no booking has.
            (
                booking(1, BookingStatus::Released, PaymentStatus::NotCharged, ""),
                vec![tx("tx9", "ord-9", TransactionStatus::Succeeded)],
                "belongs to no booking",
            ),
        ];
        for (booking, ledger, needle) in cases {
            let problem = reconcile(std::slice::from_ref(&booking), &ledger).unwrap_err();
            assert!(problem.contains(needle), "{problem:?} lacks {needle:?}");
        }
        let twice = [
            tx("tx1", "ord-1", TransactionStatus::Succeeded),
            tx("tx2", "ord-1", TransactionStatus::Succeeded),
        ];
        let paid = booking(1, BookingStatus::Confirmed, PaymentStatus::Charged, "tx1");
        let problem = reconcile(&[paid], &twice).unwrap_err();
        assert!(problem.contains("2 transactions"), "{problem}");
    }
}
