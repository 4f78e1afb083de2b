-- tables.lua: builds and drops tables of records (arrays, hashes, nested
-- tables, sorting), and checks the sum over them against the same sum
-- computed without tables. Inputs: JOB, SCALE. Returns the total.
local n = 2000 * SCALE + JOB % 97
local total = 0
for round = 1, 6 do
	local rows, index = {}, {}
	for i = 1, n do
		local r = { id = i, sq = i * i, name = "row" .. i, tags = { i % 3, i % 5 + round } }
		rows[i] = r
		index[r.name] = r
	end
	table.sort(rows, function(a, b) return a.sq > b.sq end)
	local s = 0
	for _, r in ipairs(rows) do
		s = s + r.sq + #r.name + r.tags[1] + r.tags[2] + index[r.name].id
	end
	local want = 0
	for i = 1, n do
		want = want + i * i + 3 + #tostring(i) + i % 3 + i % 5 + round + i
	end
	assert(s == want, "table sum " .. s .. " ~= " .. want)
	total = total + s
end
return total
