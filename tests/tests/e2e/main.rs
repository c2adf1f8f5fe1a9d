//! End-to-end: the real `atalaya-server` and `atalaya-agent` binaries, loopback only, this
//! machine's real data. One test binary with modules (each binary links slowly).

mod admin_tokens;
mod agent_config;
mod api_fuzz;
mod desk_email;
mod enrollment_loop;
mod first_admin;
mod fleet_smoke;
mod incident_lifecycle;
mod outage;
mod quickstart;
mod replicas;
mod tls;
