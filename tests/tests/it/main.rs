//! End-to-end tests: what the README promises, run the way a person runs it.

mod readme;
