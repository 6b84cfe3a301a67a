#!/usr/bin/env bash
# Submits the array and its dependent merge: ./submit.sh SUITE OUT [SHARDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: submit.sh SUITE OUT [SHARDS]}
out=${2:?usage: submit.sh SUITE OUT [SHARDS]}
shards=${3:-4}
array=$(sbatch --parsable --array="1-$shards" --export="ALL,SUITE=$suite,OUT=$out" \
    "$here/array.sbatch")
sbatch --parsable --dependency="afterok:$array" --export="ALL,OUT=$out" "$here/merge.sbatch"
