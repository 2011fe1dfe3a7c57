//! From the file's shape to a venue, checking each rule where the line
//! that breaks it is still known.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use boxoffice_core::MAX_SEATS_PER_SHOW;
use boxoffice_core::venue::{
    MAX_COORDINATE, MAX_LABEL_LEN, MAX_ROWS, MAX_SEATS_PER_ROW, MAX_SECTIONS, Row, SeatAttrs,
    Section, Stage, StandingArea, Venue, VenueSeat, label_ok, seat_label,
};
use toml::Spanned;

use super::shape::{AreaFile, RectFile, RowFile, SeatList, SectionFile, VenueFile};
use super::{DEFAULT_SPACING, VenueFileError};

/// Byte offsets of the starts of lines, to turn a span into a line number.
pub(super) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    /// The 1-based line that byte `offset` is on.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

/// A seat on its way into the venue, with the line that gave it.
struct SeatDraft {
    label: String,
    x: i64,
    y: i64,
    attrs: SeatAttrs,
    line: usize,
}

/// Builds the venue, remembering where each name and position was first
/// seen so that a clash names both lines.
pub(super) struct Builder<'a> {
    lines: &'a Lines,
    /// Section and area names, with the line of each.
    names: HashMap<String, usize>,
    /// Seat positions, with the seat's full label and line.
    positions: HashMap<(i64, i64), (String, usize)>,
    /// Seats built so far: the file stops being read past the most a
    /// venue may have, before a large file costs much memory.
    seats: usize,
}

impl<'a> Builder<'a> {
    pub(super) fn new(lines: &'a Lines) -> Self {
        Self {
            lines,
            names: HashMap::new(),
            positions: HashMap::new(),
            seats: 0,
        }
    }

    /// An error on the line where `span` starts.
    fn error(&self, span: Range<usize>, message: String) -> VenueFileError {
        VenueFileError {
            line: Some(self.lines.line(span.start)),
            message,
        }
    }

    /// Checks a rectangle (the stage's, an area's): a corner within
    /// ±[`MAX_COORDINATE`], sizes from 1 to [`MAX_COORDINATE`].
    fn rect(
        &self,
        what: &str,
        span: Range<usize>,
        rect: &RectFile,
    ) -> Result<Stage, VenueFileError> {
        let corner = -MAX_COORDINATE..=MAX_COORDINATE;
        let size = 1..=MAX_COORDINATE;
        if !corner.contains(&rect.x) || !corner.contains(&rect.y) {
            return Err(self.error(
                span,
                format!(
                    "{what} is at ({}, {}), beyond ±{MAX_COORDINATE}",
                    rect.x, rect.y
                ),
            ));
        }
        if !size.contains(&rect.width) || !size.contains(&rect.height) {
            return Err(self.error(
                span,
                format!(
                    "{what} is {} by {}; width and height must be 1 to {MAX_COORDINATE}",
                    rect.width, rect.height
                ),
            ));
        }
        Ok(Stage {
            x: rect.x,
            y: rect.y,
            width: rect.width,
            height: rect.height,
        })
    }

    pub(super) fn venue(mut self, file: VenueFile) -> Result<Venue, VenueFileError> {
        if file.section.len() > MAX_SECTIONS || file.area.len() > MAX_SECTIONS {
            return Err(VenueFileError {
                line: None,
                message: format!(
                    "a venue has at most {MAX_SECTIONS} sections and {MAX_SECTIONS} standing areas"
                ),
            });
        }
        let sections = file
            .section
            .into_iter()
            .map(|section| self.section(section))
            .collect::<Result<Vec<_>, _>>()?;
        let areas = file
            .area
            .into_iter()
            .map(|area| self.area(area))
            .collect::<Result<Vec<_>, _>>()?;
        let stage = self.rect("the stage", file.stage.span(), file.stage.get_ref())?;
        Ok(Venue {
            name: file.name.into_inner(),
            stage,
            sections,
            areas,
        })
    }

    /// Checks a section's or area's name: a good label, not used before.
    fn claim_name(&mut self, what: &str, name: &Spanned<String>) -> Result<(), VenueFileError> {
        let line = self.lines.line(name.span().start);
        if !label_ok(name.get_ref()) {
            return Err(self.error(name.span(), bad_label(what, name.get_ref())));
        }
        if let Some(first) = self.names.insert(name.get_ref().clone(), line) {
            return Err(self.error(
                name.span(),
                format!(
                    "there is already a section or standing area called {:?} (line {first})",
                    name.get_ref()
                ),
            ));
        }
        Ok(())
    }

