/* kyrodb--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION kyrodb" to load this file. \quit

-- The schema is created here, not named in the control file, so that it is
-- a member of the extension and DROP EXTENSION removes it.
CREATE SCHEMA kyrodb;

COMMENT ON SCHEMA kyrodb IS 'KyroDB learned index functions';

-- Version of the loaded shared library; equals the extension's version
-- when the installed library and scripts belong together.
CREATE FUNCTION kyrodb.version()
RETURNS text
AS 'MODULE_PATHNAME', 'kyrodb_version'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION kyrodb.version() IS 'version of the KyroDB shared library';
