#!/bin/sh
# The demo: start the built-in sample app (testdata/sampleapp), then run
# hoist's phases on it as a user would. Only the process started here is
# stopped, by its PID.
set -eu
: "${HOIST:?HOIST must point at the hoist binary}"
: "${WORKSPACE:=$PWD/hoist-workspace}"
PORT="${PORT:-18080}"
top=$(cd "$(dirname "$0")/.." && pwd)
# A fixed directory keeps the app's ID the same from one demo to the next.
app=/tmp/hoist-sampleapp
rm -rf "$app" && mkdir -p "$app"
cp "$top/testdata/sampleapp/HelloServer.java" "$top/testdata/sampleapp/application.properties" "$app/"
javac -d "$app" "$app/HelloServer.java"
cd "$app"
env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 DB_PASSWORD=demo-secret-value java -Xmx64m -Dfile.encoding=UTF-8 -cp "$app" HelloServer "$PORT" >"$app/app.log" 2>&1 &
pid=$!
deployed=""
cleanup() {
  kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$app"
  # A demo that failed after deploying leaves no service behind.
  if [ -n "$deployed" ]; then "$HOIST" --workspace "$WORKSPACE" deploy "$deployed" --delete >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for i in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/" >/dev/null || { echo "sample app did not start:"; cat "$app/app.log"; exit 1; }
echo "== sample app running as pid $pid on 127.0.0.1:$PORT"
echo
echo "== hoist inventory"
"$HOIST" --workspace "$WORKSPACE" inventory
id=$("$HOIST" --workspace "$WORKSPACE" inventory --quiet --pid "$pid")
[ -n "$id" ] || { echo "the sample app was not found in the inventory"; exit 1; }
echo
echo "== hoist analyze $id"
"$HOIST" --workspace "$WORKSPACE" analyze "$id"
echo
echo "== hoist extract $id"
"$HOIST" --workspace "$WORKSPACE" extract "$id"
echo
echo "== hoist containerize $id (starts hoist's engine on first use; the image is validated in a network namespace of its own)"
"$HOIST" --workspace "$WORKSPACE" containerize --progress plain "$id"
echo
echo "== the Dockerfile hoist wrote"
cat "$WORKSPACE/$id/containerize/Dockerfile"
echo
echo "== hoist generate $id (deployment.json, then ECS, CloudFormation, Kubernetes, App Runner, pipelines, compose; all validated)"
"$HOIST" --workspace "$WORKSPACE" generate "$id"
echo
echo "== hoist deploy $id (the generated ECS service on hoist's local runtime, behind its load balancer)"
deployed=$id
out=$("$HOIST" --workspace "$WORKSPACE" -o json deploy "$id")
echo "$out"
endpoint=$(echo "$out" | sed -n 's/.*"endpoint": *"\([^"]*\)".*/\1/p' | head -1)
# A TCP listener (nothing told hoist the port speaks HTTP) passes HTTP too.
url=$(echo "$endpoint" | sed 's|^tcp://|http://|')
echo
echo "== through the load balancer: $url"
curl -fsS "$url/"
"$HOIST" --workspace "$WORKSPACE" runtime ps
echo
echo "== hoist report $id"
"$HOIST" --workspace "$WORKSPACE" report "$id"
echo
echo "== hoist deploy $id --delete"
"$HOIST" --workspace "$WORKSPACE" deploy "$id" --delete
deployed=""
echo
echo "Workspace: $WORKSPACE (analysis: $WORKSPACE/$id/analysis.json; secret values only in $WORKSPACE/secrets.json, mode 0600)"
