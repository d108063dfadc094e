# Makefile for KyroDB, built with PGXS.
#
#   make                 build the extension
#   make install         install it (as root, into the PostgreSQL tree)
#   make installcheck    pg_regress, isolation and TAP tests against a
#                        running server (PGHOST, PGPORT, PGUSER)
#   make test            every suite, on scratch servers: see test/run
#                        (PG_CONFIG=... to test another PostgreSQL)
#   make demo            kyro_rmi beside btree on 1M rows: see bench/demo

EXTENSION = kyrodb
MODULE_big = kyrodb
OBJS = \
	src/kyrodb.o \
	src/kbuild.o \
	src/kcache.o \
	src/kfold.o \
	src/kfuncs.o \
	src/kinsert.o \
	src/kkeys.o \
	src/kmodelfile.o \
	src/kpage.o \
	src/kread.o \
	src/kroute.o \
	src/kscan.o \
	src/kshared.o \
	src/kvacuum.o \
	src/kvalidate.o \
	src/kworker.o \
	src/kwal.o \
	src/kwrite.o \
	src/rmi/rmi_build.o \
	src/rmi/rmi_lookup.o \
	src/rmi/rmi_page.o \
	src/rmi/rmi_area.o \
	src/rmi/rmi_serial.o \
	src/rmi/rmi_sort.o
PGFILEDESC = "kyrodb - learned index access method"

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(wildcard src/*.h src/rmi/*.h)

# The install script of the current version, plus every upgrade script.
DATA = kyrodb--0.1.0.sql $(wildcard kyrodb--*--*.sql)

SHLIB_LINK += -lxxhash
# -Wno-unused-parameter: PostgreSQL's own headers trip -Wextra's check.
# -ffp-contract=off: the model's arithmetic must round the same way in every
# build (no fused multiply-add), here and in the JIT's bitcode below.
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -ffp-contract=off -std=gnu99

# pg_regress: sql/*.sql against expected/*.out.
# kyro_setup defines what the kyro_* suites share, so it runs first.
REGRESS = kyro_setup $(filter-out kyro_setup,$(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.

# Isolation tester: test/specs/*.spec against test/expected/*.out.
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/output_iso

# TAP tests live in test/t/, their shared modules in test/perl/ (the -I
# below); they start their own servers, so they must run as a user the
# server accepts (test/run runs them as postgres).
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = test/output_iso

# Prefer Debian's PostgreSQL 15; otherwise whichever pg_config is on PATH.
# PGXS stays empty when pg_config is missing or names no pgxs.mk (libpq-dev's
# pg_config without the server headers).
PG_CONFIG ?= $(if $(wildcard /usr/lib/postgresql/15/bin/pg_config),/usr/lib/postgresql/15/bin/pg_config,pg_config)
PGXS := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))

# "make" with no target builds the extension, even though "test" below is
# defined before PGXS's own targets.
.DEFAULT_GOAL := all

# "make test PG_CONFIG=..." tests that PostgreSQL; without it test/run
# picks Debian's 15 itself, once it has installed it (the default above is
# settled before that, on a machine that may not have it yet).
.PHONY: test demo
test:
	$(if $(filter command line environment,$(origin PG_CONFIG)),PG_CONFIG='$(PG_CONFIG)') bash test/run

demo:
	bash bench/demo

ifneq ($(PGXS),)
include $(PGXS)

BITCODE_CFLAGS += -ffp-contract=off
# (after the include: PGXS sets PROVE_FLAGS empty)
PROVE_FLAGS += -I test/perl

clean: clean-subdirs
else
# Without pg_config only "make test" (which installs what is missing) and
# "make clean" work.
.PHONY: all install installcheck
all install installcheck:
	@echo "$(PG_CONFIG) not found, or no PGXS: install postgresql-server-dev-15," \
		"set PG_CONFIG, or run \"make test\" to install the build dependencies" >&2
	@exit 1

.PHONY: clean
clean: clean-subdirs
	rm -f $(OBJS) $(OBJS:.o=.bc) $(MODULE_big).so
	rm -rf results regression.diffs regression.out $(EXTRA_CLEAN)
endif

# test/run asks which tests it passes to pg_regress and the isolation
# tester: make -s print-REGRESS, make -s print-ISOLATION.
print-%:
	@echo '$($*)'

# The unit tests and the fuzzer have Makefiles of their own.
.PHONY: clean-subdirs
clean-subdirs:
	-@for d in test/unit test/fuzz test/modules/kyro_hide; do \
		if [ -f $$d/Makefile ]; then $(MAKE) --no-print-directory -C $$d clean; fi; \
	done
