//! Intent understanding, learned from examples: a multinomial logistic
//! regression (`linfa-logistic`) over TF-IDF features of words, word
//! pairs and triples, and character trigrams (so that typos still share most features
//! with the word they misspell).
//!
//! The labelled examples ship in `data/intents.tsv` (`label<TAB>text`).
//! [`split`] holds out every fifth example of each label for evaluation;
//! [`evaluate`] trains on the rest and reports accuracy and a confusion
//! table (`boxoffice chatbot eval`). The service trains on all of them at
//! start, which takes well under a second.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use linfa::prelude::*;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2};

/// The shipped examples.
pub const DATASET: &str = include_str!("../data/intents.tsv");

/// What a user wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Intent {
    /// Book or buy seats.
    Booking,
    /// Whether given seats are free.
    QuerySeat,
    /// Several seats next to each other.
    SeatsTogether,
    /// Facts about one show.
    ShowInfo,
    /// Which shows there are (cheapest, this weekend, …), and the
    /// performances of a production.
    ListShows,
    /// Prices: the cheapest seats, a section's or a ticket type's price.
    Prices,
    /// Wheelchair spaces, companion seats, access.
    Accessibility,
    /// The user's own bookings.
    MyBookings,
    /// Cancelling, and refunds.
    Cancellation,
    /// Paying, cards, charges, holds.
    Payment,
    /// Registering, logging in, passwords.
    Account,
    /// Greetings, help, and anything unclear.
    HelpGeneral,
}

impl Intent {
    /// Every intent, in label order.
    pub const ALL: [Intent; 12] = [
        Intent::Booking,
        Intent::QuerySeat,
        Intent::SeatsTogether,
        Intent::ShowInfo,
        Intent::ListShows,
        Intent::Prices,
        Intent::Accessibility,
        Intent::MyBookings,
        Intent::Cancellation,
        Intent::Payment,
        Intent::Account,
        Intent::HelpGeneral,
    ];

    /// The label in the dataset and the API.
    pub fn label(self) -> &'static str {
        match self {
            Intent::Booking => "booking",
            Intent::QuerySeat => "query_seat",
            Intent::SeatsTogether => "seats_together",
            Intent::ShowInfo => "show_info",
            Intent::ListShows => "list_shows",
            Intent::Prices => "prices",
            Intent::Accessibility => "accessibility",
            Intent::MyBookings => "my_bookings",
            Intent::Cancellation => "cancellation",
            Intent::Payment => "payment",
            Intent::Account => "account",
            Intent::HelpGeneral => "help_general",
        }
    }

    /// The intent with this label.
    pub fn from_label(label: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.label() == label)
    }

    fn index(self) -> usize {
        Intent::ALL.iter().position(|i| *i == self).unwrap_or(0)
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One labelled example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Its intent.
    pub intent: Intent,
    /// The text.
    pub text: String,
}

/// A problem with the dataset or the training.
#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    /// A line of the dataset is malformed.
    #[error("dataset line {line}: {problem}")]
    Dataset {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Training failed.
    #[error("training the intent model: {0}")]
    Training(String),
}

/// Parses a dataset in the `label<TAB>text` format (`#` lines are comments).
pub fn parse(text: &str) -> Result<Vec<Example>, IntentError> {
    let mut examples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, text) = line.split_once('\t').ok_or_else(|| IntentError::Dataset {
            line: line_no,
            problem: "no tab between label and text".into(),
        })?;
        let intent = Intent::from_label(label.trim()).ok_or_else(|| IntentError::Dataset {
            line: line_no,
            problem: format!("unknown label {label:?}"),
        })?;
        examples.push(Example {
            intent,
            text: text.trim().to_owned(),
        });
    }
    Ok(examples)
}

/// The shipped dataset.
pub fn dataset() -> Result<Vec<Example>, IntentError> {
    parse(DATASET)
}

