//! [`History`]: named curves recorded during training (loss and accuracy per epoch, gradient
//! norms per layer), for printing or plotting.

/// Named series of `(x, y)` points, in the order they were first recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    series: Vec<(String, Vec<(f64, f64)>)>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Appends the point `(x, y)` to the series `name`, created on its first point.
    pub fn record(&mut self, name: &str, x: f64, y: f64) {
        match self.series.iter_mut().find(|(n, _)| n == name) {
            Some((_, points)) => points.push((x, y)),
            None => self.series.push((name.to_string(), vec![(x, y)])),
        }
    }

    /// The points of the series `name`; empty when nothing was recorded under it.
    pub fn get(&self, name: &str) -> &[(f64, f64)] {
        self.series.iter().find(|(n, _)| n == name).map_or(&[], |(_, points)| points)
    }

    /// The last `y` of the series `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name).last().map(|&(_, y)| y)
    }

    /// Every series: its name and points.
    pub fn series(&self) -> impl Iterator<Item = (&str, &[(f64, f64)])> {
        self.series.iter().map(|(n, p)| (n.as_str(), p.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::History;

    #[test]
    fn series_keep_their_points_in_order() {
        let mut h = History::new();
        h.record("train loss", 1.0, 2.0);
        h.record("test accuracy", 1.0, 0.5);
        h.record("train loss", 2.0, 1.0);
        assert_eq!(h.get("train loss"), [(1.0, 2.0), (2.0, 1.0)]);
        assert_eq!(h.last("test accuracy"), Some(0.5));
        assert_eq!(h.get("nothing"), []);
        let names: Vec<&str> = h.series().map(|(n, _)| n).collect();
        assert_eq!(names, ["train loss", "test accuracy"]);
    }
}
