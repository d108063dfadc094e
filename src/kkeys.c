/*-------------------------------------------------------------------------
 *
 * kkeys.c
 *	  The order-preserving map from indexed values to the model's keys.
 *
 * Every supported type is a signed integer underneath (int2, int4, int8,
 * date as days, timestamp and timestamptz as microseconds), so a value
 * widens to int64 and flips its sign bit into uint64: the order of the
 * values is the order of the keys, across the integer types too, which is
 * what lets one operator family serve int2, int4 and int8 quals together.
 *
 * src/kkeys.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "kyrodb.h"


/* Whether values of type can be indexed (and compared) by kyro_rmi. */
bool
KyroTypeSupported(Oid type)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return true;
		default:
			return false;
	}
}

/* The model's key of a value of type. */
uint64
KyroDatumToKey(Datum value, Oid type)
{
	int64		v;

	switch (type)
	{
		case INT2OID:
			v = DatumGetInt16(value);
			break;
		case INT4OID:
			v = DatumGetInt32(value);
			break;
		case DATEOID:
			v = DatumGetDateADT(value);
			break;
		case INT8OID:
			v = DatumGetInt64(value);
			break;
		case TIMESTAMPOID:
			v = DatumGetTimestamp(value);
			break;
		case TIMESTAMPTZOID:
			v = DatumGetTimestampTz(value);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("kyro_rmi does not support type %s", format_type_be(type)),
					 errhint("kyro_rmi indexes int2, int4, int8, date, timestamp and timestamptz.")));
			v = 0;				/* keep compiler quiet */
	}
	return ((uint64) v) ^ KYRO_KEY_SIGN_BIT;
}

/* The value of type that key came from (for index-only scans). */
Datum
KyroKeyToDatum(uint64 key, Oid type)
{
	int64		v = (int64) (key ^ KYRO_KEY_SIGN_BIT);

	switch (type)
	{
		case INT2OID:
			return Int16GetDatum((int16) v);
		case INT4OID:
			return Int32GetDatum((int32) v);
		case DATEOID:
			return DateADTGetDatum((DateADT) v);
		case INT8OID:
			return Int64GetDatum(v);
		case TIMESTAMPOID:
			return TimestampGetDatum((Timestamp) v);
		case TIMESTAMPTZOID:
			return TimestampTzGetDatum((TimestampTz) v);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("kyro_rmi does not support type %s", format_type_be(type))));
	}
	return (Datum) 0;			/* keep compiler quiet */
}

/* Order of entries: keys first, NULLs after every key, then TIDs. */
int
KyroEntryCompare(const KyroEntry *a, const KyroEntry *b)
{
	if (a->isnull != b->isnull)
		return a->isnull ? 1 : -1;
	if (!a->isnull && a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return ItemPointerCompare((ItemPointer) &a->tid, (ItemPointer) &b->tid);
}

/* KyroEntryCompare for qsort. */
int
KyroEntryCmpQsort(const void *a, const void *b)
{
	return KyroEntryCompare((const KyroEntry *) a, (const KyroEntry *) b);
}
