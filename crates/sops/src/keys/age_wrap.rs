//! Wrapping a payload for one age recipient as an armored age file, and unwrapping it.
