-- PostgreSQL's migration of the same number lets every report's refresh of its computer, volumes
-- and agent be a HOT update: `used_percent` indexed by its whole-number band, and pages filled to
-- 70 %. SQLite has no HOT updates (a row is rewritten in place in its B-tree) and its
-- `used_percent` is a VIRTUAL column, so its index is kept as it is: nothing to change here.
SELECT 1;
