//! Answers about productions, performances and their venues: which
//! performances of a production are on sale, the cheapest seats and the
//! prices of a section or ticket type, free wheelchair spaces, and the
//! best seats together in a section or category. Every figure comes from
//! a [`Plan`] read from the cluster just now.

use boxoffice_client::proto::{self as v1, SuggestionAction};
use boxoffice_core::{Pick, SeatNo};
use boxoffice_view::money;
use tonic::Status;

use super::plan::{Filter, Plan};
use super::sessions::Memory;
use super::{Answer, Assistant, Turn, suggestion, unreachable};
use crate::entities::{self, Entities};
use crate::intent::Intent;

/// Performances answered about at most in one answer.
pub(super) const PERFORMANCE_LIMIT: usize = 5;

/// A performance's start as people read it: `Fri 2026-12-04 14:30 UTC`.
pub(super) fn starts(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%a %Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// Whether a show can still be booked or looked forward to.
fn upcoming(show: &v1::Show, now_ms: i64) -> bool {
    show.starts_at_ms > now_ms && !matches!(show.state.as_str(), "cancelled" | "past")
}

/// Minute of the day (UTC) at which `ms` falls.
fn minute_of_day(ms: i64) -> u32 {
    u32::try_from(ms.rem_euclid(86_400_000) / 60_000).unwrap_or(0)
}

/// The performances a question is about, soonest first: the show it names
/// by id; else the upcoming performances of the production it names (or
/// the conversation's), on the day and at the time it says; else, if it
/// gives a day or a time but no production, every upcoming show then;
/// else the show the conversation was about.
pub(super) fn performances<'a>(
    shows: &'a [v1::Show],
    entities: &Entities,
    memory: &Memory,
    now_ms: i64,
) -> Vec<&'a v1::Show> {
    let by_id =
        |id: &str| -> Vec<&'a v1::Show> { shows.iter().filter(|s| s.show_id == id).collect() };
    if let Some(id) = &entities.show {
        return by_id(id);
    }
    let narrowed =
        entities.production.is_some() || !entities.times.is_empty() || entities.span.is_some();
    let production = entities.production.as_ref().or(memory.production.as_ref());
    if !narrowed || (production.is_none() && entities.times.is_empty() && entities.span.is_none()) {
        return memory.show.as_deref().map(by_id).unwrap_or_default();
    }
    let mut found: Vec<&v1::Show> = shows
        .iter()
        .filter(|s| production.is_none_or(|p| s.production_id == *p))
        .filter(|s| upcoming(s, now_ms))
        .filter(|s| {
            entities
                .span
                .is_none_or(|(from, to)| (from..to).contains(&s.starts_at_ms))
        })
        .filter(|s| {
            let minute = minute_of_day(s.starts_at_ms);
            entities.times.is_empty()
                || entities
                    .times
                    .iter()
                    .any(|(from, to)| (*from..*to).contains(&minute))
        })
        .collect();
    found.sort_by_key(|s| (s.starts_at_ms, s.show_id.clone()));
    found
}

/// The places a question names in `plan`: sections or areas, a category,
/// a ticket type.
fn filter(text: &str, plan: &Plan) -> Filter {
    Filter {
        sections: entities::find_sections(text, &plan.area_names()),
        category: entities::find_category(text, &plan.prices.categories),
        ticket_type: entities::find_ticket_type(text, &plan.prices.ticket_types),
    }
}

/// " in the Circle", " in category B", or nothing.
fn where_words(filter: &Filter) -> String {
    let mut out = String::new();
    if !filter.sections.is_empty() {
        out.push_str(&format!(" in the {}", filter.sections.join(" or the ")));
    }
    if let Some(category) = &filter.category {
        out.push_str(&format!(" in category {category}"));
    }
    out
}

/// "Hamlet, Fri 2026-12-04 14:30 UTC".
fn title(show: &v1::Show) -> String {
    format!("{}, {}", show.title, starts(show.starts_at_ms))
}

