//! Prices: how a performance maps its places to price categories, which
//! ticket types it offers, and what each costs.
//!
//! An administrator writes a [`PricingSpec`] (categories with rules that
//! pick places by section, row range, seat or standing area; ticket type
//! names; a price per category and type). The state machine resolves it
//! against the venue into a [`Pricing`]: one category number per place and
//! a price table. The price of every ticket is read from that table when
//! the seat is held, never taken from a client.

use serde::{Deserialize, Serialize};

use crate::ids::{MAX_PRICE_CENTS, SeatNo};
use crate::venue::VenueIndex;

/// Most price categories a performance may have.
pub const MAX_CATEGORIES: usize = 16;

/// Most ticket types a performance may offer.
pub const MAX_TICKET_TYPES: usize = 8;

/// Most rules one category may have.
pub const MAX_RULES: usize = 256;

/// How many times over, on average, a performance's category rules may
/// cover each of its places (rules may overlap: later ones win).
pub const MAX_COVER_PER_PLACE: u64 = 16;

/// The ticket types a box office usually sells, in the order a simple
/// performance offers them.
pub const STANDARD_TICKET_TYPES: [&str; 4] = ["adult", "concession", "child", "companion"];

/// The ticket type for the companion of a wheelchair user: an order has
/// at most one for each wheelchair space it buys (box office staff
/// excepted), however it is priced (often free).
pub const COMPANION_TICKET_TYPE: &str = "companion";

/// A ticket type by its index in [`Pricing::types`] (0 is the first type,
/// the default).
pub type TicketType = u8;

/// Which places a rule picks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaceRule {
    /// Every seat of a section.
    Section(String),
    /// The rows of a section from one label to another, inclusive, in the
    /// order the venue lists them.
    Rows {
        /// The section.
        section: String,
        /// The first row.
        from: String,
        /// The last row.
        to: String,
    },
    /// One seat, by label ("Stalls K-12", or "K-12" if only one section has it).
    Seat(String),
    /// Every place of a standing area.
    Area(String),
    /// Every place of the venue.
    All,
}

/// A price category as the administrator writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySpec {
    /// Its name ("A", "Premium"), unique in the performance.
    pub name: String,
    /// The places in it. Rules apply in order over all categories: a place
    /// picked by a later rule (of this or a later category) moves there.
    pub rules: Vec<PlaceRule>,
}

/// One price: category × ticket type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceSpec {
    /// The category's name.
    pub category: String,
    /// The ticket type's name.
    pub ticket_type: String,
    /// The price, in cents (0 for a free ticket).
    pub cents: i64,
}

/// How a performance prices its places, as the administrator writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingSpec {
    /// The categories, in order; every place must end up in one.
    pub categories: Vec<CategorySpec>,
    /// The ticket types offered ("adult", "concession", …); the first is the
    /// default for a ticket that names none.
    pub ticket_types: Vec<String>,
    /// The prices; a (category, type) pair without one is not sold.
    pub prices: Vec<PriceSpec>,
}

impl PricingSpec {
    /// One category ("Standard") over every place and one type ("adult")
    /// at `cents`: what a simple show has.
    pub fn flat(cents: i64) -> Self {
        Self {
            categories: vec![CategorySpec {
                name: "Standard".to_owned(),
                rules: vec![PlaceRule::All],
            }],
            ticket_types: vec![STANDARD_TICKET_TYPES[0].to_owned()],
            prices: vec![PriceSpec {
                category: "Standard".to_owned(),
                ticket_type: STANDARD_TICKET_TYPES[0].to_owned(),
                cents,
            }],
        }
    }
}

/// A performance's resolved prices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    /// Category names, by number.
    pub categories: Vec<String>,
    /// Ticket type names, by number ([`TicketType`]).
    pub types: Vec<String>,
    /// Price of category `c` and type `t` at `c * types.len() + t`; `None`
    /// where that pair is not sold.
    pub prices: Vec<Option<i64>>,
    /// Category of place `n` at index `n - 1`.
    pub place_category: Vec<u8>,
}

