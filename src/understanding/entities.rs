//! Entities in a customer's words: quantities with units, pickup days and times, product names
//! fuzzy-matched to the catalogue. Pure functions; what a flow does with them is the flow's.
//!
//! All three readers work on folded text (lowercase, accents stripped), so English and Spanish,
//! typed with or without accents, read alike. Quantities and times share one tokenizer, so a
//! number is read once and in context: "3.5g" is weight, "at 6" is a time, "LD-1005" and "$40"
//! are neither.

use std::ops::RangeInclusive;

/// What an amount measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// Weight in grams (flower, concentrate): "3.5g", "2 ounces", "an eighth", "1/8 oz", "half oz", "una onza",
    /// "media onza", "3 gramos".
    Grams(f64),
    /// THC in milligrams (edibles): "100 mg", "100mg".
    Milligrams(f64),
    /// A count of packaged items: "2 carts", "3 prerolls", "a couple gummies" (couple=2), "2 cartuchos".
    Items { count: u32, kind: ItemKind },
}

/// The packaged goods customers count rather than weigh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Cartridge,
    PreRoll,
    Edible,
}

/// One amount the customer asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub amount: Amount,
    /// the words it came from, as written
    pub said: String,
}

/// A day as the customer names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    Today,
    Tomorrow,
    /// 0 = Monday … 6 = Sunday
    Weekday(u8),
}

/// A part of the day, said without a clock time ("this evening", "en la tarde").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayPart {
    Morning,
    Afternoon,
    Evening,
}

/// A pickup day and time as said, not yet placed in a timezone (the caller does that with the store's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct When {
    pub day: Option<Day>,
    /// 0–23. Without am/pm, 1–8 means the afternoon/evening (stores open ~9 to 21): "at 6" is 18.
    pub hour: Option<u8>,
    pub minute: u8,
    /// "after 5", "despues de las 5"
    pub after: bool,
    /// "before 5", "antes de las 5"
    pub before: bool,
    pub part: Option<DayPart>,
}

