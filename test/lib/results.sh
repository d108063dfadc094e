# test/lib/results.sh: the results of test/run, one row per suite or step,
# and how each kind of suite is counted.  Sourced by test/run.
#
# No count comes from reading a tool's prose:
#  - pg_regress and the isolation tester: one test per name test/run passed
#    them, failed unless its result file is one of its expected files (the
#    comparison pg_regress makes); see count_regress.
#  - TAP tests and the unit tests (which print TAP): what TAP::Harness's
#    aggregator counted, written by test/lib/tap_counts.pl; see
#    count_tap_file.
#  - the fuzzer's targets, the build and the smoke tests: exit statuses.

NAMES=()
PASSES=()
FAILS=()
NOTES=()

# Record a row: name, passed, failed, note.
record()
{
	NAMES+=("$1")
	PASSES+=("$2")
	FAILS+=("$3")
	NOTES+=("$4")
}

# Change the failures and the note of an already recorded row.
update_row()
{
	local i
	for i in "${!NAMES[@]}"; do
		if [ "${NAMES[$i]}" = "$1" ]; then
			FAILS[i]=$2
			NOTES[i]=$3
		fi
	done
}

# Record a suite that could not run at all: one failure.
record_not_run()
{
	record "$1" 0 1 "not run: $2"
}

# Record a step that is one test, passed if its exit status is 0.
record_exit()
{
	local name=$1 rc=$2
	if [ "$rc" -eq 0 ]; then
		record "$name" 1 0 ""
	else
		record "$name" 0 1 "exit status $rc"
	fi
}

# True if a result file is the expected file of its test, or one of the
# alternatives NAME_0.out .. NAME_9.out, byte for byte: pg_regress 15
# compares them with a plain diff.
matches_expected()
{
	local result=$1 expected_dir=$2 test=$3 candidate
	for candidate in "$expected_dir/$test.out" "$expected_dir/${test}"_[0-9].out; do
		if [ -f "$candidate" ] && cmp -s "$candidate" "$result"; then
			return 0
		fi
	done
	return 1
}

# Count a pg_regress or isolation run from its result files: NAME RC
# RESULTS_DIR EXPECTED_DIR TEST...  pg_regress 15 writes no summary a
# program could read, and its exit status only says whether every test
# passed; but it writes each test's output to RESULTS_DIR/TEST.out.  A test
# without a result file did not run, and fails.  A failed run whose results
# all match (the server died after the last test, say) counts one failure.
count_regress()
{
	local name=$1 rc=$2 results=$3 expected=$4 test pass=0 fail=0 note=""
	local failed=()
	shift 4
	for test in "$@"; do
		if [ -f "$results/$test.out" ] &&
			matches_expected "$results/$test.out" "$expected" "$test"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			failed+=("$test")
		fi
	done
	if [ "$fail" -gt 0 ]; then
		note="failed: ${failed[*]}"
	elif [ "$rc" -ne 0 ]; then
		fail=1
		note="exit status $rc with every result as expected"
	fi
	record "$name" "$pass" "$fail" "$note"
}

# Count a run of tap_counts.pl from the line it wrote, "PASSED FAILED
# SKIPPED": NAME COUNTS_FILE RC.  No such line (the harness itself died) or
# a failed run with no failure counted counts one failure.  A test file
# that skipped all its tests (plan skip_all) counts neither way; the note
# names it.
count_tap_file()
{
	local name=$1 file=$2 rc=$3 pass fail skipped rest note="" names
	if ! [ -f "$file" ] || ! read -r pass fail skipped rest <"$file" ||
		! [[ "$pass" =~ ^[0-9]+$ && "$fail" =~ ^[0-9]+$ ]]; then
		record "$name" 0 1 "no counts from the TAP harness, exit status $rc"
		return
	fi
	if [[ "${skipped:-0}" =~ ^[1-9][0-9]*$ ]]; then
		names=$(sed -n 's/^skipped: \([^:]*\):.*/\1/p' "$file" | xargs -r -n 1 basename | paste -sd ' ')
		note="skipped $skipped: $names"
	fi
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1
		note="exit status $rc${note:+; $note}"
	fi
	record "$name" "$pass" "$fail" "$note"
}

# Print the table and the final line, "N passed, M failed"; returns 0
# only when nothing failed.  With KYRODB_RESULTS set, also writes the rows
# to that file, tab-separated: suite, passed, failed, note.
summary()
{
	local i row total_pass=0 total_fail=0
	if [ -n "${KYRODB_RESULTS:-}" ]; then
		: >"$KYRODB_RESULTS"
		for i in "${!NAMES[@]}"; do
			printf '%s\t%s\t%s\t%s\n' "${NAMES[$i]}" "${PASSES[$i]}" \
				"${FAILS[$i]}" "${NOTES[$i]}" >>"$KYRODB_RESULTS"
		done
	fi
	printf '\n======== %s ========\n' summary
	printf '%-12s %8s %8s  %s\n' suite passed failed note
	for i in "${!NAMES[@]}"; do
		printf -v row '%-12s %8s %8s  %s' "${NAMES[$i]}" "${PASSES[$i]}" \
			"${FAILS[$i]}" "${NOTES[$i]}"
		echo "${row%"${row##*[! ]}"}"
		total_pass=$((total_pass + PASSES[i]))
		total_fail=$((total_fail + FAILS[i]))
	done
	echo "$total_pass passed, $total_fail failed"
	[ "$total_fail" -eq 0 ]
}
