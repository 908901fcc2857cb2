//! SecureClose cloud service.
