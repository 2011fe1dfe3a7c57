//! A performance's prices as an administrator writes them, in TOML:
//! the ticket types, then each price category with the places it covers
//! and its price per type.
//!
//! ```toml
//! types = ["adult", "concession"]
//!
//! [[category]]
//! name = "A"
//! sections = ["Stalls"]                                  # whole sections
//! rows = [{ section = "Circle", from = "A", to = "B" }]  # row ranges
//! seats = ["Circle C-1"]                                 # single seats
//! areas = ["Floor"]                                      # standing areas
//! prices_cents = { adult = 4500, concession = 3500 }
//!
//! [[category]]
//! name = "B"
//! all = true          # every place not picked by a later category
//! prices_cents = { adult = 2500 }
//! ```
//!
//! Rules apply in the order written, over all categories: a place picked
//! by a later rule moves to that category, so a catch-all category goes
//! first. Every place must end up in a category; a type without a price
//! in a category is not sold there. The state machine checks all of it
//! against the venue ([`boxoffice_core::Pricing::resolve`]); this module
//! only reads the file, and names the line of a syntax mistake.

use std::collections::BTreeMap;

use boxoffice_core::{CategorySpec, PlaceRule, PriceSpec, PricingSpec};
use serde::Deserialize;

/// Why a pricing file cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct PricingFileError {
    /// The line of the mistake (1-based), when it has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    types: Vec<String>,
    #[serde(default)]
    category: Vec<Category>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Category {
    name: String,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    sections: Vec<String>,
    #[serde(default)]
    rows: Vec<Rows>,
    #[serde(default)]
    seats: Vec<String>,
    #[serde(default)]
    areas: Vec<String>,
    prices_cents: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rows {
    section: String,
    from: String,
    to: String,
}

/// Reads a pricing file into the spec `AddPerformances` carries.
pub fn parse_pricing(text: &str) -> Result<PricingSpec, PricingFileError> {
    let file: File = toml::from_str(text).map_err(|e| PricingFileError {
        line: e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
        message: e.message().to_owned(),
    })?;
    if file.category.is_empty() {
        return Err(PricingFileError {
            line: None,
            message: "the file has no [[category]]".to_owned(),
        });
    }
    let mut categories = Vec::new();
    let mut prices = Vec::new();
    for category in file.category {
        let mut rules = Vec::new();
        if category.all {
            rules.push(PlaceRule::All);
        }
        rules.extend(category.sections.into_iter().map(PlaceRule::Section));
        rules.extend(category.rows.into_iter().map(|r| PlaceRule::Rows {
            section: r.section,
            from: r.from,
            to: r.to,
        }));
        rules.extend(category.seats.into_iter().map(PlaceRule::Seat));
        rules.extend(category.areas.into_iter().map(PlaceRule::Area));
        if rules.is_empty() {
            return Err(PricingFileError {
                line: None,
                message: format!(
                    "category {:?} covers no places: give all, sections, rows, seats or areas",
                    category.name
                ),
            });
        }
        for (ticket_type, cents) in category.prices_cents {
            prices.push(PriceSpec {
                category: category.name.clone(),
                ticket_type,
                cents,
            });
        }
        categories.push(CategorySpec {
            name: category.name,
            rules,
        });
    }
    Ok(PricingSpec {
        categories,
        ticket_types: file.types,
        prices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_example_reads() {
        let text = r#"
types = ["adult", "concession"]

[[category]]
name = "B"
all = true
prices_cents = { adult = 2500 }

[[category]]
name = "A"
sections = ["Stalls"]
rows = [{ section = "Circle", from = "A", to = "B" }]
seats = ["Circle C-1"]
areas = ["Floor"]
prices_cents = { adult = 4500, concession = 3500 }
"#;
        let spec = parse_pricing(text).unwrap();
        assert_eq!(spec.ticket_types, ["adult", "concession"]);
        assert_eq!(spec.categories[0].rules, [PlaceRule::All]);
        assert_eq!(spec.categories[1].rules.len(), 4);
        assert_eq!(spec.prices.len(), 3);
    }

    #[test]
    fn the_example_prices_cover_the_example_venues() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/venues");
        for (venue, pricing, categories) in [
            ("theatre.toml", "theatre-pricing.toml", 3),
            ("club.toml", "club-pricing.toml", 2),
        ] {
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
            let venue = crate::venue_file::parse_venue(&read(venue)).unwrap();
            let index = boxoffice_core::VenueIndex::new(venue).unwrap();
            let spec = parse_pricing(&read(pricing)).unwrap();
            let resolved = boxoffice_core::Pricing::resolve(&spec, &index).unwrap();
            assert_eq!(resolved.categories.len(), categories);
            assert_eq!(resolved.place_category.len(), index.place_count() as usize);
        }
    }

    #[test]
    fn mistakes_name_their_line() {
        let unknown = "types = [\"adult\"]\n[[category]]\nname = \"A\"\nall = true\ncolour = 1\nprices_cents = {}\n";
        let error = parse_pricing(unknown).unwrap_err();
        assert_eq!(error.line, Some(5), "{error}");
        let empty = "types = [\"adult\"]\n[[category]]\nname = \"A\"\nprices_cents = {}\n";
        assert!(
            parse_pricing(empty)
                .unwrap_err()
                .to_string()
                .contains("covers no places")
        );
        assert!(parse_pricing("types = [\"adult\"]\n").is_err());
    }
}
