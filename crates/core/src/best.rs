//! Best available: "N seats together in category X", decided
//! deterministically.
//!
//! [`best_available`] answers a [`BestQuery`] from a venue ([`VenueIndex`])
//! and the state of one performance, given as two functions: the category
//! of a place and whether it is free. It is pure (no I/O, no clock, no hash
//! map iterated), so the state machine can call it inside `apply` and every
//! replica picks the same seats.
//!
//! # Rules
//!
//! 1. **Candidates.** Only seats: standing places are sold by count, never
//!    chosen. A seat is *usable* when it is free, in the query's category
//!    (any category if none is given) and, unless the query asks for a
//!    wheelchair space, not a wheelchair space ([`SeatAttrs::WHEELCHAIR`]).
//! 2. **Blocks.** A block of `n` is `n` usable seats of one row, consecutive
//!    in [`Row::seats`](crate::venue::Row::seats) order, each adjacent to
//!    the next. Two neighbours in the row are *not* adjacent when the
//!    distance between them is more than 1.5 × the smallest distance
//!    between neighbours in that row: that is an aisle or a gap. (The
//!    distance is measured in x and y, so a curved or raked row, whose seats
//!    are closer in x towards its ends, keeps its neighbours together.)
//! 3. **Ranking.** Blocks of one size are ordered by, in turn: fewer
//!    restricted-view seats (so an unrestricted block anywhere beats a
//!    block with a restricted seat); fewer wheelchair spaces beyond the
//!    one a wheelchair query needs (spaces are not spent on people who do
//!    not need them); for a wheelchair query of two or more, a block with a
//!    companion seat first; the distance from the block's centre (mean x
//!    and y of its seats) to the stage's centre, nearest first; and the
//!    lowest first place number, so no two blocks ever tie.
//! 4. **Together.** The best block of `count` seats, if one exists; for a
//!    wheelchair query it must contain a wheelchair space.
//! 5. **Split.** Otherwise, if enough usable seats are free, the fewest
//!    pieces that can seat `count`: as many as the longest runs of
//!    adjacent usable seats it takes to hold `count`. Each way to cut
//!    `count` into that many sizes (4 = 3 + 1 = 2 + 2) is filled largest
//!    piece first, each piece the best block of its size among the seats
//!    the earlier pieces left; the way whose seats have the fewest
//!    restricted views, then the fewest wheelchair spaces, then the
//!    smallest sum of squared distances to the stage's centre, then the
//!    lowest first seats, piece by piece, wins. A wheelchair query first
//!    takes the best wheelchair block as large as exists (up to
//!    `count - 1`), then seats the others by the same rule, so the
//!    wheelchair user sits with as many of their party as possible.
//! 6. **Not enough.** Fewer usable seats than `count`, or a wheelchair
//!    query with no wheelchair space free.
//!
//! A `count` of 0 is answered with an empty [`Pick::Together`].
//!
//! # Cost
//!
//! One pass over the venue's rows builds a flat table of the seats
//! (position, attributes, usable, adjacent to the previous one), the only
//! allocation proportional to the venue. Each block search is then one
//! sliding-window pass over that table, with no allocation per candidate.
//! A split tries at most [`MAX_SPLITS_TRIED`] ways, each a handful of
//! passes; with at most [`MAX_SEATS_PER_BOOKING`](crate::ids::MAX_SEATS_PER_BOOKING)
//! seats there are never more than nine.
//!
//! # Deliberately missing
//!
//! - No rule against leaving a single seat stranded between a block and a
//!   taken seat or an aisle; box offices differ on it and it interacts
//!   with the ranking.
//! - No choice of section or price band beyond the category.
//! - The row geometry is recomputed on every call rather than cached in
//!   the [`VenueIndex`]: one pass per row costs less than the search.

use crate::ids::SeatNo;
use crate::venue::{SeatAttrs, VenueIndex, VenueSeat};

/// Most ways to cut a split into pieces that [`best_available`] compares.
/// Bounds the work for any `count`; for a booking of at most
/// [`MAX_SEATS_PER_BOOKING`](crate::ids::MAX_SEATS_PER_BOOKING) seats every
/// way is compared.
pub const MAX_SPLITS_TRIED: usize = 64;

/// What a customer asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestQuery {
    /// How many seats.
    pub count: u32,
    /// The price category they must be in; any if `None`.
    pub category: Option<u8>,
    /// Whether one of the seats must be a wheelchair space.
    pub wheelchair: bool,
}

