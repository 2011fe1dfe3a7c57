// The seat map of a performance at a venue, drawn as SVG from its plan
// (GET /api/shows/{id}/plan): the stage, section names, row labels, one
// shape per seat coloured by price category and by state, standing areas
// with the places left. Seats are focusable; Enter or Space selects one,
// the arrow keys move between seats, + and - zoom.
// Zoom and pan change the SVG's viewBox (wheel, drag, or the buttons), so
// a hall of thousands of seats stays one cheap element tree.
//
// `seatMap(plan, options)` returns { element, setSeats(seats), selected,
// standing } and calls options.onChange() when the selection changes.

const SVG = "http://www.w3.org/2000/svg";
// Seat radius and the margin around the plan, in plan units.
const RADIUS = 8;
const MARGIN = 40;
// One fill per price category, in the plan's order (colour-blind safe).
const PALETTE = ["#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e", "#a6761d", "#1f78b4", "#b15928"];
// Arrow keys as steps: [along the row order, across the rows].
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
const STATE_WORDS = { available: "free", held: "held", booked: "taken", held_back: "held back", unknown: "unknown" };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) el.setAttribute(key, value);
  }
  for (const child of children) el.append(child);
  return el;
}

export const money = (cents) =>
  (cents / 100).toLocaleString(undefined, { style: "currency", currency: "EUR" });

// The price of `type` in `category`, or undefined when not sold.
export function priceOf(prices, category, type) {
  return prices.prices.find((p) => p.category === category && p.ticket_type === type)?.cents;
}

// The ticket types sold in `category`, with their prices.
export function typesIn(prices, category) {
  return prices.ticket_types
    .map((type) => ({ type, cents: priceOf(prices, category, type) }))
    .filter((t) => t.cents !== undefined);
}

export function categoryColour(prices, category) {
  const i = prices.categories.indexOf(category);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}

