--
-- The extension itself: install, version, reserved settings prefix, drop.
--

CREATE EXTENSION kyrodb;

-- The schema kyrodb exists and is a member of the extension.
SELECT n.nspname, e.extname
FROM pg_namespace n
	JOIN pg_depend d ON d.classid = 'pg_namespace'::regclass
		AND d.objid = n.oid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid
WHERE n.nspname = 'kyrodb';

-- The library's version is the control file's and the installed one.
SELECT kyrodb.version() ~ '^[0-9]+\.[0-9]+\.[0-9]+$' AS version_well_formed;
SELECT kyrodb.version() = a.default_version AS library_matches_control,
	kyrodb.version() = e.extversion AS library_matches_installed
FROM pg_available_extensions a
	JOIN pg_extension e ON e.extname = a.name
WHERE a.name = 'kyrodb';

-- Already at the newest version: only a notice.
ALTER EXTENSION kyrodb UPDATE;

-- The kyrodb.* prefix is reserved: unknown settings are refused.  LOAD, so
-- that this does not depend on shared_preload_libraries.
LOAD 'kyrodb';
SET kyrodb.no_such_setting = 1;
SELECT set_config('kyrodb.no_such_setting', '1', false);
-- Other prefixes still take placeholders.
SET kyrodb_test.placeholder = 1;
SHOW kyrodb_test.placeholder;
RESET kyrodb_test.placeholder;

-- The extension's C functions, before and after DROP EXTENSION.
SELECT p.oid::regprocedure::text AS function
FROM pg_proc p
WHERE p.probin = '$libdir/kyrodb'
ORDER BY 1;

DROP EXTENSION kyrodb;

-- Nothing is left behind.
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'kyrodb';
SELECT count(*) AS functions FROM pg_proc WHERE probin = '$libdir/kyrodb';
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'kyrodb';

-- It installs again.
CREATE EXTENSION kyrodb;
SELECT kyrodb.version() = extversion AS reinstalled
FROM pg_extension WHERE extname = 'kyrodb';
DROP EXTENSION kyrodb;

-- A schema kyrodb that is not the extension's is in the way.
CREATE SCHEMA kyrodb;
CREATE EXTENSION kyrodb;
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'kyrodb';
DROP SCHEMA kyrodb;
