#!/bin/sh
# bogofilter under the TREC immediate-feedback protocol: for each index line,
# classify with -T (score), then register the gold label (-s / -n) in a fresh
# database. Writes "judge=<ham|spam> class=<ham|spam> score=<float>" lines.
# usage: bench/bogofilter-trec.sh INDEX OUT
set -eu
index=$1 out=$2
dir=$(dirname "$index")
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
: > "$out"
while read -r judge path; do
	f="$dir/$path"
	# -T: "<class letter> <score>"; exit status 0 spam, 1 ham, 2 unsure
	res=$(bogofilter -d "$db" -T -I "$f" || true)
	score=$(echo "$res" | awk '{print $2}')
	cls=$(echo "$res" | awk '{print ($1 == "S") ? "spam" : "ham"}')
	if [ "$judge" = spam ]; then bogofilter -d "$db" -s -I "$f"; else bogofilter -d "$db" -n -I "$f"; fi
	echo "$path judge=$judge class=$cls score=${score:-0.5}" >> "$out"
done < "$index"
