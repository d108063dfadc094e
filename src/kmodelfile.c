/*-------------------------------------------------------------------------
 *
 * kmodelfile.c
 *	  The model file: each published model, also written beside the index
 *	  as $PGDATA/kyrodb/<database oid>/<tablespace>_<relfilenode>.<epoch>.rmi,
 *	  which backends map read-only and so share through the page cache
 *	  instead of each keeping its own copy.
 *
 * <tablespace> is the index's pg_class.reltablespace, 0 for the database's
 * default: a relfilenode is unique only within a tablespace, so two indexes
 * in two tablespaces may share one.  The stored value rather than the
 * tablespace the files are in, so that ALTER DATABASE SET TABLESPACE (which
 * moves the default tablespace's files and keeps their relfilenodes) keeps
 * every name.  Files of 0.2.0 were named <relfilenode>.<epoch>.rmi; a
 * backend that finds no file under the new name maps the old one if it
 * passes the same checks (they tell one index's model from another's) and
 * writes it under the new name; the worker's sweep removes old names once
 * they are past the grace period, as files of no known index.
 *
 * The file is derived data; the model pages stay the source of truth.  A
 * backend maps the file of its view's epoch and checks it once: its size
 * against the metapage's, its XXH3 (rmi_load), and its checksum against
 * the one the model pages end with (a stale file of the same name, say
 * from before a crash of an unlogged index, does not pass).  Missing or
 * failing, the backend uses the pages and writes the file again: to a
 * temporary name, fsynced, renamed, the directory fsynced.  Files are
 * read-only and only ever replaced by a rename, so a backend's mapping
 * never changes under it.  (A file truncated in place by hand, by root,
 * would make the backends that map it fault: the price of sharing the
 * page cache.)
 *
 * Files of other epochs of an index are removed when a new one is
 * written; files of dropped, truncated or reindexed indexes by the
 * worker's sweep; a dropped database's directory at DROP DATABASE and by
 * the launcher's sweep.
 *
 * src/kmodelfile.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"
#include "utils/rel.h"

#include "kyrodb.h"

#define KYRO_FILE_DIR		"kyrodb"
#define KYRO_FILE_SUFFIX	".rmi"

/*
 * A file of an unknown index is swept only once it is this old: it may
 * belong to a CREATE INDEX, REINDEX or TRUNCATE whose transaction has not
 * committed yet, which the worker's catalog MVCC snapshot cannot see.
 */
#define KYRO_ORPHAN_GRACE_SECS	10

static void
database_dir(char *path, Oid dbid)
{
	snprintf(path, MAXPGPATH, "%s/%u", KYRO_FILE_DIR, dbid);
}

/* The name index's file of epoch carries: tablespace as stored, relfilenode. */
KyroModelFileName
KyroModelFileNameOf(Relation index, uint32 epoch)
{
	KyroModelFileName name;

	name.tablespace = index->rd_rel->reltablespace;
	name.relfilenode = KyroRelFileNumber(index);
	name.epoch = epoch;
	return name;
}

static void
file_path(char *path, Oid dbid, const KyroModelFileName *name)
{
	snprintf(path, MAXPGPATH, "%s/%u/%u_%u.%u%s", KYRO_FILE_DIR, dbid,
			 name->tablespace, name->relfilenode, name->epoch, KYRO_FILE_SUFFIX);
}

/* The 0.2.0 name, <relfilenode>.<epoch>.rmi, read only to migrate it. */
static void
legacy_file_path(char *path, Oid dbid, const KyroModelFileName *name)
{
	snprintf(path, MAXPGPATH, "%s/%u/%u.%u%s", KYRO_FILE_DIR, dbid,
			 name->relfilenode, name->epoch, KYRO_FILE_SUFFIX);
}

/* Parse "<tablespace>_<relfilenode>.<epoch>.rmi"; false for any other name. */
static bool
parse_name(const char *filename, KyroModelFileName *name)
{
	unsigned int t;
	unsigned int r;
	unsigned int e;
	int			len = 0;

	if (sscanf(filename, "%u_%u.%u.rmi%n", &t, &r, &e, &len) != 3 ||
		len != (int) strlen(filename))
		return false;
	name->tablespace = t;
	name->relfilenode = r;
	name->epoch = e;
	return true;
}