fn name_ok(name: &str) -> bool {
    let len = name.chars().count();
    (1..=32).contains(&len)
        && name.trim() == name
        && !name.chars().any(|c| c == ',' || c.is_control())
}

impl Pricing {
    /// Resolves `spec` against `venue`; `Err` says what is wrong (an
    /// unknown section, row, seat, area, category or type; a place left
    /// without a category; a price out of range; a duplicate).
    pub fn resolve(spec: &PricingSpec, venue: &VenueIndex) -> Result<Self, String> {
        if spec.categories.is_empty() || spec.categories.len() > MAX_CATEGORIES {
            return Err(format!(
                "a performance has 1 to {MAX_CATEGORIES} price categories"
            ));
        }
        if spec.ticket_types.is_empty() || spec.ticket_types.len() > MAX_TICKET_TYPES {
            return Err(format!(
                "a performance offers 1 to {MAX_TICKET_TYPES} ticket types"
            ));
        }
        let mut categories: Vec<String> = Vec::new();
        for category in &spec.categories {
            if !name_ok(&category.name) {
                return Err(format!(
                    "category name {:?} must be 1 to 32 characters without commas",
                    category.name
                ));
            }
            if categories.contains(&category.name) {
                return Err(format!("two categories are called {:?}", category.name));
            }
            if category.rules.len() > MAX_RULES {
                return Err(format!(
                    "category {:?} has more than {MAX_RULES} rules",
                    category.name
                ));
            }
            categories.push(category.name.clone());
        }
        let mut types: Vec<String> = Vec::new();
        for name in &spec.ticket_types {
            if !name_ok(name) {
                return Err(format!(
                    "ticket type {name:?} must be 1 to 32 characters without commas"
                ));
            }
            if types.contains(name) {
                return Err(format!("ticket type {name:?} is listed twice"));
            }
            types.push(name.clone());
        }
        let mut place_category = vec![u8::MAX; venue.place_count() as usize];
        let mut ranges = Vec::new();
        for (number, category) in spec.categories.iter().enumerate() {
            let number = u8::try_from(number).unwrap_or(u8::MAX);
            for rule in &category.rules {
                ranges.push((number, places_of(rule, venue)?));
            }
        }
        // Later rules overwrite earlier ones; bound the overwriting, so a
        // spec of many overlapping rules cannot make one command slow.
        let covered: u64 = ranges
            .iter()
            .map(|(_, places)| u64::from(places.end().saturating_sub(*places.start())) + 1)
            .sum();
        let budget = u64::from(venue.place_count()) * MAX_COVER_PER_PLACE + MAX_RULES as u64;
        if covered > budget {
            return Err(format!(
                "the category rules cover {covered} places in all, more than \
                 {MAX_COVER_PER_PLACE} times the venue's {} places: make them overlap less",
                venue.place_count()
            ));
        }
        for (number, places) in ranges {
            let (start, end) = (*places.start() as usize, *places.end() as usize);
            if (1..=end).contains(&start)
                && let Some(slots) = place_category.get_mut(start - 1..end)
            {
                slots.fill(number);
            }
        }
        if let Some(index) = place_category.iter().position(|&c| c == u8::MAX) {
            let no = SeatNo(u32::try_from(index + 1).unwrap_or(u32::MAX));
            return Err(format!(
                "{} has no price category",
                venue.label(no).unwrap_or_else(|| no.to_string())
            ));
        }
        let mut prices = vec![None; categories.len() * types.len()];
        for price in &spec.prices {
            let c = categories
                .iter()
                .position(|c| *c == price.category)
                .ok_or_else(|| format!("no price category is called {:?}", price.category))?;
            let t = types
                .iter()
                .position(|t| *t == price.ticket_type)
                .ok_or_else(|| format!("no ticket type is called {:?}", price.ticket_type))?;
            if !(0..=MAX_PRICE_CENTS).contains(&price.cents) {
                return Err(format!(
                    "the price of {} in category {} must be 0 to {MAX_PRICE_CENTS} cents",
                    price.ticket_type, price.category
                ));
            }
            let slot = &mut prices[c * types.len() + t];
            if slot.is_some() {
                return Err(format!(
                    "{} in category {} has two prices",
                    price.ticket_type, price.category
                ));
            }
            *slot = Some(price.cents);
        }
        for (c, name) in categories.iter().enumerate() {
            if prices[c * types.len()..(c + 1) * types.len()]
                .iter()
                .all(Option::is_none)
            {
                return Err(format!("category {name} has no price for any ticket type"));
            }
        }
        Ok(Self {
            categories,
            types,
            prices,
            place_category,
        })
    }