/// The answer to a [`BestQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// `count` adjacent seats of one row, in row order.
    Together(Vec<SeatNo>),
    /// `count` seats in the fewest pieces: piece by piece, largest first
    /// (for a wheelchair query, the piece with the wheelchair space
    /// first), each piece in row order.
    Split(Vec<SeatNo>),
    /// Not enough seats match the query.
    NotEnough {
        /// How many free seats match it; 0 for a wheelchair query when no
        /// wheelchair space that matches is free.
        free: u32,
    },
}

/// The best seats for `query` in `venue`, given each place's category and
/// whether it is free (see the [module documentation](self) for the
/// rules). Deterministic: the same inputs always give the same pick.
pub fn best_available(
    venue: &VenueIndex,
    category_of: impl Fn(SeatNo) -> Option<u8>,
    is_free: impl Fn(SeatNo) -> bool,
    query: &BestQuery,
) -> Pick {
    if query.count == 0 {
        return Pick::Together(Vec::new());
    }
    let mut hall = Hall::new(venue, &category_of, &is_free, query);
    let (usable, spaces) = hall.usable_count();
    let free = if query.wheelchair && spaces == 0 {
        0
    } else {
        usable
    };
    let count = usize::try_from(query.count).unwrap_or(usize::MAX);
    if free < query.count {
        return Pick::NotEnough { free };
    }
    if let Some(block) = hall.best_block(count, query.wheelchair) {
        return Pick::Together(block.seats().collect());
    }
    let mut seats = Vec::with_capacity(count);
    let mut left = count;
    if query.wheelchair {
        // The wheelchair user's piece comes first and is as large as the
        // free runs around the spaces allow; the rest of the party is then
        // seated like any split. `spaces > 0`, so a piece of 1 exists.
        let size = hall.longest_wheelchair_run().min(count - 1);
        if let Some(block) = hall.best_block(size, true) {
            hall.set_usable(block, false);
            seats.extend(block.seats());
            left -= size;
        }
    }
    seats.extend(hall.fewest_pieces(left));
    Pick::Split(seats)
}

/// A seat as the search sees it, in place-number order.
struct Spot {
    /// Horizontal position.
    x: i32,
    /// Vertical position.
    y: i32,
    /// The venue's attributes of the seat.
    attrs: SeatAttrs,
    /// Free, matching the query, and not yet picked.
    usable: bool,
    /// Adjacent to the previous spot (same row, no gap between them).
    joined: bool,
}

/// A block: `len` spots from index `start` (place number `start + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    /// Index of its first spot.
    start: usize,
    /// Number of seats.
    len: usize,
}

impl Block {
    /// Its place numbers, in row order.
    fn seats(self) -> impl Iterator<Item = SeatNo> {
        (self.start..self.start + self.len)
            .map(|i| SeatNo(u32::try_from(i + 1).unwrap_or(u32::MAX)))
    }
}

/// Running totals over the seats of a sliding window.
#[derive(Clone, Copy, Default)]
struct Window {
    /// Sum of x.
    x: i64,
    /// Sum of y.
    y: i64,
    /// Restricted-view seats.
    restricted: u32,
    /// Wheelchair spaces.
    wheelchair: u32,
    /// Companion seats.
    companion: u32,
}

impl Window {
    fn add(&mut self, spot: &Spot) {
        self.x += i64::from(spot.x);
        self.y += i64::from(spot.y);
        self.restricted += has(spot, SeatAttrs::RESTRICTED_VIEW);
        self.wheelchair += has(spot, SeatAttrs::WHEELCHAIR);
        self.companion += has(spot, SeatAttrs::COMPANION);
    }

    fn remove(&mut self, spot: &Spot) {
        self.x -= i64::from(spot.x);
        self.y -= i64::from(spot.y);
        self.restricted -= has(spot, SeatAttrs::RESTRICTED_VIEW);
        self.wheelchair -= has(spot, SeatAttrs::WHEELCHAIR);
        self.companion -= has(spot, SeatAttrs::COMPANION);
    }
}

/// 1 if `spot` has `attr`, else 0.
fn has(spot: &Spot, attr: SeatAttrs) -> u32 {
    u32::from(spot.attrs.contains(attr))
}

/// How good a block is: smaller is better, field by field (rule 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// Restricted-view seats.
    restricted: u32,
    /// Wheelchair spaces beyond the one a wheelchair piece needs.
    extra_spaces: u32,
    /// A wheelchair piece of two or more without a companion seat.
    no_companion: bool,
    /// Squared distance from the block's centre to the stage's centre,
    /// times `4 × len²` (to stay in integers); compared between blocks of
    /// one length only.
    distance: i128,
    /// Index of the first seat.
    start: usize,
}

