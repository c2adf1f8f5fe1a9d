//! The server's test suite: every store operation on SQLite, and on PostgreSQL when
//! `ATALAYA_TEST_DATABASE_URL` is set; and the HTTP API driven through `app()` without a socket.
//! One binary with modules, because each test binary links slowly.

mod access;
mod agent_config;
mod api;
mod cmdb;
mod db;
mod desk;
mod disk_io;
mod group_commit;
mod ingest;
mod jobs;
mod layering;
mod noise;
mod notify;
mod openapi;
mod people;
mod reporting;
mod router;
mod rules;
mod schema;
mod smtp;
mod store;
