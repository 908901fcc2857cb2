//! SecureClose desktop core (no Tauri).