/// How good a split is: smaller is better, field by field (rule 5).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SplitRank {
    /// Restricted-view seats.
    restricted: u32,
    /// Wheelchair spaces.
    spaces: u32,
    /// Sum of the seats' squared distances to the stage's centre, doubled
    /// coordinates.
    distance: i128,
    /// The pieces' first seats, in the order they were placed.
    starts: Vec<usize>,
}

/// The venue's seats for one query.
struct Hall {
    /// Every seat, at index `place number - 1`.
    spots: Vec<Spot>,
    /// The stage's centre, doubled.
    centre2: (i64, i64),
}

/// Squared distance between two seats.
fn gap2(a: &VenueSeat, b: &VenueSeat) -> i64 {
    let dx = i64::from(a.x) - i64::from(b.x);
    let dy = i64::from(a.y) - i64::from(b.y);
    dx * dx + dy * dy
}

impl Hall {
    /// One pass over the venue's rows (rules 1 and 2).
    fn new(
        venue: &VenueIndex,
        category_of: &impl Fn(SeatNo) -> Option<u8>,
        is_free: &impl Fn(SeatNo) -> bool,
        query: &BestQuery,
    ) -> Self {
        let mut spots = Vec::with_capacity(usize::try_from(venue.seat_count()).unwrap_or(0));
        let rows = venue.venue().sections.iter().flat_map(|s| &s.rows);
        for row in rows {
            let nearest = row.seats.windows(2).map(|p| gap2(&p[0], &p[1])).min();
            let mut previous: Option<&VenueSeat> = None;
            for seat in &row.seats {
                // Seats are numbered in section, row and seat order, so the
                // spot's index is its place number less one.
                let no = SeatNo(u32::try_from(spots.len() + 1).unwrap_or(u32::MAX));
                let joined = match (previous, nearest) {
                    // distance ≤ 1.5 × nearest, squared: 4·d² ≤ 9·nearest².
                    (Some(prev), Some(nearest)) => 4 * gap2(prev, seat) <= 9 * nearest,
                    _ => false,
                };
                let usable = (query.wheelchair || !seat.attrs.contains(SeatAttrs::WHEELCHAIR))
                    && query.category.is_none_or(|c| category_of(no) == Some(c))
                    && is_free(no);
                spots.push(Spot {
                    x: seat.x,
                    y: seat.y,
                    attrs: seat.attrs,
                    usable,
                    joined,
                });
                previous = Some(seat);
            }
        }
        Self {
            spots,
            centre2: venue.venue().stage.centre2(),
        }
    }

    /// Usable seats, and how many of them are wheelchair spaces.
    fn usable_count(&self) -> (u32, u32) {
        let mut usable = 0;
        let mut spaces = 0;
        for spot in self.spots.iter().filter(|s| s.usable) {
            usable += 1;
            spaces += u32::from(spot.attrs.contains(SeatAttrs::WHEELCHAIR));
        }
        (usable, spaces)
    }

    fn set_usable(&mut self, block: Block, usable: bool) {
        for spot in &mut self.spots[block.start..block.start + block.len] {
            spot.usable = usable;
        }
    }

