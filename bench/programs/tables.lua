-- bench/programs/tables.lua — lua5.4 workload for bench/programs/run.py: tables
-- as records, arrays and maps, string building, closures and the collector
-- reclaiming waves of garbage. Prints a checksum (same under any malloc).
local scale = tonumber(arg[1] or "1")
local n = math.floor(18000 * scale)
local sum = 0

local function mkrec(i)
	return { id = i, name = "item" .. i, tags = { i % 3, i % 5, i % 7 },
		f = function(x) return x + i end }
end

for wave = 1, 8 do
	local t, idx = {}, {}
	for i = 1, n do
		local r = mkrec(i * wave)
		t[#t + 1] = r
		idx[r.name] = r
		if i % 4 == 0 then idx["item" .. (i // 2) * wave] = nil end
	end
	local parts = {}
	for i = 1, #t, 3 do
		parts[#parts + 1] = string.format("%s:%d", t[i].name, t[i].f(wave))
	end
	local s = table.concat(parts, ",")
	sum = (sum + #s) % 1000000007
	table.sort(t, function(a, b)
		if a.tags[2] ~= b.tags[2] then return a.tags[2] < b.tags[2] end
		return a.id < b.id
	end)
	for i = 1, #t, 97 do sum = (sum * 31 + t[i].id) % 1000000007 end
	local cnt = 0
	for _ in pairs(idx) do cnt = cnt + 1 end
	sum = (sum + cnt) % 1000000007
	-- string churn: substrings, gsub, reps
	local acc = {}
	for i = 1, n // 4 do
		local str = ("abc" .. i):rep(1 + i % 9)
		acc[#acc + 1] = str:sub(2, 20):gsub("b", "B")
	end
	sum = (sum + #table.concat(acc)) % 1000000007
end
print(sum)
