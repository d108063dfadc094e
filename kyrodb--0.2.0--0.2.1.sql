/* kyrodb--0.2.0--0.2.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION kyrodb UPDATE TO '0.2.1'" to load this file. \quit

-- 0.2.1 changes the library only (the VACUUM interlock of index-only
-- scans, and the fixes that came with it); the SQL objects and the page
-- format (version 3) are those of 0.2.0, so indexes need no REINDEX.
