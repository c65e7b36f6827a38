//! Work in progress.
pub use super::leader::LeaderModel as MlsGatewayModel;
