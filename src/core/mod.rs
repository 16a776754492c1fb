//! The domain: what a session is, what starts one, and what happens in one.
//!
//! Nothing here knows about HTTP, a platform SDK, a database driver or Docker; the
//! adapters around it translate to and from these types.

pub mod decide;
pub mod digest;
pub mod event;
pub mod ids;
pub mod intent;
pub mod limits;
pub mod linked;
pub mod session;
pub mod spending;
pub mod time;
pub mod trigger;
pub mod untrusted;
pub mod words;

pub use decide::{Decision, Policy, Refusal, ThreadState, decide, limited};
pub use event::{Event, EventBody, PermissionOutcome};
pub use ids::{DeliveryId, InvalidId, RepoRef, SessionId};
pub use intent::{Ask, Intent, Origin};
pub use limits::{Busy, Limits};
pub use linked::ForgeUser;
pub use session::{IllegalTransition, Lease, Session, SessionState, Usage};
pub use time::Timestamp;
pub use trigger::{Author, Platform, ThreadRef, Trigger};