    /// The maximal runs of usable adjacent seats, as blocks, in place order.
    fn runs(&self) -> impl Iterator<Item = Block> + '_ {
        let mut start = 0;
        (0..=self.spots.len()).filter_map(move |i| {
            let continues = self.spots.get(i).is_some_and(|s| s.usable && s.joined);
            let begins = self.spots.get(i).is_some_and(|s| s.usable);
            if continues {
                return None;
            }
            // Spot `i` does not extend the run that ended at `i - 1`.
            let run = (i > start).then_some(Block {
                start,
                len: i - start,
            });
            start = if begins { i } else { i + 1 };
            run
        })
    }

    /// The longest run of usable seats that holds a wheelchair space.
    fn longest_wheelchair_run(&self) -> usize {
        self.runs()
            .filter(|run| {
                self.spots[run.start..run.start + run.len]
                    .iter()
                    .any(|s| has(s, SeatAttrs::WHEELCHAIR) == 1)
            })
            .map(|run| run.len)
            .max()
            .unwrap_or(0)
    }

    /// The best block of `len` usable seats (rule 3), holding a wheelchair
    /// space if `wheelchair`: one sliding window over the spots.
    fn best_block(&self, len: usize, wheelchair: bool) -> Option<Block> {
        if len == 0 {
            return None;
        }
        let n = i128::try_from(len).unwrap_or(i128::MAX);
        let (cx, cy) = (i128::from(self.centre2.0), i128::from(self.centre2.1));
        let mut best: Option<Rank> = None;
        let mut run = 0;
        let mut window = Window::default();
        for (i, spot) in self.spots.iter().enumerate() {
            if !spot.usable || !spot.joined {
                run = 0;
                window = Window::default();
            }
            if !spot.usable {
                continue;
            }
            window.add(spot);
            run += 1;
            if run > len {
                window.remove(&self.spots[i - len]);
            }
            if run < len || (wheelchair && window.wheelchair == 0) {
                continue;
            }
            // 2·len·(mean − centre) = 2·sum − len·(2·centre), per axis.
            let dx = 2 * i128::from(window.x) - n * cx;
            let dy = 2 * i128::from(window.y) - n * cy;
            let rank = Rank {
                restricted: window.restricted,
                extra_spaces: window.wheelchair - u32::from(wheelchair),
                no_companion: wheelchair && len >= 2 && window.companion == 0,
                distance: dx * dx + dy * dy,
                start: i + 1 - len,
            };
            if best.is_none_or(|b| rank < b) {
                best = Some(rank);
            }
        }
        best.map(|rank| Block {
            start: rank.start,
            len,
        })
    }

    /// `count` usable seats in the fewest pieces, the best way (rule 5);
    /// one piece if a block of `count` exists.
    fn fewest_pieces(&mut self, count: usize) -> Vec<SeatNo> {
        let mut lengths: Vec<usize> = self.runs().map(|run| run.len).collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        // Pieces in one run would seat no more than that run does, so the
        // fewest pieces are as many as the longest runs needed for `count`,
        // and the i-th largest piece fits the i-th longest run.
        let mut pieces = 0;
        let mut seated = 0;
        for length in &lengths {
            if seated >= count {
                break;
            }
            pieces += 1;
            seated += length;
        }
        let mut best: Option<(SplitRank, Vec<Block>)> = None;
        for sizes in cuts(count, &lengths[..pieces], MAX_SPLITS_TRIED) {
            let mut blocks = Vec::with_capacity(sizes.len());
            for &size in &sizes {
                let Some(block) = self.best_block(size, false) else {
                    break;
                };
                self.set_usable(block, false);
                blocks.push(block);
            }
            for &block in &blocks {
                self.set_usable(block, true);
            }
            if blocks.len() < sizes.len() {
                continue;
            }
            let rank = self.split_rank(&blocks);
            if best.as_ref().is_none_or(|(b, _)| rank < *b) {
                best = Some((rank, blocks));
            }
        }
        // The first cut (the longest runs in full, the last one in part)
        // always fits, so `best` is never empty when `count` seats are
        // usable.
        best.into_iter()
            .flat_map(|(_, blocks)| blocks)
            .flat_map(Block::seats)
            .collect()
    }

    fn split_rank(&self, blocks: &[Block]) -> SplitRank {
        let (cx, cy) = (i128::from(self.centre2.0), i128::from(self.centre2.1));
        let mut rank = SplitRank {
            restricted: 0,
            spaces: 0,
            distance: 0,
            starts: blocks.iter().map(|b| b.start).collect(),
        };
        for block in blocks {
            for spot in &self.spots[block.start..block.start + block.len] {
                rank.restricted += has(spot, SeatAttrs::RESTRICTED_VIEW);
                rank.spaces += has(spot, SeatAttrs::WHEELCHAIR);
                let dx = 2 * i128::from(spot.x) - cx;
                let dy = 2 * i128::from(spot.y) - cy;
                rank.distance += dx * dx + dy * dy;
            }
        }
        rank
    }
}

/// The ways to cut `count` into `caps.len()` pieces, largest first, the
/// i-th no larger than `caps[i]` (`caps` in descending order), in
/// descending lexicographic order, at most `limit` of them.
fn cuts(count: usize, caps: &[usize], limit: usize) -> Vec<Vec<usize>> {
    fn go(
        left: usize,
        caps: &[usize],
        max: usize,
        prefix: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
        limit: usize,
    ) {
        if out.len() >= limit {
            return;
        }
        let Some((&cap, rest)) = caps.split_first() else {
            if left == 0 {
                out.push(prefix.clone());
            }
            return;
        };
        // Every later piece needs at least one seat.
        let high = cap.min(max).min(left.saturating_sub(rest.len()));
        for size in (1..=high).rev() {
            // A smaller piece leaves more to seat in less room: stop at the
            // first that cannot work.
            let room: usize = rest.iter().map(|&c| c.min(size)).sum();
            if left - size > room {
                break;
            }
            prefix.push(size);
            go(left - size, rest, size, prefix, out, limit);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    go(count, caps, count, &mut Vec::new(), &mut out, limit);
    out
}

#[cfg(test)]
mod tests;
