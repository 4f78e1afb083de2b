-- strings.lua: builds and drops strings (format, rep, concat, gmatch, upper)
-- and hashes them (32-bit FNV-1a) piece by piece and whole; the two hashes
-- must agree. Inputs: JOB, SCALE. Returns hash, length and word count.
local n = 400 * SCALE + JOB % 89 + 1
local function fnv(s, h)
	for i = 1, #s do
		h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
	end
	return h
end
local h, pieces = 2166136261, {}
for i = 1, n do
	local p = string.format("%d:%s;", i, string.rep(string.char(97 + i % 26), i % 40))
	pieces[i] = p
	h = fnv(p, h)
end
local whole = table.concat(pieces)
assert(fnv(whole, 2166136261) == h, "the pieces' hash differs from the whole's")
local words, upper = 0, {}
for w in whole:gmatch("[^;]+") do
	words = words + 1
	upper[#upper + 1] = w:upper()
end
assert(words == n and #table.concat(upper, ";") + 1 == #whole, "split and join differ")
return string.format("%08x %d %d", h, #whole, words)