/* Whether two names are of the same index (any epoch). */
static bool
same_index(const KyroModelFileName *a, const KyroModelFileName *b)
{
	return a->tablespace == b->tablespace && a->relfilenode == b->relfilenode;
}

/*
 * Whether index's models are published as files: kyrodb.model_files is on
 * and the index is not temporary (a temporary relfilenode may equal a
 * permanent one's, so temporary indexes have no files at all).
 */
bool
KyroModelFileApplies(Relation index)
{
	return kyro_model_files &&
		index->rd_rel->relpersistence != RELPERSISTENCE_TEMP;
}

/*
 * Remove index's files of epochs before keep (not later ones: a fold
 * writes its file before it switches the metapage to it).  Done whatever
 * kyrodb.model_files says, so files written while it was on go too.
 */
void
KyroModelFileRemoveOlder(Relation index, uint32 keep)
{
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;
	KyroModelFileName mine = KyroModelFileNameOf(index, keep);

	if (index->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return;
	database_dir(dir, MyDatabaseId);
	d = AllocateDir(dir);
	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		KyroModelFileName name;

		if (parse_name(de->d_name, &name) && same_index(&name, &mine) &&
			name.epoch < keep)
		{
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (unlink(path) != 0 && errno != ENOENT)
				ereport(LOG,
						(errcode_for_file_access(),
						 errmsg("could not remove file \"%s\": %m", path)));
		}
	}
	FreeDir(d);
}

/*
 * Publish index's model of epoch as a file, if its models have files.
 * Failure is not an error (the pages serve meanwhile): a WARNING, and
 * false.
 */
bool
KyroModelFileWrite(Relation index, uint32 epoch, const char *bytes, uint32 len)
{
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	int			fd;
	Oid			dbid = MyDatabaseId;
	KyroModelFileName name = KyroModelFileNameOf(index, epoch);

	if (!KyroModelFileApplies(index) || len == 0)
		return false;
	database_dir(dir, dbid);
	if ((MakePGDirectory(KYRO_FILE_DIR) != 0 && errno != EEXIST) ||
		(MakePGDirectory(dir) != 0 && errno != EEXIST))
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
		return false;
	}
	file_path(path, dbid, &name);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, MyProcPid);
	/* read-only: nothing rewrites a file in place under a backend's mapping */
	unlink(tmp);
	fd = OpenTransientFilePerm(tmp, O_CREAT | O_EXCL | O_WRONLY | PG_BINARY, S_IRUSR);
	if (fd < 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
		return false;
	}
	errno = 0;
	if (write(fd, bytes, len) != (ssize_t) len || pg_fsync(fd) != 0)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
		CloseTransientFile(fd);
		unlink(tmp);
		return false;
	}
	CloseTransientFile(fd);
	/* a new inode under the name: backends that mapped the old one keep it */
	if (rename(tmp, path) != 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m", tmp, path)));
		unlink(tmp);
		return false;
	}
	if (fsync_fname_ext(dir, true, false, WARNING) != 0)
		return false;
	return true;
}

/*
 * Map the file at path, of len bytes ending in checksum, and load *model
 * from it.  Returns the mapping, or NULL with *why saying what was wrong.
 */
static void *
map_checked(const char *path, uint32 len, uint64 checksum, RmiModel *model,
			const char **why)
{
	int			fd;
	struct stat st;
	void	   *addr;
	uint64		tail;

	*why = NULL;
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		*why = errno == ENOENT ? "missing" : "unreadable";
		return NULL;
	}
	if (fstat(fd, &st) != 0 || st.st_size != (off_t) len)
	{
		*why = "truncated or of the wrong size";
		CloseTransientFile(fd);
		return NULL;
	}
	addr = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	CloseTransientFile(fd);
	if (addr == MAP_FAILED)
	{
		*why = "not mappable";
		return NULL;
	}
	memcpy(&tail, (char *) addr + len - sizeof(uint64), sizeof(uint64));
	if (tail != checksum)
		*why = "not the model of this epoch";
	else if (rmi_load(addr, len, model) != RMI_OK)
		*why = "damaged";
	if (*why != NULL)
	{
		munmap(addr, len);
		return NULL;
	}
	return addr;
}

