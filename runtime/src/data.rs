//! Data sets, splits, mini-batches and metrics.
//!
//! Two small classification sets are bundled in the binary (see `data/README.md` for their
//! sources and licenses): [`Dataset::digits`] and [`Dataset::iris`]. Users' own data loads with
//! [`Dataset::from_csv`]. Values are kept as stored; preprocessing is a separate step.

use crate::rng::Rng;
use std::fmt;
use std::path::{Path, PathBuf};

#[cfg(feature = "gzip")]
const DIGITS_GZ: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz"));
const IRIS_CSV: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv"));

/// An error loading or using a data set.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read (or decompressed).
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A malformed row; `line` and `column` are 1-based, `column` counts characters.
    Parse {
        /// The file (or source name) being parsed.
        file: String,
        /// Line number.
        line: usize,
        /// Column where the offending field starts.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A bad argument (fraction, batch size, buffer length, label, ...).
    Invalid(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io { path, source } => {
                write!(f, "cannot read data file {}: {source}", path.display())
            }
            DataError::Parse { file, line, column, message } => {
                write!(f, "{file}:{line}:{column}: {message}")
            }
            DataError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Which column of a CSV row holds the class label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelColumn {
    /// The first column.
    First,
    /// The last column (scikit-learn's and UCI's usual layout).
    #[default]
    Last,
}

/// How to read a CSV file with [`Dataset::from_csv`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// Skip the first line.
    pub has_header: bool,
    /// Where the label is; every other column is a feature.
    pub label: LabelColumn,
    /// Number of classes; `None` infers `max label + 1`, at most [`MAX_INFERRED_CLASSES`]
    /// (a larger label is refused as a likely mistake; give the count to go past it). Labels
    /// must be below it.
    pub n_classes: Option<usize>,
}

/// Most classes [`Dataset::from_csv`] infers from the labels when `n_classes` is not given.
pub const MAX_INFERRED_CLASSES: usize = 65_536;

/// A classification data set held in memory.
///
/// Invariants (kept by every constructor here): `features.len() == labels.len() * n_features`,
/// every label is below `n_classes`, the product of `feature_shape` is `n_features`, and
/// `class_names.len() == n_classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Row-major `[n, n_features]`.
    pub features: Vec<f32>,
    /// Class index of each row.
    pub labels: Vec<usize>,
    /// Features per row.
    pub n_features: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// Shape of one row: `[channels, height, width]` for images, `[n_features]` otherwise.
    pub feature_shape: Vec<usize>,
    /// A name per class.
    pub class_names: Vec<String>,
}

/// Splits `line` on commas, yielding each trimmed field and the 1-based character column where
/// it starts. Counts each character once, so a row of any width takes linear time.
fn fields(line: &str) -> impl Iterator<Item = (&str, usize)> {
    // Column of the first character of the next raw field.
    let mut start = 1;
    line.split(',').map(move |raw| {
        let body = raw.trim_start();
        let column = start + raw[..raw.len() - body.len()].chars().count();
        start += raw.chars().count() + 1;
        (body.trim_end(), column)
    })
}

