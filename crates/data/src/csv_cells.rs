//! The cell formats neuromask's CSV files have always used, for `serde(serialize_with)`:
//! fixed decimals (scripts compare these files as text, so the format is part of the promise).

use serde::Serializer;

/// A float with six decimals (`0.981200`): accuracies and losses.
pub fn six_decimals<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:.6}"))
}

/// Seconds with three decimals; an empty cell when unknown.
pub fn seconds_or_empty<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(&format_args!("{v:.3}")),
        None => s.serialize_str(""),
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    #[derive(Serialize)]
    struct Row {
        #[serde(serialize_with = "super::six_decimals")]
        a: f64,
        #[serde(serialize_with = "super::seconds_or_empty")]
        b: Option<f64>,
        #[serde(serialize_with = "super::seconds_or_empty")]
        c: Option<f64>,
    }

    #[test]
    fn cells_keep_their_format() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(Row {
            a: 0.98125,
            b: Some(12.3456),
            c: None,
        })
        .expect("row");
        let text = String::from_utf8(w.into_inner().expect("bytes")).expect("utf-8");
        assert_eq!(text, "a,b,c\n0.981250,12.346,\n");
    }
}