    fn section(&mut self, file: SectionFile) -> Result<Section, VenueFileError> {
        self.claim_name("a section", &file.name)?;
        let section = file.name.get_ref().clone();
        if file.row.is_empty() {
            return Err(self.error(
                file.name.span(),
                format!("section {section:?} has no rows: add a [[section.row]]"),
            ));
        }
        if file.row.len() > MAX_ROWS {
            return Err(self.error(
                file.name.span(),
                format!("section {section:?} has more than {MAX_ROWS} rows"),
            ));
        }
        let mut labels: HashMap<String, usize> = HashMap::new();
        let mut rows = Vec::with_capacity(file.row.len());
        for row in file.row {
            let line = self.lines.line(row.label.span().start);
            let label = row.label.get_ref();
            if !label_ok(label) {
                return Err(self.error(
                    row.label.span(),
                    bad_label(&format!("a row of section {section:?}"), label),
                ));
            }
            if let Some(first) = labels.insert(label.clone(), line) {
                return Err(self.error(
                    row.label.span(),
                    format!("section {section:?} has two rows labelled {label:?} (the first on line {first})"),
                ));
            }
            rows.push(self.row(&section, row)?);
        }
        Ok(Section {
            name: section,
            rows,
        })
    }

    fn row(&mut self, section: &str, file: RowFile) -> Result<Row, VenueFileError> {
        let label = file.label.get_ref().clone();
        let row_span = file.label.span();
        let of_row = format!("row {label:?} of section {section:?}");
        let mut seats = match (&file.seats, file.seat.is_empty()) {
            (Some(_), false) => {
                return Err(self.error(
                    row_span,
                    format!(
                        "{of_row} has both `seats` and [[section.row.seat]] tables: use one form"
                    ),
                ));
            }
            (None, true) => {
                return Err(self.error(row_span, format!("{of_row} has no seats")));
            }
            (Some(list), true) => self.compact_row(&of_row, row_span.clone(), &file, list)?,
            (None, false) => self.explicit_row(&of_row, row_span.clone(), &file)?,
        };
        if seats.is_empty() {
            return Err(self.error(row_span, format!("{of_row} has no seats")));
        }
        self.seats = self.seats.saturating_add(seats.len());
        if self.seats > MAX_SEATS_PER_SHOW as usize {
            return Err(self.error(
                row_span,
                format!("{of_row} brings the venue past {MAX_SEATS_PER_SHOW} seats, the most a venue has"),
            ));
        }

        // Labels unique in the row.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for seat in &seats {
            if let Some(first) = seen.insert(&seat.label, seat.line) {
                let full = seat_label(section, &label, &seat.label);
                let message = if first == seat.line {
                    format!("seat {full} is listed twice")
                } else {
                    format!("seat {full} is listed twice (the first on line {first})")
                };
                return Err(VenueFileError {
                    line: Some(seat.line),
                    message,
                });
            }
        }

        // Attributes given by label, at row level.
        let lists = [
            (&file.wheelchair, SeatAttrs::WHEELCHAIR, "wheelchair"),
            (&file.companion, SeatAttrs::COMPANION, "companion"),
            (
                &file.restricted_view,
                SeatAttrs::RESTRICTED_VIEW,
                "restricted_view",
            ),
            (&file.aisle, SeatAttrs::AISLE, "aisle"),
        ];
        for (list, attr, key) in lists {
            for name in list {
                let Some(seat) = seats.iter_mut().find(|s| s.label == *name.get_ref()) else {
                    return Err(self.error(
                        name.span(),
                        format!(
                            "{of_row} has no seat {:?} (named in `{key}`)",
                            name.get_ref()
                        ),
                    ));
                };
                seat.attrs = seat.attrs.with(attr);
            }
        }

