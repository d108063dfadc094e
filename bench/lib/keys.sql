--
-- The benchmark's key distributions: bench.key_<dist>(g) is the key of row
-- g (1..rows).  Each is an immutable function of g, so a pgbench script
-- looks up a present key by drawing g at random and the server computes
-- its key (inlined, once per query, the same cost for every index).
--

CREATE SCHEMA bench;

-- Ids 1, 2, 3, ... in insertion order.
CREATE FUNCTION bench.key_dense(g int8) RETURNS int8
IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN g;

-- Increasing event times: bursts of 1,000 rows 50 us apart, a burst every
-- 5 s with up to 4.2 s of jitter, and an hour's gap every 100,000 rows.
CREATE FUNCTION bench.key_timestamps(g int8) RETURNS timestamptz
IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN timestamptz '2026-01-01 00:00:00+00' + interval '1 microsecond' *
	((g / 1000) * 5000000 + (hashint8(g / 1000) & 4194303) + (g % 1000) * 50 +
	 (g / 100000) * 3600000000);

-- Uniform over the whole int8 range, in random order.
CREATE FUNCTION bench.key_uniform(g int8) RETURNS int8
IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN (hashint8(g)::int8 << 32) | (hashint8(g + 1099511627776)::int8 & 4294967295);

-- Lognormal (mu 0, sigma 2) scaled by 1e9, in random order (Box-Muller
-- over two hashes of g).
CREATE FUNCTION bench.key_lognormal(g int8) RETURNS int8
IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN floor(1e9::float8 *
	exp(2 * sqrt(-2 * ln(((hashint8(g) & 2147483647) + 1)::float8 / 2147483649::float8))
		* cos(2 * pi() * (hashint8(g + 1099511627776) & 2147483647)::float8 / 2147483648::float8)))::int8;

-- Runs of 1,000 keys 3 apart, each run at a random place below 2^55.
CREATE FUNCTION bench.key_clustered(g int8) RETURNS int8
IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN ((hashint8(g / 1000)::int8 & 2147483647) << 24) + (g % 1000) * 3;

-- Uniform keys, ten rows each (the rows whose g / 10 is the same), in random
-- order.
CREATE FUNCTION bench.key_dups(g int8) RETURNS int8
IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN bench.key_uniform(g / 10);