/*
 * Map the model file of index's epoch, of len bytes ending in checksum, and
 * load *model from it.  Returns the mapping, or NULL with *why saying what
 * was wrong ("missing", "truncated", ...).  A file under the 0.2.0 name is
 * used, and written under the new one, if it passes the same checks: the
 * checksum is what tells it from the file of another index that shared the
 * old name.
 */
void *
KyroModelFileMap(Relation index, uint32 epoch, uint32 len, uint64 checksum,
				 RmiModel *model, const char **why)
{
	char		path[MAXPGPATH];
	KyroModelFileName name = KyroModelFileNameOf(index, epoch);
	void	   *addr;
	const char *legacy_why;

	file_path(path, MyDatabaseId, &name);
	addr = map_checked(path, len, checksum, model, why);
	if (addr != NULL || strcmp(*why, "missing") != 0)
		return addr;

	legacy_file_path(path, MyDatabaseId, &name);
	addr = map_checked(path, len, checksum, model, &legacy_why);
	if (addr != NULL)
	{
		*why = NULL;
		(void) KyroModelFileWrite(index, epoch, addr, len);
	}
	return addr;
}

/* Bytes of the model file of index's epoch, -1 if there is none. */
int64
KyroModelFileSize(Relation index, uint32 epoch)
{
	char		path[MAXPGPATH];
	struct stat st;
	KyroModelFileName name = KyroModelFileNameOf(index, epoch);

	file_path(path, MyDatabaseId, &name);
	if (stat(path, &st) != 0)
		return -1;
	return (int64) st.st_size;
}

/*
 * Remove dbid's files that no index needs: live[0..n) names the file each
 * index uses now.  Files of a live index and an older epoch go at once; of
 * a newer epoch (a fold writes its file before it switches), of an unknown
 * index, or under another name (the 0.2.0 name), once they are old enough.
 */
void
KyroModelFileSweep(Oid dbid, const KyroModelFileName *live, int n)
{
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;
	time_t		now = time(NULL);

	database_dir(dir, dbid);
	d = AllocateDir(dir);
	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, dir, DEBUG1)) != NULL)
	{
		KyroModelFileName name;
		bool		keep = false;
		bool		old_epoch = false;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (parse_name(de->d_name, &name))
		{
			for (int i = 0; i < n; i++)
				if (same_index(&live[i], &name))
				{
					keep = name.epoch == live[i].epoch;
					old_epoch = name.epoch < live[i].epoch;
					break;
				}
		}
		if (keep)
			continue;
		if (!old_epoch &&
			(stat(path, &st) != 0 || now - st.st_mtime < KYRO_ORPHAN_GRACE_SECS))
			continue;
		if (unlink(path) == 0)
			elog(DEBUG1, "kyrodb: removed model file \"%s\"", path);
	}
	FreeDir(d);
}

/* Remove the model files of a dropped database. */
void
KyroModelFilesDropDatabase(Oid dbid)
{
	char		dir[MAXPGPATH];

	database_dir(dir, dbid);
	rmtree(dir, true);
}

/*
 * Remove the directories of databases that no longer exist (dropped while
 * the server was down, or by a backend without the library); live lists
 * the oids of every database.
 */
void
KyroModelFilesSweepDatabases(List *live)
{
	DIR		   *d;
	struct dirent *de;

	d = AllocateDir(KYRO_FILE_DIR);
	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, KYRO_FILE_DIR, DEBUG1)) != NULL)
	{
		unsigned int dbid;
		int			len = 0;

		if (sscanf(de->d_name, "%u%n", &dbid, &len) == 1 &&
			len == (int) strlen(de->d_name) && !list_member_oid(live, dbid))
			KyroModelFilesDropDatabase(dbid);
	}
	FreeDir(d);
}
