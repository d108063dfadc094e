/*-------------------------------------------------------------------------
 *
 * kyrodb.c
 *	  Entry points of the KyroDB library: initialisation and the
 *	  version function.
 *
 * src/kyrodb.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "kyrodb.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(kyrodb_version);

/*
 * Initialise the library when it is loaded: reserve the kyrodb.* settings.
 */
void
_PG_init(void)
{
	/*
	 * Reserving the prefix rejects misspelt kyrodb.* settings instead of
	 * keeping them as placeholders.  Settings defined with
	 * DefineCustom*Variable must come before this call.
	 */
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("kyrodb");
#else
	EmitWarningsOnPlaceholders("kyrodb");
#endif
}

/*
 * kyrodb.version(): the version string of the loaded library.
 */
Datum
kyrodb_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(KYRODB_VERSION));
}
