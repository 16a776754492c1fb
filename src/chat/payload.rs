//! Why a platform's request body could not be read, the same for every platform: a
//! human reason naming the field at fault, which becomes the body of a 400 answer.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PayloadError {
    reason: String,
}

impl PayloadError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}