impl When {
    /// The form the pickup action reads: "tomorrow 17:00", "today 18:30"; `None` without an hour.
    /// ("after 5" asks for 17:00, the earliest time it allows; "before 5" gives its bound too, for the flow to
    /// weigh.) Without a day word the customer means today, which is also how the pickup action reads a bare time.
    pub fn to_request(&self) -> Option<String> {
        let hour = self.hour?;
        let day = match self.day {
            None | Some(Day::Today) => "today",
            Some(Day::Tomorrow) => "tomorrow",
            Some(Day::Weekday(n)) => WEEKDAY_NAMES[usize::from(n) % WEEKDAY_NAMES.len()],
        };
        Some(format!("{day} {hour:02}:{:02}", self.minute))
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens: one reading of the text shared by quantities and times.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Number(f64),
    /// "1/8": kept apart from a number because "1/8" alone means an eighth of an ounce.
    Fraction(u32, u32),
    /// "6:30"
    Clock(u8, u8),
    Mark(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Byte range in the original text, so [`Quantity::said`] quotes the customer exactly.
    start: usize,
    end: usize,
    /// No space before it: "$40", "LD-1005" and "3.5g" are read by what they are glued to.
    glued: bool,
}

/// Lowercase without accents, one char for one char so byte offsets into the original still hold.
fn fold(c: char) -> char {
    match c.to_lowercase().next().unwrap_or(c) {
        'á' | 'à' | 'ä' | 'â' | 'ã' => 'a',
        'é' | 'è' | 'ë' | 'ê' => 'e',
        'í' | 'ì' | 'ï' | 'î' => 'i',
        'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
        'ú' | 'ù' | 'ü' | 'û' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        '’' => '\'',
        other => other,
    }
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().map(|(at, c)| (at, fold(c))).collect();
    let mut out = Vec::new();
    let (mut k, mut glued) = (0, false);
    while let Some(&(start, c)) = chars.get(k) {
        if c.is_whitespace() {
            (k, glued) = (k + 1, false);
            continue;
        }
        let (tok, next) = if c.is_alphabetic() {
            let end = run_end(&chars, k, char::is_alphabetic);
            (Tok::Word(collect(&chars[k..end])), end)
        } else if c.is_ascii_digit() {
            number(&chars, k)
        } else {
            (Tok::Mark(c), k + 1)
        };
        let end = chars.get(next).map_or(text.len(), |&(at, _)| at);
        out.push(Token { tok, start, end, glued });
        (k, glued) = (next, true);
    }
    out
}

/// Where the run of chars that `keep` accepts, starting at `from`, ends.
fn run_end(chars: &[(usize, char)], from: usize, keep: impl Fn(char) -> bool) -> usize {
    let from = from.min(chars.len());
    chars[from..].iter().position(|&(_, c)| !keep(c)).map_or(chars.len(), |p| from + p)
}

fn collect(chars: &[(usize, char)]) -> String {
    chars.iter().map(|&(_, c)| c).collect()
}

/// A number starting at `k`: "3", "3.5", "3,5" (Spanish decimal comma), "1,000", "1/8", "6:30".
fn number(chars: &[(usize, char)], k: usize) -> (Tok, usize) {
    let digit = |c: char| c.is_ascii_digit();
    let int_end = run_end(chars, k, digit);
    let whole = collect(&chars[k..int_end]);
    let plain = (Tok::Number(whole.parse().unwrap_or_default()), int_end);
    let frac_end = run_end(chars, int_end + 1, digit);
    if frac_end <= int_end + 1 {
        return plain;
    }
    let frac = collect(&chars[int_end + 1..frac_end]);
    let read = match chars[int_end].1 {
        ':' if frac.len() == 2 => clock(&whole, &frac),
        '/' => fraction(&whole, &frac),
        // "1,000 mg" groups thousands; "3,5 g" is a decimal comma.
        ',' if frac.len() == 3 => format!("{whole}{frac}").parse().ok().map(Tok::Number),
        '.' | ',' => format!("{whole}.{frac}").parse().ok().map(Tok::Number),
        _ => None,
    };
    read.map_or(plain, |tok| (tok, frac_end))
}

fn clock(hour: &str, minute: &str) -> Option<Tok> {
    let (hour, minute): (u8, u8) = (hour.parse().ok()?, minute.parse().ok()?);
    (hour <= 23 && minute <= 59).then_some(Tok::Clock(hour, minute))
}

fn fraction(top: &str, bottom: &str) -> Option<Tok> {
    let (top, bottom): (u32, u32) = (top.parse().ok()?, bottom.parse().ok()?);
    (bottom > 0).then_some(Tok::Fraction(top, bottom))
}

fn word_at(t: &[Token], i: usize) -> Option<&str> {
    match t.get(i) {
        Some(Token { tok: Tok::Word(w), .. }) => Some(w.as_str()),
        _ => None,
    }
}

fn is_any(t: &[Token], i: usize, words: &[&str]) -> bool {
    word_at(t, i).is_some_and(|w| words.contains(&w))
}

fn is_mark(t: &[Token], i: usize, mark: char) -> bool {
    matches!(t.get(i), Some(Token { tok: Tok::Mark(m), .. }) if *m == mark)
}

/// Where `words` end when they start at `i`, one token each.
fn phrase_end(t: &[Token], i: usize, words: &[&str]) -> Option<usize> {
    words.iter().enumerate().all(|(n, w)| word_at(t, i + n) == Some(*w)).then_some(i + words.len())
}

/// The first phrase of `table` said at `i` (tables list longer phrases first), with its value.
fn first_phrase<T: Copy>(t: &[Token], i: usize, table: &[(&[&str], T)]) -> Option<(T, usize)> {
    table.iter().find_map(|&(words, value)| phrase_end(t, i, words).map(|end| (value, end)))
}

/// A number glued to a word or a sign is an order number or a price ("LD-1005", "#1005", "$40"), never an
/// amount or a time.
fn is_code_or_price(t: &[Token], i: usize) -> bool {
    let glued = |k: usize| t.get(k).is_some_and(|x| x.glued);
    if !glued(i) || i == 0 {
        return false;
    }
    match &t[i - 1].tok {
        Tok::Word(_) | Tok::Mark('$' | '#') => true,
        // "LD-1005", but not "5-6pm".
        Tok::Mark('-') => i >= 2 && glued(i - 1) && matches!(t[i - 2].tok, Tok::Word(_)),
        _ => false,
    }
}

/// `n` as a count, when it is a whole number.
fn whole_number(n: f64) -> Option<u32> {
    let whole = n.fract().abs() < f64::EPSILON && (0.0..=f64::from(u32::MAX)).contains(&n);
    // The cast is exact: `n` was just checked to be whole and in range.
    whole.then_some(n as u32)
}

// ---------------------------------------------------------------------------------------------
// Quantities.

/// An ounce in grams, exactly (avoirdupois): "3 ounces" is 85.05 g.
const GRAMS_PER_OUNCE: f64 = 28.349_523_125;
/// A pound in grams, exactly (avoirdupois); 453.6 g as customers round it.
const GRAMS_PER_POUND: f64 = 453.592_37;
/// An eighth of an ounce as sold. Retail convention for flower rounds it to 3.5 g (so a quarter is 7 g and a
/// half 14 g), not the 3.54 g the ounce gives.
const RETAIL_EIGHTH_GRAMS: f64 = 3.5;
/// Words allowed between a count and what it counts: "2 blue dream carts".
const MAX_FILLERS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Weight {
    Gram,
    Ounce,
    Pound,
}

impl Weight {
    fn grams(self, n: f64) -> f64 {
        match self {
            Self::Gram => n,
            Self::Ounce => ounces_to_grams(n),
            Self::Pound => n * GRAMS_PER_POUND,
        }
    }
}

/// Grams in `ounces`, in eighths below an ounce by retail convention ("1/2 oz" is 14 g, not 14.17).
fn ounces_to_grams(ounces: f64) -> f64 {
    let eighths = ounces * 8.0;
    if ounces < 1.0 && (eighths - eighths.round()).abs() < 1e-9 {
        eighths.round() * RETAIL_EIGHTH_GRAMS
    } else {
        ounces * GRAMS_PER_OUNCE
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Weight(Weight),
    Milligram,
    Item(ItemKind),
}

const UNITS: &[(&str, Unit)] = &[
    ("g", Unit::Weight(Weight::Gram)),
    ("gr", Unit::Weight(Weight::Gram)),
    ("grs", Unit::Weight(Weight::Gram)),
    ("gms", Unit::Weight(Weight::Gram)),
    ("gram", Unit::Weight(Weight::Gram)),
    ("grams", Unit::Weight(Weight::Gram)),
    ("gramo", Unit::Weight(Weight::Gram)),
    ("gramos", Unit::Weight(Weight::Gram)),
    ("oz", Unit::Weight(Weight::Ounce)),
    ("ozs", Unit::Weight(Weight::Ounce)),
    ("ounce", Unit::Weight(Weight::Ounce)),
    ("ounces", Unit::Weight(Weight::Ounce)),
    ("onza", Unit::Weight(Weight::Ounce)),
    ("onzas", Unit::Weight(Weight::Ounce)),
    // Slang for an ounce, sold in a zip bag.
    ("zip", Unit::Weight(Weight::Ounce)),
    ("zips", Unit::Weight(Weight::Ounce)),
    ("lb", Unit::Weight(Weight::Pound)),
    ("lbs", Unit::Weight(Weight::Pound)),
    ("pound", Unit::Weight(Weight::Pound)),
    ("pounds", Unit::Weight(Weight::Pound)),
    ("libra", Unit::Weight(Weight::Pound)),
    ("libras", Unit::Weight(Weight::Pound)),
    ("mg", Unit::Milligram),
    ("mgs", Unit::Milligram),
    ("milligram", Unit::Milligram),
    ("milligrams", Unit::Milligram),
    ("miligramo", Unit::Milligram),
    ("miligramos", Unit::Milligram),
    ("cart", Unit::Item(ItemKind::Cartridge)),
    ("carts", Unit::Item(ItemKind::Cartridge)),
    ("cartridge", Unit::Item(ItemKind::Cartridge)),
    ("cartridges", Unit::Item(ItemKind::Cartridge)),
    ("cartucho", Unit::Item(ItemKind::Cartridge)),
    ("cartuchos", Unit::Item(ItemKind::Cartridge)),
    ("preroll", Unit::Item(ItemKind::PreRoll)),
    ("prerolls", Unit::Item(ItemKind::PreRoll)),
    ("prerol", Unit::Item(ItemKind::PreRoll)),
    ("prerols", Unit::Item(ItemKind::PreRoll)),
    ("prerrol", Unit::Item(ItemKind::PreRoll)),
    ("prerroles", Unit::Item(ItemKind::PreRoll)),
    ("joint", Unit::Item(ItemKind::PreRoll)),
    ("joints", Unit::Item(ItemKind::PreRoll)),
    ("porro", Unit::Item(ItemKind::PreRoll)),
    ("porros", Unit::Item(ItemKind::PreRoll)),
    ("gummy", Unit::Item(ItemKind::Edible)),
    ("gummie", Unit::Item(ItemKind::Edible)),
    ("gummies", Unit::Item(ItemKind::Edible)),
    ("gomita", Unit::Item(ItemKind::Edible)),
    ("gomitas", Unit::Item(ItemKind::Edible)),
    ("edible", Unit::Item(ItemKind::Edible)),
    ("edibles", Unit::Item(ItemKind::Edible)),
    ("comestible", Unit::Item(ItemKind::Edible)),
    ("comestibles", Unit::Item(ItemKind::Edible)),
    ("chocolate", Unit::Item(ItemKind::Edible)),
    ("chocolates", Unit::Item(ItemKind::Edible)),
];

/// Fractions of a unit said as words; without a unit they are of an ounce ("an eighth").
const PORTIONS: &[(&str, f64)] = &[
    ("eighth", 0.125),
    ("eighths", 0.125),
    ("octavo", 0.125),
    ("octavos", 0.125),
    ("quarter", 0.25),
    ("quarters", 0.25),
    ("cuarto", 0.25),
    ("cuartos", 0.25),
    ("half", 0.5),
    ("media", 0.5),
    ("medio", 0.5),
];

/// Words that make a portion a stretch of time: "a quarter past 5", "a half hour", "un cuarto de hora".
const TIME_AFTER_PORTION: &[&str] = &["past", "to", "til", "till", "after", "before", "hour", "hours", "hora", "horas"];

/// A count's own article: "an eighth", "una onza", "a cart".
const ARTICLES: &[&str] = &["a", "an", "un", "una"];

const NUMBER_WORDS: &[(&str, u8)] = &[
    ("one", 1),
    ("uno", 1),
    ("two", 2),
    ("dos", 2),
    ("three", 3),
    ("tres", 3),
    ("four", 4),
    ("cuatro", 4),
    ("five", 5),
    ("cinco", 5),
    ("six", 6),
    ("seis", 6),
    ("seven", 7),
    ("siete", 7),
    ("eight", 8),
    ("ocho", 8),
    ("nine", 9),
    ("nueve", 9),
    ("ten", 10),
    ("diez", 10),
];

/// Two, said loosely.
const COUPLE: &[&[&str]] =
    &[&["a", "couple", "of"], &["a", "couple"], &["couple", "of"], &["couple"], &["un", "par", "de"], &["par", "de"]];

/// Words that end a phrase, so "2" in "2 and then carts" or "at 6 pick up carts" counts nothing.
const NOT_FILLERS: &[&str] = &[
    "and", "or", "y", "o", "at", "to", "for", "by", "a", "an", "pm", "am", "i", "then", "but", "pero", "para", "por",
    "with", "con", "pick", "up", "pickup", "is", "are", "es", "today", "tomorrow", "hoy", "manana", "tonight",
];

/// Words before a number that make it an hour: "at 6", "a las 5".
const TIME_CUE_WORDS: &[&str] = &["at", "by", "after", "before", "around", "until", "til", "till", "las", "la"];

#[derive(Debug, Clone, Copy)]
struct Count {
    value: f64,
    /// "a"/"una": one only in front of a unit ("a cart"), never a count of what follows later.
    article: bool,
    /// "1/8": an eighth of an ounce even without the unit.
    fraction: bool,
}

/// Every quantity in `text`, in order.
pub fn quantities(text: &str) -> Vec<Quantity> {
    let t = tokens(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match quantity_at(&t, i) {
            Some((amount, end)) => {
                found.push(Quantity { amount, said: text[t[i].start..t[end - 1].end].to_string() });
                i = end;
            }
            None => i += 1,
        }
    }
    found
}

/// The quantity starting at token `i`, and the token after it.
fn quantity_at(t: &[Token], i: usize) -> Option<(Amount, usize)> {
    if is_code_or_price(t, i) {
        return None;
    }
    // "half an ounce", "media onza": uncounted, a portion needs its unit to be weed.
    if let Some(part) = portion_at(t, i) {
        return portion_amount(t, i + 1, part, true);
    }
    let (count, j) = count_at(t, i)?;
    if let Some(part) = portion_at(t, j) {
        return portion_amount(t, j + 1, count.value * part, false);
    }
    match unit_at(t, j) {
        Some((Unit::Weight(weight), end)) => Some((Amount::Grams(weight.grams(count.value)), end)),
        Some((Unit::Milligram, end)) => Some((Amount::Milligrams(count.value), end)),
        Some((Unit::Item(kind), end)) => items(count, kind).map(|amount| (amount, end)),
        None if count.fraction => bare_fraction(count.value).map(|amount| (amount, j)),
        None if count.article || i.checked_sub(1).is_some_and(|p| is_any(t, p, TIME_CUE_WORDS)) => None,
        None => items_after_fillers(t, j, count),
    }
}

fn count_at(t: &[Token], i: usize) -> Option<(Count, usize)> {
    let plain = |value| Count { value, article: false, fraction: false };
    match &t.get(i)?.tok {
        Tok::Number(n) => Some((plain(*n), i + 1)),
        Tok::Fraction(top, bottom) => {
            Some((Count { fraction: true, ..plain(f64::from(*top) / f64::from(*bottom)) }, i + 1))
        }
        Tok::Word(w) => {
            if let Some(end) = COUPLE.iter().find_map(|words| phrase_end(t, i, words)) {
                return Some((plain(2.0), end));
            }
            if ARTICLES.contains(&w.as_str()) {
                return Some((Count { article: true, ..plain(1.0) }, i + 1));
            }
            let n = NUMBER_WORDS.iter().find(|(name, _)| name == w)?.1;
            Some((plain(f64::from(n)), i + 1))
        }
        _ => None,
    }
}

fn unit_at(t: &[Token], i: usize) -> Option<(Unit, usize)> {
    // "pre-roll" and "pre roll" are one word to a customer.
    if is_any(t, i, &["pre"]) {
        let k = if is_mark(t, i + 1, '-') { i + 2 } else { i + 1 };
        return is_any(t, k, &["roll", "rolls"]).then_some((Unit::Item(ItemKind::PreRoll), k + 1));
    }
    let w = word_at(t, i)?;
    UNITS.iter().find(|(name, _)| *name == w).map(|&(_, unit)| (unit, i + 1))
}

fn portion_at(t: &[Token], i: usize) -> Option<f64> {
    let w = word_at(t, i)?;
    PORTIONS.iter().find(|(name, _)| *name == w).map(|&(_, part)| part)
}

/// `part` of a unit said after the portion word ending at `k` ("of an ounce", "de onza", "gram"), else of an
/// ounce when `needs_unit` allows.
fn portion_amount(t: &[Token], k: usize, part: f64, needs_unit: bool) -> Option<(Amount, usize)> {
    let mut u = k;
    if is_any(t, u, &["of", "de"]) {
        u += 1;
    }
    if is_any(t, u, ARTICLES) {
        u += 1;
    }
    if let Some((Unit::Weight(weight), end)) = unit_at(t, u) {
        return Some((Amount::Grams(weight.grams(part)), end));
    }
    let about_time = (k..k + 3).any(|n| is_any(t, n, TIME_AFTER_PORTION));
    (!needs_unit && !about_time).then(|| (Amount::Grams(ounces_to_grams(part)), k))
}

fn items(count: Count, kind: ItemKind) -> Option<Amount> {
    let n = whole_number(count.value).filter(|&n| n >= 1 && !count.fraction)?;
    Some(Amount::Items { count: n, kind })
}

/// "1/8", "1/4", "1/2" alone: eighths of an ounce, the way flower is asked for.
fn bare_fraction(ounces: f64) -> Option<Amount> {
    let eighths = ounces * 8.0;
    (ounces < 1.0 && (eighths - eighths.round()).abs() < 1e-9).then(|| Amount::Grams(ounces_to_grams(ounces)))
}

/// "2 blue dream carts": a count, a few plain words, then what it counts.
fn items_after_fillers(t: &[Token], j: usize, count: Count) -> Option<(Amount, usize)> {
    for k in j + 1..=j + MAX_FILLERS {
        let filler = word_at(t, k - 1).is_some_and(|w| {
            !NOT_FILLERS.contains(&w) && unit_at(t, k - 1).is_none() && portion_at(t, k - 1).is_none()
        });
        if !filler {
            return None;
        }
        if let Some((Unit::Item(kind), end)) = unit_at(t, k) {
            return items(count, kind).map(|amount| (amount, end));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Days and times.

/// Hours that, said without am/pm, mean the afternoon: stores open about 9 to 21, so "at 6" is 18.
const AFTERNOON_HOURS: RangeInclusive<u8> = 1..=8;

const WEEKDAY_NAMES: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// Weekday words, English and Spanish. "sat" and "sun" are left out: they are words first.
const WEEKDAYS: &[(&str, u8)] = &[
    ("monday", 0),
    ("mon", 0),
    ("lunes", 0),
    ("tuesday", 1),
    ("tue", 1),
    ("tues", 1),
    ("martes", 1),
    ("wednesday", 2),
    ("wed", 2),
    ("miercoles", 2),
    ("thursday", 3),
    ("thu", 3),
    ("thurs", 3),
    ("jueves", 3),
    ("friday", 4),
    ("fri", 4),
    ("viernes", 4),
    ("saturday", 5),
    ("sabado", 5),
    ("sunday", 6),
    ("domingo", 6),
];

type DaySaid = (Option<Day>, Option<DayPart>);

/// Day phrases. "mañana" alone is tomorrow; "la mañana" (por/en/de la mañana) is the morning, listed so the
/// scan meets it at "la" before it could reach "mañana". "tarde" and "noche" only count after "la"/"esta":
/// alone, "tarde" is "late".
const DAY_PHRASES: &[(&[&str], DaySaid)] = &[
    (&["this", "morning"], (Some(Day::Today), Some(DayPart::Morning))),
    (&["this", "afternoon"], (Some(Day::Today), Some(DayPart::Afternoon))),
    (&["this", "evening"], (Some(Day::Today), Some(DayPart::Evening))),
    (&["tonight"], (Some(Day::Today), Some(DayPart::Evening))),
    (&["tonite"], (Some(Day::Today), Some(DayPart::Evening))),
    (&["esta", "manana"], (Some(Day::Today), Some(DayPart::Morning))),
    (&["esta", "tarde"], (Some(Day::Today), Some(DayPart::Afternoon))),
    (&["esta", "noche"], (Some(Day::Today), Some(DayPart::Evening))),
    (&["la", "manana"], (None, Some(DayPart::Morning))),
    (&["la", "tarde"], (None, Some(DayPart::Afternoon))),
    (&["la", "noche"], (None, Some(DayPart::Evening))),
    (&["today"], (Some(Day::Today), None)),
    (&["hoy"], (Some(Day::Today), None)),
    (&["tomorrow"], (Some(Day::Tomorrow), None)),
    (&["tmrw"], (Some(Day::Tomorrow), None)),
    (&["tmr"], (Some(Day::Tomorrow), None)),
    (&["tomorow"], (Some(Day::Tomorrow), None)),
    (&["tommorow"], (Some(Day::Tomorrow), None)),
    (&["tommorrow"], (Some(Day::Tomorrow), None)),
    (&["manana"], (Some(Day::Tomorrow), None)),
];

const PART_WORDS: &[(&str, DayPart)] = &[
    ("morning", DayPart::Morning),
    ("afternoon", DayPart::Afternoon),
    ("evening", DayPart::Evening),
    ("night", DayPart::Evening),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cue {
    Plain,
    After,
    Before,
}

/// Words that lead to an hour, longer phrases first.
const CUES: &[(&[&str], Cue)] = &[
    (&["despues", "de", "las"], Cue::After),
    (&["despues", "de", "la"], Cue::After),
    (&["despues", "de"], Cue::After),
    (&["after"], Cue::After),
    (&["antes", "de", "las"], Cue::Before),
    (&["antes", "de", "la"], Cue::Before),
    (&["antes", "de"], Cue::Before),
    (&["before"], Cue::Before),
    (&["a", "eso", "de", "las"], Cue::Plain),
    (&["como", "a", "las"], Cue::Plain),
    (&["a", "las"], Cue::Plain),
    (&["a", "la"], Cue::Plain),
    (&["para", "las"], Cue::Plain),
    (&["las"], Cue::Plain),
    (&["la"], Cue::Plain),
    (&["at"], Cue::Plain),
    (&["around"], Cue::Plain),
    (&["about"], Cue::Plain),
    (&["by"], Cue::Plain),
];

/// Hours said as words beyond [`NUMBER_WORDS`], read only after a cue ("at five", "a la una",
/// "at eleven").
const MORE_HOUR_WORDS: &[(&str, u8)] = &[("una", 1), ("eleven", 11), ("once", 11), ("twelve", 12), ("doce", 12)];

const NOON: &[&[&str]] = &[&["noon"], &["midday"], &["mediodia"], &["medio", "dia"]];

/// Minutes said after the hour: "a las 5 y media".
const PAST_THE_HOUR: &[(&[&str], u8)] =
    &[(&["y", "media"], 30), (&["y", "cuarto"], 15), (&["y", "treinta"], 30), (&["thirty"], 30)];

/// Words after a number that make it something other than an hour: "at 40 bucks", "by 20 minutes".
const NOT_TIMES: &[&str] = &[
    "dollar", "dollars", "bucks", "dolares", "usd", "min", "mins", "minute", "minutes", "minutos", "hour", "hours",
    "hr", "hrs", "hora", "horas", "percent",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Meridiem {
    Am,
    Pm,
}

/// A clock time as said, before am/pm and the part of the day settle the hour.
#[derive(Debug, Clone, Copy)]
struct Said {
    hour: u8,
    minute: u8,
    meridiem: Option<Meridiem>,
    cue: Option<Cue>,
}

/// The day and time in `text`, if it names any ("at 6", "tomorrow after 5", "this evening", "6:30pm", "friday
/// at noon", "mañana a las 5", "hoy en la tarde", "esta noche"); None when it names neither a day nor a time.
/// Quantities ("3.5g", "2 ounces", "100 mg"), order numbers ("LD-1005") and prices ("$40") are not times. The
/// first day, time and part of the day said are the ones kept.
pub fn when(text: &str) -> Option<When> {
    let t = tokens(text);
    let mut found = When::default();
    let mut said: Option<Said> = None;
    let mut i = 0;
    while i < t.len() {
        let day = day_at(&t, i);
        if let Some((day, part, _)) = day {
            found.day = found.day.or(day);
            found.part = found.part.or(part);
        }
        // Right after a day, a bare number is its hour: "tomorrow 5", "viernes 6".
        let from = day.map_or(i, |(_, _, end)| end);
        match time_at(&t, from, day.is_some()).filter(|_| said.is_none()) {
            Some((time, end)) => (said, i) = (Some(time), end),
            None => i = day.map_or(i + 1, |(_, _, end)| end),
        }
    }
    if let Some(said) = said {
        found.hour = Some(resolve_hour(said.hour, said.meridiem, found.part));
        found.minute = said.minute;
        found.after = said.cue == Some(Cue::After);
        found.before = said.cue == Some(Cue::Before);
    }
    (found.day.is_some() || found.hour.is_some() || found.part.is_some()).then_some(found)
}

fn day_at(t: &[Token], i: usize) -> Option<(Option<Day>, Option<DayPart>, usize)> {
    if let Some(((day, part), end)) = first_phrase(t, i, DAY_PHRASES) {
        return Some((day, part, end));
    }
    let w = word_at(t, i)?;
    if let Some(&(_, n)) = WEEKDAYS.iter().find(|(name, _)| *name == w) {
        return Some((Some(Day::Weekday(n)), None, i + 1));
    }
    let part = PART_WORDS.iter().find(|(name, _)| *name == w)?.1;
    // "good morning" is a greeting and "last night" is the past, not a pickup time.
    let not_a_time = i.checked_sub(1).is_some_and(|p| is_any(t, p, &["good", "last"]));
    (!not_a_time).then_some((None, Some(part), i + 1))
}

/// A clock time starting at `i` ("at 6", "6:30pm", "a las 5 y media", "noon"); a bare number only when
/// `bare_ok`.
fn time_at(t: &[Token], i: usize, bare_ok: bool) -> Option<(Said, usize)> {
    let (cue, j) = cue_at(t, i).map_or((None, i), |(cue, end)| (Some(cue), end));
    let (hour, minute, k, clear) = hour_at(t, j)?;
    let oclock = oclock_end(t, k);
    let k = oclock.unwrap_or(k);
    let (mut meridiem, k) = meridiem_at(t, k).map_or((None, k), |(m, end)| (Some(m), end));
    let (minute, k) = match first_phrase(t, k, PAST_THE_HOUR) {
        Some((past, end)) if minute == 0 => (past, end),
        _ => (minute, k),
    };
    let as_time = clear || cue.is_some() || bare_ok || meridiem.is_some() || oclock.is_some();
    let as_amount =
        unit_at(t, k).is_some() || portion_at(t, k).is_some() || is_any(t, k, NOT_TIMES) || is_mark(t, k, '%');
    if !as_time || as_amount {
        return None;
    }
    // "17pm" is 17:00 whatever the suffix says.
    if !(1..=12).contains(&hour) {
        meridiem = None;
    }
    Some((Said { hour, minute, meridiem, cue }, k))
}

fn cue_at(t: &[Token], i: usize) -> Option<(Cue, usize)> {
    let (cue, end) = if is_mark(t, i, '@') { (Cue::Plain, i + 1) } else { first_phrase(t, i, CUES)? };
    // "at around 5", "after like 6"
    let end = if is_any(t, end, &["around", "like", "about", "como"]) { end + 1 } else { end };
    Some((cue, end))
}

/// The hour and minute at `j`, the token after, and whether it reads as a time on its own ("6:30", "noon")
/// rather than only after a cue ("at 6", "a las cinco").
fn hour_at(t: &[Token], j: usize) -> Option<(u8, u8, usize, bool)> {
    if let Some(end) = NOON.iter().find_map(|words| phrase_end(t, j, words)) {
        return Some((12, 0, end, true));
    }
    if is_code_or_price(t, j) {
        return None;
    }
    match &t.get(j)?.tok {
        Tok::Clock(hour, minute) => Some((*hour, *minute, j + 1, true)),
        Tok::Number(n) => {
            let hour = whole_number(*n).and_then(|n| u8::try_from(n).ok()).filter(|&h| h <= 23)?;
            Some((hour, 0, j + 1, false))
        }
        Tok::Word(w) => {
            let hour = NUMBER_WORDS.iter().chain(MORE_HOUR_WORDS).find(|(name, _)| name == w)?.1;
            // "once" is English first; as eleven it follows "las".
            let english_once = w == "once" && !j.checked_sub(1).is_some_and(|p| is_any(t, p, &["las"]));
            (!english_once).then_some((hour, 0, j + 1, false))
        }
        _ => None,
    }
}

/// "o'clock", "oclock"
fn oclock_end(t: &[Token], k: usize) -> Option<usize> {
    if is_any(t, k, &["oclock"]) {
        return Some(k + 1);
    }
    (is_any(t, k, &["o"]) && is_mark(t, k + 1, '\'') && is_any(t, k + 2, &["clock"])).then_some(k + 3)
}

/// "am", "pm", "a.m.", "p.m.", and the "noon" of "12 noon".
fn meridiem_at(t: &[Token], k: usize) -> Option<(Meridiem, usize)> {
    let w = word_at(t, k)?;
    let end = match w {
        "am" | "pm" | "noon" => k + 1,
        "a" | "p" if is_mark(t, k + 1, '.') && is_any(t, k + 2, &["m"]) => k + 3 + usize::from(is_mark(t, k + 3, '.')),
        _ => return None,
    };
    Some((if w.starts_with('a') { Meridiem::Am } else { Meridiem::Pm }, end))
}

/// The 0–23 hour: am/pm decides; else the part of the day; else 1–8 are the afternoon ([`AFTERNOON_HOURS`]).
fn resolve_hour(hour: u8, meridiem: Option<Meridiem>, part: Option<DayPart>) -> u8 {
    let later_half = match (meridiem, part) {
        (Some(Meridiem::Am), _) => return if hour == 12 { 0 } else { hour },
        (Some(Meridiem::Pm), _) => true,
        (None, Some(DayPart::Morning)) => false,
        (None, Some(_)) => true,
        (None, None) => AFTERNOON_HOURS.contains(&hour),
    };
    if later_half && hour < 12 {
        hour + 12
    } else {
        hour
    }
}

// ---------------------------------------------------------------------------------------------
// Products.

/// The lowest score that counts as a mention; below it, "my order is late" would name a product.
const MIN_PRODUCT_SCORE: f32 = 0.6;
/// What one exact word only one product has scores ("wax" for "Live Resin Wax 5 g"): a bare mention, just
/// enough to count.
const DISTINCT_WORD_SCORE: f32 = 0.6;
/// The shortest clipped word taken for a whole one ("prerol" for "preroll"); shorter clips say too little.
const MIN_CLIPPED_LEN: usize = 4;

/// Words in catalogue names that say the size, not the product: "3.5 g", "28 g", "100 mg".
const SIZE_WORDS: &[&str] = &["g", "gr", "gram", "grams", "gramos", "mg", "oz", "ml", "ct", "pk", "pack", "x"];

/// Words that name no product, in English and Spanish.
const STOP_WORDS: &[&str] = &[
    "the", "a", "an", "of", "do", "u", "you", "ya", "have", "got", "any", "some", "i", "me", "my", "is", "are", "want",
    "need", "get", "can", "please", "pls", "for", "and", "or", "with", "el", "la", "los", "las", "un", "una", "de",
    "del", "y", "o", "con", "tienen", "tienes", "hay", "quiero", "por", "favor", "mi", "esta",
];

/// The catalogue name `text` mentions best, fuzzily: its index in `names` and a score in (0, 1].
/// Typos ("blu dream", "og kush prerol", "pinapple express"), partial names ("the og kush" for "OG Kush 28 g"),
/// case and accents are ignored; sizes in catalogue names are optional in the text. None when nothing scores at
/// least 0.6. Equal scores go to the name more of whose words were said ("og kush prerol" is the pre-roll), then
/// to the earlier name.
pub fn product(text: &str, names: &[&str]) -> Option<(usize, f32)> {
    let said = said_words(text);
    let catalogue: Vec<Vec<String>> = names.iter().map(|name| name_words(name)).collect();
    let mut best: Option<(usize, f32, usize)> = None;
    for (index, words) in catalogue.iter().enumerate() {
        let Some((score, weight)) = score(&said, words, &catalogue) else { continue };
        if best.is_none_or(|(_, top, top_weight)| (score, weight) > (top, top_weight)) {
            best = Some((index, score, weight));
        }
    }
    best.filter(|&(_, score, _)| score >= MIN_PRODUCT_SCORE).map(|(index, score, _)| (index, score))
}

/// Folded words; a hyphen or apostrophe inside a word joins it ("Pre-Roll" is "preroll").
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().map(fold).collect();
    let mut out = Vec::new();
    let mut current = String::new();
    for (k, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            current.push(c);
            continue;
        }
        let joins = matches!(c, '-' | '\'')
            && k > 0
            && chars[k - 1].is_alphanumeric()
            && chars.get(k + 1).is_some_and(|n| n.is_alphanumeric());
        if !joins && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A catalogue name's distinctive words: no sizes, no stop words.
fn name_words(name: &str) -> Vec<String> {
    let is_size = |w: &str| w.chars().any(|c| c.is_ascii_digit()) || SIZE_WORDS.contains(&w);
    words(name).into_iter().filter(|w| !is_size(w) && !STOP_WORDS.contains(&w.as_str())).collect()
}

/// The customer's words, plus each neighbouring pair joined: "pre roll" and "blue dream" may be typed as one.
fn said_words(text: &str) -> Vec<String> {
    let said: Vec<String> = words(text).into_iter().filter(|w| !STOP_WORDS.contains(&w.as_str())).collect();
    let joined: Vec<String> = said.windows(2).map(|pair| format!("{}{}", pair[0], pair[1])).collect();
    said.into_iter().chain(joined).collect()
}

/// How much of `words` (one name) was said, weighting longer words more, with the letters matched; None when
/// nothing was.
fn score(said: &[String], words: &[String], catalogue: &[Vec<String>]) -> Option<(f32, usize)> {
    let said_close = |word: &str| said.iter().any(|s| close(s, word));
    let mut hit: Vec<bool> = words.iter().map(|word| said_close(word)).collect();
    // "bluedream", "ogkush": two of the name's words typed as one.
    for (k, pair) in words.windows(2).enumerate() {
        if said_close(&format!("{}{}", pair[0], pair[1])) {
            (hit[k], hit[k + 1]) = (true, true);
        }
    }
    let total: usize = words.iter().map(|w| w.chars().count()).sum();
    let matched: usize = words.iter().zip(&hit).filter(|(_, &hit)| hit).map(|(w, _)| w.chars().count()).sum();
    if matched == 0 {
        return None;
    }
    let distinct = words.iter().any(|word| {
        let only_here = catalogue.iter().filter(|name| name.contains(word)).count() == 1;
        word.chars().count() >= 3 && only_here && said.contains(word)
    });
    let coverage = matched as f32 / total as f32;
    Some((if distinct { coverage.max(DISTINCT_WORD_SCORE) } else { coverage }, matched))
}

/// Whether `said` is `word` despite a typo or a clipped ending.
fn close(said: &str, word: &str) -> bool {
    if said == word {
        return true;
    }
    let (a, b) = (said.chars().count(), word.chars().count());
    let (short, long) = (a.min(b), a.max(b));
    let clipped =
        short >= MIN_CLIPPED_LEN && short * 3 >= long * 2 && (word.starts_with(said) || said.starts_with(word));
    let allowed = typos_allowed(b);
    clipped || (long - short <= allowed && distance(said, word) <= allowed)
}

/// Typos forgiven in a word of `len` letters: none in short words, where one letter makes another word ("og",
/// "wax"), one up to six letters, two beyond.
fn typos_allowed(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    }
}

/// Damerau-Levenshtein distance (optimal string alignment): a swapped pair of letters is one typo.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best =
                (d[(i - 1) * width + j] + 1).min(d[i * width + j - 1] + 1).min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(g: f64) -> Amount {
        Amount::Grams(g)
    }

    fn items(count: u32, kind: ItemKind) -> Amount {
        Amount::Items { count, kind }
    }

    /// Amounts equal to the hundredth of a gram or milligram: "3 ounces" is 85.05 g.
    fn same(a: Amount, b: Amount) -> bool {
        match (a, b) {
            (Amount::Grams(x), Amount::Grams(y)) | (Amount::Milligrams(x), Amount::Milligrams(y)) => {
                (x - y).abs() < 0.01
            }
            _ => a == b,
        }
    }

    #[test]
    fn quantities_are_read_with_their_units_and_the_words_they_came_from() {
        use ItemKind::{Cartridge, Edible, PreRoll};
        let cases: &[(&str, &[(Amount, &str)])] = &[
            ("can i get 3.5g of blue dream", &[(grams(3.5), "3.5g")]),
            ("2 ounces please", &[(grams(56.70), "2 ounces")]),
            ("3 ounces", &[(grams(85.05), "3 ounces")]),
            ("how much for an eighth?", &[(grams(3.5), "an eighth")]),
            ("1/8 oz of og kush", &[(grams(3.5), "1/8 oz")]),
            ("half oz of the wax", &[(grams(14.0), "half oz")]),
            ("a quarter of sour", &[(grams(7.0), "a quarter")]),
            ("can I get a 1/4", &[(grams(7.0), "1/4")]),
            ("1/2 oz", &[(grams(14.0), "1/2 oz")]),
            ("half a gram of live resin", &[(grams(0.5), "half a gram")]),
            ("an oz", &[(grams(28.35), "an oz")]),
            ("1 lb", &[(grams(453.6), "1 lb")]),
            ("una onza de blue dream", &[(grams(28.35), "una onza")]),
            ("media onza por favor", &[(grams(14.0), "media onza")]),
            ("3 gramos", &[(grams(3.0), "3 gramos")]),
            ("3,5 g de wax", &[(grams(3.5), "3,5 g")]),
            ("un octavo de og kush", &[(grams(3.5), "un octavo")]),
            ("un cuarto de onza", &[(grams(7.0), "un cuarto de onza")]),
            ("100 mg gummies", &[(Amount::Milligrams(100.0), "100 mg")]),
            ("the 100mg ones", &[(Amount::Milligrams(100.0), "100mg")]),
            ("2 carts", &[(items(2, Cartridge), "2 carts")]),
            ("3 prerolls", &[(items(3, PreRoll), "3 prerolls")]),
            ("a couple gummies", &[(items(2, Edible), "a couple gummies")]),
            ("2 cartuchos", &[(items(2, Cartridge), "2 cartuchos")]),
            ("2 blue dream carts", &[(items(2, Cartridge), "2 blue dream carts")]),
            ("dos porros y cinco gomitas", &[(items(2, PreRoll), "dos porros"), (items(5, Edible), "cinco gomitas")]),
            ("two pre-rolls and an eighth", &[(items(2, PreRoll), "two pre-rolls"), (grams(3.5), "an eighth")]),
        ];
        for (text, want) in cases {
            let got = quantities(text);
            assert_eq!(got.len(), want.len(), "{text:?}: {got:?}");
            for (got, (amount, said)) in got.iter().zip(want.iter()) {
                assert!(same(got.amount, *amount), "{text:?}: {got:?}, want {amount:?}");
                assert_eq!(got.said, *said, "{text:?}");
            }
        }
    }

    #[test]
    fn times_order_numbers_and_prices_are_not_quantities() {
        for text in [
            "pick up at 6",
            "order LD-1005 is late",
            "it was $40",
            "a quarter past 5",
            "a las 5 y media",
            "give me a half hour",
            "un cuarto de hora",
            "my order",
        ] {
            assert_eq!(quantities(text), vec![], "{text:?}");
        }
    }

    fn at(day: Option<Day>, hour: u8, minute: u8) -> When {
        When { day, hour: Some(hour), minute, ..When::default() }
    }

    fn part(day: Option<Day>, part: DayPart) -> When {
        When { day, part: Some(part), ..When::default() }
    }

    #[test]
    fn pickup_days_and_times_are_read_in_english_and_spanish() {
        use Day::{Today, Tomorrow, Weekday};
        use DayPart::{Afternoon, Evening, Morning};
        let cases = [
            ("at 6", at(None, 18, 0)),
            ("tomorrow after 5", When { after: true, ..at(Some(Tomorrow), 17, 0) }),
            ("this evening", part(Some(Today), Evening)),
            ("6:30pm", at(None, 18, 30)),
            ("friday at noon", at(Some(Weekday(4)), 12, 0)),
            ("mañana a las 5", at(Some(Tomorrow), 17, 0)),
            ("hoy en la tarde", part(Some(Today), Afternoon)),
            ("esta noche", part(Some(Today), Evening)),
            ("tonight at 9", When { part: Some(Evening), ..at(Some(Today), 21, 0) }),
            ("can I pick it up at 11am tomorrow", at(Some(Tomorrow), 11, 0)),
            ("antes de las 5", When { before: true, ..at(None, 17, 0) }),
            ("después de las 4", When { after: true, ..at(None, 16, 0) }),
            ("mañana por la mañana", part(Some(Tomorrow), Morning)),
            ("at 10 in the morning", When { part: Some(Morning), ..at(None, 10, 0) }),
            ("el viernes a la una", at(Some(Weekday(4)), 13, 0)),
            ("sábado a las 12:30", at(Some(Weekday(5)), 12, 30)),
            ("el miercoles", When { day: Some(Weekday(2)), ..When::default() }),
            ("a las 5 y media", at(None, 17, 30)),
            ("tomorrow 2pm", at(Some(Tomorrow), 14, 0)),
            ("5 PM", at(None, 17, 0)),
            ("at 7 a.m.", at(None, 7, 0)),
            ("before noon", When { before: true, ..at(None, 12, 0) }),
            ("a las 9 de la noche", When { part: Some(Evening), ..at(None, 21, 0) }),
            ("good morning, 2 carts for pickup at 4", at(None, 16, 0)),
            ("3.5g at 6 pls", at(None, 18, 0)),
        ];
        for (text, want) in cases {
            assert_eq!(when(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn quantities_order_numbers_prices_and_greetings_are_not_times() {
        for text in [
            "3.5g",
            "2 ounces",
            "100 mg",
            "2 carts",
            "can i get an eighth",
            "where is LD-1005",
            "it's $40?",
            "good morning",
            "my order is late",
            "mi pedido llega tarde",
        ] {
            assert_eq!(when(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_time_becomes_the_request_the_pickup_action_reads() {
        for (text, want) in [
            ("tomorrow after 5", Some("tomorrow 17:00")),
            ("today at 6:30", Some("today 18:30")),
            ("at 6", Some("today 18:00")),
            ("friday at noon", Some("friday 12:00")),
            ("mañana a las 10 de la mañana", Some("tomorrow 10:00")),
            ("this evening", None),
        ] {
            let got = when(text).and_then(|w| w.to_request());
            assert_eq!(got.as_deref(), want, "{text:?}");
        }
    }

    const CATALOGUE: [&str; 6] = [
        "Blue Dream 3.5 g",
        "OG Kush 28 g",
        "Live Resin Wax 5 g",
        "Sour Gummies 100 mg",
        "Pineapple Express Pre-Roll 1 g",
        "OG Kush Pre-Roll 1 g",
    ];

    #[test]
    fn products_are_found_despite_typos_partial_names_case_and_accents() {
        for (text, want) in [
            ("og kush prerol", 5),
            ("og kush", 1),
            ("the og kush", 1),
            ("do u have blu dream", 0),
            ("pinapple express", 4),
            ("Blue Dream 3.5 g", 0),
            ("BLUE DREAM", 0),
            ("live resin", 2),
            ("wax", 2),
            ("sour gummys", 3),
            ("tienen blue dream?", 0),
            ("quiero el pinapple express pre roll", 4),
            ("OG Kush pre-roll", 5),
            ("ÓG Kúsh", 1),
            ("got any bluedream", 0),
        ] {
            let got = product(text, &CATALOGUE);
            let Some((index, score)) = got else { panic!("{text:?}: no product") };
            assert_eq!(index, want, "{text:?}: {got:?}");
            assert!(score > 0.0 && score <= 1.0, "{text:?}: {score}");
        }
    }

    #[test]
    fn words_that_name_no_product_match_nothing() {
        for text in ["my order is late", "what time do you close", "hola", "", "donde esta mi pedido LD-1005"] {
            assert_eq!(product(text, &CATALOGUE), None, "{text:?}");
        }
        assert_eq!(product("blue dream", &[]), None, "an empty catalogue");
    }

    #[test]
    fn equal_matches_go_to_the_earlier_name() {
        let got = product("blue dream", &["Blue Dream 3.5 g", "Blue Dream 7 g"]);
        assert_eq!(got.map(|(index, _)| index), Some(0), "\"blue dream\": {got:?}");
    }
}