/// Parses comma-separated rows; `first_line` is the 1-based number of `text`'s first line.
fn parse_rows(
    text: &str,
    file: &str,
    first_line: usize,
    label: LabelColumn,
    n_classes: Option<usize>,
) -> Result<Dataset, DataError> {
    let err = |line: usize, column: usize, message: String| DataError::Parse {
        file: file.to_string(),
        line,
        column,
        message,
    };
    let mut features = Vec::new();
    let mut labels = Vec::new();
    // Largest label so far, with its line and column, to bound the inferred class count.
    let mut largest: Option<(usize, usize, usize)> = None;
    // (number of fields, line) of the first data row, which every other row must match.
    let mut width: Option<(usize, usize)> = None;
    let mut last_line = first_line;
    for (i, line) in text.lines().enumerate() {
        let line_no = first_line + i;
        last_line = line_no;
        if line.trim().is_empty() {
            continue;
        }
        let n_fields = line.split(',').count();
        match width {
            None if n_fields < 2 => {
                return Err(err(
                    line_no,
                    1,
                    "a row needs at least one feature and a label, separated by commas".into(),
                ));
            }
            None => width = Some((n_fields, line_no)),
            Some((w, first)) if w != n_fields => {
                return Err(err(
                    line_no,
                    1,
                    format!("expected {w} fields, as on line {first}, found {n_fields}"),
                ));
            }
            Some(_) => {}
        }
        let label_index = match label {
            LabelColumn::First => 0,
            LabelColumn::Last => n_fields - 1,
        };
        for (k, (field, column)) in fields(line).enumerate() {
            if k == label_index {
                let class: usize = field.parse().map_err(|_| {
                    err(
                        line_no,
                        column,
                        format!("label `{field}` is not a class index (an integer 0, 1, 2, ...)"),
                    )
                })?;
                if let Some(n) = n_classes
                    && class >= n
                {
                    return Err(err(
                        line_no,
                        column,
                        format!("label {class} is out of range for {n} classes (0..{n})"),
                    ));
                }
                if largest.is_none_or(|(top, _, _)| class > top) {
                    largest = Some((class, line_no, column));
                }
                labels.push(class);
            } else {
                let value: f32 = field
                    .parse()
                    .map_err(|_| err(line_no, column, format!("`{field}` is not a number")))?;
                if !value.is_finite() {
                    return Err(err(line_no, column, format!("`{field}` is not a finite number")));
                }
                features.push(value);
            }
        }
    }
    let Some((n_fields, _)) = width else {
        return Err(err(last_line, 1, "the file has no data rows".into()));
    };
    let n_features = n_fields - 1;
    let n_classes = match (n_classes, largest) {
        (Some(n), _) => n,
        (None, None) => 0,
        (None, Some((top, line, column))) => match top.checked_add(1) {
            Some(n) if n <= MAX_INFERRED_CLASSES => n,
            implied => {
                let implied =
                    implied.map_or_else(|| "more than usize::MAX".into(), |n| n.to_string());
                return Err(err(
                    line,
                    column,
                    format!(
                        "label {top} implies {implied} classes, more than the \
                         {MAX_INFERRED_CLASSES} inferred at most; if the labels are right, give \
                         `n_classes` in `CsvOptions`, otherwise renumber the classes from 0"
                    ),
                ));
            }
        },
    };
    Ok(Dataset::of_vectors(features, labels, n_features, n_classes))
}

/// Decodes UTF-8, reporting invalid bytes at their line and column.
fn utf8<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
        DataError::Parse {
            file: file.to_string(),
            line,
            column,
            message: "invalid UTF-8; save the file as UTF-8 text".into(),
        }
    })
}

#[cfg(feature = "gzip")]
fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(not(feature = "gzip"))]
fn gunzip(_bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "reading gzip files needs the `gzip` feature of netspec-runtime (on by default)",
    ))
}

impl Dataset {
    /// Rows of `n_features` values each (no image shape), classes named by their number.
    fn of_vectors(
        features: Vec<f32>,
        labels: Vec<usize>,
        n_features: usize,
        n_classes: usize,
    ) -> Dataset {
        let class_names = (0..n_classes).map(|c| c.to_string()).collect();
        Dataset {
            features,
            labels,
            n_features,
            n_classes,
            feature_shape: vec![n_features],
            class_names,
        }
    }

    /// The bundled handwritten digits: 1797 images of 8x8 pixels (`feature_shape` `[1, 8, 8]`),
    /// pixel values 0..=16 as stored, classes "0" to "9". Needs the `gzip` feature (on by
    /// default): the bundled file is compressed.
    #[cfg(feature = "gzip")]
    pub fn digits() -> Dataset {
        let parse = || -> Result<Dataset, DataError> {
            let text = gunzip(DIGITS_GZ)
                .map_err(|source| DataError::Io { path: "data/digits.csv.gz".into(), source })?;
            parse_rows(utf8(&text, "digits.csv")?, "digits.csv", 1, LabelColumn::Last, Some(10))
        };
        // The file is compiled in and checked by the tests, so this cannot fail at run time.
        let mut d = parse().expect("the bundled digits.csv.gz is valid");
        d.feature_shape = vec![1, 8, 8];
        d
    }

    /// The bundled iris flowers: 150 rows of 4 measurements in cm (sepal length, sepal width,
    /// petal length, petal width), classes setosa, versicolor, virginica.
    pub fn iris() -> Dataset {
        // Header `150,4,setosa,versicolor,virginica`: rows, features, then the class names.
        let (header, body) = IRIS_CSV.split_once('\n').unwrap_or((IRIS_CSV, ""));
        let class_names: Vec<String> = header.trim().split(',').skip(2).map(String::from).collect();
        let mut d = parse_rows(body, "iris.csv", 2, LabelColumn::Last, Some(class_names.len()))
            // The file is compiled in and checked by the tests, so this cannot fail at run time.
            .expect("the bundled iris.csv is valid");
        d.class_names = class_names;
        d
    }

