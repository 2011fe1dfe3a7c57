//! Answers about shows and seats: what's on, one show's details, whether
//! seats are free, seats together, and the step towards booking them.

use boxoffice_client::proto::{self as v1, SeatState, SuggestionAction};
use boxoffice_view::seats::format as seat_list;
use boxoffice_view::{money, when};
use tonic::Code;

use super::{Answer, Assistant, Turn, suggestion, unreachable};
use crate::intent::Intent;

/// Shows listed at most in one answer.
const LIST_LIMIT: usize = 5;

/// What a seat of `show` costs, in words: a simple show has one price; a
/// performance's depends on the seat's category and the ticket type (its
/// summary's price is the lowest of any ticket, often a free companion
/// ticket, so it is never quoted as the price of a seat).
fn seat_price(show: &v1::Show) -> String {
    if show.venue_id.is_empty() {
        format!("{} per seat", money(show.price_cents))
    } else {
        "priced by seat and ticket type".to_owned()
    }
}

/// The first run of `n` consecutive free seats, and the longest run.
pub fn seats_together(map: &[v1::Seat], n: u32) -> (Option<Vec<u32>>, u32) {
    let mut run: Vec<u32> = Vec::new();
    let mut longest = 0;
    for seat in map {
        let free = seat.state == SeatState::Available as i32;
        let adjacent = run.last().is_some_and(|last| seat.seat_no == last + 1);
        if free && (run.is_empty() || adjacent) {
            run.push(seat.seat_no);
        } else if free {
            run = vec![seat.seat_no];
        } else {
            run.clear();
        }
        longest = longest.max(u32::try_from(run.len()).unwrap_or(u32::MAX));
        if u32::try_from(run.len()).unwrap_or(u32::MAX) == n {
            return (Some(run), longest);
        }
    }
    (None, longest)
}

