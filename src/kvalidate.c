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
#include "access/nbtree.h"
#include "catalog/index.h"
#include "catalog/pg_am_d.h"
#include "commands/defrem.h"
#include "utils/rel.h"
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

/* btree's operator family for values of type, or InvalidOid. */
static Oid
btree_family(Oid type)
{
	Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);

	return OidIsValid(opclass) ? get_opclass_family(opclass) : InvalidOid;
}

/*
 * Whether every operator and support function of opfamily is btree's for
 * the same strategy and types: the access method compares keys in btree's
 * order whatever the family says, so a family that means something else
 * would get wrong answers.  Reports each mismatch under familyname if given.
 */
static bool
family_matches_btree(Oid opfamilyoid, const char *familyname)
{
	CatCList   *oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	CatCList   *proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	bool		result = true;

	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);
		Oid			btfamily = btree_family(op->amoplefttype);

		if (!OidIsValid(btfamily) ||
			get_opfamily_member(btfamily, op->amoplefttype, op->amoprighttype,
								op->amopstrategy) != op->amopopr)
		{
			if (familyname)
				report(familyname, "has an operator that is not btree's",
					   op->amoplefttype, op->amoprighttype);
			result = false;
		}
	}
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);
		Oid			btfamily = btree_family(proc->amproclefttype);

		if (proc->amprocnum == KYRO_ORDER_PROC &&
			(!OidIsValid(btfamily) ||
			 get_opfamily_proc(btfamily, proc->amproclefttype,
							   proc->amprocrighttype, BTORDER_PROC) != proc->amproc))
		{
			if (familyname)
				report(familyname, "has a comparison function that is not btree's",
					   proc->amproclefttype, proc->amprocrighttype);
			result = false;
		}
	}
	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	return result;
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

		if (proc->amprocnum != KYRO_ORDER_PROC ||
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
	if (!family_matches_btree(opfamilyoid, familyname))
		result = false;
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

/*
 * Refuse, at CREATE INDEX, what kyro_rmi would answer wrongly: it stores
 * keys in one fixed order (ascending, NULLs last, the order btree gives the
 * type), so the index must be declared that way and its operator family
 * must be btree's operators for every pair of types it holds.
 */
void
KyroCheckIndexDefinition(Relation index)
{
	Oid			type = index->rd_opcintype[0];
	Oid			opfamily = index->rd_opfamily[0];

	if (!KyroTypeSupported(type))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kyro_rmi does not support type %s", format_type_be(type)),
				 errhint("kyro_rmi indexes int2, int4, int8, date, timestamp and timestamptz.")));
	if (index->rd_indoption[0] & (INDOPTION_DESC | INDOPTION_NULLS_FIRST))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kyro_rmi indexes are ascending with NULLS LAST"),
				 errhint("Drop DESC and NULLS FIRST: the index serves ORDER BY ... DESC by scanning backward.")));
	if (!family_matches_btree(opfamily, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("operator family \"%s\" does not order values as btree does",
						family_name(opfamily)),
				 errhint("kyro_rmi answers in btree's order; use the operator classes the extension provides.")));
}
