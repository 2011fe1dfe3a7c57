//! The old system's `chatbot.Chatbot`, kept on the wire for its clients:
//! a thin adapter over the same [`Assistant`]. Intents are reported with
//! the old labels (`seats_together` and `accessibility` as `query_seat`,
//! `list_shows` and `prices` as `show_info`, `my_bookings` as `booking`);
//! suggestions carry their payload as JSON.

use std::sync::Arc;

use boxoffice_proto::legacy::chatbot as legacy;
use boxoffice_proto::legacy::chatbot::chatbot_server::Chatbot;
use boxoffice_proto::v1::SuggestionAction;
use tonic::{Request, Response, Status};

use crate::assistant::{Assistant, MAX_TEXT};
use crate::intent::Intent;

/// The legacy chatbot service.
pub struct LegacyChatbot {
    assistant: Arc<Assistant>,
}

impl LegacyChatbot {
    /// The adapter over `assistant`.
    pub fn new(assistant: Arc<Assistant>) -> Self {
        Self { assistant }
    }
}

/// The old label for an intent.
pub fn old_label(intent: Intent) -> &'static str {
    match intent {
        Intent::SeatsTogether | Intent::Accessibility => "query_seat",
        Intent::ListShows | Intent::Prices => "show_info",
        Intent::MyBookings => "booking",
        other => other.label(),
    }
}

fn action(action: i32) -> &'static str {
    match SuggestionAction::try_from(action).unwrap_or(SuggestionAction::Unspecified) {
        SuggestionAction::HoldSeats => "hold_seats",
        SuggestionAction::ViewSeatMap => "view_seat_map",
        SuggestionAction::ListBookings => "list_bookings",
        SuggestionAction::CancelBooking => "cancel_booking",
        SuggestionAction::LogIn => "log_in",
        SuggestionAction::ListShows => "list_shows",
        SuggestionAction::Unspecified => "none",
    }
}

#[tonic::async_trait]
impl Chatbot for LegacyChatbot {
    async fn ask(
        &self,
        req: Request<legacy::AskRequest>,
    ) -> Result<Response<legacy::AskResponse>, Status> {
        let r = req.into_inner();
        let text: String = r.text.chars().take(MAX_TEXT).collect();
        let session: String = if r.session_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            r.session_id.chars().take(64).collect()
        };
        let token = Some(r.user_id.trim()).filter(|t| !t.is_empty());
        let answer = self.assistant.ask(&session, &text, token).await;
        let suggestions = answer
            .suggestions
            .iter()
            .map(|s| legacy::Suggestion {
                title: s.label.clone(),
                payload: serde_json::json!({
                    "action": action(s.action),
                    "show_id": s.show_id,
                    "seat_nos": s.seat_nos,
                    "booking_id": s.booking_id,
                })
                .to_string(),
            })
            .collect();
        Ok(Response::new(legacy::AskResponse {
            reply_text: answer.reply,
            intent: old_label(answer.intent).to_owned(),
            suggestions,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_intent_has_a_label_the_old_clients_know() {
        const OLD: [&str; 7] = [
            "booking",
            "query_seat",
            "payment",
            "account",
            "cancellation",
            "show_info",
            "help_general",
        ];
        for intent in Intent::ALL {
            assert!(OLD.contains(&old_label(intent)), "{intent}");
        }
    }
}