        // Positions: in range and nowhere taken.
        let mut out = Vec::with_capacity(seats.len());
        for seat in seats {
            let full = seat_label(section, &label, &seat.label);
            let in_range =
                |v: i64| (-i64::from(MAX_COORDINATE)..=i64::from(MAX_COORDINATE)).contains(&v);
            let (Ok(x), Ok(y)) = (i32::try_from(seat.x), i32::try_from(seat.y)) else {
                return Err(out_of_range(&full, &seat));
            };
            if !in_range(seat.x) || !in_range(seat.y) {
                return Err(out_of_range(&full, &seat));
            }
            if let Some((first, first_line)) = self.positions.get(&(seat.x, seat.y)) {
                return Err(VenueFileError {
                    line: Some(seat.line),
                    message: format!(
                        "seat {full} is at ({x}, {y}), where seat {first} already is (line {first_line})"
                    ),
                });
            }
            self.positions.insert((seat.x, seat.y), (full, seat.line));
            out.push(VenueSeat {
                label: seat.label,
                x,
                y,
                attrs: seat.attrs,
            });
        }
        Ok(Row { label, seats: out })
    }

    /// A compact row: labels from `seats`, placed left to right from `x`.
    fn compact_row(
        &self,
        of_row: &str,
        row_span: Range<usize>,
        file: &RowFile,
        list: &Spanned<SeatList>,
    ) -> Result<Vec<SeatDraft>, VenueFileError> {
        let line = self.lines.line(list.span().start);
        let labels = match list.get_ref() {
            SeatList::Ranges(text) => {
                expand_ranges(text).map_err(|m| self.error(list.span(), m))?
            }
            SeatList::Labels(labels) => labels.clone(),
        };
        if labels.len() > MAX_SEATS_PER_ROW {
            return Err(self.error(
                list.span(),
                format!(
                    "{of_row} has {} seats; at most {MAX_SEATS_PER_ROW}",
                    labels.len()
                ),
            ));
        }
        if let Some(bad) = labels.iter().find(|l| !label_ok(l)) {
            return Err(self.error(list.span(), bad_label(&format!("a seat of {of_row}"), bad)));
        }
        let (Some(x), Some(y)) = (file.x, file.y) else {
            return Err(self.error(
                row_span,
                format!("{of_row} gives `seats` but not both `x` (of its leftmost seat) and `y`"),
            ));
        };
        let spacing = match &file.spacing {
            Some(s) if *s.get_ref() < 1 => {
                return Err(self.error(
                    s.span(),
                    format!(
                        "{of_row} has spacing {}; it must be at least 1",
                        s.get_ref()
                    ),
                ));
            }
            Some(s) => i64::from(*s.get_ref()),
            None => i64::from(DEFAULT_SPACING),
        };

        // Offsets from the first label's seat, an extra spacing after each
        // aisle; the seats either side of an aisle are aisle seats.
        let mut aisle_after = HashSet::new();
        for name in file.aisles_after.iter().flatten() {
            match labels.iter().position(|l| l == name.get_ref()) {
                None => {
                    return Err(self.error(
                        name.span(),
                        format!(
                            "{of_row} has no seat {:?} (named in `aisles_after`)",
                            name.get_ref()
                        ),
                    ));
                }
                Some(i) if i + 1 == labels.len() => {
                    return Err(self.error(
                        name.span(),
                        format!(
                            "seat {:?} is the last of {of_row}: no seat follows the aisle (mark it with `aisle` instead)",
                            name.get_ref()
                        ),
                    ));
                }
                Some(i) => {
                    aisle_after.insert(i);
                }
            }
        }
        let mut offsets = Vec::with_capacity(labels.len());
        let mut offset = 0i64;
        for i in 0..labels.len() {
            offsets.push(offset);
            offset += spacing;
            if aisle_after.contains(&i) {
                offset += spacing;
            }
        }
        let width = offsets.last().copied().unwrap_or(0);
        let reverse = file.reverse.unwrap_or(false);
        let curve = i64::from(file.curve.unwrap_or(0));

        Ok(labels
            .into_iter()
            .zip(offsets)
            .enumerate()
            .map(|(i, (label, offset))| {
                let from_left = if reverse { width - offset } else { offset };
                let mut attrs = SeatAttrs::default();
                if aisle_after.contains(&i) || (i > 0 && aisle_after.contains(&(i - 1))) {
                    attrs = attrs.with(SeatAttrs::AISLE);
                }
                SeatDraft {
                    label,
                    x: i64::from(x) + from_left,
                    y: i64::from(y) - bend(curve, from_left, width),
                    attrs,
                    line,
                }
            })
            .collect())
    }

    /// An explicit row: one `[[section.row.seat]]` per seat.
    fn explicit_row(
        &self,
        of_row: &str,
        row_span: Range<usize>,
        file: &RowFile,
    ) -> Result<Vec<SeatDraft>, VenueFileError> {
        if file.x.is_some()
            || file.spacing.is_some()
            || file.reverse.is_some()
            || file.curve.is_some()
            || file.aisles_after.is_some()
        {
            return Err(self.error(
                row_span,
                format!(
                    "{of_row} lists its seats one by one, so `x`, `spacing`, `reverse`, `curve` and `aisles_after` do not apply: give each seat its `x`"
                ),
            ));
        }
        if file.seat.len() > MAX_SEATS_PER_ROW {
            return Err(self.error(
                row_span,
                format!("{of_row} has more than {MAX_SEATS_PER_ROW} seats"),
            ));
        }
        let mut seats = Vec::with_capacity(file.seat.len());
        for seat in &file.seat {
            let label = seat.label.get_ref();
            if !label_ok(label) {
                return Err(self.error(
                    seat.label.span(),
                    bad_label(&format!("a seat of {of_row}"), label),
                ));
            }
            let Some(y) = seat.y.or(file.y) else {
                return Err(self.error(
                    seat.label.span(),
                    format!("seat {label:?} of {of_row} has no `y`, and the row gives none"),
                ));
            };
            let mut attrs = SeatAttrs::default();
            for name in &seat.attrs {
                let attr = SeatAttrs::named(name.get_ref()).ok_or_else(|| {
                    self.error(
                        name.span(),
                        format!(
                            "seat {label:?} of {of_row}: unknown attribute {:?}; the attributes are {}",
                            name.get_ref(),
                            attribute_names()
                        ),
                    )
                })?;
                attrs = attrs.with(attr);
            }
            seats.push(SeatDraft {
                label: label.clone(),
                x: i64::from(seat.x),
                y: i64::from(y),
                attrs,
                line: self.lines.line(seat.label.span().start),
            });
        }
        Ok(seats)
    }

    fn area(&mut self, file: AreaFile) -> Result<StandingArea, VenueFileError> {
        self.claim_name("a standing area", &file.name)?;
        if *file.capacity.get_ref() == 0 {
            return Err(self.error(
                file.capacity.span(),
                format!(
                    "standing area {:?} has a capacity of 0",
                    file.name.get_ref()
                ),
            ));
        }
        let bounds = RectFile {
            x: file.x,
            y: file.y,
            width: file.width,
            height: file.height,
        };
        let what = format!("standing area {:?}", file.name.get_ref());
        let bounds = self.rect(&what, file.name.span(), &bounds)?;
        Ok(StandingArea {
            name: file.name.into_inner(),
            capacity: file.capacity.into_inner(),
            bounds,
        })
    }
}

