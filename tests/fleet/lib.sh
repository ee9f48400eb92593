# Shared by the fleet tests: source it after setting ivrctl (the binary)
# and failed=0; fleet_on also needs plan.

fail() { echo "FAIL: $*"; failed=1; }

# fleet_on VERSION: every host of $plan on it, ready, READY in the pool.
fleet_on() {
	"$ivrctl" status "$plan" --output json | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
ok = d['consistent'] and d['release'] == '$1' and all(
    h['healthy'] and h['pool_state'] == 'ready' for h in d['hosts'])
sys.exit(0 if ok else 1)"
}
