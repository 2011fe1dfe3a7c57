# Sourced by the benchmark scripts: a local cluster in a throwaway directory.

# start_cluster BINARY DIR [up options...]: runs `BINARY up` with its data in
# DIR/data and its output in DIR/up.log, in the background, and waits until
# the assistant serves: it trains its model after `up` says the cluster is
# up, and a run started before would share the CPU with the training.
start_cluster() {
  local bin=$1 dir=$2
  shift 2
  "$bin" up --data-dir "$dir/data" "$@" > "$dir/up.log" 2>&1 &
  for _ in $(seq 120); do grep -q "chatbot serving" "$dir/up.log" && break; sleep 1; done
  if ! grep -q "chatbot serving" "$dir/up.log"; then
    cat "$dir/up.log" >&2
    return 1
  fi
}

# leader_address BINARY: the leader's client address (`up` gives node N the
# client port 50050 + N; the status names peer addresses).
leader_address() {
  echo "127.0.0.1:$((50050 + $("$1" cluster status --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['leader_id'])")))"
}