impl Assistant {
    /// Asks which show, listing some.
    pub(super) fn which_show(&self, intent: Intent, turn: &Turn<'_>) -> Answer {
        let names: Vec<String> = turn
            .shows
            .as_ref()
            .map(|shows| {
                shows
                    .iter()
                    .take(LIST_LIMIT)
                    .map(|s| format!("{} ({})", s.title, s.show_id))
                    .collect()
            })
            .unwrap_or_default();
        let reply = if names.is_empty() {
            "Which show do you mean? There are no shows on sale right now.".to_owned()
        } else {
            format!("Which show do you mean? For example: {}.", names.join(", "))
        };
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions: vec![suggestion(
                "List the shows",
                SuggestionAction::ListShows,
                None,
                &[],
                None,
            )],
            facts: names,
        }
    }

    /// The suggestion to take `seats` of `show`, or to log in first.
    fn take(&self, turn: &Turn<'_>, show: &v1::Show, seats: &[u32]) -> v1::Suggestion {
        if turn.logged_in {
            suggestion(
                format!("Hold seats {} of {}", seat_list(seats), show.title),
                SuggestionAction::HoldSeats,
                Some(&show.show_id),
                seats,
                None,
            )
        } else {
            suggestion(
                "Log in to book",
                SuggestionAction::LogIn,
                Some(&show.show_id),
                seats,
                None,
            )
        }
    }

    /// The suggestion to open the seat map of `show`.
    pub(super) fn seat_map_suggestion(show: &v1::Show) -> v1::Suggestion {
        suggestion(
            format!("See the seat map of {}", show.title),
            SuggestionAction::ViewSeatMap,
            Some(&show.show_id),
            &[],
            None,
        )
    }

    /// Whether the seats asked about are free.
    pub(super) async fn query_seat(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::QuerySeat;
        if let Err(status) = &turn.shows {
            return unreachable(intent, status);
        }
        let Some(show) = turn.show() else {
            return self.which_show(intent, turn);
        };
        let seats = turn.seats();
        if seats.is_empty() {
            return Answer {
                reply: format!(
                    "Which seat of {} do you mean? Seats are numbered 1 to {}.",
                    show.title, show.seat_count
                ),
                intent,
                confidence: 0.0,
                suggestions: vec![Self::seat_map_suggestion(show)],
                facts: Vec::new(),
            };
        }
        let (mut free, mut facts, mut parts) = (Vec::new(), Vec::new(), Vec::new());
        for &no in &seats {
            match turn.client.get_seat(&show.show_id, no, false).await {
                Ok(reply) => {
                    let state = reply.seat.map_or(0, |s| s.state);
                    let word = match SeatState::try_from(state).unwrap_or(SeatState::Unspecified) {
                        SeatState::Available => {
                            free.push(no);
                            "free"
                        }
                        SeatState::Held => "held by someone paying for it right now",
                        _ => "already booked",
                    };
                    facts.push(format!("seat {no} of {}: {word}", show.show_id));
                    parts.push(format!("seat {no} is {word}"));
                }
                Err(status) if status.code() == Code::NotFound => {
                    facts.push(format!("seat {no} of {}: does not exist", show.show_id));
                    parts.push(format!(
                        "seat {no} does not exist (seats are 1 to {})",
                        show.seat_count
                    ));
                }
                Err(status) => return unreachable(intent, &status),
            }
        }
        let mut reply = format!("For {}: {}.", show.title, parts.join("; "));
        if !free.is_empty() && show.venue_id.is_empty() {
            reply.push_str(&format!(" A seat costs {}.", money(show.price_cents)));
        }
        let mut suggestions = Vec::new();
        if !free.is_empty() {
            suggestions.push(self.take(turn, show, &free));
        }
        suggestions.push(Self::seat_map_suggestion(show));
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions,
            facts,
        }
    }

    /// The first `n` free seats next to each other.
    pub(super) async fn together(&self, turn: &Turn<'_>, n: u32) -> Answer {
        let intent = Intent::SeatsTogether;
        if let Err(status) = &turn.shows {
            return unreachable(intent, status);
        }
        let Some(show) = turn.show() else {
            return self.which_show(intent, turn);
        };
        let n = n.clamp(1, 10);
        if !show.venue_id.is_empty() {
            // A performance at a venue: best available, by section and
            // category, from its plan.
            return self.together_in_venue(turn, show, n).await;
        }
        let map = match turn.client.seat_map(&show.show_id, false).await {
            Ok((_, map)) => map,
            Err(status) => return unreachable(intent, &status),
        };
        let (found, longest) = seats_together(&map, n);
        match found {
            Some(seats) => Answer {
                reply: format!(
                    "Seats {} of {} are free next to each other: {} × {} = {}.",
                    seat_list(&seats),
                    show.title,
                    n,
                    money(show.price_cents),
                    money(show.price_cents.saturating_mul(i64::from(n)))
                ),
                intent,
                confidence: 0.0,
                suggestions: vec![
                    self.take(turn, show, &seats),
                    Self::seat_map_suggestion(show),
                ],
                facts: vec![format!(
                    "free run of {n} in {}: seats {}",
                    show.show_id,
                    seat_list(&seats)
                )],
            },
            None => Answer {
                reply: format!(
                    "There are no {n} free seats next to each other for {} right now; the most together is {longest}.",
                    show.title
                ),
                intent,
                confidence: 0.0,
                suggestions: vec![Self::seat_map_suggestion(show)],
                facts: vec![format!("longest free run in {}: {longest}", show.show_id)],
            },
        }
    }

    /// The step towards booking (the assistant never books itself).
    pub(super) async fn booking(&self, turn: &Turn<'_>) -> Answer {
        if turn.entities.seats.is_empty() {
            if let Some(n) = turn.entities.count {
                let mut answer = self.together(turn, n).await;
                answer
                    .reply
                    .push_str(" I can't book for you, but you can hold them now.");
                return answer;
            }
            if let Err(status) = &turn.shows {
                return unreachable(Intent::Booking, status);
            }
            let Some(show) = turn.show() else {
                return self.which_show(Intent::Booking, turn);
            };
            return Answer {
                reply: format!(
                    "{} has {} free seats, {}. Which seats would you like? Open the seat map to pick.",
                    show.title,
                    show.available,
                    seat_price(show)
                ),
                intent: Intent::Booking,
                confidence: 0.0,
                suggestions: vec![Self::seat_map_suggestion(show)],
                facts: vec![format!(
                    "{}: {} free of {}",
                    show.show_id, show.available, show.seat_count
                )],
            };
        }
        let mut answer = self.query_seat(turn).await;
        answer
            .reply
            .push_str(" I can't book for you, but the next step is below.");
        answer
    }

    /// One show's time, price and free seats.
    pub(super) fn show_info(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::ShowInfo;
        if let Err(status) = &turn.shows {
            return unreachable(intent, status);
        }
        let Some(show) = turn.show() else {
            return self.which_show(intent, turn);
        };
        let fact = format!(
            "{} ({}): starts {}, {}, {} of {} seats free, {} held, {} booked",
            show.title,
            show.show_id,
            when(show.starts_at_ms),
            seat_price(show),
            show.available,
            show.seat_count,
            show.held,
            show.booked
        );
        Answer {
            reply: format!(
                "{} starts {}, {}; {} of {} seats are free.",
                show.title,
                when(show.starts_at_ms),
                seat_price(show),
                show.available,
                show.seat_count
            ),
            intent,
            confidence: 0.0,
            suggestions: vec![Self::seat_map_suggestion(show)],
            facts: vec![fact],
        }
    }

    /// The coming shows (in a time span, or cheapest first if asked).
    pub(super) fn list_shows(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::ListShows;
        let shows = match &turn.shows {
            Ok(shows) => shows,
            Err(status) => return unreachable(intent, status),
        };
        let now = jiff::Timestamp::now().as_millisecond();
        let mut chosen: Vec<&v1::Show> = shows
            .iter()
            .filter(|s| s.starts_at_ms > now)
            .filter(|s| {
                turn.entities
                    .span
                    .is_none_or(|(from, to)| (from..to).contains(&s.starts_at_ms))
            })
            .collect();
        let lower = turn.text.to_lowercase();
        let cheapest = ["cheap", "lowest", "least expensive", "budget"]
            .iter()
            .any(|w| lower.contains(w));
        if cheapest {
            // A performance has no one price (see `seat_price`): after the
            // simple shows, whose prices can be compared.
            chosen.sort_by_key(|s| {
                let price = if s.venue_id.is_empty() {
                    s.price_cents
                } else {
                    i64::MAX
                };
                (price, s.starts_at_ms)
            });
        } else {
            chosen.sort_by_key(|s| s.starts_at_ms);
        }
        let facts: Vec<String> = chosen
            .iter()
            .take(LIST_LIMIT)
            .map(|s| {
                format!(
                    "{} ({}): {}, {}, {} free",
                    s.title,
                    s.show_id,
                    when(s.starts_at_ms),
                    seat_price(s),
                    s.available
                )
            })
            .collect();
        let reply = match (facts.is_empty(), cheapest) {
            (true, _) => "There are no shows on sale for that time.".to_owned(),
            (false, true) => format!("The cheapest: {}.", facts.join("; ")),
            (false, false) => format!("Coming up: {}.", facts.join("; ")),
        };
        let suggestions = chosen
            .first()
            .map(|s| vec![Self::seat_map_suggestion(s)])
            .unwrap_or_default();
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions,
            facts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(no: u32, free: bool) -> v1::Seat {
        let state = if free {
            SeatState::Available
        } else {
            SeatState::Booked
        };
        v1::Seat {
            seat_no: no,
            state: state as i32,
        }
    }

    #[test]
    fn seats_together_finds_the_first_free_run() {
        let map: Vec<v1::Seat> = [true, false, true, true, false, true, true, true]
            .iter()
            .enumerate()
            .map(|(i, free)| seat(u32::try_from(i).unwrap() + 1, *free))
            .collect();
        assert_eq!(seats_together(&map, 2), (Some(vec![3, 4]), 2));
        assert_eq!(seats_together(&map, 3), (Some(vec![6, 7, 8]), 3));
        assert_eq!(seats_together(&map, 4), (None, 3));
        assert_eq!(seat_list(&[3, 4, 5, 9, 11, 12]), "3-5, 9, 11-12");
    }
}
