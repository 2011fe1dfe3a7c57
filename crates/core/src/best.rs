//! Placeholder until the best-available branch lands (not committed).
use crate::ids::SeatNo;
use crate::venue::VenueIndex;
/// Query.
pub struct BestQuery {
    /// Count.
    pub count: u32,
    /// Category.
    pub category: Option<u8>,
    /// Wheelchair.
    pub wheelchair: bool,
}
/// Pick.
pub enum Pick {
    /// Together.
    Together(Vec<SeatNo>),
    /// Split.
    Split(Vec<SeatNo>),
    /// Not enough.
    NotEnough {
        /// Free.
        free: u32,
    },
}
/// Best.
pub fn best_available(
    venue: &VenueIndex,
    category_of: impl Fn(SeatNo) -> Option<u8>,
    is_free: impl Fn(SeatNo) -> bool,
    query: &BestQuery,
) -> Pick {
    let free: Vec<SeatNo> = (1..=venue.seat_count())
        .map(SeatNo)
        .filter(|&no| is_free(no) && query.category.is_none_or(|c| category_of(no) == Some(c)))
        .collect();
    if free.len() < query.count as usize {
        return Pick::NotEnough {
            free: free.len() as u32,
        };
    }
    Pick::Together(free[..query.count as usize].to_vec())
}
