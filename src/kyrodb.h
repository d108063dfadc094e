/*-------------------------------------------------------------------------
 *
 * kyrodb.h
 *	  Declarations shared by the PostgreSQL-facing files of KyroDB.
 *
 * The model code in src/rmi/ has its own header (rmi/rmi.h) and knows
 * nothing of PostgreSQL; this header is for the access method around it.
 *
 * src/kyrodb.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KYRODB_H
#define KYRODB_H

#include "fmgr.h"

/*
 * Version of the shared library.  It must equal default_version in
 * kyrodb.control; the regression tests compare the two.
 */
#define KYRODB_VERSION "0.1.0"

/* kyrodb.c */
extern PGDLLEXPORT void _PG_init(void);

#endif							/* KYRODB_H */
