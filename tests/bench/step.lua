-- wrk: one call step per request, spread over the calls listed in $IDS
-- (one id per line), with the keys in $DIGITS ("9": the menu again).
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local body = '{"digits":"' .. (os.getenv("DIGITS") or "9") .. '"}'
local headers = { ["Content-Type"] = "application/json" }
local n = 0

request = function()
	n = n + 1
	local id = ids[(n % #ids) + 1]
	return wrk.format("POST", "/calls/" .. id .. "/input", headers, body)
end