/// How much nearer the stage a seat `from_left` along a row of `width` sits
/// than the row's middle: 0 in the middle, `curve` at either end, a
/// parabola between, rounded to the nearest unit.
fn bend(curve: i64, from_left: i64, width: i64) -> i64 {
    if curve == 0 || width == 0 {
        return 0;
    }
    let d = i128::from(2 * from_left - width);
    let num = i128::from(curve) * d * d;
    let den = i128::from(width) * i128::from(width);
    // Round half away from zero, the same for both signs.
    let rounded = (num.abs() * 2 + den) / (2 * den) * num.signum();
    i64::try_from(rounded).unwrap_or(0)
}

/// `"1-12, 14-25"` as labels `1`..`12`, `14`..`25`.
fn expand_ranges(text: &str) -> Result<Vec<String>, String> {
    let hint = r#"write numbers such as "1-24" or "1-12, 14-25", or list the labels: ["A1", "A2"]"#;
    let mut labels = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| -> Result<u32, String> {
            let s = s.trim();
            let digits = !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if !digits || (s.len() > 1 && s.starts_with('0')) {
                return Err(format!("bad seat range {text:?}: {hint}"));
            }
            s.parse()
                .map_err(|_| format!("bad seat range {text:?}: {s} is too large"))
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if first > last {
            return Err(format!(
                "bad seat range {part:?}: it runs backwards; write \"{last}-{first}\", with `reverse = true` if the labels run right to left"
            ));
        }
        let count = usize::try_from(last - first)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if labels.len().saturating_add(count) > MAX_SEATS_PER_ROW {
            return Err(format!(
                "seat range {text:?} has more than {MAX_SEATS_PER_ROW} seats, the most a row has"
            ));
        }
        labels.extend((first..=last).map(|n| n.to_string()));
    }
    Ok(labels)
}

/// Why `label`, the label or name of `of`, cannot be used.
fn bad_label(of: &str, label: &str) -> String {
    format!(
        "bad label {label:?} for {of}: labels are 1 to {MAX_LABEL_LEN} characters, without commas, control characters or spaces at either end"
    )
}

fn attribute_names() -> String {
    SeatAttrs::NAMED.map(|(_, name)| name).join(", ")
}

fn out_of_range(full: &str, seat: &SeatDraft) -> VenueFileError {
    VenueFileError {
        line: Some(seat.line),
        message: format!(
            "seat {full} is at ({}, {}), beyond ±{MAX_COORDINATE}",
            seat.x, seat.y
        ),
    }
}
