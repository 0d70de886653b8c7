//! Shared helpers for the image tests live in this library; the tests are in tests/.