/// Splits examples into training and held-out sets: every fifth example of
/// each intent (in file order) is held out. Deterministic.
pub fn split(examples: &[Example]) -> (Vec<Example>, Vec<Example>) {
    let mut seen: HashMap<Intent, usize> = HashMap::new();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for example in examples {
        let n = seen.entry(example.intent).or_default();
        *n += 1;
        if n.is_multiple_of(5) {
            test.push(example.clone());
        } else {
            train.push(example.clone());
        }
    }
    (train, test)
}

/// Lower-cases and splits text into words of letters and digits; numbers
/// become `<num>` so that "seat 7" and "seat 12" look alike.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.chars().all(|c| c.is_ascii_digit()) {
                "<num>".to_owned()
            } else {
                w.replace('\'', "")
            }
        })
        .collect()
}

/// Words common enough in the training text to correct misspellings
/// towards, with how often each appears.
#[derive(Default)]
struct Dictionary(BTreeMap<String, usize>);

impl Dictionary {
    /// Words of at least three letters seen at least twice in `examples`.
    fn of(examples: &[Example]) -> Self {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for example in examples {
            for word in words(&example.text) {
                *counts.entry(word).or_default() += 1;
            }
        }
        counts.retain(|word, n| *n >= 2 && word.chars().count() >= 3 && word != "<num>");
        Self(counts)
    }

    /// `word`, or the dictionary word it most likely misspells: one edit
    /// away (two for words of seven letters or more), the most frequent on
    /// a tie. Short words are left alone.
    fn correct(&self, word: String) -> String {
        let len = word.chars().count();
        if len < 4 || self.0.contains_key(&word) || word == "<num>" {
            return word;
        }
        let max = if len >= 7 { 2 } else { 1 };
        self.0
            .iter()
            .map(|(known, n)| (strsim::damerau_levenshtein(&word, known), *n, known))
            .filter(|(distance, _, _)| *distance <= max)
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map_or(word, |(_, _, known)| known.clone())
    }
}

/// The features of a text, its words corrected by `dictionary`: words,
/// adjacent word pairs and triples, and character trigrams of each word with its
/// boundaries marked.
fn features(text: &str, dictionary: &Dictionary) -> Vec<String> {
    let words: Vec<String> = words(text)
        .into_iter()
        .map(|w| dictionary.correct(w))
        .collect();
    let mut out: Vec<String> = words.iter().map(|w| format!("w:{w}")).collect();
    out.extend(words.windows(2).map(|p| format!("b:{} {}", p[0], p[1])));
    out.extend(
        words
            .windows(3)
            .map(|p| format!("t:{} {} {}", p[0], p[1], p[2])),
    );
    for word in &words {
        if word == "<num>" {
            continue;
        }
        let chars: Vec<char> = format!("^{word}$").chars().collect();
        out.extend(
            chars
                .windows(3)
                .map(|t| format!("c:{}", t.iter().collect::<String>())),
        );
    }
    out
}

/// The L2-normalised TF-IDF vector of some features.
fn tf_idf(vocabulary: &HashMap<String, usize>, idf: &[f64], feats: &[String]) -> Array1<f64> {
    let mut v: Array1<f64> = Array1::zeros(idf.len());
    for f in feats {
        if let Some(&column) = vocabulary.get(f) {
            v[column] += idf[column];
        }
    }
    let norm = v.dot(&v).sqrt();
    if norm > 0.0 {
        v /= norm;
    }
    v
}

/// A trained intent classifier.
pub struct Classifier {
    /// Words misspellings are corrected towards.
    dictionary: Dictionary,
    /// Feature → column.
    vocabulary: HashMap<String, usize>,
    /// Inverse document frequency of each column.
    idf: Vec<f64>,
    model: MultiFittedLogisticRegression<f64, usize>,
}