impl Assistant {
    /// Reads the plans of (at most [`PERFORMANCE_LIMIT`]) performances.
    async fn plans(&self, turn: &Turn<'_>, shows: &[&v1::Show]) -> Result<Vec<Plan>, Status> {
        let (mut plans, mut venues) = (Vec::new(), Vec::new());
        for show in shows.iter().take(PERFORMANCE_LIMIT) {
            plans.push(Plan::fetch_sharing(&turn.client, show, &mut venues).await?);
        }
        Ok(plans)
    }

    /// Asks which performance, naming some of the production's, or which
    /// show.
    fn which_performance(&self, intent: Intent, turn: &Turn<'_>) -> Answer {
        let now = jiff::Timestamp::now().as_millisecond();
        let production = turn
            .entities
            .production
            .as_ref()
            .or(turn.memory.production.as_ref());
        let Some(production) = production else {
            return self.which_show(intent, turn);
        };
        let shows = turn.shows.as_ref().map(Vec::as_slice).unwrap_or_default();
        let run: Vec<&v1::Show> = shows
            .iter()
            .filter(|s| s.production_id == *production && upcoming(s, now))
            .collect();
        let names: Vec<String> = run
            .iter()
            .take(PERFORMANCE_LIMIT)
            .map(|s| format!("{} ({})", starts(s.starts_at_ms), s.show_id))
            .collect();
        let title = run
            .first()
            .map_or(production.as_str(), |s| s.title.as_str());
        let reply = if names.is_empty() {
            format!("{title} has no performances coming up.")
        } else {
            format!(
                "{title} has no performance then. Coming up: {}.",
                names.join(", ")
            )
        };
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions: Vec::new(),
            facts: names,
        }
    }

    /// The performances of a production, with their state.
    pub(super) fn production_run(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::ListShows;
        let now = jiff::Timestamp::now().as_millisecond();
        let on_sale_only = turn.text.to_lowercase().contains("on sale");
        let shows = match &turn.shows {
            Ok(shows) => shows,
            Err(status) => return unreachable(intent, status),
        };
        let chosen: Vec<&v1::Show> = performances(shows, &turn.entities, &turn.memory, now)
            .into_iter()
            .filter(|s| !on_sale_only || s.state == "on sale")
            .collect();
        let Some(first) = chosen.first() else {
            return self.which_performance(intent, turn);
        };
        let facts: Vec<String> = chosen
            .iter()
            .take(PERFORMANCE_LIMIT)
            .map(|s| {
                format!(
                    "{} ({}): {}, {} free",
                    starts(s.starts_at_ms),
                    s.show_id,
                    s.state,
                    s.available
                )
            })
            .collect();
        let more = chosen.len().saturating_sub(PERFORMANCE_LIMIT);
        let mut reply = format!("{}: {}.", first.title, facts.join("; "));
        if more > 0 {
            reply.push_str(&format!(" And {more} more."));
        }
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions: vec![Self::seat_map_suggestion(first)],
            facts,
        }
    }

    /// The cheapest free seats, or the prices of a section, category or
    /// ticket type.
    pub(super) async fn prices(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::Prices;
        let shows = match &turn.shows {
            Ok(shows) => shows,
            Err(status) => return unreachable(intent, status),
        };
        let now = jiff::Timestamp::now().as_millisecond();
        let chosen = performances(shows, &turn.entities, &turn.memory, now);
        if chosen.is_empty() {
            return self.which_performance(intent, turn);
        }
        let plans = match self.plans(turn, &chosen).await {
            Ok(plans) => plans,
            Err(status) => return unreachable(intent, &status),
        };
        let mut facts = Vec::new();
        let cheapest = turn.entities.cheapest || plans.len() > 1;
        for plan in &plans {
            let filter = filter(turn.text, plan);
            if cheapest {
                facts.push(match plan.cheapest(&filter) {
                    Some(offer) => {
                        let free: u32 = offer.places.iter().map(|(_, n)| n).sum();
                        let wheres: Vec<String> = offer
                            .places
                            .iter()
                            .map(|(area, n)| format!("{n} in {area}"))
                            .collect();
                        format!(
                            "{}: from {} ({}, category {}), {free} free: {}",
                            title(&plan.show),
                            money(offer.cents),
                            offer.ticket_type,
                            offer.category,
                            wheres.join(", ")
                        )
                    }
                    None => format!(
                        "{}: nothing free{} for {}",
                        title(&plan.show),
                        where_words(&filter),
                        plan.ticket_type(&filter)
                    ),
                });
                continue;
            }
            let quotes = plan.quotes(&filter);
            if quotes.is_empty() {
                facts.push(format!(
                    "{}: no {} tickets are sold{}",
                    title(&plan.show),
                    plan.ticket_type(&filter),
                    where_words(&filter)
                ));
            }
            for quote in quotes {
                let prices: Vec<String> = quote
                    .prices
                    .iter()
                    .map(|(t, cents)| format!("{t} {}", money(*cents)))
                    .collect();
                facts.push(format!(
                    "{}: category {} ({}): {}; {} free",
                    title(&plan.show),
                    quote.category,
                    quote.areas.join(", "),
                    prices.join(", "),
                    quote.free
                ));
            }
        }
        let reply = if cheapest {
            format!("The cheapest seats: {}.", facts.join("; "))
        } else {
            format!("Prices: {}.", facts.join("; "))
        };
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions: plans
                .first()
                .map(|p| vec![Self::seat_map_suggestion(&p.show)])
                .unwrap_or_default(),
            facts,
        }
    }

    /// Free wheelchair spaces (and companion seats) at the performances
    /// asked about.
    pub(super) async fn accessibility(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::Accessibility;
        let shows = match &turn.shows {
            Ok(shows) => shows,
            Err(status) => return unreachable(intent, status),
        };
        let now = jiff::Timestamp::now().as_millisecond();
        let chosen = performances(shows, &turn.entities, &turn.memory, now);
        if chosen.is_empty() {
            return self.which_performance(intent, turn);
        }
        let plans = match self.plans(turn, &chosen).await {
            Ok(plans) => plans,
            Err(status) => return unreachable(intent, &status),
        };
        let mut facts = Vec::new();
        let mut suggestions = Vec::new();
        for plan in &plans {
            let filter = Filter {
                sections: entities::find_sections(turn.text, &plan.area_names()),
                ..Filter::default()
            };
            let access = plan.access(&filter);
            let place = where_words(&filter);
            facts.push(match access.free.first() {
                Some(space) => {
                    if suggestions.is_empty() {
                        // The space, with a free companion seat if there is one.
                        let mut seats = vec![space.0];
                        seats.extend(access.companions.first().map(|c| c.0));
                        suggestions.push(self.hold(
                            turn,
                            &plan.show,
                            &seats,
                            &plan.labels(&seats.iter().map(|n| SeatNo(*n)).collect::<Vec<_>>()),
                        ));
                    }
                    let companions = if access.companions.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; companion seats free: {}",
                            plan.labels(&access.companions).join(", ")
                        )
                    };
                    format!(
                        "{}: yes, {} of {} wheelchair spaces free{place}: {}{companions}",
                        title(&plan.show),
                        access.free.len(),
                        access.spaces,
                        plan.labels(&access.free).join(", ")
                    )
                }
                None if access.spaces == 0 => format!(
                    "{}: no, there are no wheelchair spaces{place}",
                    title(&plan.show)
                ),
                None => format!(
                    "{}: no, all {} wheelchair spaces{place} are taken",
                    title(&plan.show),
                    access.spaces
                ),
            });
        }
        let mut reply = format!("Wheelchair spaces: {}.", facts.join("; "));
        if suggestions.is_empty()
            && let Some(first) = plans.first()
        {
            // None free then: the production's other performances that have one.
            let others: Vec<&v1::Show> = shows
                .iter()
                .filter(|s| {
                    s.production_id == first.show.production_id
                        && !first.show.venue_id.is_empty()
                        && upcoming(s, now)
                        && !plans.iter().any(|p| p.show.show_id == s.show_id)
                })
                .collect();
            let mut found = Vec::new();
            for other in others.iter().take(PERFORMANCE_LIMIT) {
                let Ok(plan) = Plan::fetch(&turn.client, other).await else {
                    continue;
                };
                let free = plan.access(&Filter::default()).free.len();
                if free > 0 {
                    found.push(format!("{} ({free} free)", starts(other.starts_at_ms)));
                }
            }
            if !found.is_empty() {
                reply.push_str(&format!(
                    " Other performances with a free wheelchair space: {}.",
                    found.join(", ")
                ));
                facts.extend(found.iter().map(|f| format!("wheelchair space free: {f}")));
            }
        }
        if let Some(plan) = plans.first() {
            suggestions.push(Self::seat_map_suggestion(&plan.show));
        }
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions,
            facts,
        }
    }

    /// The best `n` seats together in a performance's venue (in the
    /// section or category asked), offered to hold; a split or what is
    /// free if there is no block.
    pub(super) async fn together_in_venue(
        &self,
        turn: &Turn<'_>,
        show: &v1::Show,
        n: u32,
    ) -> Answer {
        let intent = Intent::SeatsTogether;
        let plan = match Plan::fetch(&turn.client, show).await {
            Ok(plan) => plan,
            Err(status) => return unreachable(intent, &status),
        };
        let filter = filter(turn.text, &plan);
        let place = where_words(&filter);
        let ticket_type = plan.ticket_type(&filter);
        let priced = |seats: &[SeatNo]| match plan.cost(seats, &ticket_type) {
            Some(cents) => format!(", {} for {n} {ticket_type} tickets", money(cents)),
            None => String::new(),
        };
        let categories = |seats: &[SeatNo]| {
            let mut names: Vec<&str> = seats
                .iter()
                .filter_map(|no| plan.category_name_of(*no))
                .collect();
            names.dedup();
            names.join(", ")
        };
        let (reply, seats) = match plan.best(n, &filter, turn.entities.wheelchair) {
            Pick::Together(seats) => (
                format!(
                    "The best {n} seats together{place} for {}: {} (category {}){}.",
                    title(show),
                    plan.labels(&seats).join(", "),
                    categories(&seats),
                    priced(&seats)
                ),
                seats,
            ),
            Pick::Split(seats) => (
                format!(
                    "There are no {n} seats together{place} for {}; the best I can find is split: {} (category {}){}.",
                    title(show),
                    plan.labels(&seats).join(", "),
                    categories(&seats),
                    priced(&seats)
                ),
                seats,
            ),
            Pick::NotEnough { free } => (
                format!(
                    "There are not {n} seats free{place} for {}: only {free}.",
                    title(show)
                ),
                Vec::new(),
            ),
        };
        let mut suggestions = Vec::new();
        let numbers: Vec<u32> = seats.iter().map(|s| s.0).collect();
        if !numbers.is_empty() {
            suggestions.push(self.hold(turn, show, &numbers, &plan.labels(&seats)));
        }
        suggestions.push(Self::seat_map_suggestion(show));
        Answer {
            facts: vec![reply.clone()],
            reply,
            intent,
            confidence: 0.0,
            suggestions,
        }
    }

    /// The suggestion to hold `seats` (labelled `labels`) of `show`, or to
    /// log in first.
    fn hold(
        &self,
        turn: &Turn<'_>,
        show: &v1::Show,
        seats: &[u32],
        labels: &[String],
    ) -> v1::Suggestion {
        if turn.logged_in {
            suggestion(
                format!("Hold {} for {}", labels.join(", "), title(show)),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Friday 2026-12-04 00:00 UTC.
    const FRIDAY: i64 = 1_796_342_400_000;
    const HOUR: i64 = 3_600_000;
    /// Wednesday 2026-12-02 12:00 UTC.
    const NOW: i64 = FRIDAY - 36 * HOUR;

    fn performance(id: &str, production: &str, starts_at_ms: i64, state: &str) -> v1::Show {
        v1::Show {
            show_id: id.into(),
            title: production.to_uppercase(),
            production_id: production.into(),
            venue_id: "royal-court".into(),
            starts_at_ms,
            state: state.into(),
            ..v1::Show::default()
        }
    }

    fn shows() -> Vec<v1::Show> {
        let half = HOUR / 2;
        vec![
            performance(
                "hamlet-fri-m",
                "hamlet",
                FRIDAY + 14 * HOUR + half,
                "on sale",
            ),
            performance(
                "hamlet-fri-e",
                "hamlet",
                FRIDAY + 19 * HOUR + half,
                "on sale",
            ),
            performance(
                "hamlet-sat-m",
                "hamlet",
                FRIDAY + 38 * HOUR + half,
                "scheduled",
            ),
            performance(
                "hamlet-sun-m",
                "hamlet",
                FRIDAY + 62 * HOUR + half,
                "cancelled",
            ),
            performance("hamlet-mon", "hamlet", NOW - HOUR, "past"),
            performance(
                "macbeth-fri-m",
                "macbeth",
                FRIDAY + 14 * HOUR + half,
                "on sale",
            ),
        ]
    }

    fn asked(text: &str, memory: &Memory) -> Vec<String> {
        let shows = shows();
        let productions = ["hamlet", "macbeth"].map(|p| v1::Production {
            production_id: p.into(),
            title: p.into(),
            ..v1::Production::default()
        });
        let entities = entities::extract(text, &shows, &productions, NOW);
        performances(&shows, &entities, memory, NOW)
            .into_iter()
            .map(|s| s.show_id.clone())
            .collect()
    }

    #[test]
    fn performances_by_production_day_and_time() {
        let none = Memory::default();
        assert_eq!(
            asked("cheapest seats for hamlet on friday", &none),
            ["hamlet-fri-m", "hamlet-fri-e"]
        );
        assert_eq!(
            asked("what performances of hamlet are on", &none),
            ["hamlet-fri-m", "hamlet-fri-e", "hamlet-sat-m"],
            "cancelled and past ones are left out"
        );
        assert_eq!(
            asked("is there a wheelchair space at the 14:30?", &none),
            ["hamlet-fri-m", "macbeth-fri-m", "hamlet-sat-m"]
        );
        assert_eq!(asked("hamlet at the 7:30", &none), ["hamlet-fri-e"]);
        assert_eq!(
            asked("the hamlet matinee on saturday", &none),
            ["hamlet-sat-m"]
        );
        assert_eq!(
            asked("is hamlet-sun-m on", &none),
            ["hamlet-sun-m"],
            "named by id"
        );
        assert!(asked("two seats together in the circle", &none).is_empty());
    }

    #[test]
    fn the_conversation_supplies_the_production_or_the_performance() {
        let hamlet = Memory {
            production: Some("hamlet".into()),
            show: Some("hamlet-fri-e".into()),
            ..Memory::default()
        };
        assert_eq!(
            asked("is there a wheelchair space at the 14:30?", &hamlet),
            ["hamlet-fri-m", "hamlet-sat-m"]
        );
        assert_eq!(
            asked("two seats together in the circle", &hamlet),
            ["hamlet-fri-e"],
            "nothing new named: the performance discussed"
        );
        assert_eq!(asked("and for macbeth?", &hamlet), ["macbeth-fri-m"]);
    }
}
