-- wrk: start calls (POST /calls) as fast as the server takes them.
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