impl Classifier {
    /// Trains on `examples` (every intent should have some).
    pub fn train(examples: &[Example]) -> Result<Self, IntentError> {
        // Features seen in at least two examples make the vocabulary.
        let mut document_frequency: BTreeMap<String, usize> = BTreeMap::new();
        let dictionary = Dictionary::of(examples);
        let featured: Vec<Vec<String>> = examples
            .iter()
            .map(|e| features(&e.text, &dictionary))
            .collect();
        for feats in &featured {
            let mut unique = feats.clone();
            unique.sort();
            unique.dedup();
            for f in unique {
                *document_frequency.entry(f).or_default() += 1;
            }
        }
        let kept: Vec<(String, usize)> = document_frequency
            .into_iter()
            .filter(|(_, df)| *df >= 2)
            .collect();
        let n = examples.len() as f64;
        let idf: Vec<f64> = kept
            .iter()
            .map(|(_, df)| ((1.0 + n) / (1.0 + *df as f64)).ln() + 1.0)
            .collect();
        let vocabulary: HashMap<String, usize> = kept
            .into_iter()
            .enumerate()
            .map(|(column, (feature, _))| (feature, column))
            .collect();
        let mut records = Array2::zeros((examples.len(), vocabulary.len()));
        for (row, feats) in featured.iter().enumerate() {
            records
                .row_mut(row)
                .assign(&tf_idf(&vocabulary, &idf, feats));
        }
        let targets: Array1<usize> = examples.iter().map(|e| e.intent.index()).collect();
        let model = MultiLogisticRegression::default()
            // Chosen by 5-fold cross-validation (0.01: 89.3 %, 0.03: 90.0 %
            // with word triples).
            .alpha(0.03)
            .max_iterations(200)
            .fit(&Dataset::new(records, targets))
            .map_err(|e| IntentError::Training(e.to_string()))?;
        Ok(Self {
            dictionary,
            vocabulary,
            idf,
            model,
        })
    }

    /// The most likely intent of `text` and its probability. A text with
    /// no known feature at all (gibberish) is `HelpGeneral` with 0.
    pub fn classify(&self, text: &str) -> (Intent, f64) {
        let v = tf_idf(
            &self.vocabulary,
            &self.idf,
            &features(text, &self.dictionary),
        );
        if v.iter().all(|x| *x == 0.0) {
            return (Intent::HelpGeneral, 0.0);
        }
        let x = v.insert_axis(ndarray::Axis(0));
        let probabilities = self.model.predict_probabilities(&x);
        let classes = self.model.classes();
        let (best, p) =
            probabilities
                .row(0)
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::MIN),
                    |best, (i, p)| if p > best.1 { (i, p) } else { best },
                );
        let intent = classes
            .get(best)
            .and_then(|c| Intent::ALL.get(*c))
            .copied()
            .unwrap_or(Intent::HelpGeneral);
        (intent, p)
    }
}

/// Number of intents.
const INTENTS: usize = Intent::ALL.len();

/// Held-out results: accuracy and the confusion table.
pub struct Evaluation {
    /// Examples trained on.
    pub trained: usize,
    /// Held-out examples.
    pub tested: usize,
    /// Held-out examples classified right.
    pub correct: usize,
    /// `confusion[expected][predicted]` counts, indexed as [`Intent::ALL`].
    pub confusion: [[usize; INTENTS]; INTENTS],
    /// The held-out examples classified wrong: (expected, predicted, text).
    pub mistakes: Vec<(Intent, Intent, String)>,
}

impl Evaluation {
    /// Share of held-out examples classified right.
    pub fn accuracy(&self) -> f64 {
        if self.tested == 0 {
            return 0.0;
        }
        self.correct as f64 / self.tested as f64
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "held-out accuracy: {:.1}% ({} of {}; trained on {})",
            self.accuracy() * 100.0,
            self.correct,
            self.tested,
            self.trained
        )?;
        writeln!(f, "confusion (rows: expected, columns: predicted):")?;
        let short: Vec<String> = Intent::ALL
            .iter()
            .map(|i| i.label().chars().take(6).collect())
            .collect();
        write!(f, "{:>15}", "")?;
        for s in &short {
            write!(f, " {s:>6}")?;
        }
        writeln!(f)?;
        for (row, intent) in Intent::ALL.iter().enumerate() {
            write!(f, "{:>15}", intent.label())?;
            for count in &self.confusion[row] {
                write!(f, " {count:>6}")?;
            }
            writeln!(f)?;
        }
        for (expected, predicted, text) in &self.mistakes {
            writeln!(f, "  {expected} taken for {predicted}: {text:?}")?;
        }
        Ok(())
    }
}

