//! Reconciliation of bookings against the payment ledger: the check that
//! no money moved without a seat and no seat was sold without its money.
//!
//! [`reconcile`] takes every booking and every ledger transaction of the
//! same users and says whether they match exactly, once every checkout
//! has settled:
//!
//! - an order (the bookings sharing an order id: the booking itself, and
//!   one cancelled booking per return of some of its tickets) has at most
//!   one charge under its key; if any of its bookings says it was paid,
//!   that charge succeeded, is the transaction each records, and is for
//!   the sum of their totals;
//! - the ledger has refunded exactly the totals of the order's bookings
//!   that say refunded, and its status says so (succeeded with nothing
//!   refunded, partially refunded, or refunded in full);
//! - a released booking that was never charged has no successful charge;
//! - no booking is still held or waiting for a settlement or a refund;
//! - every charge of the ledger belongs to an order of these bookings.

use std::collections::BTreeMap;

use crate::proto::{Booking, BookingStatus, PaymentStatus, Transaction, TransactionStatus};

/// Every way bookings and a ledger failed to match; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatches(pub Vec<Mismatch>);

impl std::fmt::Display for Mismatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, mismatch) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{mismatch}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Mismatches {}

/// One way bookings and the ledger disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// More than one transaction under one order's key.
    #[error("order {order_id} has {count} transactions")]
    ChargedTwice {
        /// The order (the transactions' idempotency key).
        order_id: String,
        /// How many transactions it has.
        count: usize,
    },
    /// The ledger's refunds of an order differ from what its bookings say.
    #[error(
        "order {order_id}: the ledger refunded {ledger_cents} cents ({status:?}), its bookings say {booked_cents}"
    )]
    Refunds {
        /// The order.
        order_id: String,
        /// What the ledger refunded.
        ledger_cents: i64,
        /// The ledger's status of the charge.
        status: TransactionStatus,
        /// The totals of the order's bookings that say refunded.
        booked_cents: i64,
    },
    /// A booking that disagrees with the transaction under its order.
    #[error("booking {booking_id}: {problem}")]
    Booking {
        /// The booking.
        booking_id: String,
        /// How it disagrees.
        problem: BookingMismatch,
    },
    /// A charge whose key is no booking's order.
    #[error(
        "charge {transaction_id} (key {idempotency_key}, {amount_cents} cents) belongs to no booking"
    )]
    Orphan {
        /// The transaction.
        transaction_id: String,
        /// Its key.
        idempotency_key: String,
        /// Its amount.
        amount_cents: i64,
    },
}

/// How one booking disagrees with the transaction under its order's key
/// (`ledger`: that transaction's status, if there is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingMismatch {
    /// Paid, but the charge was for another amount.
    #[error("charged {charged_cents} cents for a total of {total_cents}")]
    WrongAmount {
        /// What the ledger charged.
        charged_cents: i64,
        /// The booking's total.
        total_cents: i64,
    },
    /// Confirmed as paid, but the ledger has no matching successful charge.
    #[error("confirmed as paid by {transaction_id:?}, but the ledger has {ledger:?}")]
    ChargeMissing {
        /// The transaction the booking records.
        transaction_id: String,
        /// The ledger's transaction status.
        ledger: Option<TransactionStatus>,
    },
    /// Unpaid, yet it costs something or has a transaction.
    #[error("unpaid, yet it costs {total_cents} cents or has a transaction ({ledger:?})")]
    Unpaid {
        /// The booking's total.
        total_cents: i64,
        /// The ledger's transaction status.
        ledger: Option<TransactionStatus>,
    },
    /// Says refunded, but the ledger has no matching refund.
    #[error("says refunded, but the ledger has {ledger:?}")]
    RefundMissing {
        /// The ledger's transaction status.
        ledger: Option<TransactionStatus>,
    },
    /// Says not charged, but the ledger has a charge.
    #[error("says not charged, but the ledger has {ledger:?}")]
    Charged {
        /// The ledger's transaction status.
        ledger: TransactionStatus,
    },
    /// Still held, or waiting for a settlement or a refund.
    #[error("unsettled: {status:?} with payment {payment:?}")]
    Unsettled {
        /// The booking's status.
        status: BookingStatus,
        /// Its payment status.
        payment: PaymentStatus,
    },
}

