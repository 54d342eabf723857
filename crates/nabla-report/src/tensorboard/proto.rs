//! The protocol-buffer messages of a TensorBoard event file, written by hand with `prost`'s
//! derive (no `protoc`): the parts of TensorFlow's `event.proto`, `summary.proto` and
//! `histogram.proto` that scalars and histograms need, with the same field numbers, so
//! TensorBoard (and any protobuf reader) decodes them.

/// `tensorflow.Event`: one record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event holds.
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// The `what` oneof of [`Event`] (the variants used here).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// `file_version = 3`: the first record, `brain.Event:2`.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// `summary = 5`: values at this step.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The tag, e.g. `train/loss` (TensorBoard groups by the part before the first `/`).
    #[prost(string, tag = "1")]
    pub tag: String,
    /// The value.
    #[prost(oneof = "Value", tags = "2, 5")]
    pub value: Option<Value>,
}

/// The `value` oneof of [`SummaryValue`] (the variants used here).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// `simple_value = 2`: a scalar.
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    /// `histo = 5`: a histogram.
    #[prost(message, tag = "5")]
    Histo(HistogramProto),
}

/// `tensorflow.HistogramProto`: bucket `i` counts the values in
/// `(bucket_limit[i-1], bucket_limit[i]]` (the first from `min`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramProto {
    /// Smallest value.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// Largest value.
    #[prost(double, tag = "2")]
    pub max: f64,
    /// Number of values.
    #[prost(double, tag = "3")]
    pub num: f64,
    /// Their sum.
    #[prost(double, tag = "4")]
    pub sum: f64,
    /// The sum of their squares.
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    /// Right edges of the buckets (increasing).
    #[prost(double, repeated, packed = "true", tag = "6")]
    pub bucket_limit: Vec<f64>,
    /// Counts of the buckets.
    #[prost(double, repeated, packed = "true", tag = "7")]
    pub bucket: Vec<f64>,
}