/// Mean accuracy of `k`-fold cross-validation over all of `examples`
/// (example `i` is in fold `i % k`): a steadier estimate than one split.
pub fn cross_validate(examples: &[Example], k: usize) -> Result<f64, IntentError> {
    let k = k.max(2);
    let mut correct = 0;
    for fold in 0..k {
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (i, example) in examples.iter().enumerate() {
            if i % k == fold {
                test.push(example);
            } else {
                train.push(example.clone());
            }
        }
        let classifier = Classifier::train(&train)?;
        correct += test
            .iter()
            .filter(|e| classifier.classify(&e.text).0 == e.intent)
            .count();
    }
    Ok(correct as f64 / examples.len().max(1) as f64)
}

/// Trains on the training split of `examples` and scores the held-out one.
pub fn evaluate(examples: &[Example]) -> Result<Evaluation, IntentError> {
    let (train, test) = split(examples);
    let classifier = Classifier::train(&train)?;
    let mut evaluation = Evaluation {
        trained: train.len(),
        tested: test.len(),
        correct: 0,
        confusion: [[0; INTENTS]; INTENTS],
        mistakes: Vec::new(),
    };
    for example in &test {
        let (predicted, _) = classifier.classify(&example.text);
        evaluation.confusion[example.intent.index()][predicted.index()] += 1;
        if predicted == example.intent {
            evaluation.correct += 1;
        } else {
            evaluation
                .mistakes
                .push((example.intent, predicted, example.text.clone()));
        }
    }
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dataset_parses_and_covers_every_intent() {
        let examples = dataset().unwrap();
        for intent in Intent::ALL {
            let n = examples.iter().filter(|e| e.intent == intent).count();
            assert!(n >= 40, "{intent} has only {n} examples");
        }
        assert!(parse("booking no tab").is_err());
        assert!(parse("nonsense\thello").is_err());
    }

    /// An example said twice could be scored on what the model was trained
    /// on: no two examples have the same words (texts of no words at all,
    /// such as "?", are the gibberish the model must not read anything into).
    #[test]
    fn no_example_is_repeated() {
        let mut seen = std::collections::HashMap::new();
        for example in dataset().unwrap() {
            let key = words(&example.text).join(" ");
            if key.is_empty() {
                continue;
            }
            if let Some(first) = seen.insert(key, example.text.clone()) {
                panic!("{:?} repeats {first:?}", example.text);
            }
        }
    }

    #[test]
    fn typos_are_corrected_towards_known_words() {
        let mut dictionary = Dictionary::default();
        for word in ["cancel", "tickets", "card", "account"] {
            dictionary.0.insert(word.into(), 3);
        }
        for (typo, right) in [
            ("cancle", "cancel"),
            ("tickts", "tickets"),
            ("accout", "account"),
            ("crad", "card"),
            ("zebra", "zebra"),
            ("the", "the"),
        ] {
            assert_eq!(dictionary.correct(typo.into()), right);
        }
        assert_eq!(words("Seat 12, please!"), ["seat", "<num>", "please"]);
    }
}

#[cfg(test)]
mod evaluation {
    /// The evaluation `boxoffice chatbot eval` prints, run in CI: it fails
    /// if the model falls below its measured quality (2026-12, with the
    /// prices and accessibility intents and a fifth collection of examples,
    /// word triples and alpha 0.03 chosen by cross-validation: 91.98 %
    /// held out, 195 of 212; 90.3 % in 5-fold cross-validation).
    #[test]
    fn held_out_accuracy_stays_high() {
        let examples = super::dataset().unwrap();
        let evaluation = super::evaluate(&examples).unwrap();
        println!("{evaluation}");
        assert!(evaluation.accuracy() >= 0.91, "{evaluation}");
        let cv = super::cross_validate(&examples, 5).unwrap();
        println!("5-fold cross-validation: {:.1}%", cv * 100.0);
        assert!(cv >= 0.89, "cross-validation {cv}");
    }
}
