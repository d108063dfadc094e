/*-------------------------------------------------------------------------
 *
 * kvalidate.c
 *	  amvalidate for kyro_rmi operator classes.
 *
 * An operator family of kyro_rmi holds btree-style comparison operators
 * (strategies 1 to 5) between supported types, and for each pair of types
 * the btree comparison function as support function 1.  Every pair that
 * appears must be complete, and the class's own type must appear.
 *
 * src/kvalidate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "kyrodb.h"

/* Report a problem with an operator family. */
static void
report(const char *family, const char *message, Oid left, Oid right)
{
	ereport(INFO,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("operator family \"%s\" of access method kyro_rmi %s for types %s and %s",
					family, message, format_type_be(left), format_type_be(right))));
}

/* The name of an operator family. */
static char *
family_name(Oid opfamilyoid)
{
	HeapTuple	tup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(opfamilyoid));
	char	   *name;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator family %u", opfamilyoid);
	name = pstrdup(NameStr(((Form_pg_opfamily) GETSTRUCT(tup))->opfname));
	ReleaseSysCache(tup);
	return name;
}

/* amvalidate */
bool
kyrovalidate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *familyname;
	CatCList   *oprlist;
	CatCList   *proclist;
	List	   *groups;
	ListCell   *lc;
	bool		own_pair = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	familyname = family_name(opfamilyoid);

	if (!KyroTypeSupported(opcintype))
	{
		report(familyname, "has a class of unsupported type", opcintype, opcintype);
		result = false;
	}

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));

	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (proc->amprocnum != 1 ||
			!check_amproc_signature(proc->amproc, INT4OID, true, 2, 2,
									proc->amproclefttype, proc->amprocrighttype))
		{
			report(familyname, "has a wrong support function",
				   proc->amproclefttype, proc->amprocrighttype);
			result = false;
		}
	}
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amopstrategy < 1 || op->amopstrategy > BTMaxStrategyNumber ||
			op->amoppurpose != AMOP_SEARCH ||
			!KyroTypeSupported(op->amoplefttype) ||
			!KyroTypeSupported(op->amoprighttype) ||
			!check_amop_signature(op->amopopr, BOOLOID,
								  op->amoplefttype, op->amoprighttype))
		{
			report(familyname, "has an invalid operator",
				   op->amoplefttype, op->amoprighttype);
			result = false;
		}
	}

	/* every pair of types: all five strategies and support function 1 */
	groups = identify_opfamily_groups(oprlist, proclist);
	foreach(lc, groups)
	{
		OpFamilyOpFuncGroup *group = (OpFamilyOpFuncGroup *) lfirst(lc);

		if (group->lefttype == opcintype && group->righttype == opcintype)
			own_pair = true;
		if (group->operatorset != ((1 << (BTMaxStrategyNumber + 1)) - 2))
		{
			report(familyname, "is missing operators", group->lefttype,
				   group->righttype);
			result = false;
		}
		if ((group->functionset & (1 << 1)) == 0)
		{
			report(familyname, "is missing support function 1",
				   group->lefttype, group->righttype);
			result = false;
		}
	}
	if (!own_pair)
	{
		report(familyname, "has no operators", opcintype, opcintype);
		result = false;
	}

	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(classtup);
	return result;
}