    /// Loads a CSV file of numbers, one row per sample; a `.gz` file is decompressed first.
    ///
    /// Fields are separated by commas and trimmed; blank lines are skipped. Every row must
    /// have the same number of fields, every feature must be a finite number and the label a
    /// non-negative integer. A UTF-8 byte-order mark at the start is skipped. The first bad row
    /// is reported as `file:line:column: problem`.
    pub fn from_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Dataset, DataError> {
        let path = path.as_ref();
        let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
        let mut bytes = std::fs::read(path).map_err(io_err)?;
        if path.extension().is_some_and(|e| e == "gz") {
            bytes = gunzip(&bytes).map_err(io_err)?;
        }
        let file = path.display().to_string();
        Dataset::from_csv_str(utf8(&bytes, &file)?, &file, options)
    }

    /// As [`Dataset::from_csv`], from text in memory; `name` is used in error messages.
    pub fn from_csv_str(
        text: &str,
        name: &str,
        options: &CsvOptions,
    ) -> Result<Dataset, DataError> {
        // A byte-order mark some editors put at the start of UTF-8 files is not data.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (body, first_line) = if options.has_header {
            (text.split_once('\n').map_or("", |(_, rest)| rest), 2)
        } else {
            (text, 1)
        };
        parse_rows(body, name, first_line, options.label, options.n_classes)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        if i >= self.len() {
            return None;
        }
        self.features.get(i * self.n_features..(i + 1) * self.n_features)
    }

    /// Multiplies every feature by `factor` (for example `1.0 / 16.0` for digits).
    pub fn scale(&mut self, factor: f32) {
        self.features.iter_mut().for_each(|x| *x *= factor);
    }

    /// The rows at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset, DataError> {
        let mut features = vec![0.0; indices.len() * self.n_features];
        let mut labels = vec![0; indices.len()];
        self.gather(indices, &mut features, &mut labels)?;
        Ok(Dataset { features, labels, ..self.without_rows() })
    }

    fn without_rows(&self) -> Dataset {
        Dataset {
            features: Vec::new(),
            labels: Vec::new(),
            n_features: self.n_features,
            n_classes: self.n_classes,
            feature_shape: self.feature_shape.clone(),
            class_names: self.class_names.clone(),
        }
    }

    /// Splits into `(train, test)` stratified by class: for each class, its rows are shuffled
    /// with `rng` and `round(count * test_fraction)` of them go to the test set. Both parts keep
    /// the original row order. `test_fraction` must be in `[0, 1]`.
    pub fn split(
        &self,
        test_fraction: f64,
        rng: &mut Rng,
    ) -> Result<(Dataset, Dataset), DataError> {
        if !(0.0..=1.0).contains(&test_fraction) {
            return Err(DataError::Invalid(format!(
                "test_fraction must be between 0 and 1, got {test_fraction}"
            )));
        }
        let mut train = Vec::new();
        let mut test = Vec::new();
        for class in 0..self.n_classes {
            let mut rows: Vec<usize> =
                (0..self.len()).filter(|&i| self.labels[i] == class).collect();
            rng.shuffle(&mut rows);
            let n_test = (rows.len() as f64 * test_fraction).round() as usize;
            test.extend_from_slice(&rows[..n_test]);
            train.extend_from_slice(&rows[n_test..]);
        }
        train.sort_unstable();
        test.sort_unstable();
        Ok((self.subset(&train)?, self.subset(&test)?))
    }

    /// Copies the rows at `indices` into caller-owned buffers: `x_out` gets
    /// `indices.len() * n_features` features, `y_out` the `indices.len()` labels. Allocates
    /// nothing, so a training loop can reuse its buffers every step.
    pub fn gather(
        &self,
        indices: &[usize],
        x_out: &mut [f32],
        y_out: &mut [usize],
    ) -> Result<(), DataError> {
        if x_out.len() != indices.len() * self.n_features || y_out.len() != indices.len() {
            return Err(DataError::Invalid(format!(
                "gather of {} rows needs buffers of {} features and {} labels, got {} and {}",
                indices.len(),
                indices.len() * self.n_features,
                indices.len(),
                x_out.len(),
                y_out.len()
            )));
        }
        let nf = self.n_features;
        for (k, &i) in indices.iter().enumerate() {
            let row = self.row(i).ok_or_else(|| {
                DataError::Invalid(format!("row index {i} is out of range for {} rows", self.len()))
            })?;
            x_out[k * nf..(k + 1) * nf].copy_from_slice(row);
            y_out[k] = self.labels[i];
        }
        Ok(())
    }
}