    /// The category of place `no`.
    pub fn category_of(&self, no: SeatNo) -> Option<u8> {
        let index = (no.0 as usize).checked_sub(1)?;
        self.place_category.get(index).copied()
    }

    /// The price of a ticket of type `ticket_type` for place `no`, if sold.
    pub fn price(&self, no: SeatNo, ticket_type: TicketType) -> Option<i64> {
        let category = usize::from(self.category_of(no)?);
        let t = usize::from(ticket_type);
        if t >= self.types.len() {
            return None;
        }
        self.prices
            .get(category * self.types.len() + t)
            .copied()
            .flatten()
    }

    /// The number of the ticket type called `name`.
    pub fn type_named(&self, name: &str) -> Option<TicketType> {
        let index = self.types.iter().position(|t| t == name)?;
        TicketType::try_from(index).ok()
    }

    /// The number of the category called `name`.
    pub fn category_named(&self, name: &str) -> Option<u8> {
        let index = self.categories.iter().position(|c| c == name)?;
        u8::try_from(index).ok()
    }

    /// The name of ticket type `t` (or its number if out of range).
    pub fn type_name(&self, t: TicketType) -> String {
        self.types
            .get(usize::from(t))
            .cloned()
            .unwrap_or_else(|| t.to_string())
    }

    /// The lowest price of any ticket in category `c`.
    pub fn lowest_price(&self, c: u8) -> Option<i64> {
        let n = self.types.len();
        let start = usize::from(c) * n;
        self.prices
            .get(start..start + n)?
            .iter()
            .flatten()
            .min()
            .copied()
    }
}

/// The places `rule` picks; `Err` names what does not exist.
fn places_of(
    rule: &PlaceRule,
    venue: &VenueIndex,
) -> Result<std::ops::RangeInclusive<u32>, String> {
    let layout = venue.venue();
    let section_no = |name: &str| -> Result<u16, String> {
        let s = layout
            .sections
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| format!("{} has no section {name:?}", layout.name))?;
        u16::try_from(s).map_err(|_| "too many sections".to_owned())
    };
    match rule {
        PlaceRule::All => Ok(1..=venue.place_count()),
        PlaceRule::Section(name) => {
            let s = section_no(name)?;
            let last = layout.sections[usize::from(s)].rows.len().saturating_sub(1);
            Ok(venue.rows_places(s, 0, u16::try_from(last).unwrap_or(u16::MAX)))
        }
        PlaceRule::Rows { section, from, to } => {
            let s = section_no(section)?;
            let rows = &layout.sections[usize::from(s)].rows;
            let row_no = |label: &str| {
                rows.iter()
                    .position(|r| r.label == label)
                    .and_then(|r| u16::try_from(r).ok())
                    .ok_or_else(|| format!("section {section} has no row {label:?}"))
            };
            let (first, last) = (row_no(from)?, row_no(to)?);
            if first > last {
                return Err(format!(
                    "rows {from} to {to} of {section}: {from} comes after {to}"
                ));
            }
            Ok(venue.rows_places(s, first, last))
        }
        PlaceRule::Seat(label) => {
            let no = venue.find(label)?;
            Ok(no.0..=no.0)
        }
        PlaceRule::Area(name) => {
            let area = venue
                .area_named(name)
                .ok_or_else(|| format!("{} has no standing area {name:?}", layout.name))?;
            Ok(venue.area_places(area))
        }
    }
}
