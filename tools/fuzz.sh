#!/bin/sh
# Run the libFuzzer harnesses built by `make fuzz-build` (build/fuzz/bin/).
#   tools/fuzz.sh run SECONDS HARNESS...   fuzz each for SECONDS, one at a time
#   tools/fuzz.sh regress 0 HARNESS...     replay tests/fuzz/regressions/HARNESS/*
# Seeds: tests/fuzz/seeds/HARNESS/ and, where it fits, ../shared/corpus (read
# in place, not copied). The working corpus grows in build/fuzz/corpus/;
# crashes are written to build/fuzz/crashes/HARNESS/ and fail the run.
set -e
mode=$1 secs=$2
shift 2
corpus=${CORPUS:-$(pwd)/../shared/corpus}
export LSAN_OPTIONS="suppressions=$(pwd)/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
status=0
for h in "$@"; do
	bin=build/fuzz/bin/$h
	name=${h#fuzz_}
	if [ "$mode" = regress ]; then
		dir=tests/fuzz/regressions/$name
		files=$(find "$dir" -type f 2>/dev/null | sort)
		[ -z "$files" ] && continue
		echo "== $h: replaying $(echo "$files" | wc -l) regression input(s)"
		# shellcheck disable=SC2086
		"$bin" -runs=1 $files >build/fuzz/$h.regress.log 2>&1 || {
			tail -40 build/fuzz/$h.regress.log; status=1; }
		continue
	fi
	work=build/fuzz/corpus/$name crashes=build/fuzz/crashes/$name
	mkdir -p "$work" "$crashes"
	seeds="tests/fuzz/seeds/$name"
	[ -d "$seeds" ] || seeds=""
	extra=""
	case $name in
	whatsapp_webhook|json)
		for d in inbound statuses template_status errors outbound; do
			[ -d "$corpus/whatsapp_cloud/$d" ] && extra="$extra $corpus/whatsapp_cloud/$d"
		done ;;
	send)
		[ -d "$corpus/whatsapp_cloud/outbound" ] && extra="$corpus/whatsapp_cloud/outbound" ;;
	evolution)
		[ -d "$corpus/evolution/inbound" ] && extra="$corpus/evolution/inbound" ;;
	esac
	dict=""
	case $name in
	json|send|template|evolution) dict=tests/fuzz/dict/json.dict ;;
	whatsapp_webhook) dict=tests/fuzz/dict/whatsapp.dict ;;
	telegram) dict=tests/fuzz/dict/telegram.dict ;;
	http_head|route) dict=tests/fuzz/dict/http.dict ;;
	ws) dict=tests/fuzz/dict/ws.dict ;;
	config) dict=tests/fuzz/dict/config.dict ;;
	esac
	[ -n "$dict" ] && [ -f "$dict" ] && dict="-dict=$dict" || dict=""
	echo "== $h: ${secs}s"
	log=build/fuzz/$h.log
	# shellcheck disable=SC2086
	if ! "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -artifact_prefix="$crashes/" $dict "$work" $seeds $extra >"$log" 2>&1; then
		tail -60 "$log"
		echo "== $h: FAILED (inputs in $crashes/)"
		status=1
		continue
	fi
	grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | tr '\n' ' '
	echo
done
exit $status
