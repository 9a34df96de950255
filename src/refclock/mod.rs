//! Reference clock drivers. Only the undisciplined local clock (127.127.1.0) exists: RHEL6
//! configs use it so an isolated server keeps serving.

pub mod local;
