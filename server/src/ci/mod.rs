//! What a configuration item is, in the words every part of the server uses: its classes, the kinds
//! of relation between two, and the asset query language (parsed into an expression, compiled to
//! SQL for either backend). Pure: it imports no other module, so the CMDB, the rules and the
//! store's queries all build on it.

pub mod query;
pub mod version;

/// CI classes the server knows.
pub mod class {
    pub const COMPUTER: &str = "computer";
    pub const VOLUME: &str = "volume";
    pub const PHYSICAL_DISK: &str = "physical_disk";
    pub const NETWORK_INTERFACE: &str = "network_interface";
    pub const SERVICE: &str = "service";
    /// Created by people, e.g. "Acme payroll".
    pub const BUSINESS_SERVICE: &str = "business_service";

    pub const ALL: &[&str] = &[
        COMPUTER,
        VOLUME,
        PHYSICAL_DISK,
        NETWORK_INTERFACE,
        SERVICE,
        BUSINESS_SERVICE,
    ];
}

/// Relation kinds, read as "source KIND target".
pub mod relation {
    pub const CONTAINED_IN: &str = "contained_in";
    pub const RUNS_ON: &str = "runs_on";
    pub const DEPENDS_ON: &str = "depends_on";

    pub const ALL: &[&str] = &[CONTAINED_IN, RUNS_ON, DEPENDS_ON];
}
