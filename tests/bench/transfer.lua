-- wrk -t N -c N (one connection per thread): each connection owns one
-- logged-in call from $IDS ("call_id from_last4 to_last4" per line) and
-- goes round a whole transfer: menu 2, from, to, amount 1p, confirm 1
-- (back at the menu).  Every fifth request moves money.
local calls = {}
for line in io.lines(os.getenv("IDS")) do
	local id, from, to = line:match("^(%S+) (%S+) (%S+)$")
	calls[#calls + 1] = { id, from, to }
end
local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("index", threads)
end

local path, keys, step
local headers = { ["Content-Type"] = "application/json" }

function init(args)
	local c = calls[((index - 1) % #calls) + 1]
	path = "/calls/" .. c[1] .. "/input"
	keys = { "2", c[2], c[3], "1#", "1" }
	step = 1
end

-- The step moves on when its answer comes (wrk may build a request it
-- never sends, so request() does not count).
request = function()
	return wrk.format("POST", path, headers, '{"digits":"' .. keys[step] .. '"}')
end

response = function(status, headers, body)
	if status ~= 200 then
		error("step " .. step .. " answered " .. status .. ": " .. body)
	end
	step = step % #keys + 1
end