/// Conversions to and from ndarray (the `ndarray` feature): a data set is an `[n, n_features]`
/// feature matrix and `n` labels.
#[cfg(feature = "ndarray")]
impl Dataset {
    /// A data set of the rows of `features` (`[n, n_features]`, any memory layout) labelled by
    /// `labels` (`n` class indices); the classes are `0..=max(labels)`, named by their index.
    ///
    /// # Errors
    ///
    /// When `labels` does not have one entry per row, or there are no rows or no features.
    pub fn from_arrays(
        features: ndarray::ArrayView2<'_, f32>,
        labels: ndarray::ArrayView1<'_, usize>,
    ) -> Result<Dataset, DataError> {
        let (n, n_features) = features.dim();
        if labels.len() != n {
            return Err(DataError::Invalid(format!(
                "the feature matrix has {n} rows but there are {} labels: give one label per row",
                labels.len()
            )));
        }
        if n == 0 || n_features == 0 {
            return Err(DataError::Invalid(format!(
                "the feature matrix is {n} x {n_features}: a data set needs at least one row \
                 and one feature"
            )));
        }
        // `iter` walks the rows in order whatever the strides, so any layout gives row-major.
        let features: Vec<f32> = features.iter().copied().collect();
        let labels = labels.to_vec();
        let n_classes = labels.iter().max().map_or(0, |&max| max + 1);
        Ok(Dataset::of_vectors(features, labels, n_features, n_classes))
    }

    /// The features as an `[n, n_features]` view, without copying.
    pub fn features_array(&self) -> ndarray::ArrayView2<'_, f32> {
        ndarray::ArrayView2::from_shape((self.len(), self.n_features), &self.features)
            .expect("a data set holds n * n_features values")
    }

    /// The labels as a view, without copying.
    pub fn labels_array(&self) -> ndarray::ArrayView1<'_, usize> {
        ndarray::ArrayView1::from(&self.labels)
    }

    /// The features as an owned `[n, n_features]` array and the labels, without copying.
    pub fn into_arrays(self) -> (ndarray::Array2<f32>, ndarray::Array1<usize>) {
        let shape = (self.labels.len(), self.n_features);
        let features = ndarray::Array2::from_shape_vec(shape, self.features)
            .expect("a data set holds n * n_features values");
        (features, ndarray::Array1::from(self.labels))
    }
}

/// Shuffled mini-batches of a fixed size, as index slices into a data set.
///
/// Generated training code is specialized to one batch size, so [`Batches::iter`] (and `for
/// batch in &batches`) yields only full batches: the [`Batches::dropped`] `n % batch_size`
/// rows left over after shuffling are skipped for that epoch (PyTorch's
/// `DataLoader(drop_last=True)`; a different row is left out each epoch).
/// [`Batches::with_remainder`] yields them too, as a last, shorter batch (PyTorch's default
/// `drop_last=False`), for code that takes any number of rows, such as `predict_batch` or an
/// evaluation loop. Call [`Batches::shuffle`] at the start of each epoch; it reuses the index
/// buffer, so iterating allocates nothing.
#[derive(Clone, Debug)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
}

impl Batches {
    /// Batches over rows `0..n` (in order until the first shuffle). Needs
    /// `1 <= batch_size <= n`, so that every epoch has at least one batch.
    pub fn new(n: usize, batch_size: usize) -> Result<Batches, DataError> {
        if batch_size == 0 || batch_size > n {
            return Err(DataError::Invalid(format!(
                "batch size {batch_size} does not fit a data set of {n} rows: it must be between \
                 1 and {n}, since incomplete batches are dropped"
            )));
        }
        Ok(Batches { order: (0..n).collect(), batch_size })
    }