/// Checks `bookings` against `transactions` (see the module documentation).
/// Returns every mismatch found.
pub fn reconcile(bookings: &[Booking], transactions: &[Transaction]) -> Result<(), Mismatches> {
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
            problems.push(Mismatch::ChargedTwice {
                order_id: (*key).to_owned(),
                count: txs.len(),
            });
        }
    }
    let mut orders: BTreeMap<&str, Vec<&Booking>> = BTreeMap::new();
    for booking in bookings {
        if booking.order_id.is_empty() {
            continue;
        }
        orders
            .entry(booking.order_id.as_str())
            .or_default()
            .push(booking);
    }
    for (order_id, members) in &orders {
        let tx = by_key.get(order_id).and_then(|txs| txs.first().copied());
        if let Err(problem) = check_order(order_id, members, tx) {
            problems.push(problem);
        }
        for booking in members {
            if let Err(problem) = check_booking(booking, tx) {
                problems.push(Mismatch::Booking {
                    booking_id: booking.booking_id.clone(),
                    problem,
                });
            }
        }
    }
    for tx in transactions {
        let charged = matches!(
            status_of(tx),
            TransactionStatus::Succeeded
                | TransactionStatus::PartiallyRefunded
                | TransactionStatus::Refunded
        );
        if charged && !orders.contains_key(tx.idempotency_key.as_str()) {
            problems.push(Mismatch::Orphan {
                transaction_id: tx.transaction_id.clone(),
                idempotency_key: tx.idempotency_key.clone(),
                amount_cents: tx.amount_cents,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Mismatches(problems))
    }
}

/// The order's charge against its bookings together: the amount is the sum
/// of the totals of the bookings that were paid (charged or refunded), and
/// the ledger refunded exactly those that say refunded.
fn check_order(
    order_id: &str,
    members: &[&Booking],
    tx: Option<&Transaction>,
) -> Result<(), Mismatch> {
    let payment = |b: &Booking| {
        PaymentStatus::try_from(b.payment_status).unwrap_or(PaymentStatus::Unspecified)
    };
    let paid: Vec<&&Booking> = members
        .iter()
        .filter(|b| {
            matches!(
                payment(b),
                PaymentStatus::Charged | PaymentStatus::RefundPending | PaymentStatus::Refunded
            )
        })
        .collect();
    let (Some(tx), false) = (tx, paid.is_empty()) else {
        return Ok(());
    };
    let status = status_of(tx);
    if !matches!(
        status,
        TransactionStatus::Succeeded
            | TransactionStatus::PartiallyRefunded
            | TransactionStatus::Refunded
    ) {
        return Ok(());
    }
    let charged: i64 = paid.iter().map(|b| b.total_cents).sum();
    if tx.amount_cents != charged {
        return Err(Mismatch::Booking {
            booking_id: paid[0].booking_id.clone(),
            problem: BookingMismatch::WrongAmount {
                charged_cents: tx.amount_cents,
                total_cents: charged,
            },
        });
    }
    let refunded: i64 = paid
        .iter()
        .filter(|b| payment(b) == PaymentStatus::Refunded)
        .map(|b| b.total_cents)
        .sum();
    let expected = if refunded == 0 {
        TransactionStatus::Succeeded
    } else if refunded == tx.amount_cents {
        TransactionStatus::Refunded
    } else {
        TransactionStatus::PartiallyRefunded
    };
    if tx.refunded_cents == refunded && status == expected {
        Ok(())
    } else {
        Err(Mismatch::Refunds {
            order_id: order_id.to_owned(),
            ledger_cents: tx.refunded_cents,
            status,
            booked_cents: refunded,
        })
    }
}

fn status_of(tx: &Transaction) -> TransactionStatus {
    TransactionStatus::try_from(tx.status).unwrap_or(TransactionStatus::Unspecified)
}

/// One booking against the transaction under its order's key, if any.
fn check_booking(booking: &Booking, tx: Option<&Transaction>) -> Result<(), BookingMismatch> {
    let status = BookingStatus::try_from(booking.status).unwrap_or(BookingStatus::Unspecified);
    let payment =
        PaymentStatus::try_from(booking.payment_status).unwrap_or(PaymentStatus::Unspecified);
    let tx_status = tx.map(status_of);
    let recorded = |tx: &Transaction| tx.transaction_id == booking.transaction_id;
    match (status, payment) {
        (BookingStatus::Confirmed, PaymentStatus::Charged) => match tx {
            // The amount is checked for the order as a whole.
            Some(tx)
                if matches!(
                    tx_status,
                    Some(TransactionStatus::Succeeded | TransactionStatus::PartiallyRefunded)
                ) && recorded(tx) =>
            {
                Ok(())
            }
            _ => Err(BookingMismatch::ChargeMissing {
                transaction_id: booking.transaction_id.clone(),
                ledger: tx_status,
            }),
        },
        (BookingStatus::Confirmed | BookingStatus::Cancelled, PaymentStatus::None) => {
            // A free ticket returned from a paid order shares its order's
            // charge but owes nothing; the order's check covers the amount.
            let free_part_of_paid = booking.total_cents == 0 && status == BookingStatus::Cancelled;
            if booking.total_cents == 0 && (tx.is_none() || free_part_of_paid) {
                Ok(())
            } else {
                Err(BookingMismatch::Unpaid {
                    total_cents: booking.total_cents,
                    ledger: tx_status,
                })
            }
        }
        (BookingStatus::Cancelled | BookingStatus::Released, PaymentStatus::Refunded) => match tx {
            Some(tx)
                if matches!(
                    tx_status,
                    Some(TransactionStatus::Refunded | TransactionStatus::PartiallyRefunded)
                ) && recorded(tx) =>
            {
                Ok(())
            }
            _ => Err(BookingMismatch::RefundMissing { ledger: tx_status }),
        },
        (BookingStatus::Released, PaymentStatus::NotCharged) => match tx_status {
            None | Some(TransactionStatus::Declined) => Ok(()),
            Some(ledger) => Err(BookingMismatch::Charged { ledger }),
        },
        (status, payment) => Err(BookingMismatch::Unsettled { status, payment }),
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
            refunded_cents: if status == TransactionStatus::Refunded {
                500
            } else {
                0
            },
            status: status as i32,
            ..Transaction::default()
        }
    }

    #[test]
    fn a_returned_ticket_reconciles_with_a_partial_refund() {
        let kept = Booking {
            total_cents: 300,
            ..booking(1, BookingStatus::Confirmed, PaymentStatus::Charged, "tx1")
        };
        let returned = Booking {
            booking_id: "2".into(),
            order_id: "ord-1".into(),
            total_cents: 200,
            ..booking(2, BookingStatus::Cancelled, PaymentStatus::Refunded, "tx1")
        };
        let partly = Transaction {
            refunded_cents: 200,
            ..tx("tx1", "ord-1", TransactionStatus::PartiallyRefunded)
        };
        reconcile(
            &[kept.clone(), returned.clone()],
            std::slice::from_ref(&partly),
        )
        .unwrap();
        // The ledger refunded more than the returned ticket's price.
        let too_much = Transaction {
            refunded_cents: 300,
            ..partly.clone()
        };
        let problem = reconcile(&[kept.clone(), returned.clone()], &[too_much])
            .unwrap_err()
            .to_string();
        assert!(problem.contains("refunded 300 cents"), "{problem}");
        // The refund was never made.
        let none = tx("tx1", "ord-1", TransactionStatus::Succeeded);
        let problem = reconcile(&[kept, returned], &[none])
            .unwrap_err()
            .to_string();
        assert!(problem.contains("says refunded"), "{problem}");
    }

    #[test]
    fn a_returned_free_ticket_and_a_refund_in_flight_are_not_mismatches() {
        let kept = Booking {
            total_cents: 300,
            ..booking(1, BookingStatus::Confirmed, PaymentStatus::Charged, "tx1")
        };
        // A companion ticket at 0.00 returned from the paid order.
        let free = Booking {
            booking_id: "2".into(),
            order_id: "ord-1".into(),
            total_cents: 0,
            ..booking(2, BookingStatus::Cancelled, PaymentStatus::None, "")
        };
        let charge = Transaction {
            amount_cents: 300,
            ..tx("tx1", "ord-1", TransactionStatus::Succeeded)
        };
        reconcile(&[kept.clone(), free], std::slice::from_ref(&charge)).unwrap();
        // A returned ticket whose refund is still due: reported as
        // unsettled, once, not also as a charge of the wrong amount.
        let due = Booking {
            booking_id: "3".into(),
            order_id: "ord-1".into(),
            total_cents: 200,
            ..booking(
                3,
                BookingStatus::Cancelled,
                PaymentStatus::RefundPending,
                "tx1",
            )
        };
        let whole = Transaction {
            amount_cents: 500,
            ..charge
        };
        let problems = reconcile(&[kept, due], &[whole]).unwrap_err();
        assert_eq!(problems.0.len(), 1, "{problems}");
        assert!(problems.to_string().contains("unsettled"), "{problems}");
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
            let problem = reconcile(std::slice::from_ref(&booking), &ledger)
                .unwrap_err()
                .to_string();
            assert!(problem.contains(needle), "{problem:?} lacks {needle:?}");
        }
        let twice = [
            tx("tx1", "ord-1", TransactionStatus::Succeeded),
            tx("tx2", "ord-1", TransactionStatus::Succeeded),
        ];
        let paid = booking(1, BookingStatus::Confirmed, PaymentStatus::Charged, "tx1");
        let problem = reconcile(&[paid], &twice).unwrap_err();
        assert!(
            problem.0.contains(&Mismatch::ChargedTwice {
                order_id: "ord-1".into(),
                count: 2
            }),
            "{problem}"
        );
        assert!(problem.to_string().contains("2 transactions"), "{problem}");
    }
}
