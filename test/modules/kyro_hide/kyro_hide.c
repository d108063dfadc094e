/*-------------------------------------------------------------------------
 *
 * kyro_hide.c
 *	  A test-only module: hides the relations of one schema from every
 *	  query on pg_class, with a planner hook that adds a filter to the
 *	  query, the way Citus hides its shards from applications.
 *
 * KyroDB's worker must see every kyro_rmi index all the same: it reads the
 * catalogs directly, not with SQL (test/t/006_worker_hidden.pl).  Set
 * kyro_hide.schema to the schema to hide; preload the module so that
 * background workers have the hook too.  Built and installed by test/run
 * only, never by the extension's own "make install".
 *
 * test/modules/kyro_hide/kyro_hide.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static planner_hook_type prev_planner_hook = NULL;
static char *hide_schema = NULL;

/* Add "relnamespace <> hidden" to query for each pg_class in its range table. */
static bool
hide_walker(Node *node, Oid *hidden)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		int			rti = 0;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);
			Node	   *filter;

			rti++;
			if (rte->rtekind != RTE_RELATION || rte->relid != RelationRelationId)
				continue;
			filter = (Node *) makeFuncExpr(F_OIDNE, BOOLOID,
										   list_make2(makeVar(rti, Anum_pg_class_relnamespace,
															  OIDOID, -1, InvalidOid, 0),
													  makeConst(OIDOID, -1, InvalidOid,
																sizeof(Oid),
																ObjectIdGetDatum(*hidden),
																false, true)),
										   InvalidOid, InvalidOid,
										   COERCE_EXPLICIT_CALL);
			query->jointree->quals = make_and_qual(query->jointree->quals, filter);
		}
		return query_tree_walker(query, hide_walker, hidden, 0);
	}
	return expression_tree_walker(node, hide_walker, hidden);
}

static PlannedStmt *
hide_planner(Query *parse, const char *query_string, int cursor_options,
			 ParamListInfo bound_params)
{
	Oid			hidden = InvalidOid;

	if (hide_schema != NULL && hide_schema[0] != '\0')
		hidden = get_namespace_oid(hide_schema, true);
	if (OidIsValid(hidden))
		(void) hide_walker((Node *) parse, &hidden);
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursor_options, bound_params);
	return standard_planner(parse, query_string, cursor_options, bound_params);
}

void
_PG_init(void)
{
	DefineCustomStringVariable("kyro_hide.schema",
							   "Schema whose relations queries on pg_class do not see.",
							   NULL, &hide_schema, "", PGC_SUSET, 0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("kyro_hide");
	prev_planner_hook = planner_hook;
	planner_hook = hide_planner;
}