    /// A new random order for the next epoch; it depends only on the state of `rng`.
    pub fn shuffle(&mut self, rng: &mut Rng) {
        self.order.iter_mut().enumerate().for_each(|(i, x)| *x = i);
        rng.shuffle(&mut self.order);
    }

    /// The full batches of the current order; the last [`Batches::dropped`] rows are left out.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, usize> {
        self.order.chunks_exact(self.batch_size)
    }

    /// Every row of the current order: the full batches, then the remaining
    /// [`Batches::dropped`] rows as one shorter batch when there are any.
    pub fn with_remainder(&self) -> std::slice::Chunks<'_, usize> {
        self.order.chunks(self.batch_size)
    }

    /// Number of full batches per epoch.
    pub fn len(&self) -> usize {
        self.order.len() / self.batch_size
    }

    /// Always `false`: construction guarantees at least one batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Rows left out of each epoch (`n % batch_size`).
    pub fn dropped(&self) -> usize {
        self.order.len() % self.batch_size
    }
}

impl<'a> IntoIterator for &'a Batches {
    type Item = &'a [usize];
    type IntoIter = std::slice::ChunksExact<'a, usize>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Writes one-hot rows for `labels` into `out` (`labels.len() * n_classes` values).
pub fn one_hot(labels: &[usize], n_classes: usize, out: &mut [f32]) -> Result<(), DataError> {
    if out.len() != labels.len() * n_classes {
        return Err(DataError::Invalid(format!(
            "one_hot of {} labels with {n_classes} classes needs {} values, got {}",
            labels.len(),
            labels.len() * n_classes,
            out.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= n_classes) {
        return Err(DataError::Invalid(format!(
            "label {bad} is out of range for {n_classes} classes"
        )));
    }
    out.fill(0.0);
    for (row, &l) in out.chunks_exact_mut(n_classes.max(1)).zip(labels) {
        row[l] = 1.0;
    }
    Ok(())
}

pub use crate::classify::argmax;

/// Fraction of `predictions` equal to `labels`; both must have the same, nonzero length.
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> Result<f64, DataError> {
    if predictions.len() != labels.len() || labels.is_empty() {
        return Err(DataError::Invalid(format!(
            "accuracy needs as many predictions as labels, and at least one: got {} and {}",
            predictions.len(),
            labels.len()
        )));
    }
    let correct = predictions.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / labels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "gzip")]
    #[test]
    fn digits_is_complete() {
        let d = Dataset::digits();
        assert_eq!((d.len(), d.n_features, d.n_classes), (1797, 64, 10));
        assert_eq!(d.features.len(), 1797 * 64);
        assert_eq!(d.feature_shape, [1, 8, 8]);
        assert!(d.features.iter().all(|&x| (0.0..=16.0).contains(&x) && x.fract() == 0.0));
        // First row of the file: 0,0,5,13,9,1,0,0,... label 0.
        assert_eq!(d.row(0).unwrap()[..4], [0.0, 0.0, 5.0, 13.0]);
        assert_eq!(d.labels[0], 0);
        // Every digit occurs (the UCI test set has 174 to 183 of each).
        let mut counts = [0; 10];
        d.labels.iter().for_each(|&l| counts[l] += 1);
        assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
    }

    #[test]
    fn iris_is_complete() {
        let d = Dataset::iris();
        assert_eq!((d.len(), d.n_features, d.n_classes), (150, 4, 3));
        assert_eq!(d.class_names, ["setosa", "versicolor", "virginica"]);
        assert_eq!(d.row(0).unwrap(), [5.1, 3.5, 1.4, 0.2]);
        for c in 0..3 {
            assert_eq!(d.labels.iter().filter(|&&l| l == c).count(), 50);
        }
    }

    fn parse_err(text: &str, options: &CsvOptions) -> (usize, usize, String) {
        match Dataset::from_csv_str(text, "t.csv", options).unwrap_err() {
            DataError::Parse { file, line, column, message } => {
                assert_eq!(file, "t.csv");
                (line, column, message)
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn csv_parses_options() {
        let text = "a,b,label\n1, 2.5 ,1\n\n-3,4e-1,0\n";
        let opts = CsvOptions { has_header: true, ..CsvOptions::default() };
        let d = Dataset::from_csv_str(text, "t.csv", &opts).unwrap();
        assert_eq!(d.features, [1.0, 2.5, -3.0, 0.4]);
        assert_eq!(d.labels, [1, 0]);
        assert_eq!((d.n_features, d.n_classes), (2, 2));

        let opts =
            CsvOptions { label: LabelColumn::First, n_classes: Some(5), ..CsvOptions::default() };
        let d = Dataset::from_csv_str("4,1,2\n0,3,4", "t.csv", &opts).unwrap();
        assert_eq!(d.labels, [4, 0]);
        assert_eq!(d.features, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.class_names.len(), 5);
    }

    #[test]
    fn csv_errors_are_located() {
        let none = CsvOptions::default();
        // Column counts characters, pointing at the start of the trimmed field.
        let (line, column, message) = parse_err("1,2,0\n1, x,1\n", &none);
        assert_eq!((line, column), (2, 4));
        assert!(message.contains("`x` is not a number"), "{message}");

        let (line, column, message) = parse_err("1,2,0\n1,2\n", &none);
        assert_eq!((line, column), (2, 1));
        assert!(message.contains("expected 3 fields, as on line 1, found 2"), "{message}");

        let (line, column, message) = parse_err("1,2,0.5\n", &none);
        assert_eq!((line, column), (1, 5));
        assert!(message.contains("not a class index"), "{message}");

        let (_, _, message) = parse_err("1,inf,0\n", &none);
        assert!(message.contains("not a finite number"), "{message}");

        let opts = CsvOptions { has_header: true, n_classes: Some(2), ..CsvOptions::default() };
        let (line, column, message) = parse_err("h\n1,2,0\n1,2,2\n", &opts);
        assert_eq!((line, column), (3, 5));
        assert!(message.contains("out of range for 2 classes"), "{message}");

        let (_, _, message) = parse_err("\n\n", &none);
        assert!(message.contains("no data rows"), "{message}");
        let (_, _, message) = parse_err("3\n", &none);
        assert!(message.contains("at least one feature"), "{message}");
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn inferred_classes_are_bounded() {
        let none = CsvOptions::default();
        // One huge label used to allocate a name per class (5.4 GB for 100000000).
        let (line, column, message) = parse_err("1,0\n2,100000000\n3,1\n", &none);
        assert_eq!((line, column), (2, 3));
        assert!(message.contains("label 100000000 implies 100000001 classes"), "{message}");
        assert!(message.contains("give `n_classes`"), "{message}");
        // usize::MAX + 1 overflowed (a panic in debug builds, 0 classes in release).
        let (line, _, message) = parse_err("1,18446744073709551615\n", &none);
        assert_eq!(line, 1);
        assert!(message.contains("label 18446744073709551615"), "{message}");
        // The limit itself is fine, and an explicit count is taken as given.
        let last = MAX_INFERRED_CLASSES - 1;
        let d = Dataset::from_csv_str(&format!("1,{last}\n"), "t.csv", &none).unwrap();
        assert_eq!(
            (d.n_classes, d.class_names.len()),
            (MAX_INFERRED_CLASSES, MAX_INFERRED_CLASSES)
        );
        let opts = CsvOptions { n_classes: Some(100_001), ..CsvOptions::default() };
        let d = Dataset::from_csv_str("1,100000\n", "t.csv", &opts).unwrap();
        assert_eq!(d.n_classes, 100_001);
    }

    #[test]
    fn a_wide_row_parses_in_linear_time() {
        // One row of a million features: the column of each field used to be counted from
        // the start of the line (quadratic: 107 s in release).
        let n = 1_000_000;
        let mut text = "0.5,".repeat(n);
        text.push('3');
        let d = Dataset::from_csv_str(&text, "t.csv", &CsvOptions::default()).unwrap();
        assert_eq!((d.n_features, d.labels.as_slice()), (n, &[3][..]));
        assert!(d.features.iter().all(|&x| x == 0.5));
        // Columns are still counted in characters (U+3000 is 3 bytes of white space).
        let (_, column, _) = parse_err("1,\u{3000}2,\u{3000}x,0", &CsvOptions::default());
        assert_eq!(column, 7);
        let (_, column, message) = parse_err("1,é,0", &CsvOptions::default());
        assert_eq!((column, message.as_str()), (3, "`é` is not a number"));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let none = CsvOptions::default();
        let d = Dataset::from_csv_str("\u{feff}1,2,1\n3,4,0\n", "t.csv", &none).unwrap();
        assert_eq!(
            (d.features.as_slice(), d.labels.as_slice()),
            (&[1.0, 2.0, 3.0, 4.0][..], &[1, 0][..])
        );
        let header = CsvOptions { has_header: true, ..CsvOptions::default() };
        let d = Dataset::from_csv_str("\u{feff}a,b,y\n1,2,1\n", "t.csv", &header).unwrap();
        assert_eq!(d.features, [1.0, 2.0]);
        let first = CsvOptions { label: LabelColumn::First, ..CsvOptions::default() };
        let d = Dataset::from_csv_str("\u{feff}1,2,3\n", "t.csv", &first).unwrap();
        assert_eq!(d.labels, [1]);
    }

    #[test]
    fn from_csv_reads_files_and_reports_paths() {
        let dir = std::env::temp_dir().join(format!("netspec-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.csv");
        std::fs::write(&good, "1,2,1\n3,4,0\n").unwrap();
        let d = Dataset::from_csv(&good, &CsvOptions::default()).unwrap();
        assert_eq!(d.len(), 2);

        #[cfg(feature = "gzip")]
        {
            let gz = dir.join("good.csv.gz");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut enc, b"1,2,1\n3,4,0\n").unwrap();
            std::fs::write(&gz, enc.finish().unwrap()).unwrap();
            assert_eq!(Dataset::from_csv(&gz, &CsvOptions::default()).unwrap(), d);
        }

        let bad_utf8 = dir.join("bad.csv");
        std::fs::write(&bad_utf8, b"1,2,1\n3,\xff,0\n").unwrap();
        let err = Dataset::from_csv(&bad_utf8, &CsvOptions::default()).unwrap_err();
        assert!(
            err.to_string().ends_with("bad.csv:2:3: invalid UTF-8; save the file as UTF-8 text"),
            "{err}"
        );

        let missing = dir.join("missing.csv");
        let err = Dataset::from_csv(&missing, &CsvOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }));
        assert!(err.to_string().contains("missing.csv"), "{err}");

        let not_gz = dir.join("fake.csv.gz");
        std::fs::write(&not_gz, "1,2,0\n").unwrap();
        assert!(matches!(
            Dataset::from_csv(&not_gz, &CsvOptions::default()),
            Err(DataError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(not(feature = "gzip"))]
    #[test]
    fn gzip_files_need_the_gzip_feature() {
        let dir = std::env::temp_dir().join(format!("netspec-data-nogz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gz = dir.join("data.csv.gz");
        std::fs::write(&gz, "1,2,0\n").unwrap();
        let err = Dataset::from_csv(&gz, &CsvOptions::default()).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            matches!(&err, DataError::Io { source, .. } if source.kind() == std::io::ErrorKind::Unsupported),
            "{err:?}"
        );
        assert!(err.to_string().contains("needs the `gzip` feature"), "{err}");
    }

    #[test]
    fn split_is_stratified_and_seeded() {
        let d = Dataset::iris();
        let (train, test) = d.split(0.2, &mut Rng::seed(1)).unwrap();
        assert_eq!((train.len(), test.len()), (120, 30));
        for c in 0..3 {
            assert_eq!(test.labels.iter().filter(|&&l| l == c).count(), 10);
        }
        // Every row lands in exactly one part.
        let mut all: Vec<Vec<u32>> = train
            .features
            .chunks(4)
            .chain(test.features.chunks(4))
            .map(|r| r.iter().map(|x| x.to_bits()).collect())
            .collect();
        let mut orig: Vec<Vec<u32>> =
            d.features.chunks(4).map(|r| r.iter().map(|x| x.to_bits()).collect()).collect();
        all.sort();
        orig.sort();
        assert_eq!(all, orig);
        let again = d.split(0.2, &mut Rng::seed(1)).unwrap();
        assert_eq!(again.1, test);
        assert_ne!(d.split(0.2, &mut Rng::seed(2)).unwrap().1, test);
        assert!(d.split(1.5, &mut Rng::seed(1)).is_err());
        assert!(d.split(f64::NAN, &mut Rng::seed(1)).is_err());
    }

    #[test]
    fn batches_drop_the_last_incomplete_batch() {
        let mut b = Batches::new(10, 3).unwrap();
        assert_eq!((b.len(), b.dropped()), (3, 1));
        let first: Vec<Vec<usize>> = b.iter().map(<[usize]>::to_vec).collect();
        assert_eq!(first, [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]]);
        b.shuffle(&mut Rng::seed(3));
        let seen: Vec<usize> = (&b).into_iter().flatten().copied().collect();
        assert_eq!(seen.len(), 9);
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 9);
        assert_ne!(seen, (0..9).collect::<Vec<_>>());
        // The order depends only on the RNG state.
        let mut c = Batches::new(10, 3).unwrap();
        c.shuffle(&mut Rng::seed(5));
        b.shuffle(&mut Rng::seed(5));
        assert!(b.iter().eq(c.iter()));
        assert!(Batches::new(10, 0).is_err());
        assert!(Batches::new(2, 3).is_err());
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn datasets_convert_to_and_from_ndarray() {
        let iris = Dataset::iris();
        let x = iris.features_array();
        assert_eq!(x.dim(), (150, 4));
        assert_eq!(x.row(7).to_vec(), iris.row(7).unwrap());
        let back = Dataset::from_arrays(x, iris.labels_array()).unwrap();
        assert_eq!(
            (&back.features, &back.labels, back.n_classes),
            (&iris.features, &iris.labels, 3)
        );
        // A transposed (column-major) view converts by rows all the same.
        let t = x.t().to_owned();
        let from_t = Dataset::from_arrays(t.t(), iris.labels_array()).unwrap();
        assert_eq!(from_t.features, iris.features);
        let (features, labels) = iris.clone().into_arrays();
        assert_eq!((features.view(), labels.view()), (x, iris.labels_array()));
        let err = Dataset::from_arrays(x, iris.labels_array().slice_move(ndarray::s![..10]));
        assert!(err.unwrap_err().to_string().contains("150 rows but there are 10 labels"));
        let empty = ndarray::Array2::<f32>::zeros((0, 4));
        assert!(Dataset::from_arrays(empty.view(), ndarray::ArrayView1::from(&[][..])).is_err());
    }

    #[test]
    fn batches_with_remainder_yield_every_row_once() {
        let mut b = Batches::new(10, 3).unwrap();
        let all: Vec<Vec<usize>> = b.with_remainder().map(<[usize]>::to_vec).collect();
        assert_eq!(all, [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]);
        b.shuffle(&mut Rng::seed(3));
        let batches: Vec<&[usize]> = b.with_remainder().collect();
        assert_eq!(batches.iter().map(|batch| batch.len()).collect::<Vec<_>>(), [3, 3, 3, 1]);
        // The full batches are those of `iter`, and the last one holds the row it drops.
        assert!(batches[..3].iter().copied().eq(b.iter()));
        let mut seen: Vec<usize> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        // Without a remainder, the same batches as `iter`.
        let even = Batches::new(9, 3).unwrap();
        assert!(even.with_remainder().eq(even.iter()));
    }

    #[test]
    fn gather_fills_caller_buffers() {
        let d = Dataset::iris();
        let mut x = [0.0; 8];
        let mut y = [0; 2];
        d.gather(&[149, 0], &mut x, &mut y).unwrap();
        assert_eq!(x[4..], [5.1, 3.5, 1.4, 0.2]);
        assert_eq!(x[..4], *d.row(149).unwrap());
        assert_eq!(y, [2, 0]);
        assert!(d.gather(&[150, 0], &mut x, &mut y).is_err());
        assert!(d.gather(&[0], &mut x, &mut y).is_err());
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn scale_multiplies() {
        let mut d = Dataset::digits();
        d.scale(1.0 / 16.0);
        assert_eq!(d.row(0).unwrap()[2..4], [5.0 / 16.0, 13.0 / 16.0]);
    }

    #[test]
    fn one_hot_argmax_accuracy() {
        let mut out = [9.0; 6];
        one_hot(&[2, 0], 3, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert!(one_hot(&[3], 3, &mut out[..3]).is_err());
        assert!(one_hot(&[0], 3, &mut out).is_err());

        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), Some(1));
        assert_eq!(argmax(&[0.1, f32::NAN, 9.0]), Some(1));
        assert_eq!(argmax(&[f32::NEG_INFINITY]), Some(0));
        assert_eq!(argmax(&[]), None);

        assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 2, 0, 4]).unwrap(), 0.75);
        assert!(accuracy(&[1], &[1, 2]).is_err());
        assert!(accuracy(&[], &[]).is_err());
    }
}