export function seatMap(plan, { onChange, limit = 10, say }) {
  const { venue, prices } = plan;
  const places = plan.places;
  const states = new Map(plan.seats.map((seat) => [seat.seat_no, seat.state]));
  const shapes = new Map();
  const selected = new Set();
  // Standing: area name -> its place numbers.
  const areaPlaces = new Map();
  for (const place of places) {
    if (!place.area) continue;
    if (!areaPlaces.has(place.area)) areaPlaces.set(place.area, []);
    areaPlaces.get(place.area).push(place.seat_no);
  }
  const byNo = new Map(places.map((p) => [p.seat_no, p]));

  // The plan's extent: stage, seats and areas.
  const xs = [venue.stage.x, venue.stage.x + venue.stage.width];
  const ys = [venue.stage.y, venue.stage.y + venue.stage.height];
  for (const place of places) if (!place.area) { xs.push(place.x); ys.push(place.y); }
  for (const area of venue.areas) {
    xs.push(area.bounds.x, area.bounds.x + area.bounds.width);
    ys.push(area.bounds.y, area.bounds.y + area.bounds.height);
  }
  const home = {
    x: Math.min(...xs) - MARGIN, y: Math.min(...ys) - MARGIN,
    w: Math.max(...xs) - Math.min(...xs) + 2 * MARGIN, h: Math.max(...ys) - Math.min(...ys) + 2 * MARGIN,
  };
  let view = { ...home };
  const svg = s("svg", {
    class: "plan", role: "group", "aria-label": `Seat map of ${venue.name}`,
    preserveAspectRatio: "xMidYMid meet",
  });
  const setView = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  setView();

  const stage = venue.stage;
  svg.append(s("g", { class: "stage" },
    s("rect", { x: stage.x, y: stage.y, width: stage.width, height: stage.height, rx: 6 }),
    s("text", { x: stage.x + stage.width / 2, y: stage.y + stage.height / 2, "text-anchor": "middle", "dominant-baseline": "central" }, "STAGE")));

  function describe(place) {
    const state = STATE_WORDS[states.get(place.seat_no)] || "unknown";
    const sold = typesIn(prices, place.category).map((t) => `${t.type} ${money(t.cents)}`).join(", ");
    const extras = place.attributes.length ? ` (${place.attributes.join(", ")})` : "";
    const chosen = selected.has(place.seat_no) ? ", selected" : "";
    return `${place.label}${extras}, category ${place.category}: ${sold || "not sold"}; ${state}${chosen}`;
  }

  function draw(no) {
    const shape = shapes.get(no);
    if (!shape) return;
    const place = byNo.get(no);
    const state = states.get(no) || "unknown";
    shape.setAttribute("class", `seat ${state}${selected.has(no) ? " selected" : ""}${place.attributes.includes("wheelchair") ? " wheelchair" : ""}`);
    shape.setAttribute("aria-pressed", selected.has(no) ? "true" : "false");
    shape.setAttribute("aria-disabled", state === "available" ? "false" : "true");
    const text = describe(place);
    shape.setAttribute("aria-label", text);
    shape.querySelector("title").textContent = text;
  }

  function toggle(no) {
    if (states.get(no) !== "available") return;
    if (selected.has(no)) selected.delete(no);
    else if (selected.size + standingCount() >= limit) return say && say(`At most ${limit} places in one booking.`, "warn");
    else selected.add(no);
    draw(no);
    onChange();
  }

  // Sections: their name above their front row; each row's label left of
  // its first seat; then the seats. Place numbers run in this order.
  const seatsLayer = s("g", { class: "seats-layer" });
  const labels = s("g", { class: "labels", "aria-hidden": "true" });
  let no = 1;
  for (const section of venue.sections) {
    const all = section.rows.flatMap((row) => row.seats);
    if (all.length) {
      const top = Math.min(...all.map((seat) => seat.y));
      const mid = (Math.min(...all.map((seat) => seat.x)) + Math.max(...all.map((seat) => seat.x))) / 2;
      // Above the front row, but clear of the stage (a curved front row
      // leaves room in its middle).
      const above = top - 2.2 * RADIUS;
      const underStage = mid >= stage.x && mid <= stage.x + stage.width && above >= stage.y;
      const y = underStage ? Math.max(above, stage.y + stage.height + 16) : above;
      labels.append(s("text", { class: "section-name", x: mid, y, "text-anchor": "middle" }, section.name));
    }
    for (const row of section.rows) {
      if (row.seats.length) {
        const first = row.seats.reduce((a, b) => (b.x < a.x ? b : a));
        labels.append(s("text", { class: "row-label", x: first.x - 2.2 * RADIUS, y: first.y, "text-anchor": "end", "dominant-baseline": "central" }, row.label));
      }
      for (const seat of row.seats) {
        const place = byNo.get(no);
        const here = no;
        const wheelchair = seat.attributes.includes("wheelchair");
        const shape = wheelchair
          ? s("rect", { x: seat.x - RADIUS, y: seat.y - RADIUS, width: 2 * RADIUS, height: 2 * RADIUS, rx: 2 })
          : s("circle", { cx: seat.x, cy: seat.y, r: RADIUS });
        shape.setAttribute("data-seat", here);
        shape.setAttribute("data-label", place ? place.label : "");
        shape.setAttribute("tabindex", "0");
        shape.setAttribute("role", "button");
        shape.style.setProperty("--category", categoryColour(prices, place ? place.category : ""));
        shape.append(s("title"));
        shape.addEventListener("click", () => { if (!dragged) toggle(here); });
        shape.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            toggle(here);
          } else if (ARROWS[event.key]) {
            event.preventDefault();
            const next = neighbour(here, ARROWS[event.key]);
            if (next) shapes.get(next).focus();
          }
        });
        shapes.set(here, shape);
        seatsLayer.append(shape);
        if (place) draw(here);
        no += 1;
      }
    }
  }

  // The seat an arrow key moves to: along the row order for left and
  // right, the nearest seat in the row in front or behind for up and down.
  function neighbour(no, [dx, dy]) {
    if (dx) return shapes.has(no + dx) ? no + dx : null;
    const from = byNo.get(no);
    let best = null;
    let score = Infinity;
    for (const n of shapes.keys()) {
      const p = byNo.get(n);
      const along = (p.y - from.y) * dy;
      if (along <= RADIUS) continue;
      const d = (p.x - from.x) ** 2 + 4 * along ** 2;
      if (d < score) { score = d; best = n; }
    }
    return best;
  }

  // Standing areas: a box with the places left, and a quantity picker
  // below the map.
  const standing = new Map();
  const areaLayer = s("g", { class: "areas" });
  const pickers = document.createElement("div");
  pickers.className = "standing";
  const left = (name) => (areaPlaces.get(name) || []).filter((n) => states.get(n) === "available").length;
  const standingCount = () => [...standing.values()].reduce((sum, a) => sum + a.count, 0);
  for (const area of venue.areas) {
    const category = byNo.get((areaPlaces.get(area.name) || [])[0])?.category || "";
    const b = area.bounds;
    // Lettering in proportion to the area.
    const size = Math.max(12, Math.min(b.height / 8, b.width / 12));
    const count = s("text", { x: b.x + b.width / 2, y: b.y + b.height / 2 + 1.2 * size, "text-anchor": "middle", "font-size": size });
    // Colours go through the CSSOM: the page's CSP refuses style attributes.
    const box = s("rect", { x: b.x, y: b.y, width: b.width, height: b.height, rx: 8 });
    box.style.setProperty("--category", categoryColour(prices, category));
    areaLayer.append(s("g", { class: "area", "data-area": area.name },
      box,
      s("text", { class: "area-name", x: b.x + b.width / 2, y: b.y + b.height / 2 - size / 3, "text-anchor": "middle", "font-size": size }, area.name),
      count));
    const id = `standing-${pickers.children.length}`;
    const types = typesIn(prices, category);
    const input = Object.assign(document.createElement("input"), { type: "number", id, min: 0, value: 0 });
    input.setAttribute("data-area", area.name);
    const select = document.createElement("select");
    select.setAttribute("aria-label", `Ticket type for ${area.name}`);
    for (const t of types) select.append(new Option(`${t.type} ${money(t.cents)}`, t.type));
    const label = Object.assign(document.createElement("label"), { htmlFor: id });
    const entry = { count: 0, type: types[0]?.type || "", cents: types[0]?.cents || 0, category, input, label, countText: count };
    standing.set(area.name, entry);
    input.addEventListener("input", () => {
      const others = standingCount() - entry.count + selected.size;
      const wanted = Math.max(0, Math.min(Number(input.value) || 0, left(area.name), limit - others));
      input.value = wanted;
      entry.count = wanted;
      onChange();
    });
    select.addEventListener("change", () => {
      entry.type = select.value;
      entry.cents = priceOf(prices, category, select.value) || 0;
      onChange();
    });
    const row = document.createElement("p");
    row.append(label, input, select);
    pickers.append(row);
  }
  function drawAreas() {
    for (const [name, entry] of standing) {
      const n = left(name);
      entry.countText.textContent = `${n} left`;
      entry.label.textContent = `${name}: ${n} of ${(areaPlaces.get(name) || []).length} places left. Places: `;
      entry.input.max = Math.min(n, limit);
      if (entry.count > n) {
        entry.count = n;
        entry.input.value = n;
      }
    }
  }
  drawAreas();
  svg.append(areaLayer, labels, seatsLayer);

  // Zoom about a point (plan units); factor < 1 zooms in.
  function zoom(factor, cx = view.x + view.w / 2, cy = view.y + view.h / 2) {
    const w = Math.min(Math.max(view.w * factor, home.w / 20), home.w * 2);
    const k = w / view.w;
    view = { x: cx - (cx - view.x) * k, y: cy - (cy - view.y) * k, w, h: view.h * k };
    setView();
  }
  function toPlan(event) {
    const box = svg.getBoundingClientRect();
    const scale = Math.max(view.w / box.width, view.h / box.height);
    const offsetX = (box.width * scale - view.w) / 2;
    const offsetY = (box.height * scale - view.h) / 2;
    return { x: view.x - offsetX + (event.clientX - box.left) * scale, y: view.y - offsetY + (event.clientY - box.top) * scale, scale };
  }
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const at = toPlan(event);
    zoom(event.deltaY > 0 ? 1.2 : 1 / 1.2, at.x, at.y);
  }, { passive: false });
  // Dragging pans; a drag of more than a few pixels is not a click.
  let drag = null;
  let dragged = false;
  svg.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, view: { ...view }, scale: toPlan(event).scale };
    dragged = false;
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!dragged && Math.hypot(dx, dy) < 4) return;
    dragged = true;
    view = { ...drag.view, x: drag.view.x - dx * drag.scale, y: drag.view.y - dy * drag.scale };
    setView();
  });
  const endDrag = () => { drag = null; };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointerleave", endDrag);
  // The seat under the pointer or with the focus, in words below the map
  // (the title shows only on hover, and only after a delay).
  const info = document.createElement("p");
  info.className = "seat-info";
  info.setAttribute("aria-hidden", "true");
  info.textContent = "Point at a seat, or tab to one, to see its place, category and prices.";
  const placeOf = (event) => byNo.get(Number(event.target.getAttribute && event.target.getAttribute("data-seat")));
  svg.addEventListener("pointerover", (event) => {
    const place = placeOf(event);
    if (place) info.textContent = describe(place);
  });
  // A seat reached by the keyboard is described and brought into view.
  svg.addEventListener("focusin", (event) => {
    const place = placeOf(event);
    if (!place) return;
    info.textContent = describe(place);
    if (place.x < view.x || place.x > view.x + view.w || place.y < view.y || place.y > view.y + view.h) {
      view = { ...view, x: place.x - view.w / 2, y: place.y - view.h / 2 };
      setView();
    }
  });

  // + and - zoom while the map (or a seat in it) has the focus.
  svg.addEventListener("keydown", (event) => {
    if (event.key === "+" || event.key === "=") zoom(1 / 1.5);
    else if (event.key === "-") zoom(1.5);
  });

  const button = (text, label, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", action);
    return b;
  };
  const controls = document.createElement("div");
  controls.className = "zoom";
  controls.append(
    button("+", "Zoom in", () => zoom(1 / 1.5)),
    button("−", "Zoom out", () => zoom(1.5)),
    button("Reset", "Show the whole hall", () => { view = { ...home }; setView(); }));

  const legend = document.createElement("ul");
  legend.className = "legend";
  legend.setAttribute("aria-label", "Legend");
  for (const category of prices.categories) {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = categoryColour(prices, category);
    const sold = typesIn(prices, category).map((t) => `${t.type} ${money(t.cents)}`).join(", ");
    li.append(swatch, `Category ${category}: ${sold}`);
    legend.append(li);
  }
  for (const [cls, text] of [["selected", "selected"], ["held", "held"], ["booked", "taken"], ["held_back", "held back"], ["wheelchair", "wheelchair space (square)"]]) {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch ${cls}`;
    li.append(swatch, text);
    legend.append(li);
  }

  const element = document.createElement("div");
  element.className = "venue-map";
  element.append(legend, controls, svg, info, pickers);

  return {
    element,
    selected,
    standing,
    place: (no) => byNo.get(no),
    // Applies seat states (a whole map or the seats that changed);
    // selected seats someone else took are dropped.
    setSeats(seats) {
      for (const seat of seats) {
        states.set(seat.seat_no, seat.state);
        if (seat.state !== "available" && selected.delete(seat.seat_no)) onChange();
        draw(seat.seat_no);
      }
      drawAreas();
    },
    clear() {
      const was = [...selected];
      selected.clear();
      was.forEach(draw);
      for (const entry of standing.values()) {
        entry.count = 0;
        entry.input.value = 0;
      }
    },
  };
}
